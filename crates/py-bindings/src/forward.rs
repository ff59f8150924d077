//! `forward_request`: one JSON-RPC message through jsonrpc-forward, as the bridge sends it.

use bytes::{Bytes, BytesMut};
use jsonrpc_forward::{MCP_PROTOCOL_VERSION, MCP_SESSION_ID, Outgoing, RequestHeaders};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use reqwest::header::{HeaderMap, HeaderName};

use crate::client::{ClientCore, PyClient};
use crate::coroutine;
use crate::decoders::{extend_from_bytes_like, json_loads};
use crate::errors::Error;
use crate::headers::PyHeaders;
use crate::request::{header_map, json_body, merge_headers};
use crate::response::version_str;

/// The answer to a forwarded message: a 2xx response and every message it carried.
#[pyclass(name = "ForwardResponse", module = "mcp_wrapper_rs", frozen)]
pub(crate) struct PyForwardResponse {
    status: u16,
    http_version: &'static str,
    headers: PyHeaders,
    session_id: Option<String>,
    messages: Vec<Bytes>,
}

/// The session id is a secret (whoever holds it can act in the session): not shown.
impl std::fmt::Debug for PyForwardResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyForwardResponse")
            .field("status", &self.status)
            .field("http_version", &self.http_version)
            .field("headers", &self.headers)
            .field(
                "session_id",
                &self.session_id.as_ref().map(|_| "<redacted>"),
            )
            .field("messages", &self.messages.len())
            .finish()
    }
}

#[pymethods]
impl PyForwardResponse {
    /// The HTTP status (2xx: other statuses raise `HTTPStatusError`).
    #[getter]
    fn status_code(&self) -> u16 {
        self.status
    }

    /// `"HTTP/1.1"` or `"HTTP/2"`.
    #[getter]
    fn http_version(&self) -> &str {
        self.http_version
    }

    /// The response headers.
    #[getter]
    fn headers(&self) -> PyHeaders {
        self.headers.clone()
    }

    /// The `Mcp-Session-Id` the server sent, if any.
    #[getter]
    fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The server's messages in order, each valid JSON on one line: notifications and
    /// requests it sent first, then the response. Empty for a notification (202).
    #[getter]
    fn messages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.messages.iter().map(|m| PyBytes::new(py, m)))
    }

    /// The last message parsed (for a request, its response), or `None` if there is none.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.messages.last() {
            Some(m) => json_loads(py, m),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// `session_id=<redacted>` when there is one: the id itself is a secret.
    fn __repr__(&self) -> String {
        format!(
            "<ForwardResponse [{}] messages={} session_id={}>",
            self.status,
            self.messages.len(),
            if self.session_id.is_some() {
                "<redacted>"
            } else {
                "None"
            }
        )
    }
}

/// A message given as `bytes`, `str`, or a JSON value (`dict`, `list`), which is serialised.
fn message_bytes(py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(s) = message.cast::<PyString>() {
        return Ok(Bytes::copy_from_slice(s.to_str()?.as_bytes()));
    }
    if message.is_instance_of::<pyo3::types::PyDict>() || message.is_instance_of::<PyList>() {
        return json_body(py, message);
    }
    let mut buf = BytesMut::new();
    extend_from_bytes_like(&mut buf, message)?;
    Ok(buf.freeze())
}

/// POSTs one JSON-RPC message to the MCP endpoint `url` as the bridge does (the bytes
/// unchanged; `Accept` for JSON, SSE and NDJSON; `Mcp-Method`, `Mcp-Name`; retries that never
/// run a tool twice) and returns once the response body has ended.
///
/// `headers` go with this request; `Mcp-Session-Id` and `MCP-Protocol-Version` among them are
/// the conversation's (a 2026-era message's `_meta` version wins over them). `client` lends
/// its settings and connection pool; without it a shared default client is used.
///
/// Raises the mapped exception on failure; for a request, the exception's `jsonrpc_error`
/// is the JSON-RPC error response that answers it in place of the server's.
#[pyfunction]
#[pyo3(signature = (url, message, *, client = None, headers = None))]
pub(crate) fn forward_request<'py>(
    py: Python<'py>,
    url: &str,
    message: &Bound<'_, PyAny>,
    client: Option<&Bound<'_, PyClient>>,
    headers: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let outgoing = Outgoing::new(message_bytes(py, message)?).map_err(|e| {
        PyValueError::new_err(jsonrpc_forward::display_chain(
            &jsonrpc_forward::Error::from(e),
        ))
    })?;
    let request_id: Option<Box<str>> = outgoing
        .is_request()
        .then(|| outgoing.id().map(Box::from))
        .flatten();
    // The conversation's headers go where the core expects them; the rest ride along,
    // on top of the client's own headers.
    let mut own = header_map(headers)?;
    let mut ctx = RequestHeaders::default();
    ctx.session_id = take_header(&mut own, &MCP_SESSION_ID);
    ctx.protocol_version = take_header(&mut own, &MCP_PROTOCOL_VERSION);
    let core = match client {
        Some(c) => c.get().core.clone(),
        None => ClientCore::default_shared().map_err(|e| e.into_pyerr(py))?,
    };
    ctx.extra = merge_headers(&core.headers(), own);
    // Shares the client's pool: a new endpoint client is only a parsed URL.
    let forwarder = core
        .http()
        .and_then(|http| Ok(jsonrpc_forward::Client::with_http(http, url)?))
        .map_err(|e| e.into_pyerr(py))?;
    coroutine::once(py, "forward_request", async move {
        let with_id = |error: jsonrpc_forward::Error| Error::Forward {
            error,
            request_id: request_id.clone(),
        };
        let mut forwarded = forwarder
            .forward_peeked(outgoing, &ctx)
            .await
            .map_err(with_id)?;
        let mut messages = Vec::new();
        while let Some(message) = forwarded.messages().next().await {
            messages.push(message.map_err(with_id)?);
        }
        Ok(PyForwardResponse {
            status: forwarded.status().as_u16(),
            http_version: version_str(forwarded.http_version()),
            headers: PyHeaders::from(forwarded.headers()),
            session_id: forwarded.session_id().map(str::to_owned),
            messages,
        })
    })
}

/// Removes `name` from `headers` and returns its (first) value as text.
fn take_header(headers: &mut HeaderMap, name: &HeaderName) -> Option<String> {
    let value = headers.remove(name)?;
    value.to_str().ok().map(str::to_owned)
}
