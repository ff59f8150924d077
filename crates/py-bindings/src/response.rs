//! `Response` and its async iterators, reading the body from the Rust stream as Python asks.
//!
//! The body stays in reqwest until an iterator pulls the next chunk, so a 1 GiB body never
//! sits in memory; each chunk is decoded (lines, events, messages) into a small queue whose
//! items are handed out without leaving Python until it is empty.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use jsonrpc_forward::{BodyDecoder, BodyFormat, StreamedResponse};
use pyo3::IntoPyObjectExt as _;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;
use tokio::sync::{Mutex, watch};

use crate::coroutine::{self, Finish, Job, Step, Work};
use crate::decoders::{PySseEvent, json_loads};
use crate::errors::{Error, StreamMisuse, classes, new_error_with};
use crate::headers::PyHeaders;

/// `bytes::Bytes` handed to Python as `bytes`.
pub(crate) struct PyBytesOut(pub(crate) Bytes);

impl<'py> IntoPyObject<'py> for PyBytesOut {
    type Target = PyBytes;
    type Output = Bound<'py, PyBytes>;
    type Error = std::convert::Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(PyBytes::new(py, &self.0))
    }
}

/// Where the body is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    /// Nobody has read it yet.
    Unread,
    /// An async iterator is reading it; `content` will never be set.
    Streaming,
    /// `aread()` has read it all into `content`.
    Read,
    /// `aclose()` was called, or the client dropped the response.
    Closed,
}

struct Body {
    /// `None` once the body ended or was closed.
    response: Option<StreamedResponse>,
    state: BodyState,
    /// What an `aread()` that was cancelled had read: the next one goes on from there.
    partial: BytesMut,
}

/// Leaves out the reqwest response: its `Debug` prints the URL and the header values.
impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("open", &self.response.is_some())
            .field("state", &self.state)
            .field("partial", &self.partial.len())
            .finish()
    }
}

/// What a `Response` and its iterators share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Held for a whole `aread()`, so a second reader waits and gets the same bytes; an
    /// iterator holds it for one chunk at a time.
    body: Mutex<Body>,
    content: OnceLock<Bytes>,
    /// Set by `aclose()`: a read in progress gives up at once.
    closed: watch::Sender<bool>,
    /// When the request was sent, and how long until the body ended or was closed.
    started: Instant,
    elapsed: OnceLock<Duration>,
}

impl Shared {
    /// The next chunk of the body, `None` at its end. A close, a timeout or a transport
    /// error closes the body for good: no later read may see what follows a gap.
    async fn next_chunk(&self, body: &mut Body) -> Result<Option<Bytes>, Error> {
        if body.state == BodyState::Closed {
            return Err(Error::Stream(StreamMisuse::Closed));
        }
        let Some(response) = body.response.as_mut() else {
            return Ok(None);
        };
        let mut closed = self.closed.subscribe();
        // The core's `chunk()` fails after its idle timeout of silence.
        let chunk = tokio::select! {
            // A close wins over a chunk already buffered: nothing is read after it.
            biased;
            _ = closed.wait_for(|closed| *closed) => Err(Error::Stream(StreamMisuse::Closed)),
            chunk = response.chunk() => chunk.map_err(Error::from),
        };
        match chunk {
            Ok(Some(chunk)) => Ok(Some(chunk)),
            Ok(None) => {
                body.response = None;
                self.ended();
                Ok(None)
            }
            Err(failure) => {
                body.response = None;
                body.state = BodyState::Closed;
                self.ended();
                Err(failure)
            }
        }
    }

