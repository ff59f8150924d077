//! `SseDecoder`, `SseEvent` and `NdjsonDecoder`: stream-parse's decoders behind a
//! `feed(bytes) -> list` / `finish() -> list` API.
//!
//! Items and over-long-record errors come out in stream order and nothing is lost or
//! reordered: a call returns the items decoded up to the first over-long record; the
//! `DecodingError` for that record is raised by the next call (`feed` or `finish`), which
//! still takes its data; the items after it come out with the call after that. Every call
//! takes its data, even one that raises.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyString};

use crate::errors::Error;

/// Inputs at least this long are decoded with the interpreter detached, so other Python
/// threads run meanwhile; shorter ones are decoded faster than detaching would take.
const DETACH_BYTES: usize = 64 * 1024;

/// Appends a bytes-like object (`bytes`, `bytearray`, `memoryview`, ...) to `buf`.
pub(crate) fn extend_from_bytes_like(
    buf: &mut BytesMut,
    data: &Bound<'_, PyAny>,
) -> PyResult<usize> {
    if let Ok(bytes) = data.cast::<PyBytes>() {
        buf.extend_from_slice(bytes.as_bytes());
        Ok(bytes.as_bytes().len())
    } else if let Ok(array) = data.cast::<PyByteArray>() {
        let copy = array.to_vec();
        buf.extend_from_slice(&copy);
        Ok(copy.len())
    } else if data.is_instance_of::<PyString>() {
        Err(pyo3::exceptions::PyTypeError::new_err(
            "expected a bytes-like object, not str (encode it first)",
        ))
    } else {
        // Any other buffer (memoryview, array, mmap): bytes(data) copies it once.
        let bytes = data.py().get_type::<PyBytes>().call1((data,))?;
        let bytes = bytes.cast::<PyBytes>()?;
        buf.extend_from_slice(bytes.as_bytes());
        Ok(bytes.as_bytes().len())
    }
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

/// One Server-Sent Event: immutable, hashable, compared by value.
///
/// >>> SseEvent('{"x": 1}', id="7").json()
/// {'x': 1}
#[pyclass(name = "SseEvent", module = "mcp_wrapper_rs", frozen, eq, hash)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PySseEvent {
    event: Box<str>,
    data: Bytes,
    id: Box<str>,
    retry: Option<u64>,
}

impl From<stream_parse::SseEvent> for PySseEvent {
    fn from(event: stream_parse::SseEvent) -> Self {
        Self {
            event: event.event_type().into(),
            id: event.last_event_id().into(),
            retry: event.retry(),
            data: event.data().clone(),
        }
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
        Ok(Self {
            event: if event.is_empty() { "message" } else { event }.into(),
            data,
            id: id.into(),
            retry,
        })
    }

    /// The event type: the block's last `event` field, or `"message"`.
    #[getter]
    fn event(&self) -> &str {
        &self.event
    }

    /// The data as text; invalid UTF-8 becomes U+FFFD, as browsers decode it.
    #[getter]
    fn data(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The data as the raw bytes of the stream.
    #[getter(data_bytes)]
    fn py_data_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.data)
    }

    /// The stream's last event ID when this event was dispatched, or `""`.
    #[getter]
    fn id(&self) -> &str {
        &self.id
    }

    /// The reconnection time in milliseconds, if this event's block set one.
    #[getter]
    fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// The data parsed as JSON (`json.loads`).
    ///
    /// Raises `json.JSONDecodeError` (a `ValueError`) when it is not JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_loads(py, &self.data)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        const SHOWN: usize = 200;
        let data = String::from_utf8_lossy(&self.data);
        let data = match data.char_indices().nth(SHOWN) {
            Some((cut, _)) => format!("{}…", &data[..cut]),
            None => data.into_owned(),
        };
        let repr =
            |s: &str| -> PyResult<String> { Ok(PyString::new(py, s).repr()?.to_str()?.to_owned()) };
        let retry = self
            .retry
            .map_or_else(|| "None".to_owned(), |r| r.to_string());
        Ok(format!(
            "SseEvent(event={}, data={}, id={}, retry={retry})",
            repr(&self.event)?,
            repr(&data)?,
            repr(&self.id)?,
        ))
    }
}

