//! The exception classes of the package and the one mapping from Rust errors to them.
//!
//! The tree mirrors httpx's names, under one package base, and each leaf also subclasses the
//! builtin that Python users already catch:
//!
//! ```text
//! McpWrapperError(Exception)      also named HTTPError
//! ├── TransportError
//! │   ├── NetworkError(ConnectionError)
//! │   │   ├── ConnectError       no connection: the server has not seen the request
//! │   │   └── ReadError          the connection broke while the body was read
//! │   ├── TimeoutException(TimeoutError)
//! │   │   ├── ConnectTimeout
//! │   │   └── ReadTimeout
//! │   └── RemoteProtocolError
//! ├── TooManyRedirects           past `follow_redirects`' limit, or a redirect refused
//! ├── HTTPStatusError            .status_code, .request, .response
//! ├── DecodingError(ValueError)
//! └── StreamError(RuntimeError)  a response body used in a way its state forbids
//!     ├── StreamConsumed         read twice (two iterators, or an iterator after another)
//!     ├── StreamClosed           read after `aclose()` (or a close that landed mid-read)
//!     └── ResponseNotRead        `content`/`text`/`json()` of a streamed body not read yet
//! ```
//!
//! `HTTPError` is another name of `McpWrapperError`, for code written against httpx.
//!
//! Every instance has `jsonrpc_error`: for a failure of `forward_request` on a request, the
//! JSON-RPC error response (one line of bytes) that answers it in place of the server's, as
//! the bridge writes it; otherwise `None`.
//!
//! The classes need two bases each, which `create_exception!` cannot express, so they are
//! made once with `type(name, bases, namespace)` and kept in a [`PyOnceLock`].

use pyo3::IntoPyObjectExt as _;
use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyTuple, PyType};

/// The public import path, shown in reprs and tracebacks.
const MODULE: &str = "mcp_wrapper_rs";

/// Everything that can fail in this crate, converted to a Python exception only once the GIL
/// is held (in a sync method, or when an awaitable's result is delivered), so async code
/// never has to attach to Python to fail.
#[derive(Debug)]
pub(crate) enum Error {
    /// A transport error, with the raw JSON id of the request it ended, if it was one.
    Forward {
        error: jsonrpc_forward::Error,
        request_id: Option<Box<str>>,
    },
    /// A decoder met an over-long record.
    Parse(stream_parse::Error),
    /// A bad argument.
    Value(String),
    /// A misuse of an object's state (a response read twice, a closed client).
    Runtime(String),
    /// A response body used in a way its state forbids.
    Stream(StreamMisuse),
    /// The end of an async iterator.
    StopAsync,
}

/// Why a response body cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamMisuse {
    Consumed,
    Closed,
    NotRead,
}

impl From<jsonrpc_forward::Error> for Error {
    fn from(error: jsonrpc_forward::Error) -> Self {
        Error::Forward {
            error,
            request_id: None,
        }
    }
}

impl From<stream_parse::Error> for Error {
    fn from(error: stream_parse::Error) -> Self {
        Error::Parse(error)
    }
}

impl Error {
    /// Converts into the Python exception. Never fails: if the exception classes cannot be
    /// made, that error is returned instead.
    pub(crate) fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self {
            Error::Forward { error, request_id } => {
                forward_error(py, &error, request_id.as_deref())
            }
            Error::Parse(error) => new_error(py, |c| &c.decoding, error.to_string()),
            Error::Value(message) => PyValueError::new_err(message),
            Error::Runtime(message) => PyRuntimeError::new_err(message),
            Error::Stream(misuse) => {
                let message = match misuse {
                    StreamMisuse::Consumed => {
                        "the response body was already consumed: iterate it once, or call \
                         `aread()` first and then iterate the content"
                    }
                    StreamMisuse::Closed => {
                        "the response is closed: read its body before `aclose()`"
                    }
                    StreamMisuse::NotRead => {
                        "the content of a streamed response is not read yet: call \
                         `await response.aread()` first"
                    }
                };
                new_error(
                    py,
                    |c| match misuse {
                        StreamMisuse::Consumed => &c.stream_consumed,
                        StreamMisuse::Closed => &c.stream_closed,
                        StreamMisuse::NotRead => &c.response_not_read,
                    },
                    message.to_owned(),
                )
            }
            Error::StopAsync => PyStopAsyncIteration::new_err(()),
        }
    }
}

/// `PyResult` for code that runs without the GIL.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// A result whose error becomes a Python exception when it is converted under the GIL: the
/// output of every future handed to `future_into_py`.
pub(crate) struct Outcome<T>(pub(crate) Result<T>);

impl<'py, T: IntoPyObject<'py>> IntoPyObject<'py> for Outcome<T> {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self.0 {
            Ok(value) => value.into_bound_py_any(py),
            Err(error) => Err(error.into_pyerr(py)),
        }
    }
}