    /// Reads the whole body into `content` (once) and returns it. Concurrent calls read it
    /// once and all get it; a cancelled call leaves what it read for the next one.
    pub(crate) async fn read_all(&self) -> Result<Bytes, Error> {
        let mut body = self.body.lock().await;
        if let Some(content) = self.content.get() {
            return Ok(content.clone());
        }
        match body.state {
            BodyState::Unread | BodyState::Read => body.state = BodyState::Read,
            BodyState::Streaming => return Err(Error::Stream(StreamMisuse::Consumed)),
            BodyState::Closed => return Err(Error::Stream(StreamMisuse::Closed)),
        }
        while let Some(chunk) = self.next_chunk(&mut body).await? {
            body.partial.extend_from_slice(&chunk);
        }
        let content = std::mem::take(&mut body.partial).freeze();
        Ok(self.content.get_or_init(|| content).clone())
    }

    /// Marks the body as read by an iterator, or says why it cannot be. With the content
    /// already read, the iterator replays it.
    fn start_streaming(&self) -> Result<Option<Bytes>, Error> {
        if let Some(content) = self.content.get() {
            return Ok(Some(content.clone()));
        }
        if *self.closed.borrow() {
            return Err(Error::Stream(StreamMisuse::Closed));
        }
        let Ok(mut body) = self.body.try_lock() else {
            return Err(Error::Stream(StreamMisuse::Consumed));
        };
        match body.state {
            BodyState::Unread => {
                body.state = BodyState::Streaming;
                Ok(None)
            }
            BodyState::Streaming | BodyState::Read => Err(Error::Stream(StreamMisuse::Consumed)),
            BodyState::Closed => Err(Error::Stream(StreamMisuse::Closed)),
        }
    }

    /// Closes the body: a read in progress stops (and fails with `StreamClosed`), and the
    /// connection is released. Content already read stays readable.
    pub(crate) fn close(self: &Arc<Self>) {
        self.ended();
        self.closed.send_replace(true);
        if let Ok(mut body) = self.body.try_lock() {
            self.close_body(&mut body);
            return;
        }
        // A read holds the lock: it sees `closed` and gives up. A read that was cancelled
        // may still hold it for a moment, and then nobody would drop the connection: a task
        // waits for the lock and does.
        if let Ok(handle) = crate::runtime::handle() {
            let shared = self.clone();
            handle.spawn(async move {
                let mut body = shared.body.lock().await;
                shared.close_body(&mut body);
            });
        }
    }

    fn close_body(&self, body: &mut Body) {
        body.response = None;
        body.partial = BytesMut::new();
        if self.content.get().is_none() {
            body.state = BodyState::Closed;
        }
    }

    /// Records `elapsed` (once: the first end counts).
    fn ended(&self) {
        let _ = self.elapsed.set(self.started.elapsed());
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
            || self
                .body
                .try_lock()
                .is_ok_and(|b| b.response.is_none() && b.state != BodyState::Unread)
    }
}

/// An HTTP response, returned once its headers arrive.
///
/// The body is read once, by `aread()` (then `content`, `text`, `json()` and the iterators
/// replay it) or by one `aiter_*()` iterator, which pulls it from Rust chunk by chunk:
///
/// ```python
/// async with client.stream("POST", url, json=message) as response:
///     response.raise_for_status()
///     async for message in response.aiter_messages():
///         handle(json.loads(message))
/// ```
#[pyclass(name = "Response", module = "mcp_wrapper_rs", frozen)]
pub(crate) struct PyResponse {
    status: u16,
    reason: &'static str,
    http_version: &'static str,
    url: String,
    headers: PyHeaders,
    /// `headers`, `content` and `request` as Python objects, made once.
    headers_object: PyOnceLock<Py<PyHeaders>>,
    content_object: PyOnceLock<Py<PyBytes>>,
    request_object: PyOnceLock<Py<PyRequest>>,
    request: PyRequest,
    /// `None` until set or read: then from the content type's charset, else UTF-8.
    encoding: std::sync::Mutex<Option<String>>,
    shared: Arc<Shared>,
}

