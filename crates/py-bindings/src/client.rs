//! `Client`: an httpx-shaped async HTTP client on reqwest, sharing its settings with the
//! jsonrpc-forward clients that `forward_request` uses.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use jsonrpc_forward::retry::RetryPolicy;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyString, PyTuple};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

use crate::coroutine;
use crate::decoders::extend_from_bytes_like;
use crate::errors::Error;
use crate::response::PyResponse;

/// "No timeout": far enough that no deadline arithmetic can overflow.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Forwarding clients kept per (URL, extra headers); a longer list starts over.
const MAX_FORWARDERS: usize = 64;

/// Everything a client was built from, for making jsonrpc-forward clients alike.
#[derive(Clone)]
struct Settings {
    idle: Duration,
    connect_timeout: Duration,
    verify: bool,
    ca_bundle: Option<PathBuf>,
    identity: Option<(PathBuf, PathBuf)>,
    headers: Vec<(String, String)>,
    max_retries: u32,
    http2: bool,
    follow_redirects: bool,
}

/// Header values are secrets (API keys): only their names are shown.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("idle", &self.idle)
            .field("connect_timeout", &self.connect_timeout)
            .field("verify", &self.verify)
            .field("ca_bundle", &self.ca_bundle)
            .field("identity", &self.identity)
            .field("headers", &header_names(&self.headers))
            .field("max_retries", &self.max_retries)
            .field("http2", &self.http2)
            .field("follow_redirects", &self.follow_redirects)
            .finish()
    }
}

fn header_names(headers: &[(String, String)]) -> Vec<&str> {
    headers.iter().map(|(name, _)| name.as_str()).collect()
}

/// A forwarding client's URL and extra headers.
type ForwarderKey = (String, Vec<(String, String)>);

/// The Rust side of a `Client`, shared with the futures it starts.
pub(crate) struct ClientCore {
    /// The pool, and the process it was made in: a forked child makes its own (the
    /// parent's connections belong to a runtime whose threads the child does not have).
    http: Mutex<(u32, reqwest::Client)>,
    settings: Settings,
    forwarders: Mutex<HashMap<ForwarderKey, jsonrpc_forward::Client>>,
    closed: AtomicBool,
}

