//! The pooled HTTP client that forwards one message and streams its answers back.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_core::Stream;
use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use reqwest::{Response, StatusCode, Url, Version};

use crate::body::{BodyDecoder, BodyFormat};
use crate::config::ClientConfig;
use crate::error::{Error, MAX_ERROR_BODY, StatusError};
use crate::headers::{MCP_SESSION_ID, RequestHeaders, get_headers, post_headers, session_headers};
use crate::message::{
    IdKey, Inbound, JsonLine, Outgoing, OwedId, inbound, readdress_error, retain_responses,
};
/// Moved to [`crate::redact`]; kept here for the paths that name it.
pub(crate) use crate::redact::redact_url;
use crate::redact::redacted;
use crate::retry::RetryPolicy;

/// A pooled, keep-alive client for one MCP endpoint. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// Shows the endpoint without its userinfo and query, and no header values: they may hold
/// secrets.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &redact_url(self.url().as_str()))
            .field(
                "headers",
                &self.inner.base_headers.keys().collect::<Vec<_>>(),
            )
            .field("idle_timeout", &self.inner.idle_timeout)
            .field("max_message_bytes", &self.inner.max_message_bytes)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

struct Inner {
    http: reqwest::Client,
    /// The endpoint; replaced once if the server redirects it to its other trailing-slash
    /// form (see [`Client::adopt_redirect`]).
    url: RwLock<Url>,
    /// Authorization and extra headers, sent with every request.
    base_headers: HeaderMap,
    idle_timeout: Duration,
    max_message_bytes: usize,
    retry: RetryPolicy,
}

