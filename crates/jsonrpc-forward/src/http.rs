//! [`HttpClient`]: the one place a `reqwest` client is built, and generic requests over it.
//!
//! The MCP [`Client`](crate::Client) and any other HTTP a caller needs (the Python
//! bindings' httpx-shaped client, say) share one pool, one TLS setup, one redirect rule and
//! one retry loop, so a connection made by either is reused by both.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, COOKIE, HeaderMap, HeaderName, HeaderValue};

use crate::cookies::Cookies;
use reqwest::{Method, Response, StatusCode, Url};

use crate::config::ClientConfig;
use crate::error::{Error, ProxyError, ProxyFailure};
use crate::headers::with_overrides;
use crate::proxy::{Proxies, UsedProxy};
use crate::redact::{redact_url, redacted};
use crate::response::StreamedResponse;
use crate::retry::{RetryPolicy, send_with_retries};

/// The `User-Agent` sent unless [`ClientConfig::user_agent`] says otherwise.
pub(crate) const DEFAULT_USER_AGENT: &str = concat!("mcp-wrapper-rs/", env!("CARGO_PKG_VERSION"));

/// Which redirects a client follows (see [`ClientConfig::redirects`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Redirects {
    /// None: a 3xx is returned as the response (httpx's default, `follow_redirects=False`).
    None,
    /// 307 and 308 within the origin (scheme, host, port) of the request, at most 5 in a
    /// row; a 307/308 to another origin fails with [`Error::Redirect`] and nothing is sent
    /// there; other 3xx are returned as the response. The default, and the rule the MCP
    /// client needs: a 301/302/303 would turn its POST into a GET that loses the message,
    /// and on the way to another origin reqwest strips only `Authorization` and `Cookie`,
    /// so the API keys of other headers, `Mcp-Session-Id` and the message would follow.
    #[default]
    SameOrigin,
    /// Any redirect to any origin, up to this many in a row, then
    /// [`Error::TooManyRedirects`] (httpx's `follow_redirects=True`). A 301/302/303 turns a
    /// POST into a GET without its body, as browsers and httpx do. On the way to another
    /// origin (scheme, host or port) `Authorization`, `Cookie` and `Proxy-Authorization` are
    /// dropped, as httpx drops `Authorization`; other headers follow.
    Limited(usize),
}

/// A pooled, keep-alive HTTP client: HTTP/2 by ALPN, rustls, gzip and brotli, the
/// proxies of [`ClientConfig::proxy`] or the environment, and an in-memory cookie jar (a
/// load balancer that pins a session by cookie sees it on every later request). Cheap to
/// clone; clones share the pool and the jar.
///
/// Built from a [`ClientConfig`] (its URL is not used): the config's headers and
/// authorization are the *base headers* of every request, and its idle timeout, retry
/// policy and redirect rule apply to every request.
///
/// ```no_run
/// use jsonrpc_forward::{Client, ClientConfig, HttpClient, HttpRequest, Redirects};
/// use reqwest::{Method, Url};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let http = HttpClient::new(&ClientConfig::new("unused").redirects(Redirects::Limited(20)))?;
/// let url = Url::parse("https://example.com/.well-known/oauth-protected-resource")?;
/// let mut response = http.send(HttpRequest::new(Method::GET, url)).await?;
/// println!("{}", response.status());
/// while let Some(chunk) = response.chunk().await? {
///     println!("{} bytes", chunk.len());
/// }
/// // An MCP endpoint over the same connections.
/// let mcp = Client::with_http(http.clone(), "https://example.com/mcp/")?;
/// # drop(mcp);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Authorization and extra headers, sent with every request unless it replaces them.
    base_headers: HeaderMap,
    idle_timeout: Duration,
    max_message_bytes: usize,
    retry: RetryPolicy,
    redirects: Redirects,
    /// The proxies reqwest was given, to name the one that refused a request.
    proxies: Proxies,
    /// Cookies servers set, sent back to them (see [`crate::cookies`]).
    cookies: Cookies,
}

