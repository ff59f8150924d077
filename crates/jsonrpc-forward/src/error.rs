//! The one error type of the transport, and how each error becomes a JSON-RPC answer.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;

use crate::message::{InvalidJson, error_response, readdress_error};
use crate::peek::PeekError;

/// Error bodies keep at most this much, for re-addressing a JSON-RPC error object.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;
/// The `data.body` of an HTTP-status error shows at most this much of the body.
const SHOWN_BODY: usize = 4 * 1024;

/// What went wrong while forwarding one message.
///
/// Downstream code asks the predicates ([`is_retryable`](Self::is_retryable),
/// [`is_timeout`](Self::is_timeout), [`is_connect`](Self::is_connect),
/// [`status`](Self::status)) rather than matching variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client could not be built from its configuration.
    #[error("invalid configuration: {0}")]
    Config(Box<str>),
    /// The message to send is not a JSON-RPC message.
    #[error("invalid JSON-RPC message")]
    InvalidMessage(#[from] PeekError),
    /// No connection could be made: the server cannot have seen the request.
    #[error("connecting to the server failed")]
    Connect(#[source] reqwest::Error),
    /// The server sent nothing for this long while an answer was pending.
    #[error("no data from the server for {0:?}")]
    Timeout(Duration),
    /// The TLS handshake failed (an untrusted or invalid certificate): retrying cannot help.
    #[error("TLS handshake with the server failed")]
    Tls(#[source] reqwest::Error),
    /// The server answered with a status outside 2xx.
    #[error("HTTP {}", .0.status)]
    Status(Box<StatusError>),
    /// The connection failed after the request may have reached the server, before the
    /// response head arrived.
    #[error("the connection to the server broke")]
    Transport(#[source] reqwest::Error),
    /// Reading the response body failed after its head arrived: the connection was reset
    /// or closed mid-body, or a compressed body was corrupt.
    #[error("reading the response from the server failed")]
    Read(#[source] reqwest::Error),
    /// The server sent a message that is not JSON.
    #[error(transparent)]
    InvalidJson(#[from] InvalidJson),
    /// The server's body could not be split into messages (a framing error of the
    /// decoder other than an over-long record).
    #[error("the response could not be decoded")]
    Decode(#[source] stream_parse::Error),
    /// The server sent a message over the size limit.
    #[error("response exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// The server forgot the session (404) and a new one could not be made.
    #[error("the server forgot the session and it could not be re-established")]
    SessionExpired(#[source] Option<Box<Error>>),
    /// The response body ended before the answer to the request.
    #[error("server closed the stream without a response")]
    StreamEnded,
    /// The server redirected the request to another origin (scheme, host or port): not
    /// followed, so nothing was sent there. `origin` is `scheme://host:port`, never a path or
    /// query.
    #[error("the server redirected to another origin, {origin}; not followed")]
    Redirect {
        /// The origin the server redirected to.
        origin: Box<str>,
    },
    /// The server asked for sign-in (401 with a `Bearer` challenge) and it failed: the
    /// message says why and, when a user is needed, where to sign in.
    #[error(transparent)]
    SignIn(Box<crate::auth::SignInError>),
    /// The proxy the request went through refused it or could not be reached: the server
    /// was never reached. The message names the proxy as `scheme://host:port`, never its
    /// credentials.
    #[error(transparent)]
    Proxy(Box<ProxyError>),
    /// The legacy HTTP+SSE transport cannot be used: the SSE URL is not an event stream, or
    /// its `endpoint` event is not a URI on the SSE URL's origin (the message names the
    /// origin, never a path or query). Nothing was sent to such an endpoint.
    #[error("SSE endpoint refused: {0}")]
    Endpoint(Box<str>),
    /// The server redirected more times in a row than
    /// [`Redirects::Limited`](crate::Redirects::Limited) allows.
    #[error("more than {limit} redirects")]
    TooManyRedirects {
        /// The limit in force.
        limit: usize,
    },
}

/// A response with a status outside 2xx.
#[derive(Debug, Clone)]
pub struct StatusError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The start of the body (at most 64 KiB).
    pub body: Bytes,
    /// The server's `Retry-After`, in seconds or as an HTTP date, made relative.
    pub retry_after: Option<Duration>,
}

/// A proxy that refused a request or could not be reached (see [`Error::Proxy`]).
#[derive(Debug)]
pub struct ProxyError {
    proxy: String,
    credentials: bool,
    failure: ProxyFailure,
    source: Option<reqwest::Error>,
}

/// What went wrong with the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyFailure {
    /// `407 Proxy Authentication Required`, to the `CONNECT` or to a forwarded request.
    AuthRequired,
    /// Nothing listens on the proxy's port.
    Refused,
    /// The proxy answered the `CONNECT` with another status than 200 (it may not reach the
    /// server, or may not allow it).
    Tunnel,
    /// Anything else on the way to the proxy: DNS, a timeout, a reset.
    Unreachable,
}

impl ProxyFailure {
    /// Reads the failure off a connect error of a proxied request. hyper-util's tunnel
    /// error is private, so its `CONNECT` outcome is known by its text only.
    pub(crate) fn of(error: &reqwest::Error) -> Self {
        let mut tunnel = false;
        let mut source: Option<&dyn std::error::Error> = Some(error);
        while let Some(cause) = source {
            let text = cause.to_string();
            if text.contains("proxy authorization required") {
                return Self::AuthRequired;
            }
            if cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
            {
                return Self::Refused;
            }
            tunnel |= text.contains("tunnel error: unsuccessful");
            source = cause.source();
        }
        if tunnel {
            Self::Tunnel
        } else {
            Self::Unreachable
        }
    }
}

impl ProxyError {
    pub(crate) fn new(
        proxy: crate::proxy::UsedProxy,
        failure: ProxyFailure,
        source: Option<reqwest::Error>,
    ) -> Self {
        Self {
            proxy: proxy.shown,
            credentials: proxy.credentials,
            failure,
            source,
        }
    }

    /// The proxy, `scheme://host:port`.
    #[must_use]
    pub fn proxy(&self) -> &str {
        &self.proxy
    }

    /// The proxy answered `407 Proxy Authentication Required`: no credentials, or wrong ones.
    #[must_use]
    pub fn is_auth_required(&self) -> bool {
        self.failure == ProxyFailure::AuthRequired
    }
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proxy = &self.proxy;
        match self.failure {
            ProxyFailure::AuthRequired if self.credentials => write!(
                f,
                "proxy {proxy} refused: 407 Proxy Authentication Required (the user name and password of the proxy URL were not accepted)"
            ),
            ProxyFailure::AuthRequired => write!(
                f,
                "proxy {proxy} refused: 407 Proxy Authentication Required (give credentials in the proxy URL: http://user:password@host:port)"
            ),
            ProxyFailure::Refused => write!(f, "proxy {proxy} refused the connection"),
            ProxyFailure::Tunnel => write!(
                f,
                "proxy {proxy} refused to open a tunnel (CONNECT) to the server, or could not reach it"
            ),
            ProxyFailure::Unreachable => write!(f, "proxy {proxy} could not be reached"),
        }
    }
}

/// The reqwest error is the cause only when the message alone does not say what happened.
impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.failure {
            ProxyFailure::Unreachable => self
                .source
                .as_ref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            _ => None,
        }
    }
}

/// The kinds the `is_*` predicates tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Usage,
    Connect,
    Timeout,
    Status,
    /// The body broke after the head.
    Read,
    /// The exchange broke otherwise: before the head, no answer, no session.
    Broken,
    Decode,
    Redirect,
    SignIn,
}

/// How an error may be retried; see [`crate::retry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryClass {
    /// Never: the outcome would be the same, or the server may have acted.
    Never,
    /// For every method: the server cannot have acted on the request.
    Always,
    /// Only for messages safe to resend (read-only requests, notifications): the server
    /// may have seen the message.
    SafeToResend,
}