impl Client {
    /// Builds the client: checks the URL, headers and TLS files of `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting that is wrong.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let url = Url::parse(&config.url)
            .map_err(|e| config_error(format!("invalid URL {:?}: {e}", redact_url(&config.url))))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config_error(format!(
                "URL scheme must be http or https, not {:?}",
                url.scheme()
            )));
        }
        let mut base_headers = HeaderMap::new();
        for (index, (name, value)) in config.headers.iter().enumerate() {
            // Not echoed: a "name" that is not one may be a pasted token.
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

        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .user_agent(concat!("mcp-wrapper-rs/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::custom(redirect_policy))
            .tls_danger_accept_invalid_certs(config.insecure);
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
            pem.push(b'\n');
            pem.extend(std::fs::read(key).map_err(|e| {
                config_error(format!("cannot read client key {}: {e}", key.display()))
            })?);
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
                url: RwLock::new(url),
                base_headers,
                idle_timeout: config.idle_timeout,
                max_message_bytes: config.max_message_bytes,
                retry: config.retry,
            }),
        })
    }

    /// The endpoint that every message is sent to.
    #[must_use]
    pub fn url(&self) -> Url {
        self.inner
            .url
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A server that redirects `/mcp/` to `/mcp` (or back) would cost every request a second
    /// round trip; once a request was redirected to the same URL but for its trailing slash,
    /// the client uses the server's form. Any other redirect is followed each time.
    fn adopt_redirect(&self, sent: &Url, response: &Response) {
        let landed = response.url();
        if landed == sent
            || landed.as_str().trim_end_matches('/') != sent.as_str().trim_end_matches('/')
        {
            return;
        }
        let mut url = self
            .inner
            .url
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *url == *sent {
            tracing::debug!(from = %redact_url(sent.as_str()), to = %redact_url(landed.as_str()), "using the server's form of the endpoint");
            *url = landed.clone();
        }
    }

    /// The limit on one message from the server.
    #[must_use]
    pub fn max_message_bytes(&self) -> usize {
        self.inner.max_message_bytes
    }

    /// The longest silence on a pending request.
    #[must_use]
    pub fn idle_timeout(&self) -> Duration {
        self.inner.idle_timeout
    }

    /// POSTs one message (sent byte for byte) and returns the response once its headers
    /// arrive; its messages stream in as the server sends them.
    ///
    /// Equivalent to [`Outgoing::new`] then [`forward_peeked`](Self::forward_peeked).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMessage`] if `message` is not a JSON-RPC message; otherwise as
    /// [`forward_peeked`](Self::forward_peeked).
    pub async fn forward(&self, message: Bytes, ctx: &RequestHeaders) -> Result<Forwarded, Error> {
        self.forward_peeked(Outgoing::new(message)?, ctx).await
    }

    /// POSTs a message already peeked, resending it as [`crate::retry`] allows.
    ///
    /// # Errors
    ///
    /// The last attempt's error: [`Error::Connect`], [`Error::Status`] (a status outside
    /// 2xx), [`Error::Timeout`], [`Error::Transport`] or [`Error::Tls`].
    pub async fn forward_peeked(
        &self,
        message: Outgoing,
        ctx: &RequestHeaders,
    ) -> Result<Forwarded, Error> {
        let ctx = ctx.clone();
        self.forward_with(message, Arc::new(move || ctx.clone()))
            .await
    }

    /// As [`forward_peeked`](Self::forward_peeked), with the conversation's headers read
    /// anew for every attempt, resend and resumption: a session recovered meanwhile is the
    /// one they carry.
    pub(crate) async fn forward_with(
        &self,
        message: Outgoing,
        headers: HeaderSource,
    ) -> Result<Forwarded, Error> {
        let started = Instant::now();
        let mut attempt = 0;
        let response = self.send(&message, &headers, started, &mut attempt).await?;
        Ok(Forwarded::new(
            self.clone(),
            message,
            headers,
            response,
            started,
            attempt,
        ))
    }

    /// The policy that decides when requests are resent.
    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// Sends until a 2xx response head arrives or the policy gives up.
    async fn send(
        &self,
        message: &Outgoing,
        headers: &HeaderSource,
        started: Instant,
        attempt: &mut u32,
    ) -> Result<Response, Error> {
        loop {
            let error = match self.send_once(message, &headers()).await {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            let Some(delay) = self.retry_delay(&error, *attempt, message, started) else {
                return Err(error);
            };
            tracing::debug!(
                method = message.method(),
                attempt = *attempt + 1,
                ?delay,
                error = %crate::error::display_chain(&error),
                "resending"
            );
            tokio::time::sleep(delay).await;
            *attempt += 1;
        }
    }

    /// The policy's delay, if it ends within the request's time budget (the idle timeout from
    /// the first attempt). A delay the server asked for (`Retry-After`, any size) that does
    /// not fit ends the retries at once: waiting out the budget could not succeed sooner than
    /// the server allows, so the request is answered with the server's status now.
    fn retry_delay(
        &self,
        error: &Error,
        attempt: u32,
        message: &Outgoing,
        started: Instant,
    ) -> Option<Duration> {
        let method = if message.is_batch() {
            None
        } else {
            message.method()
        };
        let delay = self
            .inner
            .retry
            .delay(error, attempt, method, fastrand::f64())?;
        let remaining = self.inner.idle_timeout.saturating_sub(started.elapsed());
        (delay < remaining).then_some(delay)
    }

    /// Opens the session's GET listen stream (resuming after `last_event_id` if given), on
    /// which the server sends notifications and requests outside any POST.
    ///
    /// Returns `Ok(None)` when the server offers no such stream (405). The stream has no idle
    /// timeout: a quiet server is not a broken one.
    ///
    /// # Errors
    ///
    /// As [`forward_peeked`](Self::forward_peeked) (a 404 means the session expired), or
    /// [`Error::StreamEnded`] if the answer is not an event stream.
    pub async fn listen(
        &self,
        ctx: &RequestHeaders,
        last_event_id: Option<&str>,
    ) -> Result<Option<ListenStream>, Error> {
        let Some(response) = self.open_get(ctx, last_event_id).await? else {
            return Ok(None);
        };
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if BodyFormat::from_content_type(content_type) != BodyFormat::Sse {
            return Err(Error::StreamEnded);
        }
        Ok(Some(ListenStream {
            body: BodyDecoder::new(BodyFormat::Sse, self.inner.max_message_bytes, None),
            response,
            ended: false,
        }))
    }

    /// Ends the session on the server (`DELETE` with its id) within `deadline`; a server that
    /// does not allow it (405) is fine. Does nothing without a session id.
    ///
    /// # Errors
    ///
    /// A refused connection, a status other than 2xx or 405, or [`Error::Timeout`].
    pub async fn delete_session(
        &self,
        ctx: &RequestHeaders,
        deadline: Duration,
    ) -> Result<(), Error> {
        if ctx.session_id.is_none() {
            return Ok(());
        }
        let request = self
            .inner
            .http
            .delete(self.url())
            .headers(session_headers(&self.inner.base_headers, ctx));
        let response = match tokio::time::timeout(deadline, request.send()).await {
            Err(_) => return Err(Error::Timeout(deadline)),
            Ok(Err(e)) => return Err(classify_send_error(e)),
            Ok(Ok(response)) => response,
        };
        if response.status().is_success() || response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(());
        }
        Err(status_error(response, deadline).await)
    }

    /// A GET for an SSE stream; `None` on 405.
    async fn open_get(
        &self,
        ctx: &RequestHeaders,
        last_event_id: Option<&str>,
    ) -> Result<Option<Response>, Error> {
        let idle = self.inner.idle_timeout;
        let request = self.inner.http.get(self.url()).headers(get_headers(
            &self.inner.base_headers,
            ctx,
            last_event_id,
        ));
        let response = match tokio::time::timeout(idle, request.send()).await {
            Err(_) => return Err(Error::Timeout(idle)),
            Ok(Err(e)) => return Err(classify_send_error(e)),
            Ok(Ok(response)) => response,
        };
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(None);
        }
        if response.status().is_success() {
            return Ok(Some(response));
        }
        Err(status_error(response, idle).await)
    }

    async fn send_once(&self, message: &Outgoing, ctx: &RequestHeaders) -> Result<Response, Error> {
        let idle = self.inner.idle_timeout;
        let url = self.url();
        let request = self
            .inner
            .http
            .post(url.clone())
            .headers(post_headers(&self.inner.base_headers, message, ctx))
            .body(message.bytes().clone());
        let response = match tokio::time::timeout(idle, request.send()).await {
            Err(_) => return Err(Error::Timeout(idle)),
            Ok(Err(e)) => return Err(classify_send_error(e)),
            Ok(Ok(response)) => response,
        };
        self.adopt_redirect(&url, &response);
        if response.status().is_success() {
            return Ok(response);
        }
        Err(status_error(response, idle).await)
    }
}

