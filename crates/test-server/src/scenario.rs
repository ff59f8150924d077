//! [`Scenario`]: how a [`TestServer`](crate::TestServer) behaves, fixed at start.

use std::time::Duration;

use crate::{Fault, ListenEnd};

/// How a [`TestServer`](crate::TestServer) behaves. A builder; [`Scenario::default()`] is a
/// plain-HTTP, session-less server with no GET stream and no script, that stops after 10
/// minutes at the latest.
///
/// ```
/// use std::time::Duration;
/// use test_server::{Fault, Scenario};
///
/// let scenario = Scenario::default()
///     .sessions(true)
///     .script(vec![Fault::status(503)])
///     .lifetime(Duration::from_secs(30));
/// # let _ = scenario;
/// ```
#[derive(Debug, Clone)]
pub struct Scenario {
    pub(crate) tls: bool,
    pub(crate) require_client_cert: bool,
    pub(crate) sessions: bool,
    pub(crate) listen_stream: bool,
    pub(crate) listen_interval: Duration,
    pub(crate) listen_events: u64,
    pub(crate) listen_events_per_stream: Option<u64>,
    pub(crate) script: Vec<Fault>,
    pub(crate) lifetime: Duration,
    pub(crate) record_requests: bool,
    pub(crate) redirect_slash: bool,
    pub(crate) listen_failures: u32,
    pub(crate) listen_empty_streams: u32,
    pub(crate) set_cookie: Option<String>,
    pub(crate) listen_refused: bool,
    pub(crate) listen_deny_resources: bool,
    pub(crate) listen_end_after_ack: Option<ListenEnd>,
    pub(crate) modern: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            tls: false,
            require_client_cert: false,
            sessions: false,
            listen_stream: false,
            listen_interval: Duration::from_millis(50),
            listen_events: 20,
            listen_events_per_stream: None,
            script: Vec::new(),
            lifetime: Duration::from_secs(600),
            record_requests: true,
            redirect_slash: false,
            listen_failures: 0,
            listen_empty_streams: 0,
            set_cookie: None,
            listen_refused: false,
            listen_deny_resources: false,
            listen_end_after_ack: None,
            modern: false,
        }
    }
}

impl Scenario {
    /// Answer `/mcp/` with `307 Temporary Redirect` to `/mcp`, as servers built on the
    /// official Python SDK do (default off: both forms are served).
    #[must_use]
    pub fn redirect_trailing_slash(mut self, on: bool) -> Self {
        self.redirect_slash = on;
        self
    }

    /// Answer every `initialize` with this `Set-Cookie` header value (e.g.
    /// `"lb=node-7; Path=/"`), as a load balancer that pins a session to one backend does
    /// (default none). Whether later requests carry the cookie is in their recorded
    /// `cookie` header ([`TestServer::requests`](crate::TestServer::requests)).
    #[must_use]
    pub fn set_cookie(mut self, value: impl Into<String>) -> Self {
        self.set_cookie = Some(value.into());
        self
    }

    /// Serve HTTPS with a certificate for `127.0.0.1` and `localhost`, issued by a test CA
    /// made at start ([`TestServer::ca_pem`](crate::TestServer::ca_pem)). ALPN offers `h2`
    /// and `http/1.1`.
    #[must_use]
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// Require a client certificate issued by the test CA (mutual TLS); implies
    /// [`Scenario::tls`]. See [`TestServer::client_cert_pem`](crate::TestServer::client_cert_pem).
    #[must_use]
    pub fn require_client_cert(mut self, on: bool) -> Self {
        self.require_client_cert = on;
        self
    }

    /// Stateful sessions: `initialize` answers with an `Mcp-Session-Id` header; any other
    /// request without that header gets 400, with an unknown id 404; `DELETE` ends the
    /// session. See [`TestServer::expire_sessions`](crate::TestServer::expire_sessions).
    #[must_use]
    pub fn sessions(mut self, on: bool) -> Self {
        self.sessions = on;
        self
    }

    /// Answer GET on the endpoint with an SSE stream of `notifications/message` events
    /// (ids 1, 2, ... up to [`Scenario::listen_events`], one every
    /// [`Scenario::listen_interval`], starting after `Last-Event-ID`). After the last event
    /// the stream stays open (idle, with a `: keep-alive` comment every second) unless
    /// [`Scenario::listen_events_per_stream`] closes it. When off (the default), GET gets 405.
    #[must_use]
    pub fn listen_stream(mut self, on: bool) -> Self {
        self.listen_stream = on;
        self
    }