/// The URL without userinfo and query: they may hold secrets.
impl std::fmt::Debug for PyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyResponse")
            .field("status", &self.status)
            .field("http_version", &self.http_version)
            .field("url", &jsonrpc_forward::redact_url(&self.url))
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl PyResponse {
    pub(crate) fn new(response: StreamedResponse, request: PyRequest, started: Instant) -> Self {
        let status = response.status();
        Self {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or(""),
            http_version: version_str(response.version()),
            url: response.url().to_string(),
            headers: PyHeaders::from(response.headers()),
            headers_object: PyOnceLock::new(),
            content_object: PyOnceLock::new(),
            request_object: PyOnceLock::new(),
            request,
            encoding: std::sync::Mutex::new(None),
            shared: Arc::new(Shared {
                body: Mutex::new(Body {
                    response: Some(response),
                    state: BodyState::Unread,
                    partial: BytesMut::new(),
                }),
                content: OnceLock::new(),
                closed: watch::Sender::new(false),
                started,
                elapsed: OnceLock::new(),
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn iterator(&self, decoder: Decoder) -> Result<PyAsyncStream, Error> {
        self.iterator_with(decoder, None)
    }

    /// An iterator; `text` is an incremental decoder (`codecs`) that turns its bytes into
    /// `str` as they are handed out.
    fn iterator_with(
        &self,
        mut decoder: Decoder,
        text: Option<Py<PyAny>>,
    ) -> Result<PyAsyncStream, Error> {
        let replay = self.shared.start_streaming()?;
        let mut pending = Pending::new();
        if let Some(content) = &replay {
            decoder.push(content.clone(), &mut pending);
            decoder.finish(&mut pending);
        }
        Ok(PyAsyncStream {
            shared: self.shared.clone(),
            state: Arc::new(StreamState {
                decoder: Mutex::new(decoder),
                pending: std::sync::Mutex::new(pending),
                done: AtomicBool::new(replay.is_some()),
                text,
                flushed: AtomicBool::new(false),
            }),
        })
    }

    fn content_type(&self) -> Option<&str> {
        self.headers.first("content-type")
    }
}

pub(crate) fn version_str(version: reqwest::Version) -> &'static str {
    match version {
        reqwest::Version::HTTP_09 => "HTTP/0.9",
        reqwest::Version::HTTP_10 => "HTTP/1.0",
        reqwest::Version::HTTP_2 => "HTTP/2",
        reqwest::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

#[pymethods]
impl PyResponse {
    /// The HTTP status code.
    #[getter]
    fn status_code(&self) -> u16 {
        self.status
    }

    /// The status's reason phrase (`"OK"`), or `""`.
    #[getter]
    fn reason_phrase(&self) -> &str {
        self.reason
    }

    /// `"HTTP/1.1"` or `"HTTP/2"` (negotiated by ALPN over TLS).
    #[getter]
    fn http_version(&self) -> &str {
        self.http_version
    }

    /// The URL of the response (after redirects, if followed).
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The response headers (case-insensitive, multi-valued); the same object each time.
    #[getter]
    fn headers(&self, py: Python<'_>) -> PyResult<Py<PyHeaders>> {
        self.headers_object
            .get_or_try_init(py, || Py::new(py, self.headers.clone()))
            .map(|h| h.clone_ref(py))
    }

    /// The request this response answers.
    #[getter]
    fn request(&self, py: Python<'_>) -> PyResult<Py<PyRequest>> {
        self.request_object
            .get_or_try_init(py, || Py::new(py, self.request.clone()))
            .map(|r| r.clone_ref(py))
    }

    /// Whether the status is 2xx.
    #[getter]
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether the status is 4xx or 5xx.
    #[getter]
    fn is_error(&self) -> bool {
        (400..600).contains(&self.status)
    }

    /// Whether the status is 4xx.
    #[getter]
    fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status)
    }

    /// Whether the status is 5xx.
    #[getter]
    fn is_server_error(&self) -> bool {
        (500..600).contains(&self.status)
    }

    /// Whether this is a redirect that can be followed: 301, 302, 303, 307 or 308 with a
    /// `Location` header.
    #[getter]
    fn is_redirect(&self) -> bool {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
            && self.headers.first("location").is_some()
    }

    /// Whether the body has ended or was closed.
    #[getter]
    fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// From sending the request until the body ended or was closed, as a `timedelta`.
    /// Raises `RuntimeError` before then, as httpx does.
    #[getter]
    fn elapsed(&self) -> PyResult<Duration> {
        self.shared.elapsed.get().copied().ok_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err(
                "'.elapsed' may only be accessed after the response has been read or closed.",
            )
        })
    }

    /// The text encoding of `text` and `aiter_text()`: the content type's `charset`, else
    /// `"utf-8"`. Assignable before the text is read.
    #[getter]
    fn get_encoding(&self) -> String {
        let mut encoding = self.encoding.lock().unwrap_or_else(PoisonError::into_inner);
        encoding
            .get_or_insert_with(|| charset(self.content_type()).unwrap_or("utf-8").to_owned())
            .clone()
    }

    #[setter]
    fn set_encoding(&self, py: Python<'_>, encoding: &str) -> PyResult<()> {
        // Checked now, so a typo fails here rather than at `text`.
        py.import("codecs")?.call_method1("lookup", (encoding,))?;
        *self.encoding.lock().unwrap_or_else(PoisonError::into_inner) = Some(encoding.to_owned());
        Ok(())
    }

    /// The whole body, once `aread()` has read it (`client.post()` and friends read it);
    /// the same `bytes` object each time.
    ///
    /// Raises `ResponseNotRead` for a streamed response not read yet.
    #[getter]
    fn content(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        let content = self
            .shared
            .content
            .get()
            .ok_or_else(|| Error::Stream(StreamMisuse::NotRead).into_pyerr(py))?;
        Ok(self
            .content_object
            .get_or_init(py, || PyBytes::new(py, content).unbind())
            .clone_ref(py))
    }

    /// The body decoded with `encoding` (undecodable bytes become U+FFFD), once read.
    #[getter]
    fn text<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let content = self.content(py)?;
        content
            .bind(py)
            .call_method1("decode", (self.get_encoding(), "replace"))
    }

    /// The body parsed as JSON, once read. Raises `json.JSONDecodeError` if it is not JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let content = self
            .shared
            .content
            .get()
            .ok_or_else(|| Error::Stream(StreamMisuse::NotRead).into_pyerr(py))?;
        json_loads(py, content)
    }

    /// Returns the response if its status is 2xx, else raises `HTTPStatusError` (with
    /// `status_code`, `request` and `response`).
    fn raise_for_status<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        let this = slf.get();
        if this.is_success() {
            return Ok(slf.clone());
        }
        let py = slf.py();
        let kind = match this.status {
            100..=199 => "Informational response",
            300..=399 => "Redirect response",
            400..=499 => "Client error",
            500..=599 => "Server error",
            _ => "Invalid status code",
        };
        let message = format!(
            "{kind} '{} {}' for url '{}'",
            this.status,
            this.reason,
            jsonrpc_forward::redact_url(&this.url)
        );
        let class = &classes(py)?.http_status;
        Err(new_error_with(
            py,
            class,
            message,
            &[
                ("status_code", this.status.into_pyobject(py)?.into_any()),
                ("request", this.request(py)?.into_bound(py).into_any()),
                ("response", slf.clone().into_any()),
            ],
        ))
    }

    /// Reads the whole body and returns it (also kept as `content`).
    fn aread<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shared = self.shared.clone();
        coroutine::once(py, "Response.aread", async move {
            shared.read_all().await.map(PyBytesOut)
        })
    }

    /// Closes the response: the body is no longer read and the connection is released.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.shared.close();
        coroutine::ready(py, "Response.aclose", Ok(py.None()))
    }

    /// The body as it arrives, decoded with `encoding` (a character cut across chunks is
    /// kept for the next piece).
    fn aiter_text(&self, py: Python<'_>) -> PyResult<PyAsyncStream> {
        let decoder = py
            .import("codecs")?
            .call_method1("getincrementaldecoder", (self.get_encoding(),))?
            .call1((("replace"),))?;
        self.iterator_with(Decoder::Bytes(None), Some(decoder.unbind()))
            .map_err(|e| e.into_pyerr(py))
    }

    /// The body as it arrives. The client decompresses gzip and brotli in Rust, so unlike
    /// httpx these are the decoded bytes, as `aiter_bytes()` gives them.
    fn aiter_raw(&self, py: Python<'_>) -> PyResult<PyAsyncStream> {
        self.aiter_bytes(py, None)
    }

    /// The body's chunks as they arrive (decompressed); with `chunk_size`, in pieces of
    /// that many bytes (the last may be shorter).
    #[pyo3(signature = (chunk_size = None))]
    fn aiter_bytes(&self, py: Python<'_>, chunk_size: Option<usize>) -> PyResult<PyAsyncStream> {
        if chunk_size == Some(0) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "chunk_size must be at least 1",
            ));
        }
        let rechunk = chunk_size.map(|size| (size, BytesMut::new()));
        self.iterator(Decoder::Bytes(rechunk))
            .map_err(|e| e.into_pyerr(py))
    }

    /// The body's lines as `str`, without their line ends (LF, CRLF or CR). A line longer
    /// than `max_line_bytes` raises `DecodingError` once and is skipped.
    #[pyo3(
        signature = (*, max_line_bytes = stream_parse::DEFAULT_MAX_LINE_BYTES),
        text_signature = "($self, *, max_line_bytes=67108864)"
    )]
    fn aiter_lines(&self, py: Python<'_>, max_line_bytes: usize) -> PyResult<PyAsyncStream> {
        let decoder = stream_parse::LineDecoder::new().with_max_line_bytes(max_line_bytes);
        self.iterator(Decoder::Lines(decoder, BytesMut::new()))
            .map_err(|e| e.into_pyerr(py))
    }

    /// The body's Server-Sent Events, as `SseEvent`s.
    #[pyo3(
        signature = (*, max_event_bytes = stream_parse::DEFAULT_MAX_EVENT_BYTES, lenient_eof = false),
        text_signature = "($self, *, max_event_bytes=16777216, lenient_eof=False)"
    )]
    fn aiter_sse(
        &self,
        py: Python<'_>,
        max_event_bytes: usize,
        lenient_eof: bool,
    ) -> PyResult<PyAsyncStream> {
        let decoder = stream_parse::SseDecoder::new()
            .with_max_event_bytes(max_event_bytes)
            .lenient_eof(lenient_eof);
        self.iterator(Decoder::Sse(decoder, BytesMut::new()))
            .map_err(|e| e.into_pyerr(py))
    }

    /// The JSON-RPC messages of an MCP response, framed by its content type: SSE (each
    /// non-empty `data`), NDJSON, or a whole JSON body. Each is checked to be JSON and put on
    /// one line; an invalid or over-long message raises `DecodingError` once.
    #[pyo3(
        signature = (*, max_message_bytes = jsonrpc_forward::DEFAULT_MAX_MESSAGE_BYTES),
        text_signature = "($self, *, max_message_bytes=67108864)"
    )]
    fn aiter_messages(&self, py: Python<'_>, max_message_bytes: usize) -> PyResult<PyAsyncStream> {
        let format = BodyFormat::from_content_type(self.content_type());
        self.iterator(Decoder::Messages(BodyDecoder::new(
            format,
            max_message_bytes,
            None,
        )))
        .map_err(|e| e.into_pyerr(py))
    }

    fn __aenter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        coroutine::ready(
            slf.py(),
            "Response.__aenter__",
            Ok(slf.clone().into_any().unbind()),
        )
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _args: &Bound<'_, pyo3::types::PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.shared.close();
        coroutine::ready(
            py,
            "Response.__aexit__",
            Ok(false.into_pyobject(py)?.to_owned().into_any().unbind()),
        )
    }

    fn __repr__(&self) -> String {
        format!("<Response [{} {}]>", self.status, self.reason)
    }
}