/// Shows the header names, never their values: they may hold secrets.
impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field(
                "headers",
                &self.inner.base_headers.keys().collect::<Vec<_>>(),
            )
            .field("idle_timeout", &self.inner.idle_timeout)
            .field("max_message_bytes", &self.inner.max_message_bytes)
            .field("retry", &self.inner.retry)
            .field("redirects", &self.inner.redirects)
            .field("proxies", &self.inner.proxies)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds the client: checks the headers and TLS files of `config` (not its URL).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting that is wrong; never a header value, nor a
    /// header "name" that is not one (it may be a pasted token).
    pub fn new(config: &ClientConfig) -> Result<Self, Error> {
        let mut base_headers = HeaderMap::new();
        for (index, (name, value)) in config.headers.iter().enumerate() {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| config_error(format!("header #{} has an invalid name", index + 1)))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| config_error(format!("invalid value for header {name}")))?;
            base_headers.append(name, value);
        }
        if let Some(auth) = &config.authorization {
            let mut value = HeaderValue::from_str(auth.trim())
                .map_err(|_| config_error("invalid Authorization value".to_owned()))?;
            value.set_sensitive(true);
            base_headers.insert(AUTHORIZATION, value);
        }
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| config_error("invalid User-Agent value".to_owned()))?;

        let redirect = match config.redirects {
            Redirects::None => reqwest::redirect::Policy::none(),
            Redirects::SameOrigin => reqwest::redirect::Policy::custom(redirect_same_origin),
            Redirects::Limited(limit) => reqwest::redirect::Policy::custom(move |attempt| {
                // `previous` holds the first URL too: it is the number of requests so far.
                if attempt.previous().len() > limit {
                    attempt.error(RedirectLimit(limit))
                } else {
                    attempt.follow()
                }
            }),
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .user_agent(user_agent)
            .redirect(redirect)
            .tls_danger_accept_invalid_certs(config.insecure);
        let proxies = Proxies::resolve(config.proxy.as_deref(), &|name| std::env::var(name).ok())?;
        if !proxies.system() {
            builder = builder.no_proxy();
            for proxy in proxies.reqwest_proxies()? {
                builder = builder.proxy(proxy);
            }
        }
        if !config.http2 {
            builder = builder.http1_only();
        }
        if let Some(path) = &config.ca_bundle {
            let pem = std::fs::read(path).map_err(|e| {
                config_error(format!("cannot read CA bundle {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| config_error(format!("invalid CA bundle {}: {e}", path.display())))?;
            builder = builder.tls_certs_only(certs);
        }
        if let Some((cert, key)) = &config.client_identity {
            let mut pem = std::fs::read(cert).map_err(|e| {
                config_error(format!(
                    "cannot read client certificate {}: {e}",
                    cert.display()
                ))
            })?;
            // One PEM file holding both (httpx's `cert="both.pem"`) is read once: read
            // twice, its certificate would be presented twice.
            if key != cert {
                pem.push(b'\n');
                pem.extend(std::fs::read(key).map_err(|e| {
                    config_error(format!("cannot read client key {}: {e}", key.display()))
                })?);
            }
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| config_error(format!("invalid client certificate or key: {e}")))?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| config_error(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_headers,
                idle_timeout: config.idle_timeout,
                max_message_bytes: config.max_message_bytes,
                retry: config.retry,
                redirects: config.redirects,
                proxies,
                cookies: Cookies::default(),
            }),
        })
    }

    /// The longest silence on a pending request (the default timeout of [`send`](Self::send)).
    #[must_use]
    pub fn idle_timeout(&self) -> Duration {
        self.inner.idle_timeout
    }

    /// The policy that decides when requests are resent.
    #[must_use]
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    /// The headers sent with every request: the config's headers and authorization.
    #[must_use]
    pub fn base_headers(&self) -> &HeaderMap {
        &self.inner.base_headers
    }

    /// The limit on one message from the server, for callers that decode bodies into
    /// messages.
    #[must_use]
    pub fn max_message_bytes(&self) -> usize {
        self.inner.max_message_bytes
    }

    /// The redirect rule in force.
    #[must_use]
    pub fn redirects(&self) -> Redirects {
        self.inner.redirects
    }

    /// Sends `request` and returns the response once its headers arrive, whatever its
    /// status (a 503 is a response here, as in httpx); the body streams in through
    /// [`StreamedResponse::chunk`].
    ///
    /// The request's headers replace the base headers of the same name. A request is
    /// resent only when the server cannot have seen it (no connection could be made), as
    /// the retry policy says, within the request's timeout counted from the first attempt.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL that is not http or https; otherwise the last attempt's
    /// error: [`Error::Connect`] (refused, or the connect timeout: see
    /// [`Error::is_connect_timeout`]), [`Error::Tls`], [`Error::Timeout`] (no response
    /// head within the timeout), [`Error::Redirect`] or [`Error::TooManyRedirects`] (by the
    /// redirect rule), [`Error::Transport`] (the connection broke after the request may
    /// have been sent).
    pub async fn send(&self, request: HttpRequest) -> Result<StreamedResponse, Error> {
        let HttpRequest {
            method,
            url,
            headers,
            body,
            timeout,
        } = request;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config_error(format!(
                "URL scheme must be http or https, not {:?}",
                url.scheme()
            )));
        }
        let timeout = timeout.unwrap_or(self.inner.idle_timeout);
        let headers = with_overrides(&self.inner.base_headers, &headers);
        let started = Instant::now();
        let response = send_with_retries(&self.inner.retry, None, started, timeout, &mut 0, || {
            let request = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .body(body.clone());
            self.execute(request, timeout)
        })
        .await?;
        Ok(StreamedResponse::new(response, timeout))
    }

    /// A request builder on the shared pool.
    pub(crate) fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.inner.http.request(method, url)
    }

    /// Sends once, waiting at most `timeout` for the response head.
    pub(crate) async fn execute(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<Response, Error> {
        let (client, request) = request.build_split();
        let mut request = request.map_err(|e| classify_send_error(e, None))?;
        if let Some(cookie) = self.inner.cookies.header(request.url()) {
            request.headers_mut().insert(COOKIE, cookie);
        }
        let sent = tokio::time::timeout(timeout, client.execute(request)).await;
        if let Ok(Ok(response)) = &sent {
            self.inner.cookies.store(response.headers(), response.url());
        }
        match sent {
            Err(_) => Err(Error::Timeout(timeout)),
            Ok(Err(e)) => {
                let proxy = e.url().and_then(|url| self.inner.proxies.for_url(url));
                Err(classify_send_error(e, proxy))
            }
            // A forwarded (http) request that the proxy refuses: its 407, not the server's.
            Ok(Ok(response)) if response.status() == StatusCode::PROXY_AUTHENTICATION_REQUIRED => {
                match self.inner.proxies.for_url(response.url()) {
                    Some(proxy) => Err(Error::Proxy(Box::new(ProxyError::new(
                        proxy,
                        ProxyFailure::AuthRequired,
                        None,
                    )))),
                    None => Ok(response),
                }
            }
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// A request for [`HttpClient::send`]: any method, any http(s) URL.
///
/// Build it with [`HttpRequest::new`] and the chained setters, or set the fields.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// Where to send it.
    pub url: Url,
    /// Headers for this request; each name replaces the client's base headers of that name.
    pub headers: HeaderMap,
    /// The body (empty: none).
    pub body: Bytes,
    /// Overrides the client's idle timeout for this request: the wait for the response
    /// head, the budget of its retries, and the longest silence between body chunks.
    pub timeout: Option<Duration>,
}

/// Shows the URL without userinfo and query, and header names without values.
impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &redact_url(self.url.as_str()))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_bytes", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpRequest {
    /// A request with no headers of its own, no body, and the client's timeout.
    #[must_use]
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
        }
    }

    /// Adds a header (repeatable: the same name twice sends both).
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets all the request's own headers at once.
    #[must_use]
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Overrides the client's idle timeout for this request.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

