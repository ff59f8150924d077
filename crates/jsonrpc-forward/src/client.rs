//! [`Client`]: forwards one message to an MCP endpoint and streams its answers back.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode, Url};

use crate::auth::{SignIn, SignInError, challenge};
use crate::body::{BodyDecoder, BodyFormat};
use crate::config::ClientConfig;
use crate::error::{Error, MAX_ERROR_BODY, StatusError};
use crate::forwarded::HeaderSource;
use crate::forwarded::{BodyWatch, Forwarded, ListenStream};
use crate::headers::{RequestHeaders, get_headers, post_headers, session_headers};
use crate::http::{HttpClient, config_error};
use crate::message::Outgoing;
/// Moved to [`crate::redact`]; kept here for the paths that name it.
pub(crate) use crate::redact::redact_url;
use crate::retry::{RetryPolicy, delay_within, send_with_retries};

/// A pooled, keep-alive client for one MCP endpoint. Cheap to clone; clones share the pool.
///
/// It sends over an [`HttpClient`], its own ([`Client::new`]) or one shared with other
/// endpoints and other requests ([`Client::with_http`]).
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
            .field("http", &self.inner.http)
            .finish_non_exhaustive()
    }
}

struct Inner {
    http: HttpClient,
    /// The endpoint; replaced once if the server redirects it to its other trailing-slash
    /// form (see [`Client::adopt_redirect`]).
    url: RwLock<Url>,
    /// OAuth sign-in, when the server may ask for it.
    sign_in: Option<Arc<SignIn>>,
}

