//! `SseDecoder`, `SseEvent` and `NdjsonDecoder`: stream-parse's decoders behind a
//! `feed(bytes) -> list` / `finish() -> list` API.
//!
//! Items and over-long-record errors come out in stream order and nothing is lost or
//! reordered: a call returns the items decoded up to the first over-long record; the
//! `DecodingError` for that record is raised by the next call (`feed` or `finish`), which
//! still takes its data; the items after it come out with the call after that. Every call
//! takes its data, even one that raises.
//!
//! A decoder may be shared by threads: its state is behind a mutex that is held only while
//! Rust code runs on it (taking the input, decoding, handing out the items), never while
//! Python code could run, so a call waits for another thread's call (with the interpreter
//! released) instead of failing with `Already borrowed`, and cannot deadlock on itself.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use pyo3::prelude::*;
use pyo3::sync::{MutexExt, PyOnceLock};
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString};

use crate::errors::Error;

/// Inputs at least this long are decoded with the interpreter detached, so other Python
/// threads run meanwhile; shorter ones are decoded faster than detaching would take.
const DETACH_BYTES: usize = 64 * 1024;

/// A bytes-like argument, read before any decoder state is locked: reading it may run
/// Python code (`bytes(obj)` calls `__bytes__`), and that code may use the same decoder.
enum Input<'py> {
    /// Immutable: read in place.
    Bytes(Bound<'py, PyBytes>),
    /// A copy of a mutable buffer (`bytearray`), which another thread could change meanwhile.
    Copied(Vec<u8>),
}

impl<'py> Input<'py> {
    fn new(data: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(bytes) = data.cast::<PyBytes>() {
            Ok(Self::Bytes(bytes.clone()))
        } else if let Ok(array) = data.cast::<PyByteArray>() {
            Ok(Self::Copied(array.to_vec()))
        } else if data.is_instance_of::<PyString>() {
            Err(pyo3::exceptions::PyTypeError::new_err(
                "expected a bytes-like object, not str (encode it first)",
            ))
        } else {
            // Any other buffer (memoryview, array, mmap): bytes(data) copies it once.
            let bytes = data.py().get_type::<PyBytes>().call1((data,))?;
            Ok(Self::Bytes(bytes.cast_into::<PyBytes>()?))
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Bytes(bytes) => bytes.as_bytes(),
            Self::Copied(vec) => vec,
        }
    }
}

/// Appends a bytes-like object (`bytes`, `bytearray`, `memoryview`, ...) to `buf`.
pub(crate) fn extend_from_bytes_like(
    buf: &mut BytesMut,
    data: &Bound<'_, PyAny>,
) -> PyResult<usize> {
    let input = Input::new(data)?;
    buf.extend_from_slice(input.as_slice());
    Ok(input.as_slice().len())
}

/// Items decoded but not handed out yet, and the errors between them.
type Queue<T> = VecDeque<Result<T, stream_parse::Error>>;

/// Hands out the queued items up to the first error, or raises that error if it comes first.
fn drain<T>(queue: &mut Queue<T>) -> Result<Vec<T>, Error> {
    if let Some(Err(_)) = queue.front()
        && let Some(Err(e)) = queue.pop_front()
    {
        return Err(e.into());
    }
    let mut items = Vec::with_capacity(queue.len());
    while let Some(Ok(_)) = queue.front() {
        if let Some(Ok(item)) = queue.pop_front() {
            items.push(item);
        }
    }
    Ok(items)
}

/// Runs `decode` until it needs more bytes, queueing items and errors (decoders recover).
fn decode_all<T>(
    queue: &mut Queue<T>,
    mut decode: impl FnMut() -> Result<Option<T>, stream_parse::Error>,
) {
    loop {
        match decode() {
            Ok(Some(item)) => queue.push_back(Ok(item)),
            Ok(None) => return,
            Err(e) => queue.push_back(Err(e)),
        }
    }
}