    /// Answer the first `n` GETs that open the listen stream with `503 Service Unavailable`
    /// (default 0): a stream that fails to open for a while.
    #[must_use]
    pub fn listen_failures(mut self, n: u32) -> Self {
        self.listen_failures = n;
        self
    }

    /// After any [`Scenario::listen_failures`], answer the next `n` GETs with a stream that
    /// only says `retry: 100` and ends (default 0): a proxy that closes idle streams.
    #[must_use]
    pub fn listen_empty_streams(mut self, n: u32) -> Self {
        self.listen_empty_streams = n;
        self
    }

    /// Time between two events of the GET stream (default 50 ms).
    #[must_use]
    pub fn listen_interval(mut self, interval: Duration) -> Self {
        self.listen_interval = interval;
        self
    }

    /// Number of events the GET stream has in all, across reconnections (default 20).
    #[must_use]
    pub fn listen_events(mut self, total: u64) -> Self {
        self.listen_events = total;
        self
    }

    /// Close each GET stream after this many events, so that clients must reconnect with
    /// `Last-Event-ID` (default: never).
    #[must_use]
    pub fn listen_events_per_stream(mut self, per_stream: Option<u64>) -> Self {
        self.listen_events_per_stream = per_stream;
        self
    }

    /// Answer every 2026-07-28 `subscriptions/listen` with `404` and `-32601` (method not
    /// found), as a server that does not serve it (default off: a listen stream).
    #[must_use]
    pub fn listen_refused(mut self, on: bool) -> Self {
        self.listen_refused = on;
        self
    }

    /// Grant no resource notifications on `subscriptions/listen`: the ack leaves out
    /// `resourcesListChanged` and `resourceSubscriptions` whatever was asked (default off:
    /// everything asked is granted).
    #[must_use]
    pub fn listen_deny_resources(mut self, on: bool) -> Self {
        self.listen_deny_resources = on;
        self
    }

    /// End every `subscriptions/listen` stream right after its ack, as `how` says (default
    /// `None`: streams stay open until [`TestServer::listen_end`](crate::TestServer::listen_end)).
    #[must_use]
    pub fn listen_end_after_ack(mut self, how: Option<ListenEnd>) -> Self {
        self.listen_end_after_ack = how;
        self
    }

    /// Serve the 2026-07-28 era too (default off: a 2025-era server). A POST whose
    /// `MCP-Protocol-Version` header is `2026-07-28` is then a modern request: it needs no
    /// session; `server/discover` gets a `DiscoverResult`
    /// (`{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{"listChanged":false}},
    /// "resultType":"complete",…,"_meta":{"io.modelcontextprotocol/serverInfo":…}}`); a
    /// retired method (`initialize`, `ping`, `logging/setLevel`, `resources/(un)subscribe`)
    /// gets `404` with `-32601`, so that a bridge that forwards one fails visibly; a `_meta`
    /// without the protocol version gets `400` `-32602`; a header that disagrees with the
    /// body (the `_meta` version, `Mcp-Method`, `Mcp-Name` of a `tools/call`) gets `400`
    /// `-32020`, before anything runs; any other request is answered as a 2025-era one.
    /// A POST without that header is served as before, so the server is dual-era, as mcp
    /// 2.3's is (research notes `protocol-2026.md` §1.3, §1.8, §1.10).
    /// `subscriptions/listen` is served either way (see [`ListenEnd`]).
    #[must_use]
    pub fn modern(mut self, on: bool) -> Self {
        self.modern = on;
        self
    }

    /// Faults applied, in order, one each, to the next POSTs whatever they hold; then
    /// normal behaviour. POSTs rejected for a missing or unknown session do not use one.
    #[must_use]
    pub fn script(mut self, faults: Vec<Fault>) -> Self {
        self.script = faults;
        self
    }

    /// The server stops by itself after this long (default 10 minutes), so that a leaked
    /// server cannot outlive its purpose.
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Keep every request for [`TestServer::requests`](crate::TestServer::requests)
    /// (default on). Turn it off for long benchmarks.
    #[must_use]
    pub fn record_requests(mut self, on: bool) -> Self {
        self.record_requests = on;
        self
    }
}