impl Client {
    /// Builds the client and its own connection pool: checks the URL, headers and TLS files
    /// of `config`. The same as [`HttpClient::new`] then [`with_http`](Self::with_http).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting that is wrong.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let http = HttpClient::new(&config)?;
        let client = Self::with_http(http, &config.url)?;
        match &config.sign_in {
            Some(options) if config.authorization.is_none() => {
                let sign_in = SignIn::new(&config, client.url(), options.clone())
                    .map_err(|e| config_error(format!("sign-in: {}", crate::display_chain(&e))))?;
                Ok(client.with_sign_in(sign_in))
            }
            _ => Ok(client),
        }
    }

    /// This client, signing in with `sign_in` when the server asks (see [`crate::auth`]).
    #[must_use]
    pub fn with_sign_in(self, sign_in: SignIn) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                url: RwLock::new(self.url()),
                sign_in: Some(Arc::new(sign_in)),
            }),
        }
    }

    /// The sign-in this client uses, if any.
    #[must_use]
    pub fn sign_in_state(&self) -> Option<&SignIn> {
        self.inner.sign_in.as_deref()
    }

    /// A client for the MCP endpoint at `url` (used as given) that sends over `http`,
    /// sharing its pool, base headers, TLS setup, timeouts, retry policy, message limit and
    /// redirect rule.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if `url` is not an http or https URL; the error shows it without
    /// userinfo and query.
    pub fn with_http(http: HttpClient, url: &str) -> Result<Self, Error> {
        let url = Url::parse(url)
            .map_err(|e| config_error(format!("invalid URL {:?}: {e}", redact_url(url))))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config_error(format!(
                "URL scheme must be http or https, not {:?}",
                url.scheme()
            )));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                url: RwLock::new(url),
                sign_in: None,
            }),
        })
    }

    /// A client for another URL of the same server (the legacy SSE stream and its
    /// endpoint): the same pool, headers and sign-in.
    pub(crate) fn for_url(&self, url: Url) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                url: RwLock::new(url),
                sign_in: self.inner.sign_in.clone(),
            }),
        }
    }

    /// The HTTP client this one sends over (a clone shares its pool).
    #[must_use]
    pub fn http(&self) -> &HttpClient {
        &self.inner.http
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
        self.inner.http.max_message_bytes()
    }

    /// The longest silence on a pending request.
    #[must_use]
    pub fn idle_timeout(&self) -> Duration {
        self.inner.http.idle_timeout()
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
        self.forward_with(message, Arc::new(move || ctx.clone()), &mut 0)
            .await
    }

    /// As [`forward_peeked`](Self::forward_peeked), with the conversation's headers read
    /// anew for every attempt, resend and resumption: a session recovered meanwhile is the
    /// one they carry. Adds the POSTs sent until a response head arrived (or the last
    /// failed) to `attempts`, for the request's log line.
    pub(crate) async fn forward_with(
        &self,
        message: Outgoing,
        headers: HeaderSource,
        attempts: &mut u32,
    ) -> Result<Forwarded, Error> {
        let started = Instant::now();
        let mut attempt = 0;
        let sent = self.send(&message, &headers, started, &mut attempt).await;
        *attempts = attempts.saturating_add(attempt.saturating_add(1));
        let response = sent?;
        Ok(Forwarded::new(
            self.clone(),
            message,
            headers,
            response,
            started,
            attempt,
        ))
    }

    /// POSTs a message whose answer is a long-lived stream (`subscriptions/listen`, §1.6):
    /// sent as [`forward_with`](Self::forward_with) sends (resent only as the retry policy
    /// allows while no response head came, which waits at most the idle timeout: a server
    /// acknowledges a listen at once), then its body is read with no idle timeout and never
    /// resumed or resent ([`BodyWatch::LongLived`], §4.6).
    pub(crate) async fn forward_long_lived(
        &self,
        message: Outgoing,
        headers: HeaderSource,
    ) -> Result<Forwarded, Error> {
        let started = Instant::now();
        let mut attempt = 0;
        let response = self.send(&message, &headers, started, &mut attempt).await?;
        Ok(Forwarded::watched(
            self.clone(),
            message,
            headers,
            response,
            (started, attempt),
            BodyWatch::LongLived,
        ))
    }

    /// The policy that decides when requests are resent.
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.inner.http.retry_policy()
    }

    /// Sends until a 2xx response head arrives or the policy gives up.
    pub(crate) async fn send(
        &self,
        message: &Outgoing,
        headers: &HeaderSource,
        started: Instant,
        attempt: &mut u32,
    ) -> Result<Response, Error> {
        send_with_retries(
            &self.retry_policy(),
            retry_method(message),
            started,
            self.idle_timeout(),
            attempt,
            || self.send_once(message, headers()),
        )
        .await
    }

    /// The policy's delay before resending `message`, if it ends within the request's time
    /// budget (the idle timeout from the first attempt); see [`delay_within`].
    pub(crate) fn retry_delay(
        &self,
        error: &Error,
        attempt: u32,
        message: &Outgoing,
        started: Instant,
    ) -> Option<Duration> {
        delay_within(
            &self.retry_policy(),
            error,
            attempt,
            retry_method(message),
            started,
            self.idle_timeout(),
        )
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
    pub(crate) async fn listen(
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
        Ok(Some(ListenStream::new(
            response,
            BodyDecoder::new(BodyFormat::Sse, self.max_message_bytes(), None),
        )))
    }

    /// Ends the session on the server (`DELETE` with its id) within `deadline`; a server that
    /// does not allow it (405) is fine. Does nothing without a session id.
    ///
    /// # Errors
    ///
    /// A refused connection, a status other than 2xx or 405, or [`Error::Timeout`].
    pub(crate) async fn delete_session(
        &self,
        ctx: &RequestHeaders,
        deadline: Duration,
    ) -> Result<(), Error> {
        if ctx.session_id.is_none() {
            return Ok(());
        }
        let http = &self.inner.http;
        let headers = || session_headers(http.base_headers(), ctx);
        let response = self
            .authorized(Method::DELETE, headers, None, deadline)
            .await?;
        if response.status().is_success() || response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(());
        }
        Err(status_error(response, deadline).await)
    }

    /// A GET for an SSE stream; `None` on 405.
    pub(crate) async fn open_get(
        &self,
        ctx: &RequestHeaders,
        last_event_id: Option<&str>,
    ) -> Result<Option<Response>, Error> {
        let http = &self.inner.http;
        let idle = http.idle_timeout();
        let headers = || get_headers(http.base_headers(), ctx, last_event_id);
        let response = self.authorized(Method::GET, headers, None, idle).await?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(None);
        }
        if response.status().is_success() {
            return Ok(Some(response));
        }
        Err(status_error(response, idle).await)
    }

    async fn send_once(&self, message: &Outgoing, ctx: RequestHeaders) -> Result<Response, Error> {
        let http = &self.inner.http;
        let idle = http.idle_timeout();
        let headers = || post_headers(http.base_headers(), message, &ctx);
        let response = self
            .authorized(Method::POST, headers, Some(message.bytes()), idle)
            .await?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(status_error(response, idle).await)
    }

    /// Sends one request to the endpoint with the sign-in's token, if any. A 401 (or a 403
    /// with `insufficient_scope`) lets the sign-in renew the token and the request is sent
    /// once more: the server refused it unread, so even a `tools/call` is safe to resend.
    /// A second refusal is the answer (no loop).
    async fn authorized(
        &self,
        method: Method,
        headers: impl Fn() -> HeaderMap,
        body: Option<&Bytes>,
        timeout: Duration,
    ) -> Result<Response, Error> {
        let http = &self.inner.http;
        let mut renewed = false;
        loop {
            let url = self.url();
            let token = match &self.inner.sign_in {
                // The cached header, at the cost of a lock; the slow path (a refresh) is boxed
                // so that its state does not make every request's future larger (they are
                // moved on each spawn).
                Some(sign_in) => match sign_in.ready_authorization() {
                    Some(ready) => ready,
                    None => Box::pin(sign_in.authorization())
                        .await
                        .map_err(sign_in_error)?,
                },
                None => None,
            };
            let mut request = http.request(method.clone(), url.clone()).headers(headers());
            if let Some(token) = &token {
                request = request.header(AUTHORIZATION, token.clone());
            }
            if let Some(body) = body {
                request = request.body(body.clone());
            }
            let response = http.execute(request, timeout).await?;
            self.adopt_redirect(&url, &response);
            let Some(sign_in) = &self.inner.sign_in else {
                return Ok(response);
            };
            let status = response.status();
            if renewed || !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                return Ok(response);
            }
            let challenge = challenge::bearer(response.headers());
            let step_up = status == StatusCode::FORBIDDEN
                && challenge
                    .as_ref()
                    .is_some_and(|c| c.error.as_deref() == Some("insufficient_scope"));
            if status == StatusCode::FORBIDDEN && !step_up {
                return Ok(response);
            }
            // Boxed: a sign-in's state (discovery, the callback listener, token requests) is
            // large and rare.
            match Box::pin(sign_in.unauthorized(token.as_ref(), challenge.as_ref(), step_up)).await
            {
                Ok(()) => renewed = true,
                // The server says nowhere how to sign in: its 401 is the answer.
                Err(SignInError::NotOffered) => return Ok(response),
                Err(e) => return Err(sign_in_error(e)),
            }
        }
    }
}

fn sign_in_error(e: SignInError) -> Error {
    Error::SignIn(Box::new(e))
}

/// The method the retry policy judges a message by: `None` for a batch (never resent after
/// it may have arrived).
fn retry_method(message: &Outgoing) -> Option<&str> {
    if message.is_batch() {
        None
    } else {
        message.method()
    }
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
}
