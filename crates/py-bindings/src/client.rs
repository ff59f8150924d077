//! `Client`: an httpx-shaped async HTTP client over the core's `HttpClient`, whose pool
//! `forward_request` shares.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonrpc_forward::retry::RetryPolicy;
use jsonrpc_forward::{ClientConfig, HttpClient, HttpRequest, Redirects};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyTuple};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Url};

use crate::coroutine;
use crate::errors::Error;
use crate::headers::PyClientHeaders;
use crate::request::{self, header_map, merge_headers};
use crate::response::{PyRequest, PyResponse};

/// "No timeout": far enough that no deadline arithmetic can overflow.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How many redirects `follow_redirects=True` follows, as httpx.
const MAX_REDIRECTS: usize = 20;

/// The Rust side of a `Client`, shared with the coroutines it starts.
pub(crate) struct ClientCore {
    /// What the pool is built from (again in a forked child).
    config: ClientConfig,
    /// The pool, and the process it was made in: a forked child makes its own (the
    /// parent's connections belong to a runtime whose threads the child does not have).
    http: Mutex<(u32, HttpClient)>,
    /// The other redirect rule's pool, for requests with their own `follow_redirects=`
    /// (made on first use: reqwest fixes the redirect policy per pool).
    other: Mutex<Option<(u32, HttpClient)>>,
    follow_redirects: bool,
    /// `client.headers`: sent with every request (a request's own headers replace them).
    /// Replaceable at any time, for a token refresh.
    headers: RwLock<HeaderMap>,
    base_url: Option<Url>,
    closed: AtomicBool,
    /// For `repr()`.
    summary: String,
}

/// Shows neither header values nor the pool (the config's `Debug` hides secrets).
impl std::fmt::Debug for ClientCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCore")
            .field("summary", &self.summary)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl ClientCore {
    fn new(
        config: ClientConfig,
        headers: HeaderMap,
        base_url: Option<Url>,
        summary: String,
    ) -> Result<Self, Error> {
        let http = HttpClient::new(&config)?;
        Ok(Self {
            follow_redirects: http.redirects() != Redirects::None,
            config,
            http: Mutex::new((std::process::id(), http)),
            other: Mutex::new(None),
            headers: RwLock::new(headers),
            base_url,
            closed: AtomicBool::new(false),
            summary,
        })
    }

    /// The client that `forward_request` uses when given none: default settings, shared.
    pub(crate) fn default_shared() -> Result<Arc<Self>, Error> {
        static DEFAULT: OnceLock<Arc<ClientCore>> = OnceLock::new();
        if let Some(core) = DEFAULT.get() {
            return Ok(core.clone());
        }
        let config = ClientConfig::new("http://unused.invalid/");
        let core = Arc::new(Self::new(config, HeaderMap::new(), None, String::new())?);
        Ok(DEFAULT.get_or_init(|| core).clone())
    }

    /// The pool of this process (rebuilt once after a fork).
    pub(crate) fn http(&self) -> Result<HttpClient, Error> {
        self.check_open()?;
        let pid = std::process::id();
        let mut http = self.http.lock().unwrap_or_else(PoisonError::into_inner);
        if http.0 != pid {
            *http = (pid, HttpClient::new(&self.config)?);
        }
        Ok(http.1.clone())
    }

    /// Changes `client.headers` in place.
    pub(crate) fn edit_headers<T>(&self, change: impl FnOnce(&mut HeaderMap) -> T) -> T {
        change(&mut self.headers.write().unwrap_or_else(PoisonError::into_inner))
    }

    /// The pool for a request that follows redirects as `follow` says (`None`: as the
    /// client does).
    fn http_for(&self, follow: Option<bool>) -> Result<HttpClient, Error> {
        match follow {
            Some(follow) if follow != self.follow_redirects => {
                self.check_open()?;
                let pid = std::process::id();
                let mut other = self.other.lock().unwrap_or_else(PoisonError::into_inner);
                match &*other {
                    Some((built, http)) if *built == pid => Ok(http.clone()),
                    _ => {
                        let config = self.config.clone().redirects(redirects(follow));
                        let http = HttpClient::new(&config)?;
                        *other = Some((pid, http.clone()));
                        Ok(http)
                    }
                }
            }
            _ => self.http(),
        }
    }

    /// `client.headers` now.
    pub(crate) fn headers(&self) -> HeaderMap {
        self.headers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Runtime(
                "cannot send a request: the client has been closed".to_owned(),
            ));
        }
        Ok(())
    }

    /// Sends `request` (the client's headers under its own) and returns once the response
    /// headers arrive; the core resends only what the server cannot have seen.
    async fn send(&self, request: &PyRequest) -> Result<PyResponse, Error> {
        let http = self.http_for(request.follow_redirects)?;
        let mut outgoing = HttpRequest::new(request.method.clone(), request.url.clone())
            .headers(request.headers.clone())
            .body(request.body.clone());
        if let Some(timeout) = request.timeout {
            outgoing = outgoing.timeout(timeout);
        }
        let started = Instant::now();
        let response = http.send(outgoing).await?;
        Ok(PyResponse::new(response, request.clone(), started))
    }
}