/// A stream-parse decoder as the Python classes drive it.
trait Decode: Send {
    type Item: Send;
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, stream_parse::Error>;
    fn decode_eof(&mut self, buf: &mut BytesMut)
    -> Result<Option<Self::Item>, stream_parse::Error>;
}

impl Decode for stream_parse::SseDecoder {
    type Item = stream_parse::SseEvent;
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, stream_parse::Error> {
        Self::decode(self, buf)
    }
    fn decode_eof(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<Self::Item>, stream_parse::Error> {
        Self::decode_eof(self, buf)
    }
}

impl Decode for stream_parse::NdjsonDecoder {
    type Item = Bytes;
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, stream_parse::Error> {
        Self::decode(self, buf)
    }
    fn decode_eof(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<Self::Item>, stream_parse::Error> {
        Self::decode_eof(self, buf)
    }
}

/// What a Python decoder object guards with its mutex.
#[derive(Debug)]
struct State<D: Decode> {
    decoder: D,
    buf: BytesMut,
    queue: Queue<D::Item>,
}

impl<D: Decode> State<D> {
    fn new(decoder: D) -> Mutex<Self> {
        Mutex::new(Self {
            decoder,
            buf: BytesMut::new(),
            queue: Queue::new(),
        })
    }

    /// Appends `input` and decodes all it completes (the whole buffer when `eof`).
    fn take(&mut self, input: &[u8], eof: bool) {
        self.buf.extend_from_slice(input);
        let Self {
            decoder,
            buf,
            queue,
        } = self;
        if eof {
            decode_all(queue, || decoder.decode_eof(buf));
        } else {
            decode_all(queue, || decoder.decode(buf));
        }
    }
}

/// Locks a decoder's state, waiting with the interpreter released if another thread holds
/// it. No Python code runs while the lock is held, so nothing can leave it inconsistent:
/// a poisoned lock (a panic in the decoder, a bug) is taken over as it is.
fn lock<'a, T>(py: Python<'_>, state: &'a Mutex<T>) -> MutexGuard<'a, T> {
    state
        .lock_py_attached(py)
        .unwrap_or_else(PoisonError::into_inner)
}

/// Feeds `input` (and the end of the stream, if `eof`) to the decoder and hands out the
/// items that are ready, or the error that comes first. Large inputs are copied and decoded
/// with the interpreter released.
fn run<D: Decode>(
    py: Python<'_>,
    state: &Mutex<State<D>>,
    input: &[u8],
    eof: bool,
) -> PyResult<Vec<D::Item>> {
    let items = {
        let mut guard = lock(py, state);
        let state = &mut *guard;
        if input.len() >= DETACH_BYTES || (eof && state.buf.len() >= DETACH_BYTES) {
            py.detach(|| state.take(input, eof));
        } else {
            state.take(input, eof);
        }
        drain(&mut state.queue)
    };
    items.map_err(|e| e.into_pyerr(py))
}

/// The event fields as a decoder dispatched them (moved, never copied) or as Python made them.
#[derive(Debug, Clone)]
enum EventRepr {
    Decoded(stream_parse::SseEvent),
    Made {
        event: Box<str>,
        data: Bytes,
        id: Box<str>,
        retry: Option<u64>,
    },
}

/// One Server-Sent Event: immutable, hashable, compared by value.
///
/// >>> SseEvent('{"x": 1}', id="7").json()
/// {'x': 1}
// No `freelist`: measured on the 1 KiB-event benchmark it was no faster than CPython's own
// allocator (benches/python/README.md).
#[pyclass(name = "SseEvent", module = "mcp_wrapper_rs", frozen, eq, hash)]
#[derive(Debug, Clone)]
pub(crate) struct PySseEvent(EventRepr);

impl PySseEvent {
    fn event_type(&self) -> &str {
        match &self.0 {
            EventRepr::Decoded(e) => e.event_type(),
            EventRepr::Made { event, .. } => event,
        }
    }

