//! Everything a [`Client`](crate::Client) is built from.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::OAuthOptions;
use crate::http::{DEFAULT_USER_AGENT, Redirects};
use crate::redact::{header_name_shown, redact_url};
use crate::retry::RetryPolicy;

/// The default longest silence on a pending request.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The default limit on establishing a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The default limit on one message from the server.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Settings of a [`Client`](crate::Client) or an [`HttpClient`](crate::HttpClient), built
/// with chained calls and checked by [`Client::new`](crate::Client::new) or
/// [`HttpClient::new`](crate::HttpClient::new).
///
/// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (lower-case forms first) are
/// honoured unless [`proxy`](Self::proxy) says otherwise (see there).
///
/// ```
/// use std::time::Duration;
/// use jsonrpc_forward::{Client, ClientConfig};
///
/// let config = ClientConfig::new("http://127.0.0.1:4444/servers/1/mcp/")
///     .authorization("Bearer abc")
///     .header("X-Tenant", "blue")
///     .idle_timeout(Duration::from_secs(30));
/// let client = Client::new(config)?;
/// # Ok::<(), jsonrpc_forward::Error>(())
/// ```
///
/// Its `Debug` output shows the URL without userinfo and query, the header names without
/// their values, and the authorization as `<redacted>`.
#[derive(Clone)]
pub struct ClientConfig {
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) authorization: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) ca_bundle: Option<PathBuf>,
    pub(crate) insecure: bool,
    pub(crate) client_identity: Option<(PathBuf, PathBuf)>,
    pub(crate) max_message_bytes: usize,
    pub(crate) retry: RetryPolicy,
    pub(crate) pool_idle_timeout: Duration,
    pub(crate) pool_max_idle_per_host: usize,
    pub(crate) redirects: Redirects,
    pub(crate) http2: bool,
    pub(crate) user_agent: String,
    pub(crate) sign_in: Option<OAuthOptions>,
    pub(crate) proxy: Option<String>,
}

/// By hand, because the derived output would print the secrets: the URL's userinfo and
/// query, the header values and the `Authorization` value.
impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self
            .headers
            .iter()
            .map(|(name, _)| header_name_shown(name))
            .collect();
        f.debug_struct("ClientConfig")
            .field("url", &redact_url(&self.url))
            .field("headers", &header_names)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("ca_bundle", &self.ca_bundle)
            .field("insecure", &self.insecure)
            .field("client_identity", &self.client_identity)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("retry", &self.retry)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("pool_max_idle_per_host", &self.pool_max_idle_per_host)
            .field("redirects", &self.redirects)
            .field("http2", &self.http2)
            .field("user_agent", &self.user_agent)
            .field("sign_in", &self.sign_in)
            .field("proxy", &self.proxy.as_deref().map(redact_url))
            .finish()
    }
}