/// One item of an async iterator.
#[derive(Debug)]
enum Item {
    Bytes(Bytes),
    Line(String),
    Event(PySseEvent),
}

impl<'py> IntoPyObject<'py> for Item {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self {
            Item::Bytes(b) => Ok(PyBytes::new(py, &b).into_any()),
            Item::Line(s) => s.into_bound_py_any(py),
            Item::Event(e) => e.into_bound_py_any(py),
        }
    }
}

type Pending = VecDeque<Result<Item, Error>>;

/// Turns chunks into items.
#[derive(Debug)]
enum Decoder {
    /// Chunks as they come, or re-cut to a size (with the bytes waiting for a full piece).
    Bytes(Option<(usize, BytesMut)>),
    Lines(stream_parse::LineDecoder, BytesMut),
    Sse(stream_parse::SseDecoder, BytesMut),
    Messages(BodyDecoder),
}

impl Decoder {
    fn push(&mut self, chunk: Bytes, out: &mut Pending) {
        match self {
            Decoder::Bytes(None) => {
                if !chunk.is_empty() {
                    out.push_back(Ok(Item::Bytes(chunk)));
                }
            }
            Decoder::Bytes(Some((size, buf))) => {
                buf.extend_from_slice(&chunk);
                while buf.len() >= *size {
                    out.push_back(Ok(Item::Bytes(buf.split_to(*size).freeze())));
                }
            }
            Decoder::Lines(decoder, buf) => {
                buf.extend_from_slice(&chunk);
                lines(out, || decoder.decode(buf));
            }
            Decoder::Sse(decoder, buf) => {
                buf.extend_from_slice(&chunk);
                sse_events(out, || decoder.decode(buf));
            }
            Decoder::Messages(decoder) => {
                if let Err(e) = decoder.push(&chunk) {
                    out.push_back(Err(e.into()));
                }
                messages(out, || decoder.decode());
            }
        }
    }