fn config_error(reason: String) -> Error {
    Error::Config(reason.into_boxed_str())
}

/// How many redirects one request may follow.
const MAX_REDIRECTS: usize = 5;

/// Which redirects the client follows: 307 and 308 within the origin (scheme, host, port)
/// of the request, at most [`MAX_REDIRECTS`] in a row.
///
/// A POST that a 301/302/303 turns into a GET would lose the message, so only the redirects
/// that keep method and body are followed; the others come back as the 3xx answer. On its
/// way to another origin reqwest strips only `Authorization` and `Cookie`: the `--header`
/// values (API keys), `Mcp-Session-Id` and the message itself would follow, even from https
/// to http. So a redirect to another origin fails the request with [`Error::Redirect`],
/// which names that origin, and nothing is sent there. The POSTs, the GET listen stream
/// (and its resumptions) and the DELETE that ends the session all go through this one
/// client, so all of them keep to this rule.
fn redirect_policy(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let same_origin = attempt
        .previous()
        .last()
        .is_some_and(|from| from.origin() == attempt.url().origin());
    if !matches!(attempt.status().as_u16(), 307 | 308) || attempt.previous().len() >= MAX_REDIRECTS
    {
        attempt.stop()
    } else if same_origin {
        attempt.follow()
    } else {
        let origin = origin_of(attempt.url());
        attempt.error(CrossOriginRedirect(origin))
    }
}

/// What [`redirect_policy`] hands reqwest to refuse a redirect: the target origin.
#[derive(Debug, thiserror::Error)]
#[error("redirect to another origin, {0}")]
struct CrossOriginRedirect(String);