pub(crate) fn config_error(reason: String) -> Error {
    Error::Config(reason.into_boxed_str())
}

/// How many redirects one request may follow under [`Redirects::SameOrigin`].
const MAX_SAME_ORIGIN_REDIRECTS: usize = 5;

/// [`Redirects::SameOrigin`]: 307 and 308 within the origin (scheme, host, port) of the
/// request, at most [`MAX_SAME_ORIGIN_REDIRECTS`] in a row.
///
/// A POST that a 301/302/303 turns into a GET would lose the message, so only the redirects
/// that keep method and body are followed; the others come back as the 3xx answer. On its
/// way to another origin reqwest strips only `Authorization` and `Cookie`: the `--header`
/// values (API keys), `Mcp-Session-Id` and the message itself would follow, even from https
/// to http. So a redirect to another origin fails the request with [`Error::Redirect`],
/// which names that origin, and nothing is sent there. The POSTs, the GET listen stream
/// (and its resumptions) and the DELETE that ends the session all go through one client,
/// so all of them keep to this rule.
fn redirect_same_origin(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let same_origin = attempt
        .previous()
        .last()
        .is_some_and(|from| from.origin() == attempt.url().origin());
    if !matches!(attempt.status().as_u16(), 307 | 308)
        || attempt.previous().len() >= MAX_SAME_ORIGIN_REDIRECTS
    {
        attempt.stop()
    } else if same_origin {
        attempt.follow()
    } else {
        let origin = origin_of(attempt.url());
        attempt.error(CrossOriginRedirect(origin))
    }
}