/// httpx's `follow_redirects`: up to 20, to any origin; or none.
fn redirects(follow: bool) -> Redirects {
    if follow {
        Redirects::Limited(MAX_REDIRECTS)
    } else {
        Redirects::None
    }
}

/// Extracts `timeout=` and friends: seconds as a number, `None` for no limit.
fn seconds(value: Option<f64>, what: &str) -> PyResult<Duration> {
    match value {
        None => Ok(FOREVER),
        // Past `FOREVER` (up to infinity) is no limit too; no conversion may overflow.
        Some(s) if s > 0.0 => {
            Ok(Duration::try_from_secs_f64(s).map_or(FOREVER, |d| d.min(FOREVER)))
        }
        Some(s) => Err(PyValueError::new_err(format!(
            "{what} must be a positive number of seconds or None, not {s}"
        ))),
    }
}

/// `verify=`: `True`, `False` or the path of a PEM CA bundle.
fn verify_setting(verify: Option<&Bound<'_, PyAny>>) -> PyResult<(bool, Option<PathBuf>)> {
    let Some(v) = verify else {
        return Ok((true, None));
    };
    if v.is_instance_of::<PyBool>() {
        return Ok((v.is_truthy()?, None));
    }
    if let Ok(path) = v.extract::<PathBuf>() {
        return Ok((true, Some(path)));
    }
    Err(PyTypeError::new_err(format!(
        "verify= takes True, False or the path of a PEM CA bundle, not {}: this client \
         verifies with rustls, which cannot use an ssl.SSLContext (pass its CA file's path, \
         or set SSL_CERT_FILE)",
        v.get_type().name()?
    )))
}