/// `scheme://host:port`, the port always shown: the part of a URL an error may name (its
/// path and query may hold secrets).
fn origin_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// A refused cross-origin redirect is [`Error::Redirect`]; connect failures were never sent,
/// so they may be retried; a TLS failure will fail the same way again; anything else may
/// have reached the server.
fn classify_send_error(error: reqwest::Error) -> Error {
    let error = redacted(error);
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<CrossOriginRedirect>() {
            return Error::Redirect {
                origin: refused.0.as_str().into(),
            };
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
    Error::Connect(error)
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

/// Reads the start of a non-2xx body (for a JSON-RPC error it may hold) into an error.
async fn status_error(mut response: Response, idle: Duration) -> Error {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match tokio::time::timeout(idle, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                let room = MAX_ERROR_BODY - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            // A body that ends, breaks or stalls still leaves the status to report.
            _ => break,
        }
    }
    Error::Status(Box::new(StatusError {
        status,
        body: Bytes::from(body),
        retry_after,
    }))
}

/// `Retry-After`: delay seconds, or an HTTP date (a date in the past means now).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Where a forwarded message reads the conversation's headers, for each attempt.
pub(crate) type HeaderSource = Arc<dyn Fn() -> RequestHeaders + Send + Sync>;

/// A 2xx response to a forwarded message, with its messages as they arrive.
pub struct Forwarded {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    messages: Messages,
}

/// Shows the response's header names, not their values: `Mcp-Session-Id` and cookies are
/// secrets.
impl std::fmt::Debug for Forwarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarded")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Forwarded {
    fn new(
        client: Client,
        message: Outgoing,
        headers: HeaderSource,
        response: Response,
        started: Instant,
        attempt: u32,
    ) -> Self {
        Self {
            status: response.status(),
            version: response.version(),
            headers: response.headers().clone(),
            messages: Messages {
                stream: Box::pin(message_stream(
                    client, message, headers, response, started, attempt,
                )),
            },
        }
    }

    /// The HTTP status (always 2xx: other statuses are errors).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version the response came over (HTTP/2 when the server offers it by ALPN).
    #[must_use]
    pub fn http_version(&self) -> Version {
        self.version
    }

    /// The response headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The `Mcp-Session-Id` the server sent, if any.
    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        self.headers.get(MCP_SESSION_ID)?.to_str().ok()
    }

    /// The messages, as [`Messages`].
    pub fn messages(&mut self) -> &mut Messages {
        &mut self.messages
    }

    /// Consumes the response into its messages.
    #[must_use]
    pub fn into_messages(self) -> Messages {
        self.messages
    }
}

/// One message of a response, and the ids it answers (none for the server's own requests
/// and notifications).
#[derive(Debug)]
pub(crate) struct Routed {
    pub(crate) line: JsonLine,
    pub(crate) answers: Vec<IdKey>,
}

/// The messages of one response, each valid JSON on one line, yielded as they arrive.
///
/// For a request (or a batch), the stream yields the server's messages (its requests and
/// notifications, then the answer) and ends once every id it is owed was answered: the rest
/// of the body is read and dropped in the background (so the connection can be reused) but
/// never yielded. A response whose id is not owed (another request's, or one already
/// answered) is logged and skipped, so no id is answered twice. If the body ends or fails
/// before every answer, the last item is the error that takes their place. Dropping the
/// stream closes the response (on a 2026 server that cancels the call), so drop it only on
/// purpose.
pub struct Messages {
    stream: Pin<Box<dyn Stream<Item = Result<Routed, Error>> + Send>>,
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages").finish_non_exhaustive()
    }
}

impl Messages {
    /// The next message, or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Bytes, Error>> {
        let routed = poll_fn(|cx| self.stream.as_mut().poll_next(cx)).await?;
        Some(routed.map(|r| r.line.bytes().clone()))
    }

    /// The next message with the ids it answers.
    pub(crate) async fn next_routed(&mut self) -> Option<Result<Routed, Error>> {
        poll_fn(|cx| self.stream.as_mut().poll_next(cx)).await
    }
}

impl Stream for Messages {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|r| r.map(|r| r.line.bytes().clone())))
    }
}

/// The session's GET listen stream: server messages outside any request, as they arrive.
pub struct ListenStream {
    response: Response,
    body: BodyDecoder,
    ended: bool,
}

impl std::fmt::Debug for ListenStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenStream")
            .field("last_event_id", &self.last_event_id())
            .finish_non_exhaustive()
    }
}

impl ListenStream {
    /// The next message (valid JSON on one line), or `None` when the stream ends; an error
    /// ends it too. Responses are logged and skipped: nothing is owed an answer on this
    /// stream, and a response written to stdout would be a second answer.
    pub async fn next(&mut self) -> Option<Result<Bytes, Error>> {
        Some(self.next_line().await?.map(|line| line.bytes().clone()))
    }