    fn data_raw(&self) -> &Bytes {
        match &self.0 {
            EventRepr::Decoded(e) => e.data(),
            EventRepr::Made { data, .. } => data,
        }
    }

    fn last_event_id(&self) -> &str {
        match &self.0 {
            EventRepr::Decoded(e) => e.last_event_id(),
            EventRepr::Made { id, .. } => id,
        }
    }

    fn retry_ms(&self) -> Option<u64> {
        match &self.0 {
            EventRepr::Decoded(e) => e.retry(),
            EventRepr::Made { retry, .. } => *retry,
        }
    }

    fn fields(&self) -> (&str, &Bytes, &str, Option<u64>) {
        (
            self.event_type(),
            self.data_raw(),
            self.last_event_id(),
            self.retry_ms(),
        )
    }
}

impl PartialEq for PySseEvent {
    fn eq(&self, other: &Self) -> bool {
        self.fields() == other.fields()
    }
}

impl Eq for PySseEvent {}

impl Hash for PySseEvent {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.fields().hash(state);
    }
}

impl From<stream_parse::SseEvent> for PySseEvent {
    fn from(event: stream_parse::SseEvent) -> Self {
        Self(EventRepr::Decoded(event))
    }
}

/// `json.loads`, looked up once.
pub(crate) fn json_loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    LOADS
        .import(py, "json", "loads")?
        .call1((PyBytes::new(py, data),))
}

#[pymethods]
impl PySseEvent {
    /// An event, as the decoders make them; `data` may be `str` or `bytes`.
    #[new]
    #[pyo3(
        signature = (data = None, *, event = "message", id = "", retry = None),
        text_signature = "(data='', *, event='message', id='', retry=None)"
    )]
    fn new(
        data: Option<&Bound<'_, PyAny>>,
        event: &str,
        id: &str,
        retry: Option<u64>,
    ) -> PyResult<Self> {
        let data = match data {
            None => Bytes::new(),
            Some(d) => match d.cast::<PyString>() {
                Ok(s) => Bytes::copy_from_slice(s.to_str()?.as_bytes()),
                Err(_) => {
                    let mut buf = BytesMut::new();
                    extend_from_bytes_like(&mut buf, d)?;
                    buf.freeze()
                }
            },
        };
        Ok(Self(EventRepr::Made {
            event: if event.is_empty() { "message" } else { event }.into(),
            data,
            id: id.into(),
            retry,
        }))
    }

    /// The event type: the block's last `event` field, or `"message"`.
    #[getter]
    fn event(&self) -> &str {
        self.event_type()
    }

    /// The data as text; invalid UTF-8 becomes U+FFFD, as browsers decode it.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        // Decoded once, by CPython, straight from the event's bytes (no Rust copy first);
        // only invalid UTF-8 takes the lossy path.
        let data = self.data_raw();
        PyString::from_bytes(py, data)
            .unwrap_or_else(|_| PyString::new(py, &String::from_utf8_lossy(data)))
    }

    /// The data as the raw bytes of the stream.
    #[getter(data_bytes)]
    fn py_data_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.data_raw())
    }

    /// The stream's last event ID when this event was dispatched, or `""`.
    #[getter]
    fn id(&self) -> &str {
        self.last_event_id()
    }

    /// The reconnection time in milliseconds, if this event's block set one.
    #[getter]
    fn retry(&self) -> Option<u64> {
        self.retry_ms()
    }

    /// The data parsed as JSON (`json.loads`).
    ///
    /// Raises `json.JSONDecodeError` (a `ValueError`) when it is not JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_loads(py, self.data_raw())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        const SHOWN: usize = 200;
        let data = String::from_utf8_lossy(self.data_raw());
        let data = match data.char_indices().nth(SHOWN) {
            Some((cut, _)) => format!("{}…", &data[..cut]),
            None => data.into_owned(),
        };
        let repr =
            |s: &str| -> PyResult<String> { Ok(PyString::new(py, s).repr()?.to_str()?.to_owned()) };
        let retry = self
            .retry_ms()
            .map_or_else(|| "None".to_owned(), |r| r.to_string());
        Ok(format!(
            "SseEvent(event={}, data={}, id={}, retry={retry})",
            repr(self.event_type())?,
            repr(&data)?,
            repr(self.last_event_id())?,
        ))
    }
}