/// `cert=`: one PEM file with certificate and key, or a `(cert, key)` pair of paths.
fn cert_setting(cert: Option<&Bound<'_, PyAny>>) -> PyResult<Option<(PathBuf, PathBuf)>> {
    let Some(c) = cert else {
        return Ok(None);
    };
    if c.is_instance_of::<PyTuple>() {
        let parts: Vec<Option<PathBuf>> = c.extract()?;
        return match parts.as_slice() {
            [Some(cert), Some(key)] => Ok(Some((cert.clone(), key.clone()))),
            [Some(cert)] | [Some(cert), None] => Ok(Some((cert.clone(), cert.clone()))),
            _ => Err(PyValueError::new_err(
                "cert must be a path or a (cert, key) pair of paths; encrypted keys are not \
                 supported",
            )),
        };
    }
    let path: PathBuf = c.extract()?;
    Ok(Some((path.clone(), path)))
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
    /// `verify`: `True` (system roots; `SSL_CERT_FILE` adds a bundle), `False` (accept any
    /// certificate: tests only) or the path of a PEM CA bundle that replaces the roots.
    /// `cert`: a client certificate, as the path of one PEM file with certificate and key,
    /// or a `(cert, key)` pair of paths. `http2=False` forces HTTP/1.1. `headers` go with
    /// every request (`client.headers = ...` replaces them). `base_url` is joined to
    /// relative URLs. `max_retries`: how often a connection that could not be made is
    /// retried (the server has not seen the request, so this is safe for every method);
    /// `forward_request` also follows the transport's retry rules with it.
    /// `follow_redirects=True` follows up to 20 redirects (to any origin; credentials are
    /// not sent to another host).
    #[new]
    #[pyo3(signature = (
        *,
        timeout = Some(jsonrpc_forward::DEFAULT_IDLE_TIMEOUT.as_secs_f64()),
        connect_timeout = Some(jsonrpc_forward::DEFAULT_CONNECT_TIMEOUT.as_secs_f64()),
        verify = None,
        cert = None,
        http2 = true,
        headers = None,
        max_retries = RetryPolicy::default().max_retries,
        follow_redirects = false,
        base_url = None,
    ), text_signature = "(*, timeout=60.0, connect_timeout=15.0, verify=True, cert=None, \
                         http2=True, headers=None, max_retries=5, follow_redirects=False, \
                         base_url=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        timeout: Option<f64>,
        connect_timeout: Option<f64>,
        verify: Option<&Bound<'_, PyAny>>,
        cert: Option<&Bound<'_, PyAny>>,
        http2: bool,
        headers: Option<&Bound<'_, PyAny>>,
        max_retries: u32,
        follow_redirects: bool,
        base_url: Option<&str>,
    ) -> PyResult<Self> {
        let idle = seconds(timeout, "timeout")?;
        let connect = seconds(connect_timeout, "connect_timeout")?;
        let (verify, ca_bundle) = verify_setting(verify)?;
        let base_url = base_url
            .map(|base| {
                // As httpx: the base's path ends with `/`, so relative URLs go below it.
                let mut base = request::request_url(None, base, None)?;
                if !base.path().ends_with('/') {
                    base.set_path(&format!("{}/", base.path()));
                }
                Ok::<_, PyErr>(base)
            })
            .transpose()?;
        let mut config = ClientConfig::new("http://unused.invalid/")
            .idle_timeout(idle)
            .connect_timeout(connect)
            .insecure(!verify)
            .http2(http2)
            .user_agent(concat!(
                "mcp-wrapper-rs/",
                env!("CARGO_PKG_VERSION"),
                " (python)"
            ))
            .redirects(redirects(follow_redirects))
            .retry_policy(RetryPolicy {
                max_retries,
                ..RetryPolicy::default()
            });
        if let Some(ca) = ca_bundle {
            config = config.ca_bundle(ca);
        }
        if let Some((cert, key)) = cert_setting(cert)? {
            config = config.client_identity(cert, key);
        }
        let summary = format!(
            "timeout={:?} connect_timeout={:?} verify={} max_retries={max_retries}",
            idle.as_secs_f64(),
            connect.as_secs_f64(),
            if verify { "True" } else { "False" },
        );
        let core = ClientCore::new(config, header_map(headers)?, base_url, summary)
            .map_err(|e| e.into_pyerr(py))?;
        Ok(Self {
            core: Arc::new(core),
        })
    }

    /// The headers sent with every request, changed in place (`client.headers["X"] = v`,
    /// `del`, `update()`) or replaced (`client.headers = {...}`), e.g. after a token refresh.
    #[getter]
    fn get_headers(&self) -> PyClientHeaders {
        PyClientHeaders {
            core: self.core.clone(),
        }
    }

    #[setter]
    fn set_headers(&self, headers: &Bound<'_, PyAny>) -> PyResult<()> {
        let map = header_map(Some(headers))?;
        *self
            .core
            .headers
            .write()
            .unwrap_or_else(PoisonError::into_inner) = map;
        Ok(())
    }

    /// `base_url` as given (with the path's trailing `/`), or `None`.
    #[getter]
    fn base_url(&self) -> Option<String> {
        self.core.base_url.as_ref().map(ToString::to_string)
    }

    /// Builds the request without sending it, as `client.build_request()` in httpx; a
    /// `Request` to pass to `send()`.
    #[pyo3(signature = (
        method, url, *, content = None, data = None, json = None, params = None, headers = None,
        timeout = None, follow_redirects = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn build_request(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        content: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        follow_redirects: Option<bool>,
    ) -> PyResult<PyRequest> {
        let (body, content_type) = request::request_body(py, content, data, json)?;
        let mut merged = merge_headers(&self.core.headers(), header_map(headers)?);
        // As httpx: the body's content type only where no header gave one.
        if let Some(content_type) = content_type {
            merged
                .entry(CONTENT_TYPE)
                .or_insert(HeaderValue::from_static(content_type));
        }
        Ok(PyRequest {
            method: request::method(method)?,
            url: request::request_url(self.core.base_url.as_ref(), url, params)?,
            headers: merged,
            body,
            timeout: timeout.map(|t| seconds(Some(t), "timeout")).transpose()?,
            follow_redirects,
        })
    }

    /// Sends a built `Request`; with `stream=True` the body is left to read (`aread()`, the
    /// iterators), else it is read whole first.
    #[pyo3(signature = (request, *, stream = false))]
    fn send<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyRequest>,
        stream: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = request.get().clone();
        self.spawn(py, "Client.send", request, !stream)
    }

    /// Sends a request and returns an async context manager for its streamed response:
    /// `async with client.stream("POST", url, json=...) as response:`. The body is read
    /// only as the response's iterators ask; leaving the block closes it.
    #[pyo3(signature = (
        method, url, *, content = None, data = None, json = None, params = None, headers = None,
        timeout = None, follow_redirects = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn stream(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        content: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        follow_redirects: Option<bool>,
    ) -> PyResult<PyStreamContext> {
        let request = self.build_request(
            py,
            method,
            url,
            content,
            data,
            json,
            params,
            headers,
            timeout,
            follow_redirects,
        )?;
        Ok(PyStreamContext {
            core: self.core.clone(),
            request,
            response: Arc::new(Mutex::new(None)),
        })
    }

    /// Sends a request and reads the whole response: `await client.request("GET", url)`.
    #[pyo3(signature = (
        method, url, *, content = None, data = None, json = None, params = None, headers = None,
        timeout = None, follow_redirects = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn request<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        url: &str,
        content: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        follow_redirects: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = self.build_request(
            py,
            method,
            url,
            content,
            data,
            json,
            params,
            headers,
            timeout,
            follow_redirects,
        )?;
        self.spawn(py, "Client.request", request, true)
    }

    /// `await client.get(url, params=, headers=, timeout=)`: the whole response.
    #[pyo3(signature = (url, *, params = None, headers = None, timeout = None, follow_redirects = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        url: &str,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        follow_redirects: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.bodiless(
            py,
            "Client.get",
            Method::GET,
            url,
            params,
            headers,
            timeout,
            follow_redirects,
        )
    }

    /// `await client.head(url, ...)`: the response (no body).
    #[pyo3(signature = (url, *, params = None, headers = None, timeout = None, follow_redirects = None))]
    fn head<'py>(
        &self,
        py: Python<'py>,
        url: &str,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        follow_redirects: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.bodiless(
            py,
            "Client.head",
            Method::HEAD,
            url,
            params,
            headers,
            timeout,
            follow_redirects,
        )
    }

    /// `await client.options(url, ...)`: the whole response.
    #[pyo3(signature = (url, *, params = None, headers = None, timeout = None, follow_redirects = None))]
    fn options<'py>(
        &self,
        py: Python<'py>,
        url: &str,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        follow_redirects: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let method = Method::OPTIONS;
        self.bodiless(
            py,
            "Client.options",
            method,
            url,
            params,
            headers,
            timeout,
            follow_redirects,
        )
    }

    /// `await client.delete(url, ...)`: the whole response.
    #[pyo3(signature = (url, *, params = None, headers = None, timeout = None, follow_redirects = None))]
    fn delete<'py>(
        &self,
        py: Python<'py>,
        url: &str,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        follow_redirects: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let method = Method::DELETE;
        self.bodiless(
            py,
            "Client.delete",
            method,
            url,
            params,
            headers,
            timeout,
            follow_redirects,
        )
    }

    /// `await client.post(url, content=|data=|json=, params=, headers=, timeout=)`.
    #[pyo3(signature = (
        url, *, content = None, data = None, json = None, params = None, headers = None,
        timeout = None, follow_redirects = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn post<'py>(
        &self,
        py: Python<'py>,
        url: &str,
        content: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        follow_redirects: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = self.build_request(
            py,
            "POST",
            url,
            content,
            data,
            json,
            params,
            headers,
            timeout,
            follow_redirects,
        )?;
        self.spawn(py, "Client.post", request, true)
    }

    /// `await client.put(url, content=|data=|json=, ...)`.
    #[pyo3(signature = (
        url, *, content = None, data = None, json = None, params = None, headers = None,
        timeout = None, follow_redirects = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn put<'py>(
        &self,
        py: Python<'py>,
        url: &str,
        content: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        follow_redirects: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = self.build_request(
            py,
            "PUT",
            url,
            content,
            data,
            json,
            params,
            headers,
            timeout,
            follow_redirects,
        )?;
        self.spawn(py, "Client.put", request, true)
    }

    /// `await client.patch(url, content=|data=|json=, ...)`.
    #[pyo3(signature = (
        url, *, content = None, data = None, json = None, params = None, headers = None,
        timeout = None, follow_redirects = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn patch<'py>(
        &self,
        py: Python<'py>,
        url: &str,
        content: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        follow_redirects: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = self.build_request(
            py,
            "PATCH",
            url,
            content,
            data,
            json,
            params,
            headers,
            timeout,
            follow_redirects,
        )?;
        self.spawn(py, "Client.patch", request, true)
    }

    /// Whether `aclose()` was called.
    #[getter]
    fn is_closed(&self) -> bool {
        self.core.closed.load(Ordering::Acquire)
    }

    /// Closes the client: no new requests; responses already open can still be read.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.core.closed.store(true, Ordering::Release);
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
        self.core.closed.store(true, Ordering::Release);
        coroutine::ready(py, "Client.__aexit__", Ok(py.None()))
    }

    fn __repr__(&self) -> String {
        format!("<Client {}>", self.core.summary)
    }
}