impl ClientConfig {
    /// Settings for the MCP endpoint at `url` (used as given: no `/mcp/` is added here).
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            headers: Vec::new(),
            authorization: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            ca_bundle: None,
            insecure: false,
            client_identity: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            retry: RetryPolicy::default(),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 32,
            redirects: Redirects::default(),
            http2: true,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            sign_in: None,
            proxy: None,
        }
    }

    /// Adds a header sent with every request (repeatable; same name twice sends both).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the `Authorization` header value (e.g. `Bearer <token>`); it is never logged.
    #[must_use]
    pub fn authorization(mut self, value: impl Into<String>) -> Self {
        self.authorization = Some(value.into());
        self
    }

    /// Signs in with OAuth when the server answers 401 with a `Bearer` challenge (see
    /// [`crate::auth`]); ignored when [`authorization`](Self::authorization) is set.
    #[must_use]
    pub fn sign_in(mut self, options: OAuthOptions) -> Self {
        self.sign_in = Some(options);
        self
    }

    /// The settings for talking to authorization servers: this one's TLS, timeouts and
    /// proxy, none of the MCP server's headers, no redirects.
    pub(crate) fn for_authorization_server(&self) -> Self {
        Self {
            headers: Vec::new(),
            authorization: None,
            redirects: Redirects::None,
            sign_in: None,
            retry: RetryPolicy::never(),
            ..self.clone()
        }
    }

    /// Limits establishing a connection (TCP and TLS); default 15 s.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest silence on a pending request, restarted by every byte received; default
    /// 60 s. Retries of one request also end within this time from its first attempt.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Trusts only the CA certificates in this PEM file instead of the system roots (as
    /// httpx's `verify="ca.pem"`).
    #[must_use]
    pub fn ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(path.into());
        self
    }

    /// Accepts any server certificate. For tests only: it removes the protection of TLS.
    #[must_use]
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Presents a client certificate (mTLS): PEM files of the certificate chain and its key.
    /// One file holding both may be given as both paths (it is read once).
    #[must_use]
    pub fn client_identity(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_identity = Some((cert.into(), key.into()));
        self
    }

    /// Limits one message from the server; default 64 MiB.
    #[must_use]
    pub fn max_message_bytes(mut self, limit: usize) -> Self {
        self.max_message_bytes = limit;
        self
    }

    /// Sets when failed requests are resent (see [`crate::retry`]).
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How long an idle pooled connection is kept (default 90 s) and how many per host
    /// (default 32).
    #[must_use]
    pub fn pool(mut self, idle_timeout: Duration, max_idle_per_host: usize) -> Self {
        self.pool_idle_timeout = idle_timeout;
        self.pool_max_idle_per_host = max_idle_per_host;
        self
    }

    /// Which redirects are followed; default [`Redirects::SameOrigin`], the rule an MCP
    /// endpoint needs (see there). Every request of the client follows it, including those
    /// of an MCP [`Client`](crate::Client) made with
    /// [`Client::with_http`](crate::Client::with_http) on it.
    #[must_use]
    pub fn redirects(mut self, redirects: Redirects) -> Self {
        self.redirects = redirects;
        self
    }

    /// `false` speaks HTTP/1.1 only; `true` (the default) takes HTTP/2 when a TLS server
    /// offers it by ALPN.
    #[must_use]
    pub fn http2(mut self, http2: bool) -> Self {
        self.http2 = http2;
        self
    }

    /// Sends every request through this proxy, `http://[user:password@]host:port` (an
    /// `https://` proxy is reached over TLS; no scheme means `http://`), instead of the
    /// proxies of the environment; `none` (any case) or `""` connects directly, whatever the
    /// environment says. `NO_PROXY` still lists the hosts reached directly.
    ///
    /// https URLs go through a `CONNECT` tunnel, http URLs are forwarded; the proxy URL's
    /// user name and password (percent-encoded) become `Proxy-Authorization: Basic`, and
    /// are never printed: errors name the proxy as `scheme://host:port`. Without this
    /// setting, `https_proxy`, `http_proxy` and `all_proxy` are read (each lower case first,
    /// then upper case; an empty value means none), as curl and Python's httpx read them;
    /// with none of them set, the operating system's proxy settings (macOS, Windows).
    #[must_use]
    pub fn proxy(mut self, proxy: impl Into<String>) -> Self {
        self.proxy = Some(proxy.into());
        self
    }

    /// The `User-Agent` header; default `mcp-wrapper-rs/<version>`.
    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The sign-in's requests to the authorization server go through the same proxy.
    #[test]
    fn the_authorization_server_client_keeps_the_proxy() {
        let config = ClientConfig::new("https://mcp.example/mcp/").proxy("http://proxy.corp:3128");
        assert_eq!(
            config.for_authorization_server().proxy.as_deref(),
            Some("http://proxy.corp:3128")
        );
        assert_eq!(
            ClientConfig::new("x").for_authorization_server().proxy,
            None
        );
    }
}