/// Incremental Server-Sent Events decoder (the WHATWG event-stream rules).
///
/// Feed it the body as it arrives; it returns the events each chunk completes, whatever
/// the chunking (a CRLF or a UTF-8 character may be split anywhere). `finish()` ends the
/// stream: an unterminated last event is dropped, as the standard says, or dispatched with
/// `lenient_eof=True`. `feed_messages()` / `finish_messages()` return only the data of the
/// `message` events, as `bytes`, without making an `SseEvent` for each.
///
/// An event over `max_event_bytes` raises `DecodingError` (a `ValueError`) and is skipped
/// without being buffered; the decoder stays usable. Nothing is lost or reordered: a call
/// returns the events decoded before the over-long one, the next call raises for it (and
/// still takes its own data), and the call after that returns the events that followed.
/// Inputs of 64 KiB or more are decoded with the interpreter released. Threads may share a
/// decoder: their calls take turns, each taking its whole chunk at once.
///
/// >>> decoder = SseDecoder()
/// >>> decoder.feed(b"id: 1\ndata: {\"a\":")
/// []
/// >>> [event] = decoder.feed(b" 1}\r\n\r\n")
/// >>> event.json(), event.id, decoder.last_event_id
/// ({'a': 1}, '1', '1')
/// >>> decoder.feed_messages(b"event: ping\ndata: -\n\ndata: 2\n\n")
/// [b'2']
#[pyclass(name = "SseDecoder", module = "mcp_wrapper_rs", frozen)]
#[derive(Debug)]
pub(crate) struct PySseDecoder {
    state: Mutex<State<stream_parse::SseDecoder>>,
    max_event_bytes: usize,
    lenient_eof: bool,
}

impl PySseDecoder {
    pub(crate) fn build(max_event_bytes: usize, lenient_eof: bool) -> Self {
        Self {
            state: State::new(
                stream_parse::SseDecoder::new()
                    .with_max_event_bytes(max_event_bytes)
                    .lenient_eof(lenient_eof),
            ),
            max_event_bytes,
            lenient_eof,
        }
    }

    fn events(
        &self,
        py: Python<'_>,
        input: &[u8],
        eof: bool,
    ) -> PyResult<Vec<stream_parse::SseEvent>> {
        run(py, &self.state, input, eof)
    }
}

/// The data of the `message` events, as one list of `bytes`.
fn messages<'py>(
    py: Python<'py>,
    events: &[stream_parse::SseEvent],
) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        events
            .iter()
            .filter(|e| e.event_type() == "message")
            .map(|e| PyBytes::new(py, e.data())),
    )
}