impl Error {
    pub(crate) fn retry_class(&self) -> RetryClass {
        match self {
            Error::Status(s) => match s.status.as_u16() {
                429 | 503 => RetryClass::Always,
                408 | 502 | 504 => RetryClass::SafeToResend,
                _ => RetryClass::Never,
            },
            Error::Transport(_) | Error::Read(_) => RetryClass::SafeToResend,
            // Nothing reached the server; a proxy that is restarting may come back. Wrong or
            // missing credentials will be as wrong next time.
            Error::Proxy(p) if p.is_auth_required() => RetryClass::Never,
            Error::Connect(_) | Error::Proxy(_) => RetryClass::Always,
            Error::Config(_)
            | Error::Tls(_)
            | Error::InvalidMessage(_)
            | Error::Timeout(_)
            | Error::InvalidJson(_)
            | Error::TooLarge { .. }
            | Error::SessionExpired(_)
            | Error::StreamEnded
            | Error::Decode(_)
            | Error::Redirect { .. }
            | Error::TooManyRedirects { .. }
            | Error::Endpoint(_)
            | Error::SignIn(_) => RetryClass::Never,
        }
    }

    /// Whether this error may be retried for some method (see [`crate::retry`]).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.retry_class() != RetryClass::Never
    }

    /// What kind of failure this is: the one exhaustive match every predicate reads, so a
    /// new variant must be classified here (the compiler says so) instead of being
    /// silently `false` everywhere.
    fn kind(&self) -> Kind {
        match self {
            Error::Config(_) | Error::InvalidMessage(_) => Kind::Usage,
            Error::Connect(_) | Error::Tls(_) | Error::Proxy(_) => Kind::Connect,
            Error::Timeout(_) => Kind::Timeout,
            Error::Status(_) => Kind::Status,
            Error::Read(_) => Kind::Read,
            Error::Transport(_)
            | Error::StreamEnded
            | Error::SessionExpired(_)
            | Error::Endpoint(_) => Kind::Broken,
            Error::InvalidJson(_) | Error::Decode(_) | Error::TooLarge { .. } => Kind::Decode,
            Error::Redirect { .. } | Error::TooManyRedirects { .. } => Kind::Redirect,
            Error::SignIn(_) => Kind::SignIn,
        }
    }

    /// The server was silent past the idle timeout.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        self.kind() == Kind::Timeout
    }

    /// No connection could be made (refused, unreachable, a failed TLS handshake, or a
    /// proxy that refused).
    #[must_use]
    pub fn is_connect(&self) -> bool {
        self.kind() == Kind::Connect
    }

    /// Connecting took longer than the connect timeout.
    #[must_use]
    pub fn is_connect_timeout(&self) -> bool {
        let e = match self {
            Error::Connect(e) => e,
            Error::Proxy(p) => match &p.source {
                Some(e) => e,
                None => return false,
            },
            _ => return false,
        };
        let mut source: Option<&dyn std::error::Error> = Some(e);
        while let Some(cause) = source {
            if cause
                .downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_timeout)
            {
                return true;
            }
            source = cause.source();
        }
        false
    }

    /// The server sent a message that could not be handed on: not JSON, or over the limit.
    #[must_use]
    pub fn is_decode(&self) -> bool {
        self.kind() == Kind::Decode
    }

    /// The response body broke after its head arrived: a reset or a close mid-body
    /// (httpx's `ReadError`). Narrower than [`is_protocol`](Self::is_protocol), which
    /// includes it.
    #[must_use]
    pub fn is_read(&self) -> bool {
        self.kind() == Kind::Read
    }

    /// A redirect was refused: to another origin under
    /// [`Redirects::SameOrigin`](crate::Redirects::SameOrigin), or past the limit of
    /// [`Redirects::Limited`](crate::Redirects::Limited).
    #[must_use]
    pub fn is_redirect(&self) -> bool {
        self.kind() == Kind::Redirect
    }

    /// Signing in to the server failed (see [`crate::auth`]).
    #[must_use]
    pub fn is_sign_in(&self) -> bool {
        self.kind() == Kind::SignIn
    }

    /// The exchange broke after it started: the connection dropped before or during the
    /// answer ([`is_read`](Self::is_read) tells the latter apart), the answer never came,
    /// or the session could not be re-established.
    #[must_use]
    pub fn is_protocol(&self) -> bool {
        matches!(self.kind(), Kind::Broken | Kind::Read)
    }

    /// The caller's mistake: an invalid configuration or message, not a server's.
    #[must_use]
    pub fn is_usage(&self) -> bool {
        self.kind() == Kind::Usage
    }

    /// The HTTP status of a non-2xx answer.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status(s) => Some(s.status),
            _ => None,
        }
    }

    /// The server's `Retry-After`, if it sent one with a non-2xx status.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Status(s) => s.retry_after,
            _ => None,
        }
    }

    /// The JSON-RPC answer for the request with raw JSON id `id` that this error ended:
    /// one line, no trailing newline. The codes follow the error table of the design:
    /// a non-2xx answer whose body is a JSON-RPC error is the server's error with the id
    /// filled in; other statuses are `-32000` with `data: {status, body}`; silence `-32001`;
    /// broken or refused connections `-32000`; a refused redirect to another origin `-32000`
    /// naming that origin; a failed sign-in `-32000` with the reason and the sign-in URL;
    /// invalid JSON `-32700`; oversize `-32603`.
    #[must_use]
    pub fn to_response(&self, id: Option<&str>) -> Bytes {
        let detail = display_chain(self);
        match self {
            Error::Status(s) => readdress_error(&s.body, id).unwrap_or_else(|| {
                let shown = &s.body[..s.body.len().min(SHOWN_BODY)];
                let data = serde_json::json!({
                    "status": s.status.as_u16(),
                    "body": String::from_utf8_lossy(shown),
                });
                let reason = s.status.canonical_reason().unwrap_or("");
                let message = format!("HTTP {} {reason}", s.status.as_u16());
                error_response(id, -32000, message.trim_end(), Some(&data))
            }),
            Error::Timeout(_) => {
                error_response(id, -32001, &format!("Request timed out: {detail}"), None)
            }
            Error::Connect(_)
            | Error::Tls(_)
            | Error::Transport(_)
            | Error::Read(_)
            | Error::Proxy(_) => {
                error_response(id, -32000, &format!("Connection failed: {detail}"), None)
            }
            Error::InvalidJson(_) => error_response(
                id,
                -32700,
                &format!("Invalid JSON from server: {detail}"),
                None,
            ),
            Error::TooLarge { limit } => error_response(
                id,
                -32603,
                &format!("Response exceeds the limit of {limit} bytes"),
                None,
            ),
            Error::StreamEnded => error_response(
                id,
                -32000,
                "Server closed the stream without a response",
                None,
            ),
            Error::SessionExpired(_) => {
                error_response(id, -32000, &format!("Session expired: {detail}"), None)
            }
            Error::Redirect { origin } => error_response(
                id,
                -32000,
                &format!(
                    "Redirect refused: the server redirected to {origin}, another origin; nothing was sent there"
                ),
                None,
            ),
            Error::TooManyRedirects { limit } => error_response(
                id,
                -32000,
                &format!("Redirect refused: more than {limit} redirects"),
                None,
            ),
            Error::Endpoint(_) => error_response(id, -32000, &detail, None),
            Error::SignIn(_) => {
                error_response(id, -32000, &format!("Sign-in failed: {detail}"), None)
            }
            Error::Decode(_) => error_response(
                id,
                -32603,
                &format!("Response could not be decoded: {detail}"),
                None,
            ),
            Error::InvalidMessage(_) => {
                error_response(id, -32700, &format!("Parse error: {detail}"), None)
            }
            Error::Config(_) => {
                error_response(id, -32603, &format!("Internal error: {detail}"), None)
            }
        }
    }
}