    fn finish(&mut self, out: &mut Pending) {
        match self {
            Decoder::Bytes(None) => {}
            Decoder::Bytes(Some((_, buf))) => {
                if !buf.is_empty() {
                    out.push_back(Ok(Item::Bytes(buf.split().freeze())));
                }
            }
            Decoder::Lines(decoder, buf) => lines(out, || decoder.decode_eof(buf)),
            Decoder::Sse(decoder, buf) => sse_events(out, || decoder.decode_eof(buf)),
            Decoder::Messages(decoder) => messages(out, || decoder.decode_eof()),
        }
    }
}

/// Pulls every line `decode` yields into `out`, as text (invalid UTF-8 becomes U+FFFD),
/// with over-long lines as errors in their place.
fn lines(
    out: &mut Pending,
    mut decode: impl FnMut() -> Result<Option<Bytes>, stream_parse::Error>,
) {
    loop {
        match decode() {
            Ok(Some(line)) => {
                out.push_back(Ok(Item::Line(String::from_utf8_lossy(&line).into_owned())));
            }
            Ok(None) => return,
            Err(e) => out.push_back(Err(e.into())),
        }
    }
}

fn sse_events(
    out: &mut Pending,
    mut decode: impl FnMut() -> Result<Option<stream_parse::SseEvent>, stream_parse::Error>,
) {
    loop {
        match decode() {
            Ok(Some(event)) => out.push_back(Ok(Item::Event(event.into()))),
            Ok(None) => return,
            Err(e) => out.push_back(Err(e.into())),
        }
    }
}