#[pymethods]
impl PySseDecoder {
    #[new]
    #[pyo3(
        signature = (max_event_bytes = stream_parse::DEFAULT_MAX_EVENT_BYTES, lenient_eof = false),
        text_signature = "(max_event_bytes=16777216, lenient_eof=False)"
    )]
    fn new(max_event_bytes: usize, lenient_eof: bool) -> Self {
        Self::build(max_event_bytes, lenient_eof)
    }

    /// Decodes a chunk of the stream and returns the events it completed.
    fn feed(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<PySseEvent>> {
        let input = Input::new(data)?;
        let events = self.events(py, input.as_slice(), false)?;
        Ok(events.into_iter().map(PySseEvent::from).collect())
    }

    /// Ends the stream: returns the remaining events. The decoder is then ready for a new
    /// stream (a reconnection); `last_event_id` and `retry` are kept.
    fn finish(&self, py: Python<'_>) -> PyResult<Vec<PySseEvent>> {
        let events = self.events(py, &[], true)?;
        Ok(events.into_iter().map(PySseEvent::from).collect())
    }

    /// Like `feed`, but returns only the data of the `message` events (an MCP stream's
    /// JSON-RPC messages), as `bytes`; events of other types are skipped. `last_event_id`
    /// and `retry` follow every event, as with `feed`.
    fn feed_messages<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let input = Input::new(data)?;
        messages(py, &self.events(py, input.as_slice(), false)?)
    }

    /// Like `finish`, but returns only the data of the `message` events, as `bytes`.
    fn finish_messages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        messages(py, &self.events(py, &[], true)?)
    }

    /// The stream's last event ID (for a `Last-Event-ID` header), or `""`.
    #[getter]
    fn last_event_id(&self, py: Python<'_>) -> String {
        lock(py, &self.state).decoder.last_event_id().to_owned()
    }

    /// The reconnection time in milliseconds from the last valid `retry` field, if any.
    #[getter]
    fn retry(&self, py: Python<'_>) -> Option<u64> {
        lock(py, &self.state).decoder.retry()
    }

    /// The limit on one event's buffered bytes.
    #[getter]
    fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// Whether an unterminated event at the end of the stream is dispatched.
    #[getter]
    fn lenient_eof(&self) -> bool {
        self.lenient_eof
    }

    fn __repr__(&self) -> String {
        format!(
            "SseDecoder(max_event_bytes={}, lenient_eof={})",
            self.max_event_bytes,
            if self.lenient_eof { "True" } else { "False" }
        )
    }
}

/// Incremental newline-delimited JSON framer.
///
/// Records end at LF; surrounding ASCII whitespace (a CR too) is trimmed and blank records
/// are skipped; `finish()` returns an unterminated last record. Records are not parsed.
/// A record over `max_line_bytes` raises `DecodingError` as `SseDecoder` does, with the same
/// ordering guarantee. Threads may share a decoder, as an `SseDecoder`.
///
/// >>> decoder = NdjsonDecoder()
/// >>> decoder.feed(b'{"a":1}\r\n\n{"b"')
/// [b'{"a":1}']
/// >>> decoder.finish()
/// [b'{"b"']
#[pyclass(name = "NdjsonDecoder", module = "mcp_wrapper_rs", frozen)]
#[derive(Debug)]
pub(crate) struct PyNdjsonDecoder {
    state: Mutex<State<stream_parse::NdjsonDecoder>>,
    max_line_bytes: usize,
}

impl PyNdjsonDecoder {
    fn records<'py>(
        &self,
        py: Python<'py>,
        input: &[u8],
        eof: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let records = run(py, &self.state, input, eof)?;
        PyList::new(py, records.iter().map(|r| PyBytes::new(py, r)))
    }
}

#[pymethods]
impl PyNdjsonDecoder {
    #[new]
    #[pyo3(
        signature = (max_line_bytes = stream_parse::DEFAULT_MAX_LINE_BYTES),
        text_signature = "(max_line_bytes=67108864)"
    )]
    fn new(max_line_bytes: usize) -> Self {
        Self {
            state: State::new(
                stream_parse::NdjsonDecoder::new().with_max_line_bytes(max_line_bytes),
            ),
            max_line_bytes,
        }
    }

    /// Decodes a chunk and returns the records it completed, trimmed, blank ones skipped.
    fn feed<'py>(&self, py: Python<'py>, data: &Bound<'_, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let input = Input::new(data)?;
        self.records(py, input.as_slice(), false)
    }

    /// Ends the stream: returns the remaining records, an unterminated last one included.
    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.records(py, &[], true)
    }

    /// The limit on one record, in bytes.
    #[getter]
    fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    fn __repr__(&self) -> String {
        format!("NdjsonDecoder(max_line_bytes={})", self.max_line_bytes)
    }
}