    /// [`next`](Self::next), as a line for the bridge's output.
    pub(crate) async fn next_line(&mut self) -> Option<Result<JsonLine, Error>> {
        loop {
            let next = if self.ended {
                self.body.decode_eof()
            } else {
                self.body.decode()
            };
            match next {
                Ok(Some(raw)) => match inbound(raw) {
                    Ok(Some(message)) if message.answers.is_empty() => {
                        return Some(Ok(JsonLine::from_inbound(message)));
                    }
                    Ok(Some(message)) => {
                        tracing::warn!(
                            ids = ?message.answers,
                            "dropping a response on the GET stream: nothing is owed there"
                        );
                    }
                    Ok(None) => {}
                    Err(e) => return Some(Err(e.into())),
                },
                Ok(None) if self.ended => return None,
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => {
                    if let Err(e) = self.body.push(&chunk) {
                        return Some(Err(e));
                    }
                }
                Ok(None) => self.ended = true,
                Err(e) => return Some(Err(Error::Transport(redacted(e)))),
            }
        }
    }

    /// The id of the last event received, for resuming with `Last-Event-ID`.
    #[must_use]
    pub fn last_event_id(&self) -> Option<&str> {
        self.body.last_event_id()
    }

    /// The reconnection time the server asked for (`retry:`), if any.
    #[must_use]
    pub fn retry(&self) -> Option<Duration> {
        self.body.retry()
    }
}

/// How long the rest of a body is read (and dropped) after its last answer, so that its
/// connection goes back to the pool; a server that keeps the stream open longer loses it.
const DRAIN_AFTER_ANSWER: Duration = Duration::from_secs(2);

/// Reads what is left of a response after its answer, dropping it (see [`Messages`]).
async fn drain(mut response: Response) {
    let drained = async {
        let mut dropped = 0usize;
        while let Ok(Some(chunk)) = response.chunk().await {
            dropped = dropped.saturating_add(chunk.len());
        }
        dropped
    };
    match tokio::time::timeout(DRAIN_AFTER_ANSWER, drained).await {
        Ok(0) => {}
        Ok(dropped) => tracing::debug!(dropped, "dropped what came after the answer"),
        Err(_) => tracing::debug!("the server kept the stream open after the answer; closed it"),
    }
}

/// What [`message_stream`] does with one checked message.
enum Route {
    /// Hand it on: the server's request or notification, or an answer still owed.
    Yield(Routed),
    /// Nothing in it is owed: log and drop it.
    Drop(Vec<IdKey>),
}

/// Routes `message` against the ids `owed` on this stream, those already answered marked
/// in `answered` (the ids it answers are marked too).
///
/// An error response with `id: null` (the server could not read the id) on the stream of a
/// single request can only be about that request: it answers it, re-addressed, so that the
/// client sees the server's error rather than "Server closed the stream".
fn route(message: Inbound, owed: &[OwedId], answered: &mut [bool], single: bool) -> Route {
    if message.answers.is_empty() {
        return Route::Yield(Routed {
            line: JsonLine::from_inbound(message),
            answers: Vec::new(),
        });
    }
    if let ([request], [null], [false]) = (owed, message.answers.as_slice(), &*answered)
        && single
        && null.as_str() == "null"
        && let Some(readdressed) = readdress_error(&message.bytes, Some(request.raw()))
    {
        answered[0] = true;
        return Route::Yield(Routed {
            line: JsonLine::new(readdressed),
            answers: vec![request.key().clone()],
        });
    }
    let mut fresh = Vec::with_capacity(message.answers.len());
    for id in &message.answers {
        let still_owed = owed
            .iter()
            .zip(answered.iter_mut())
            .find(|(owed, answered)| !**answered && owed.key() == id);
        if let Some((_, answered)) = still_owed {
            *answered = true;
            fresh.push(id.clone());
        }
    }
    if fresh.is_empty() {
        return Route::Drop(message.answers);
    }
    if fresh.len() == message.answers.len() {
        return Route::Yield(Routed {
            line: JsonLine::from_inbound(message),
            answers: fresh,
        });
    }
    // A batch answer that also holds responses not owed: keep only the owed ones.
    let mut keep = fresh.clone();
    match retain_responses(&message.bytes, |id| {
        keep.iter()
            .position(|k| k == id)
            .map(|i| keep.swap_remove(i))
            .is_some()
    }) {
        Some(bytes) => Route::Yield(Routed {
            line: JsonLine::new(bytes),
            answers: fresh,
        }),
        None => Route::Drop(message.answers),
    }
}