/// What [`redirect_same_origin`] hands reqwest to refuse a redirect: the target origin.
#[derive(Debug, thiserror::Error)]
#[error("redirect to another origin, {0}")]
struct CrossOriginRedirect(String);

/// What [`Redirects::Limited`] hands reqwest past its limit.
#[derive(Debug, thiserror::Error)]
#[error("more than {0} redirects")]
struct RedirectLimit(usize);

/// `scheme://host:port`, the port always shown: the part of a URL an error may name (its
/// path and query may hold secrets).
fn origin_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// A refused redirect is [`Error::Redirect`] or [`Error::TooManyRedirects`]; connect
/// failures were never sent, so they may be retried; a TLS failure will fail the same way
/// again; anything else may have reached the server. A connect failure of a request that
/// went through `proxy` is the proxy's ([`Error::Proxy`], naming it): the server was never
/// reached.
fn classify_send_error(error: reqwest::Error, proxy: Option<UsedProxy>) -> Error {
    let error = redacted(error);
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<CrossOriginRedirect>() {
            return Error::Redirect {
                origin: refused.0.as_str().into(),
            };
        }
        if let Some(RedirectLimit(limit)) = cause.downcast_ref::<RedirectLimit>() {
            return Error::TooManyRedirects { limit: *limit };
        }
        source = cause.source();
    }
    if !error.is_connect() {
        return Error::Transport(error);
    }
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(is_tls_failure)
        {
            return Error::Tls(error);
        }
        source = cause.source();
    }
    match proxy {
        Some(proxy) => {
            let failure = ProxyFailure::of(&error);
            Error::Proxy(Box::new(ProxyError::new(proxy, failure, Some(error))))
        }
        None => Error::Connect(error),
    }
}

/// rustls reports handshake and certificate failures as `InvalidData`, often wrapped in
/// another `io::Error` whose `source()` skips it, hence the walk through `get_ref`.
fn is_tls_failure(error: &std::io::Error) -> bool {
    if error.kind() == std::io::ErrorKind::InvalidData {
        return true;
    }
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<std::io::Error>())
        .is_some_and(is_tls_failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_of_shows_scheme_host_and_port_only() {
        let url = |s| Url::parse(s).expect("a URL");
        assert_eq!(
            origin_of(&url("https://u:p@h.example/mcp/?token=x#f")),
            "https://h.example:443"
        );
        assert_eq!(
            origin_of(&url("http://[::1]:8080/mcp")),
            "http://[::1]:8080"
        );
        // What the redirect policy compares: the scheme counts, a default port is the port.
        assert_ne!(
            url("https://h.example/mcp").origin(),
            url("http://h.example:443/mcp").origin()
        );
        assert_eq!(
            url("http://h.example/mcp/").origin(),
            url("http://h.example:80/mcp").origin()
        );
    }
}