/// The exception classes, made once per process.
pub(crate) struct Classes {
    pub(crate) base: Py<PyType>,
    pub(crate) transport: Py<PyType>,
    pub(crate) network: Py<PyType>,
    pub(crate) connect: Py<PyType>,
    pub(crate) read: Py<PyType>,
    pub(crate) redirects: Py<PyType>,
    pub(crate) timeout: Py<PyType>,
    pub(crate) connect_timeout: Py<PyType>,
    pub(crate) read_timeout: Py<PyType>,
    pub(crate) remote_protocol: Py<PyType>,
    pub(crate) http_status: Py<PyType>,
    pub(crate) decoding: Py<PyType>,
    pub(crate) stream: Py<PyType>,
    pub(crate) stream_consumed: Py<PyType>,
    pub(crate) stream_closed: Py<PyType>,
    pub(crate) response_not_read: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

pub(crate) fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || make_classes(py))
}

fn make_classes(py: Python<'_>) -> PyResult<Classes> {
    let builtins = py.import("builtins")?;
    let make = |name: &str, bases: &[Bound<'_, PyAny>], doc: &str| -> PyResult<Py<PyType>> {
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", MODULE)?;
        namespace.set_item("__doc__", doc)?;
        let bases = PyTuple::new(py, bases)?;
        let class = builtins.getattr("type")?.call1((name, bases, namespace))?;
        Ok(class.cast_into::<PyType>()?.unbind())
    };
    let builtin = |name: &str| builtins.getattr(name);

    let base = make(
        "McpWrapperError",
        &[builtin("Exception")?],
        "Base class of every error raised by mcp_wrapper_rs.\n\n\
         ``jsonrpc_error`` is, for a failed ``forward_request`` of a request, the JSON-RPC \
         error response (bytes, one line) that answers it in place of the server's; \
         otherwise ``None``.",
    )?;
    base.bind(py).setattr("jsonrpc_error", py.None())?;
    let transport = make(
        "TransportError",
        &[base.bind(py).clone().into_any()],
        "The exchange with the server failed (connection, timeout or protocol).",
    )?;
    let network = make(
        "NetworkError",
        &[
            transport.bind(py).clone().into_any(),
            builtin("ConnectionError")?,
        ],
        "The network failed: no connection, or a connection that broke. Also a \
         ``ConnectionError``.",
    )?;
    let connect = make(
        "ConnectError",
        &[network.bind(py).clone().into_any()],
        "No connection could be made (refused, unreachable, TLS handshake failed): the \
         server has not seen the request.",
    )?;
    let read = make(
        "ReadError",
        &[network.bind(py).clone().into_any()],
        "The connection broke (reset or closed) while the response body was read, or the \
         body could not be decompressed.",
    )?;
    let redirects = make(
        "TooManyRedirects",
        &[base.bind(py).clone().into_any()],
        "More redirects than ``follow_redirects`` follows (20), or, for ``forward_request``, \
         a redirect to another origin (only same-origin 307/308 are followed there).",
    )?;
    let timeout = make(
        "TimeoutException",
        &[
            transport.bind(py).clone().into_any(),
            builtin("TimeoutError")?,
        ],
        "A timeout expired. Also a ``TimeoutError``.",
    )?;
    let connect_timeout = make(
        "ConnectTimeout",
        &[timeout.bind(py).clone().into_any()],
        "No connection was made within ``connect_timeout``.",
    )?;
    let read_timeout = make(
        "ReadTimeout",
        &[timeout.bind(py).clone().into_any()],
        "The server sent nothing for ``timeout`` seconds while a response was awaited.",
    )?;
    let remote_protocol = make(
        "RemoteProtocolError",
        &[transport.bind(py).clone().into_any()],
        "The server broke the connection or the protocol (a reset mid-body, a stream that \
         ended without the response).",
    )?;
    let http_status = make(
        "HTTPStatusError",
        &[base.bind(py).clone().into_any()],
        "The server answered with a status outside 2xx. ``status_code`` is the status; \
         ``response`` the ``Response`` when there is one.",
    )?;
    http_status.bind(py).setattr("status_code", 0)?;
    http_status.bind(py).setattr("response", py.None())?;
    let decoding = make(
        "DecodingError",
        &[base.bind(py).clone().into_any(), builtin("ValueError")?],
        "A body could not be decoded: a record over its size limit, or a message that is \
         not JSON. Also a ``ValueError``.",
    )?;
    let stream = make(
        "StreamError",
        &[base.bind(py).clone().into_any(), builtin("RuntimeError")?],
        "A response body was used in a way its state forbids. Also a ``RuntimeError``.",
    )?;
    let stream_child =
        |name: &str, doc: &str| make(name, &[stream.bind(py).clone().into_any()], doc);
    let stream_consumed = stream_child(
        "StreamConsumed",
        "The body was already read by another iterator (``aread()`` first, then iterate \
         the content as often as you like).",
    )?;
    let stream_closed = stream_child(
        "StreamClosed",
        "The body was closed (``aclose()``, or leaving ``async with``) before it was read \
         to the end; a read in progress when it closed raises this too.",
    )?;
    let response_not_read = stream_child(
        "ResponseNotRead",
        "``content``, ``text`` or ``json()`` of a streamed response before ``aread()``.",
    )?;
    install_status_error_init(py, &http_status)?;
    Ok(Classes {
        network,
        read,
        redirects,
        stream,
        stream_consumed,
        stream_closed,
        response_not_read,
        base,
        transport,
        connect,
        timeout,
        connect_timeout,
        read_timeout,
        remote_protocol,
        http_status,
        decoding,
    })
}