/// Pulls every message `step` yields (`next` or `finish` of the transport's decoder) into
/// `out`, each checked and on one line, with over-long ones as errors in their place.
fn messages(
    out: &mut Pending,
    mut step: impl FnMut() -> Result<Option<Bytes>, jsonrpc_forward::Error>,
) {
    loop {
        match step() {
            Ok(Some(raw)) => message(raw, out),
            Ok(None) => break,
            Err(e) => out.push_back(Err(e.into())),
        }
    }
}

/// Checks one raw message (blank ones are skipped) and queues it on one line.
fn message(raw: Bytes, out: &mut Pending) {
    match jsonrpc_forward::message::inbound(raw) {
        Ok(Some(m)) => out.push_back(Ok(Item::Bytes(m.bytes))),
        Ok(None) => {}
        Err(e) => out.push_back(Err(jsonrpc_forward::Error::from(e).into())),
    }
}

/// An iterator's decoded items and its reader, shared with the coroutines of `__anext__`.
#[derive(Debug)]
struct StreamState {
    /// Turns chunks into items; held while a chunk is awaited.
    decoder: Mutex<Decoder>,
    /// Items decoded and not handed out yet, with errors in their place. An item leaves it
    /// only on the event loop's thread, as `__anext__` returns it: a cancelled `__anext__`
    /// loses nothing.
    pending: std::sync::Mutex<Pending>,
    /// The body has ended (or failed): only `pending` is left.
    done: AtomicBool,
    /// `aiter_text()`'s incremental decoder, used only under the interpreter.
    text: Option<Py<PyAny>>,
    /// The text decoder's last piece was handed out.
    flushed: AtomicBool,
}