/// Incremental Server-Sent Events decoder (the WHATWG event-stream rules).
///
/// Feed it the body as it arrives; it returns the events each chunk completes, whatever
/// the chunking (a CRLF or a UTF-8 character may be split anywhere). `finish()` ends the
/// stream: an unterminated last event is dropped, as the standard says, or dispatched with
/// `lenient_eof=True`.
///
/// An event over `max_event_bytes` raises `DecodingError` (a `ValueError`) and is skipped
/// without being buffered; the decoder stays usable. Nothing is lost or reordered: a call
/// returns the events decoded before the over-long one, the next call raises for it (and
/// still takes its own data), and the call after that returns the events that followed.
/// Inputs of 64 KiB or more are decoded with the interpreter released.
///
/// >>> decoder = SseDecoder()
/// >>> decoder.feed(b"id: 1\ndata: {\"a\":")
/// []
/// >>> [event] = decoder.feed(b" 1}\r\n\r\n")
/// >>> event.json(), event.id, decoder.last_event_id
/// ({'a': 1}, '1', '1')
#[pyclass(name = "SseDecoder", module = "mcp_wrapper_rs")]
#[derive(Debug)]
pub(crate) struct PySseDecoder {
    inner: stream_parse::SseDecoder,
    buf: BytesMut,
    queue: Queue<stream_parse::SseEvent>,
    max_event_bytes: usize,
    lenient_eof: bool,
}

impl PySseDecoder {
    pub(crate) fn build(max_event_bytes: usize, lenient_eof: bool) -> Self {
        Self {
            inner: stream_parse::SseDecoder::new()
                .with_max_event_bytes(max_event_bytes)
                .lenient_eof(lenient_eof),
            buf: BytesMut::new(),
            queue: Queue::new(),
            max_event_bytes,
            lenient_eof,
        }
    }

    fn decode(&mut self, eof: bool) {
        let Self {
            inner, buf, queue, ..
        } = self;
        if eof {
            decode_all(queue, || inner.decode_eof(buf));
        } else {
            decode_all(queue, || inner.decode(buf));
        }
    }

    fn run(&mut self, py: Python<'_>, len: usize, eof: bool) -> PyResult<Vec<PySseEvent>> {
        if len >= DETACH_BYTES {
            py.detach(|| self.decode(eof));
        } else {
            self.decode(eof);
        }
        drain(&mut self.queue)
            .map(|events| events.into_iter().map(PySseEvent::from).collect())
            .map_err(|e| e.into_pyerr(py))
    }
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
    fn feed(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<PySseEvent>> {
        let len = extend_from_bytes_like(&mut self.buf, data)?;
        self.run(py, len, false)
    }

    /// Ends the stream: returns the remaining events. The decoder is then ready for a new
    /// stream (a reconnection); `last_event_id` and `retry` are kept.
    fn finish(&mut self, py: Python<'_>) -> PyResult<Vec<PySseEvent>> {
        let len = self.buf.len();
        self.run(py, len, true)
    }

    /// The stream's last event ID (for a `Last-Event-ID` header), or `""`.
    #[getter]
    fn last_event_id(&self) -> &str {
        self.inner.last_event_id()
    }

    /// The reconnection time in milliseconds from the last valid `retry` field, if any.
    #[getter]
    fn retry(&self) -> Option<u64> {
        self.inner.retry()
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
/// ordering guarantee.
///
/// >>> decoder = NdjsonDecoder()
/// >>> decoder.feed(b'{"a":1}\r\n\n{"b"')
/// [b'{"a":1}']
/// >>> decoder.finish()
/// [b'{"b"']
#[pyclass(name = "NdjsonDecoder", module = "mcp_wrapper_rs")]
#[derive(Debug)]
pub(crate) struct PyNdjsonDecoder {
    inner: stream_parse::NdjsonDecoder,
    buf: BytesMut,
    queue: Queue<Bytes>,
    max_line_bytes: usize,
}

impl PyNdjsonDecoder {
    fn decode(&mut self, eof: bool) {
        let Self {
            inner, buf, queue, ..
        } = self;
        if eof {
            decode_all(queue, || inner.decode_eof(buf));
        } else {
            decode_all(queue, || inner.decode(buf));
        }
    }

    fn run<'py>(
        &mut self,
        py: Python<'py>,
        len: usize,
        eof: bool,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        if len >= DETACH_BYTES {
            py.detach(|| self.decode(eof));
        } else {
            self.decode(eof);
        }
        let records = drain(&mut self.queue).map_err(|e| e.into_pyerr(py))?;
        Ok(records.iter().map(|r| PyBytes::new(py, r)).collect())
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
            inner: stream_parse::NdjsonDecoder::new().with_max_line_bytes(max_line_bytes),
            buf: BytesMut::new(),
            queue: Queue::new(),
            max_line_bytes,
        }
    }

    /// Decodes a chunk and returns the records it completed, trimmed, blank ones skipped.
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let len = extend_from_bytes_like(&mut self.buf, data)?;
        self.run(py, len, false)
    }

    /// Ends the stream: returns the remaining records, an unterminated last one included.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let len = self.buf.len();
        self.run(py, len, true)
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