impl PyClient {
    /// The coroutine of a request: sends when awaited, then reads the whole body if `read`.
    fn spawn<'py>(
        &self,
        py: Python<'py>,
        qualname: &'static str,
        request: PyRequest,
        read: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let core = self.core.clone();
        coroutine::once(py, qualname, async move {
            let response = core.send(&request).await?;
            if read {
                response.shared().read_all().await?;
            }
            Ok(response)
        })
    }

    /// GET, HEAD, OPTIONS and DELETE: no body.
    #[allow(clippy::too_many_arguments)]
    fn bodiless<'py>(
        &self,
        py: Python<'py>,
        qualname: &'static str,
        method: Method,
        url: &str,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        follow_redirects: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = self.build_request(
            py,
            method.as_str(),
            url,
            None,
            None,
            None,
            params,
            headers,
            timeout,
            follow_redirects,
        )?;
        self.spawn(py, qualname, request, true)
    }
}

/// The async context manager returned by `Client.stream()`.
#[pyclass(name = "StreamContext", module = "mcp_wrapper_rs", frozen)]
#[derive(Debug)]
pub(crate) struct PyStreamContext {
    core: Arc<ClientCore>,
    request: PyRequest,
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
            let response = core.send(&request).await?;
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(response.shared().clone());
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
        let shared = self
            .response
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(shared) = shared {
            shared.close();
        }
        coroutine::ready(
            py,
            "StreamContext.__aexit__",
            Ok(PyBool::new(py, false).to_owned().into_any().unbind()),
        )
    }
}