impl StreamState {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads chunks until an item is pending or the body has ended.
    async fn fill(&self, shared: &Shared) {
        let mut decoder = self.decoder.lock().await;
        while self.pending().is_empty() && !self.done.load(Ordering::Acquire) {
            let chunk = {
                let mut body = shared.body.lock().await;
                shared.next_chunk(&mut body).await
            };
            let mut pending = self.pending();
            match chunk {
                Ok(Some(chunk)) => decoder.push(chunk, &mut pending),
                Ok(None) => {
                    decoder.finish(&mut pending);
                    self.done.store(true, Ordering::Release);
                }
                // A transport error ends the iteration, after the items before it.
                Err(e) => {
                    pending.push_back(Err(e));
                    self.done.store(true, Ordering::Release);
                }
            }
        }
    }

    /// The next item for Python: `None` when another reader took it first and the body
    /// goes on.
    fn take(&self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        loop {
            // `done` first: read after an empty queue, it could be set (with the last items
            // pushed) in between, and the iteration would end with items left.
            let done = self.done.load(Ordering::Acquire);
            let next = self.pending().pop_front();
            return match next {
                Some(Ok(item)) => match (&self.text, item) {
                    (Some(decoder), Item::Bytes(bytes)) => {
                        match Self::decode_text(py, decoder, &bytes, false) {
                            Ok(None) => continue,
                            Ok(Some(text)) => Some(Ok(text)),
                            Err(e) => Some(Err(e)),
                        }
                    }
                    (_, item) => Some(item.into_py_any(py)),
                },
                Some(Err(e)) => Some(Err(e.into_pyerr(py))),
                None if done => {
                    if let Some(decoder) = &self.text
                        && !self.flushed.swap(true, Ordering::AcqRel)
                    {
                        match Self::decode_text(py, decoder, &[], true) {
                            Ok(None) => {}
                            Ok(Some(text)) => return Some(Ok(text)),
                            Err(e) => return Some(Err(e)),
                        }
                    }
                    Some(Err(Error::StopAsync.into_pyerr(py)))
                }
                None => None,
            };
        }
    }

    /// `decoder.decode(bytes, final)`, or `None` when that is `""` (a character that
    /// continues in the next chunk).
    fn decode_text(
        py: Python<'_>,
        decoder: &Py<PyAny>,
        bytes: &[u8],
        last: bool,
    ) -> PyResult<Option<Py<PyAny>>> {
        let text = decoder.call_method1(py, "decode", (PyBytes::new(py, bytes), last))?;
        Ok((!text.bind(py).is_empty()?).then_some(text))
    }
}