/// `HTTPStatusError(message, *, request, response)`, as httpx constructs it; `status_code`
/// comes from the response when there is one.
fn install_status_error_init(py: Python<'_>, class: &Py<PyType>) -> PyResult<()> {
    let code = c"def __init__(self, message, *, request=None, response=None):
    Exception.__init__(self, message)
    self.request = request
    self.response = response
    if response is not None:
        self.status_code = response.status_code
";
    let namespace = PyDict::new(py);
    py.run(code, None, Some(&namespace))?;
    let init = namespace
        .get_item("__init__")?
        .ok_or_else(|| PyRuntimeError::new_err("HTTPStatusError.__init__ was not made"))?;
    class.bind(py).setattr("__init__", init)?;
    class.bind(py).setattr("request", py.None())
}

/// An exception of one of our classes with `message`.
fn new_error(
    py: Python<'_>,
    class: impl FnOnce(&Classes) -> &Py<PyType>,
    message: String,
) -> PyErr {
    match classes(py) {
        Ok(c) => PyErr::from_type(class(c).bind(py).clone(), (message,)),
        Err(e) => e,
    }
}

/// Instantiates `class(message)` and sets `attrs` on the instance.
pub(crate) fn new_error_with(
    py: Python<'_>,
    class: &Py<PyType>,
    message: String,
    attrs: &[(&str, Bound<'_, PyAny>)],
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let exc = class.bind(py).call1((message,))?;
        for (name, value) in attrs {
            exc.setattr(*name, value)?;
        }
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}

/// The one mapping from a transport error to its class, by the error's own predicates.
///
/// The message is the whole display chain (Python cannot see `source()`). For a request
/// (`request_id` is its raw JSON id), the exception carries `jsonrpc_error`: the answer the
/// bridge would write in its place.
fn forward_error(
    py: Python<'_>,
    error: &jsonrpc_forward::Error,
    request_id: Option<&str>,
) -> PyErr {
    let c = match classes(py) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let message = jsonrpc_forward::display_chain(error);
    let class = if error.is_usage() {
        return PyValueError::new_err(message);
    } else if error.is_connect_timeout() {
        &c.connect_timeout
    } else if error.is_connect() {
        &c.connect
    } else if error.is_read() {
        &c.read
    } else if error.is_redirect() {
        &c.redirects
    } else if error.is_timeout() {
        &c.read_timeout
    } else if error.status().is_some() {
        &c.http_status
    } else if error.is_decode() {
        &c.decoding
    } else if error.is_protocol() {
        &c.remote_protocol
    } else {
        &c.base
    };
    let build = || -> PyResult<PyErr> {
        let mut attrs = Vec::new();
        if let Some(status) = error.status() {
            attrs.push(("status_code", status.as_u16().into_bound_py_any(py)?));
        }
        if let Some(id) = request_id {
            let answer = error.to_response(Some(id));
            attrs.push(("jsonrpc_error", PyBytes::new(py, &answer).into_any()));
        }
        Ok(new_error_with(py, class, message, &attrs))
    };
    build().unwrap_or_else(|e| e)
}

/// Adds the classes to the module.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let c = classes(py)?;
    for (name, class) in [
        ("McpWrapperError", &c.base),
        ("HTTPError", &c.base),
        ("StreamError", &c.stream),
        ("StreamConsumed", &c.stream_consumed),
        ("StreamClosed", &c.stream_closed),
        ("ResponseNotRead", &c.response_not_read),
        ("TransportError", &c.transport),
        ("NetworkError", &c.network),
        ("ConnectError", &c.connect),
        ("ReadError", &c.read),
        ("TooManyRedirects", &c.redirects),
        ("TimeoutException", &c.timeout),
        ("ConnectTimeout", &c.connect_timeout),
        ("ReadTimeout", &c.read_timeout),
        ("RemoteProtocolError", &c.remote_protocol),
        ("HTTPStatusError", &c.http_status),
        ("DecodingError", &c.decoding),
    ] {
        module.add(name, class.clone_ref(py))?;
    }
    Ok(())
}