impl From<stream_parse::Error> for Error {
    fn from(e: stream_parse::Error) -> Self {
        match e {
            stream_parse::Error::TooLong { limit } => Error::TooLarge { limit },
            // A decoder error added later keeps its cause (the enum is non-exhaustive, so
            // this arm is the only way to name it).
            other => Error::Decode(other),
        }
    }
}

/// The error and all its sources, joined by ": ", for people who cannot call `source()`.
#[must_use]
pub fn display_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Some wrappers repeat their source's text; say it once.
        if !out.ends_with(&text) {
            let _ = write!(out, ": {text}");
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_static<T: Send + Sync + 'static>() {}

    #[test]
    fn error_is_send_sync_static_and_small() {
        assert_send_sync_static::<Error>();
        assert!(
            std::mem::size_of::<Error>() <= 24,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn status_error_classes_follow_the_retry_rules() {
        let status = |code| {
            Error::Status(Box::new(StatusError {
                status: StatusCode::from_u16(code).expect("valid"),
                body: Bytes::new(),
                retry_after: None,
            }))
        };
        assert_eq!(status(429).retry_class(), RetryClass::Always);
        assert_eq!(status(503).retry_class(), RetryClass::Always);
        assert_eq!(status(502).retry_class(), RetryClass::SafeToResend);
        assert_eq!(status(504).retry_class(), RetryClass::SafeToResend);
        assert_eq!(status(408).retry_class(), RetryClass::SafeToResend);
        assert_eq!(status(500).retry_class(), RetryClass::Never);
        assert_eq!(status(404).retry_class(), RetryClass::Never);
    }
}