/// Leaves out the reqwest client (its `Debug` prints the default header values) and the
/// forwarders' keys (URLs and header values): only how many there are.
impl std::fmt::Debug for ClientCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let forwarders = self.forwarders.lock().map_or(0, |f| f.len());
        f.debug_struct("ClientCore")
            .field("settings", &self.settings)
            .field("forwarders", &forwarders)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl ClientCore {
    fn new(settings: Settings) -> Result<Self, Error> {
        let http = build_http(&settings)?;
        Ok(Self {
            http: Mutex::new((std::process::id(), http)),
            settings,
            forwarders: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// The pool of this process (rebuilt once after a fork, with the forwarders).
    fn http(&self) -> Result<reqwest::Client, Error> {
        let pid = std::process::id();
        let mut http = self.http.lock().unwrap_or_else(PoisonError::into_inner);
        if http.0 != pid {
            *http = (pid, build_http(&self.settings)?);
            self.forwarders
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
        Ok(http.1.clone())
    }
}

/// The pooled reqwest client `settings` describe.
fn build_http(settings: &Settings) -> Result<reqwest::Client, Error> {
    let mut default_headers = HeaderMap::new();
    for (name, value) in &settings.headers {
        default_headers.append(header_name(name)?, header_value(name, value)?);
    }
    let mut builder = reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(32)
        .tcp_nodelay(true)
        .user_agent(concat!(
            "mcp-wrapper-rs/",
            env!("CARGO_PKG_VERSION"),
            " (python)"
        ))
        .default_headers(default_headers)
        .redirect(if settings.follow_redirects {
            reqwest::redirect::Policy::limited(20)
        } else {
            reqwest::redirect::Policy::none()
        })
        .tls_danger_accept_invalid_certs(!settings.verify);
    if !settings.http2 {
        builder = builder.http1_only();
    }
    if let Some(path) = &settings.ca_bundle {
        let pem = std::fs::read(path)
            .map_err(|e| Error::Value(format!("cannot read CA bundle {}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| Error::Value(format!("invalid CA bundle {}: {e}", path.display())))?;
        builder = builder.tls_certs_only(certs);
    }
    if let Some((cert, key)) = &settings.identity {
        let mut pem = std::fs::read(cert).map_err(|e| {
            Error::Value(format!(
                "cannot read client certificate {}: {e}",
                cert.display()
            ))
        })?;
        if key != cert {
            pem.push(b'\n');
            pem.extend(std::fs::read(key).map_err(|e| {
                Error::Value(format!("cannot read client key {}: {e}", key.display()))
            })?);
        }
        let identity = reqwest::Identity::from_pem(&pem)
            .map_err(|e| Error::Value(format!("invalid client certificate or key: {e}")))?;
        builder = builder.identity(identity);
    }
    builder
        .build()
        .map_err(|e| Error::Value(format!("cannot build the HTTP client: {e}")))
}

impl ClientCore {
    /// The client that `forward_request` uses when given none: default settings, shared.
    pub(crate) fn default_shared() -> Result<Arc<Self>, Error> {
        static DEFAULT: OnceLock<Arc<ClientCore>> = OnceLock::new();
        if let Some(core) = DEFAULT.get() {
            return Ok(core.clone());
        }
        let core = Arc::new(Self::new(Settings::default())?);
        Ok(DEFAULT.get_or_init(|| core).clone())
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Runtime(
                "cannot send a request: the client has been closed".to_owned(),
            ));
        }
        Ok(())
    }

    /// The pooled jsonrpc-forward client for `url` with these extra headers.
    pub(crate) fn forwarder(
        &self,
        url: &str,
        extra: Vec<(String, String)>,
    ) -> Result<jsonrpc_forward::Client, Error> {
        self.check_open()?;
        // Forgets the forwarders made before a fork.
        self.http()?;
        let key = (url.to_owned(), extra);
        let mut forwarders = self
            .forwarders
            .lock()
            .map_err(|_| Error::Runtime("the client's state is poisoned".to_owned()))?;
        if let Some(client) = forwarders.get(&key) {
            return Ok(client.clone());
        }
        let s = &self.settings;
        let mut config = jsonrpc_forward::ClientConfig::new(url)
            .idle_timeout(s.idle)
            .connect_timeout(s.connect_timeout)
            .insecure(!s.verify)
            .retry_policy(RetryPolicy {
                max_retries: s.max_retries,
                ..RetryPolicy::default()
            });
        if let Some(ca) = &s.ca_bundle {
            config = config.ca_bundle(ca);
        }
        if let Some((cert, key)) = &s.identity {
            config = config.client_identity(cert, key);
        }
        for (name, value) in s.headers.iter().chain(&key.1) {
            config = config.header(name, value);
        }
        let client = jsonrpc_forward::Client::new(config)?;
        if forwarders.len() >= MAX_FORWARDERS {
            forwarders.clear();
        }
        forwarders.insert(key, client.clone());
        Ok(client)
    }

    /// Sends a request and returns the response once its headers arrive. A connection that
    /// could not be made is retried as the transport's policy says (the server has not seen
    /// the request), within the idle timeout; nothing else is resent.
    async fn send(&self, request: &RequestSpec) -> Result<reqwest::Response, Error> {
        self.check_open()?;
        let idle = self.settings.idle;
        let policy = RetryPolicy {
            max_retries: self.settings.max_retries,
            ..RetryPolicy::default()
        };
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let builder = self
                .http()?
                .request(request.method.clone(), request.url.clone())
                .headers(request.headers.clone())
                .body(request.body.clone());
            let error = match tokio::time::timeout(idle, builder.send()).await {
                Err(_) => return Err(Error::timeout(idle)),
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(e)) if e.is_connect() => {
                    jsonrpc_forward::Error::Connect(jsonrpc_forward::redacted(e))
                }
                Ok(Err(e)) => return Err(e.into()),
            };
            match policy.delay(&error, attempt, None, fastrand::f64()) {
                Some(delay) if started.elapsed() + delay < idle => {
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                _ => return Err(error.into()),
            }
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            idle: jsonrpc_forward::DEFAULT_IDLE_TIMEOUT,
            connect_timeout: jsonrpc_forward::DEFAULT_CONNECT_TIMEOUT,
            verify: true,
            ca_bundle: None,
            identity: None,
            headers: Vec::new(),
            max_retries: RetryPolicy::default().max_retries,
            http2: true,
            follow_redirects: false,
        }
    }
}

fn header_name(name: &str) -> Result<HeaderName, Error> {
    HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| Error::Value(format!("invalid header name {name:?}")))
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(value.trim())
        .map_err(|_| Error::Value(format!("invalid value for header {name:?}")))
}

/// `(name, value)` pairs from a mapping (`dict`, `Headers`) or an iterable of pairs.
pub(crate) fn header_pairs(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let py = headers.py();
    let pairs = if headers.hasattr("multi_items")? {
        headers.call_method0("multi_items")?
    } else if headers.hasattr("items")? {
        headers.call_method0("items")?
    } else {
        headers.clone()
    };
    let mut out = Vec::new();
    for pair in pairs.try_iter()? {
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair?.extract()?;
        out.push((text(py, &name)?, text(py, &value)?));
    }
    Ok(out)
}

/// A header name or value given as `str` or `bytes` (Latin-1, as HTTP has it).
fn text(_py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(b.as_bytes().iter().map(|&c| char::from(c)).collect());
    }
    Err(PyTypeError::new_err(format!(
        "header names and values must be str or bytes, not {}",
        value.get_type().name()?
    )))
}

/// `json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)`, as
/// UTF-8: the compact JSON httpx sends.
pub(crate) fn json_body(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let kwargs = PyDict::new(py);
    kwargs.set_item("separators", (",", ":"))?;
    kwargs.set_item("ensure_ascii", false)?;
    kwargs.set_item("allow_nan", false)?;
    let text = DUMPS
        .import(py, "json", "dumps")?
        .call((value,), Some(&kwargs))?;
    Ok(Bytes::copy_from_slice(
        text.cast::<PyString>()?.to_str()?.as_bytes(),
    ))
}

/// `application/x-www-form-urlencoded` from a mapping; list values repeat the key.
fn form_body(data: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    fn encode(out: &mut String, s: &str) {
        for &b in s.as_bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    out.push(char::from(b));
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    fn scalar(value: &Bound<'_, PyAny>) -> PyResult<String> {
        if value.is_instance_of::<PyBool>() {
            return Ok(if value.is_truthy()? { "true" } else { "false" }.to_owned());
        }
        if value.is_none() {
            return Ok(String::new());
        }
        Ok(value.str()?.to_str()?.to_owned())
    }
    let mut out = String::new();
    for pair in data.call_method0("items")?.try_iter()? {
        let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair?.extract()?;
        let key = scalar(&key)?;
        let values: Vec<Bound<'_, PyAny>> =
            if value.is_instance_of::<pyo3::types::PyList>() || value.is_instance_of::<PyTuple>() {
                value.try_iter()?.collect::<PyResult<_>>()?
            } else {
                vec![value]
            };
        for value in values {
            if !out.is_empty() {
                out.push('&');
            }
            encode(&mut out, &key);
            out.push('=');
            encode(&mut out, &scalar(&value)?);
        }
    }
    Ok(Bytes::from(out))
}

/// A request, owned and ready to send (and to resend).
#[derive(Clone)]
struct RequestSpec {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Bytes,
}

/// The URL without userinfo and query, the header names without values, the body's size.
impl std::fmt::Debug for RequestSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSpec")
            .field("method", &self.method)
            .field("url", &jsonrpc_forward::redact_url(self.url.as_str()))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl RequestSpec {
    fn build(
        py: Python<'_>,
        method: &str,
        url: &str,
        content: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| PyValueError::new_err(format!("invalid HTTP method {method:?}")))?;
        let parsed = Url::parse(url).map_err(|e| {
            PyValueError::new_err(format!(
                "invalid URL {:?}: {e}",
                jsonrpc_forward::redact_url(url)
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(PyValueError::new_err(format!(
                "URL scheme must be http or https, not {:?}",
                parsed.scheme()
            )));
        }
        let given = usize::from(content.is_some())
            + usize::from(data.is_some())
            + usize::from(json.is_some());
        if given > 1 {
            return Err(PyTypeError::new_err(
                "pass at most one of content=, data= and json=",
            ));
        }
        let mut map = HeaderMap::new();
        let (body, content_type) = if let Some(content) = content {
            let body = match content.cast::<PyString>() {
                Ok(s) => Bytes::copy_from_slice(s.to_str()?.as_bytes()),
                Err(_) => {
                    let mut buf = BytesMut::new();
                    extend_from_bytes_like(&mut buf, content)?;
                    buf.freeze()
                }
            };
            (body, None)
        } else if let Some(data) = data {
            (form_body(data)?, Some("application/x-www-form-urlencoded"))
        } else if let Some(json) = json {
            (json_body(py, json)?, Some("application/json"))
        } else {
            (Bytes::new(), None)
        };
        if let Some(ct) = content_type {
            map.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        if let Some(headers) = headers {
            let mut replaced = Vec::new();
            for (name, value) in header_pairs(headers)? {
                let name = header_name(&name).map_err(|e| e.into_pyerr(py))?;
                let value = header_value(name.as_str(), &value).map_err(|e| e.into_pyerr(py))?;
                // A header given here replaces ours (Content-Type) and the client's.
                if !replaced.contains(&name) {
                    map.remove(&name);
                    replaced.push(name.clone());
                }
                map.append(name, value);
            }
        }
        Ok(Self {
            method,
            url: parsed,
            headers: map,
            body,
        })
    }
}

/// Extracts `timeout=` and friends: seconds as a number, `None` for no limit.
fn seconds(value: Option<f64>, what: &str) -> PyResult<Duration> {
    match value {
        None => Ok(FOREVER),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Duration::from_secs_f64(s).min(FOREVER)),
        Some(s) => Err(PyValueError::new_err(format!(
            "{what} must be a positive number of seconds or None, not {s}"
        ))),
    }
}

/// An async HTTP client, shaped like `httpx.AsyncClient`, on one pooled Rust client
/// (keep-alive, HTTP/2 by ALPN over TLS, rustls with the system's roots).
///
/// ```python
/// async with Client(timeout=30) as client:
///     async with client.stream("POST", url, json=message) as response:
///         async for event in response.aiter_sse():
///             print(event.json())
/// ```
#[pyclass(name = "Client", module = "mcp_wrapper_rs", frozen)]
#[derive(Debug)]
pub(crate) struct PyClient {
    pub(crate) core: Arc<ClientCore>,
}

#[pymethods]
impl PyClient {
    /// `timeout`: the longest silence, in seconds, while response headers or the next body
    /// bytes are awaited (`None`: no limit). `connect_timeout`: to open a connection.
    /// `verify`: `True` (system roots), `False` (accept any certificate: tests only) or the
    /// path of a PEM CA bundle that replaces the roots. `cert`: a client certificate, as the
    /// path of one PEM file with certificate and key, or a `(cert, key)` pair of paths.
    /// `http2=False` forces HTTP/1.1. `headers` go with every request. `max_retries`: how
    /// often a connection that could not be made is retried (the server has not seen the
    /// request, so this is safe for every method); `forward_request` also follows the
    /// transport's retry rules with it. Redirects are not followed unless
    /// `follow_redirects=True`.
    #[new]
    #[pyo3(signature = (
        *,
        timeout = Some(60.0),
        connect_timeout = Some(15.0),
        verify = None,
        cert = None,
        http2 = true,
        headers = None,
        max_retries = 5,
        follow_redirects = false,
    ), text_signature = "(*, timeout=60.0, connect_timeout=15.0, verify=True, cert=None, \
                         http2=True, headers=None, max_retries=5, follow_redirects=False)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        timeout: Option<f64>,
        connect_timeout: Option<f64>,
        verify: Option<&Bound<'_, PyAny>>,
        cert: Option<&Bound<'_, PyAny>>,
        http2: bool,
        headers: Option<&Bound<'_, PyAny>>,
        max_retries: u32,
        follow_redirects: bool,
        py: Python<'_>,
    ) -> PyResult<Self> {
        let (verify, ca_bundle) = match verify {
            None => (true, None),
            Some(v) if v.is_instance_of::<PyBool>() => (v.is_truthy()?, None),
            Some(v) => (true, Some(v.extract::<PathBuf>()?)),
        };
        let identity = match cert {
            None => None,
            Some(c) if c.is_instance_of::<PyTuple>() => {
                let parts: Vec<Option<PathBuf>> = c.extract()?;
                match parts.as_slice() {
                    [Some(cert), Some(key)] => Some((cert.clone(), key.clone())),
                    [Some(cert), None] => Some((cert.clone(), cert.clone())),
                    _ => {
                        return Err(PyValueError::new_err(
                            "cert must be a path or a (cert, key) pair of paths; encrypted keys \
                             are not supported",
                        ));
                    }
                }
            }
            Some(c) => {
                let path: PathBuf = c.extract()?;
                Some((path.clone(), path))
            }
        };
        let settings = Settings {
            idle: seconds(timeout, "timeout")?,
            connect_timeout: seconds(connect_timeout, "connect_timeout")?,
            verify,
            ca_bundle,
            identity,
            headers: headers.map(header_pairs).transpose()?.unwrap_or_default(),
            max_retries,
            http2,
            follow_redirects,
        };
        let core = ClientCore::new(settings).map_err(|e| e.into_pyerr(py))?;
        Ok(Self {
            core: Arc::new(core),
        })
    }

    /// Sends a request and returns an async context manager for its streamed response:
    /// `async with client.stream("POST", url, json=...) as response:`. The body is read
    /// only as the response's iterators ask; leaving the block closes it.
    #[pyo3(signature = (method, url, *, content = None, data = None, json = None, headers = None))]
    #[allow(clippy::too_many_arguments)]
    fn stream(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        content: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyStreamContext> {
        let request = RequestSpec::build(py, method, url, content, data, json, headers)?;
        Ok(PyStreamContext {
            core: self.core.clone(),
            request,
            response: Arc::new(Mutex::new(None)),
        })
    }

    /// Sends a request and reads the whole response: `await client.request("GET", url)`.
    #[pyo3(signature = (method, url, *, content = None, data = None, json = None, headers = None))]
    #[allow(clippy::too_many_arguments)]
    fn request<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        url: &str,
        content: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.send(
            py,
            "Client.request",
            method,
            url,
            content,
            data,
            json,
            headers,
        )
    }

    /// `await client.post(url, content=|data=|json=, headers=)`: the whole response.
    #[pyo3(signature = (url, *, content = None, data = None, json = None, headers = None))]
    fn post<'py>(
        &self,
        py: Python<'py>,
        url: &str,
        content: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.send(py, "Client.post", "POST", url, content, data, json, headers)
    }

    /// `await client.get(url, headers=)`: the whole response.
    #[pyo3(signature = (url, *, headers = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        url: &str,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.send(py, "Client.get", "GET", url, None, None, None, headers)
    }

    /// `await client.delete(url, headers=)`: the whole response.
    #[pyo3(signature = (url, *, headers = None))]
    fn delete<'py>(
        &self,
        py: Python<'py>,
        url: &str,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.send(
            py,
            "Client.delete",
            "DELETE",
            url,
            None,
            None,
            None,
            headers,
        )
    }
    /// Whether `aclose()` was called.
    #[getter]
    fn is_closed(&self) -> bool {
        self.core.closed.load(Ordering::Acquire)
    }

    /// Closes the client: no new requests; responses already open can still be read.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.core.closed.store(true, Ordering::Release);
        if let Ok(mut forwarders) = self.core.forwarders.lock() {
            forwarders.clear();
        }
        coroutine::ready(py, "Client.aclose", Ok(py.None()))
    }

    fn __aenter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        coroutine::ready(
            slf.py(),
            "Client.__aenter__",
            Ok(slf.clone().into_any().unbind()),
        )
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _args: &Bound<'_, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.aclose(py)
    }

    fn __repr__(&self) -> String {
        let s = &self.core.settings;
        format!(
            "<Client timeout={:?} connect_timeout={:?} verify={} max_retries={}>",
            s.idle.as_secs_f64(),
            s.connect_timeout.as_secs_f64(),
            if s.verify { "True" } else { "False" },
            s.max_retries
        )
    }
}