/// Decodes `response` into routed messages (see [`Messages`]).
///
/// A request whose SSE answer ended or broke after an event with an id is resumed by a GET
/// with `Last-Event-ID` (2025-11-25 "SSE polling"): after the server's `retry`, with the last
/// id seen on any of its streams, as often as the server closes it, for as long as the
/// request's idle timeout has not run out (every byte received restarts it). A request safe
/// to resend whose body broke before anything was handed on is resent. Every attempt reads
/// the conversation's headers anew.
fn message_stream(
    client: Client,
    message: Outgoing,
    headers: HeaderSource,
    first: Response,
    started: Instant,
    mut attempt: u32,
) -> impl Stream<Item = Result<Routed, Error>> + Send {
    async_stream::stream! {
        let idle = client.inner.idle_timeout;
        let limit = client.inner.max_message_bytes;
        let mut answered = vec![false; message.owed().len()];
        let single = !message.is_batch();
        let owes_answers = !answered.is_empty();
        let mut response = first;
        let mut handed_on = false;
        let mut last_event_id: Option<String> = None;
        let mut retry: Option<Duration> = None;
        let mut last_byte = Instant::now();
        loop {
            let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let format = BodyFormat::from_content_type(content_type);
            let mut body = BodyDecoder::new(format, limit, response.content_length());
            let failure = 'body: loop {
                let chunk = match tokio::time::timeout(idle, response.chunk()).await {
                    Err(_) => break 'body Some(Error::Timeout(idle)),
                    Ok(Err(e)) => break 'body Some(Error::Transport(redacted(e))),
                    Ok(Ok(chunk)) => chunk,
                };
                last_byte = Instant::now();
                let eof = chunk.is_none();
                if let Some(chunk) = chunk
                    && let Err(e) = body.push(&chunk)
                {
                    break 'body Some(e);
                }
                loop {
                    let next = if eof { body.decode_eof() } else { body.decode() };
                    let raw = match next {
                        Ok(Some(raw)) => raw,
                        Ok(None) => break,
                        Err(e) => break 'body Some(e),
                    };
                    let checked = match inbound(raw) {
                        Ok(Some(checked)) => checked,
                        Ok(None) => continue,
                        Err(e) => break 'body Some(e.into()),
                    };
                    match route(checked, message.owed(), &mut answered, single) {
                        Route::Yield(routed) => {
                            handed_on = true;
                            yield Ok(routed);
                        }
                        Route::Drop(ids) => {
                            tracing::warn!(?ids, method = message.method(), "dropping a response whose id is not owed on this stream");
                        }
                    }
                    if owes_answers && answered.iter().all(|a| *a) {
                        // Every answer is out: the stream is done. A body that has not
                        // ended yet is read to its end (and dropped) in the background.
                        if !eof {
                            tokio::spawn(drain(response));
                        }
                        return;
                    }
                }
                if eof {
                    break 'body None;
                }
            };
            if let Some(id) = body.last_event_id() {
                last_event_id = Some(id.to_owned());
            }
            retry = body.retry().or(retry);
            let error = match failure {
                None if owes_answers => Error::StreamEnded,
                None => return,
                Some(e) if !owes_answers => {
                    tracing::debug!(error = %crate::error::display_chain(&e), "the stream of a message owed no answer failed");
                    return;
                }
                Some(e) => e,
            };
            if let Some(resume_from) = &last_event_id
                && matches!(error, Error::Transport(_) | Error::StreamEnded)
            {
                let wait = retry.unwrap_or(Duration::ZERO);
                if last_byte.elapsed().saturating_add(wait) < idle {
                    tokio::time::sleep(wait).await;
                    tracing::debug!("resuming an answer stream with Last-Event-ID");
                    match client.open_get(&headers(), Some(resume_from)).await {
                        Ok(Some(next)) => {
                            response = next;
                            continue;
                        }
                        Ok(None) => tracing::debug!("the server cannot resume streams (405)"),
                        Err(e) => tracing::debug!(error = %crate::error::display_chain(&e), "resuming failed"),
                    }
                }
            }
            if !handed_on
                && let Some(delay) = client.retry_delay(&error, attempt, &message, started)
            {
                tokio::time::sleep(delay).await;
                attempt += 1;
                match client.send(&message, &headers, started, &mut attempt).await {
                    Ok(next) => {
                        response = next;
                        continue;
                    }
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                }
            }
            yield Err(error);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_retry_after_reads_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let parsed = parse_retry_after(&later).expect("a date");
        assert!(parsed > Duration::from_secs(100) && parsed <= Duration::from_secs(120));
        assert_eq!(parse_retry_after("soon"), None);
    }

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