/// `__anext__`'s work: fill the queue on the runtime, take the item on the loop's thread.
struct Next {
    shared: Arc<Shared>,
    state: Arc<StreamState>,
}

impl Work for Next {
    /// A buffered item, taken when the coroutine is first awaited (not when `__anext__` is
    /// called: a call never awaited, or cancelled before it ran, takes nothing).
    fn ready(&mut self, py: Python<'_>) -> Option<Step> {
        self.state.take(py).map(Step::Done)
    }

    fn start(&mut self) -> Option<Job> {
        let shared = self.shared.clone();
        let state = self.state.clone();
        Some(Box::pin(async move {
            state.fill(&shared).await;
            Box::new(move |py: Python<'_>| match state.take(py) {
                Some(result) => Step::Done(result),
                None => Step::Again,
            }) as Finish
        }))
    }
}

/// An async iterator over a response body, backed by the Rust stream.
///
/// Each `__anext__` reads only as much of the body as the next item needs. Cancelling the
/// task that awaits it stops the read and loses no item: the next call resumes. An
/// over-long record raises `DecodingError` in its place and iteration may go on; a transport
/// error (a timeout, a broken connection) ends the iteration.
#[pyclass(name = "AsyncStream", module = "mcp_wrapper_rs", frozen)]
#[derive(Debug)]
pub(crate) struct PyAsyncStream {
    shared: Arc<Shared>,
    state: Arc<StreamState>,
}

#[pymethods]
impl PyAsyncStream {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Always an awaitable, also at the end (which it raises as `StopAsyncIteration` when
    /// awaited): `anext(it, default)` needs one.
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // Items already decoded are handed out without the runtime (`Next::ready`).
        coroutine::with_work(
            py,
            "AsyncStream.__anext__",
            Box::new(Next {
                shared: self.shared.clone(),
                state: self.state.clone(),
            }),
        )
    }

    /// Closes the response this iterator reads.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.shared.close();
        coroutine::ready(py, "AsyncStream.aclose", Ok(py.None()))
    }
}

/// The `charset` parameter of a content type, if any.
fn charset(content_type: Option<&str>) -> Option<&str> {
    content_type?
        .split(';')
        .skip(1)
        .filter_map(|param| param.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// A request as sent: `response.request`, `client.build_request()`, `client.send()`.
#[pyclass(name = "Request", module = "mcp_wrapper_rs", frozen)]
#[derive(Clone)]
pub(crate) struct PyRequest {
    pub(crate) method: reqwest::Method,
    pub(crate) url: reqwest::Url,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Bytes,
    /// This request's timeout, replacing the client's.
    pub(crate) timeout: Option<Duration>,
    /// This request's `follow_redirects`, replacing the client's.
    pub(crate) follow_redirects: Option<bool>,
}

/// The URL without userinfo and query, header names only: they may hold secrets.
impl std::fmt::Debug for PyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyRequest")
            .field("method", &self.method)
            .field("url", &jsonrpc_forward::redact_url(self.url.as_str()))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

#[pymethods]
impl PyRequest {
    /// `"GET"`, `"POST"`, ...
    #[getter]
    fn method(&self) -> &str {
        self.method.as_str()
    }

    /// The URL, with `base_url` and `params` applied.
    #[getter]
    fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The headers this request carries (the client's and its own).
    #[getter]
    fn headers(&self) -> PyHeaders {
        PyHeaders::from(&self.headers)
    }

    /// The body.
    #[getter]
    fn content(&self) -> PyBytesOut {
        PyBytesOut(self.body.clone())
    }

    fn __repr__(&self) -> String {
        format!(
            "<Request('{}', '{}')>",
            self.method,
            jsonrpc_forward::redact_url(self.url.as_str())
        )
    }
}