impl PyClient {
    /// The coroutine of `request()` and its shorthands: sends when awaited, then reads the
    /// whole body.
    #[allow(clippy::too_many_arguments)]
    fn send<'py>(
        &self,
        py: Python<'py>,
        qualname: &'static str,
        method: &str,
        url: &str,
        content: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = RequestSpec::build(py, method, url, content, data, json, headers)?;
        let core = self.core.clone();
        coroutine::once(py, qualname, async move {
            let response = PyResponse::new(core.send(&request).await?, core.settings.idle);
            response.shared().read_all().await?;
            Ok(response)
        })
    }
}

/// The async context manager returned by `Client.stream()`.
#[pyclass(name = "StreamContext", module = "mcp_wrapper_rs", frozen)]
#[derive(Debug)]
pub(crate) struct PyStreamContext {
    core: Arc<ClientCore>,
    request: RequestSpec,
    /// The response's body, to close when the block is left.
    response: Arc<Mutex<Option<Arc<crate::response::Shared>>>>,
}

#[pymethods]
impl PyStreamContext {
    /// Sends the request; returns the `Response` once its headers arrive.
    fn __aenter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let core = self.core.clone();
        let request = self.request.clone();
        let slot = self.response.clone();
        coroutine::once(py, "StreamContext.__aenter__", async move {
            let response = PyResponse::new(core.send(&request).await?, core.settings.idle);
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(response.shared().clone());
            }
            Ok(response)
        })
    }

    /// Closes the response; exceptions propagate.
    #[pyo3(signature = (*_args))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _args: &Bound<'_, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(shared) = self.response.lock().ok().and_then(|mut s| s.take()) {
            shared.close();
        }
        coroutine::ready(
            py,
            "StreamContext.__aexit__",
            Ok(PyBool::new(py, false).to_owned().into_any().unbind()),
        )
    }
}
