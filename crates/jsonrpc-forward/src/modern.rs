//! Both protocol eras on both sides (§4 of `protocol-2026.md`).
//!
//! The bridge learns the host's era from its first request that shows one ([`era`]) and the
//! server's from one `server/discover` probe ([`crate::probe`]), cached on disk
//! ([`crate::era_cache`]). Then each host message takes one of four roads:
//!
//! | host | server | road |
//! |---|---|---|
//! | 2025 (`initialize`) | 2025 | **A**: today's bridge, unchanged ([`Routed::Legacy`]) |
//! | 2025 | 2026-07-28 | **B**: translated: the bridge answers `initialize` itself from the `DiscoverResult`, splices the 2026 envelope into every request's `params._meta`, answers `ping`, `logging/setLevel` and `resources/(un)subscribe` locally, emulates the GET stream with `subscriptions/listen` and turns `input_required` results into ordinary requests to the host (MRTR) |
//! | 2026 (`server/discover`, `_meta`) | 2026-07-28 | **C**: passed through, ids unchanged, headers derived from each message |
//! | 2026 | 2025 | **D**: the host's `server/discover` is answered `-32601`, so it falls back to `initialize`; then A |
//!
//! In B and C nothing of the 2025 wire reaches the server: no session id, no GET, no DELETE,
//! no notification (a host's `notifications/cancelled` closes the request's stream, which is
//! the 2026 cancellation), and a 404 is never a session expiry.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use crate::bridge::{Context, Leg};
use crate::client::Client;
use crate::envelope::{Envelope, splice};
use crate::era::{self, DISCOVER, Era, MODERN_VERSION, ProbeVerdict, Protocol};
use crate::era_cache::{Cached, EraCache};
use crate::error::Error;
use crate::forwarded::{Forwarded, HeaderSource};
use crate::headers::RequestHeaders;
use crate::message::{JsonLine, Outgoing, error_response};
use crate::modern_headers::modern_headers;
use crate::modern_listen::{ListenFilter, Listener, MakeListen, notifications_param};
use crate::mrtr::{
    InputRequired, MAX_ROUNDS, MrtrError, host_request, is_input_required, retry_request,
    state_only_delay, with_id,
};
use crate::probe::{initialize_result, probe};
use crate::tool_schemas::ToolSchemas;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How the bridge serves the host, once both eras are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Case A (and D after the host fell back): the 2025 wire both ways.
    Legacy,
    /// Case B: a 2025-era host translated to a 2026-era server.
    Translate,
    /// Case C: a 2026-era host passed through to a 2026-era server.
    Modern,
}

/// What the server speaks.
#[derive(Debug, Clone)]
enum ServerEra {
    Legacy,
    /// With its `DiscoverResult` (raw JSON).
    Modern(Arc<str>),
}

/// Where one host message goes.
pub(crate) enum Routed {
    /// The 2025 road: the bridge's usual path (session, GET stream, legacy transport).
    Legacy(Outgoing),
    /// To the 2026-era server as this message (the envelope spliced in, for case B).
    Modern(Outgoing, Leg),
    /// Answered or dropped here.
    Done,
}

/// Case B's view of the host: what every translated request carries.
pub(crate) struct Translation {
    /// The envelope of every request (its log level changes with `logging/setLevel`).
    envelope: Mutex<Arc<Envelope>>,
    /// The server's `DiscoverResult`.
    discover: Arc<str>,
}

impl Translation {
    pub(crate) fn envelope(&self) -> Arc<Envelope> {
        Arc::clone(&lock(&self.envelope))
    }
}

#[derive(Default)]
struct State {
    server: Option<ServerEra>,
    translation: Option<Arc<Translation>>,
    subscribed: BTreeSet<String>,
}

/// The eras of one running bridge, and what cases B and C keep.
pub(crate) struct Eras {
    protocol: Protocol,
    cache: Option<EraCache>,
    key: String,
    /// The [`Mode`] decided (`MODE_*`), read by every message.
    mode: AtomicU8,
    state: Mutex<State>,
    /// The `x-mcp-header` annotations of every tool listed so far (B and C).
    pub(crate) schemas: ToolSchemas,
    /// The bridge's own requests to the host (MRTR input requests), by raw id.
    host_requests: Mutex<HashMap<String, oneshot::Sender<Bytes>>>,
    /// The host's input ended: no answer to a request of the bridge's can come any more.
    input_ended: AtomicBool,
    next_id: AtomicU64,
    listener: Mutex<Option<Listener>>,
}

const MODE_UNDECIDED: u8 = 0;
const MODE_LEGACY: u8 = 1;
const MODE_TRANSLATE: u8 = 2;
const MODE_MODERN: u8 = 3;

/// Why a probe that got an answer gave no era.
const UNUSABLE: &str = "the server's answer to server/discover was not usable";

/// The prefix of the ids of the bridge's own messages (probe, MRTR legs, listen).
pub(crate) const OWN_ID_PREFIX: &str = "mwr:";

impl Eras {
    /// `key` names the server in the cache ([`EraCache::key`]).
    pub(crate) fn new(protocol: Protocol, cache: Option<EraCache>, key: String) -> Self {
        Self {
            protocol,
            cache,
            key,
            input_ended: AtomicBool::new(false),
            mode: AtomicU8::new(MODE_UNDECIDED),
            state: Mutex::default(),
            schemas: ToolSchemas::default(),
            host_requests: Mutex::default(),
            next_id: AtomicU64::new(1),
            listener: Mutex::default(),
        }
    }

    /// A fresh id of the bridge's own, as raw JSON: `"mwr:<kind>:<n>"`.
    pub(crate) fn own_id(&self, kind: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("\"{OWN_ID_PREFIX}{kind}:{n}\"")
    }

    /// The road of `message`, deciding the eras on the way when this is the first message
    /// that shows one (a probe may go out first).
    pub(crate) async fn route(&self, ctx: &Context, message: Outgoing) -> Routed {
        match self.mode() {
            Some(Mode::Translate) => self.translate(ctx, message),
            // A host that probed (or sent 2026 requests) and then sends `initialize` anyway
            // (§3): served as a 2025 host from now on.
            Some(Mode::Modern) if message.initialize().is_some() => {
                Box::pin(self.legacy_host(ctx, message)).await
            }
            Some(Mode::Modern) => Self::pass(ctx, message),
            Some(Mode::Legacy) if is_discover(&message) => {
                answer_legacy_discover(ctx, &message);
                Routed::Done
            }
            Some(Mode::Legacy) => Routed::Legacy(message),
            // Boxed: the probe's state stays out of the future of every later message.
            None => Box::pin(self.first(ctx, message)).await,
        }
    }

    /// The road decided, if it is: read on every message, so without a lock.
    fn mode(&self) -> Option<Mode> {
        match self.mode.load(Ordering::Acquire) {
            MODE_LEGACY => Some(Mode::Legacy),
            MODE_TRANSLATE => Some(Mode::Translate),
            MODE_MODERN => Some(Mode::Modern),
            _ => None,
        }
    }

    /// Whether the road is still to be decided: the message being routed may wait for a
    /// probe (the dispatcher keeps it, so that a shutdown meanwhile still answers it).
    pub(crate) fn undecided(&self) -> bool {
        self.mode.load(Ordering::Acquire) == MODE_UNDECIDED
    }

    fn set_mode(&self, mode: Mode) {
        let value = match mode {
            Mode::Legacy => MODE_LEGACY,
            Mode::Translate => MODE_TRANSLATE,
            Mode::Modern => MODE_MODERN,
        };
        self.mode.store(value, Ordering::Release);
    }

    fn set_server(&self, server: ServerEra) {
        lock(&self.state).server = Some(server);
    }

    /// The server's era, if known: this run's, else the cache's.
    fn known_server(&self) -> Option<ServerEra> {
        if self.protocol == Protocol::Legacy {
            return Some(ServerEra::Legacy);
        }
        if let Some(server) = lock(&self.state).server.clone() {
            return Some(server);
        }
        let cached = self.cache.as_ref()?.get(&self.key, SystemTime::now())?;
        let server = match cached {
            Cached::Legacy if self.protocol == Protocol::Modern => return None,
            Cached::Legacy => ServerEra::Legacy,
            Cached::Modern { discover, .. } => ServerEra::Modern(discover.into()),
        };
        tracing::debug!(
            modern = matches!(server, ServerEra::Modern(_)),
            "server era from the cache"
        );
        self.set_server(server.clone());
        Some(server)
    }

    fn remember(&self, server: &ServerEra) {
        self.set_server(server.clone());
        if let Some(cache) = &self.cache {
            let cached = match server {
                ServerEra::Legacy => Cached::Legacy,
                ServerEra::Modern(discover) => Cached::Modern {
                    version: MODERN_VERSION.to_owned(),
                    discover: discover.to_string(),
                },
            };
            cache.put(&self.key, Some(&cached), SystemTime::now());
        }
    }

    /// The first message that shows an era decides the road.
    async fn first(&self, ctx: &Context, message: Outgoing) -> Routed {
        match era::shown_by(&message) {
            // Nothing shown yet (a `ping` before `initialize`): the usual path.
            None => Routed::Legacy(message),
            Some(Era::Legacy) => self.legacy_host(ctx, message).await,
            Some(Era::Modern) if is_discover(&message) => self.host_probe(ctx, message).await,
            Some(Era::Modern) => match self.known_server() {
                Some(ServerEra::Legacy) => {
                    answer_error(
                        ctx,
                        &message,
                        -32603,
                        "the server speaks only 2025-era MCP: send initialize (server/discover answers -32601)",
                    );
                    Routed::Done
                }
                _ => {
                    // A pinned 2026 host that does not probe: trust it.
                    self.set_mode(Mode::Modern);
                    Self::pass(ctx, message)
                }
            },
        }
    }

    /// A 2025-era host's `initialize` (or a batch with one): the server's era decides
    /// between case A (forwarded) and case B (answered here, then translated).
    async fn legacy_host(&self, ctx: &Context, message: Outgoing) -> Routed {
        if self.protocol == Protocol::Legacy || message.is_batch() {
            self.set_mode(Mode::Legacy);
            return Routed::Legacy(message);
        }
        match self.server_era_for(ctx, &message).await {
            Ok(ServerEra::Modern(discover)) => self.open_translation(ctx, &message, discover),
            Ok(ServerEra::Legacy) if self.protocol == Protocol::Modern => {
                answer_error(
                    ctx,
                    &message,
                    -32603,
                    "the server does not speak MCP 2026-07-28 (--protocol modern)",
                );
                Routed::Done
            }
            Ok(ServerEra::Legacy) => {
                self.set_mode(Mode::Legacy);
                Routed::Legacy(message)
            }
            Err(line) => {
                ctx.output.write_small(line);
                Routed::Done
            }
        }
    }

    /// A 2026 host's `server/discover` while the server's era is unknown: the host's own
    /// request is the probe; its answer is passed on (modern) or replaced by `-32601`
    /// (legacy: case D).
    async fn host_probe(&self, ctx: &Context, message: Outgoing) -> Routed {
        match self.known_server() {
            Some(ServerEra::Legacy) => {
                answer_legacy_discover(ctx, &message);
                return Routed::Done;
            }
            Some(ServerEra::Modern(_)) => {
                self.set_mode(Mode::Modern);
                return modern_leg(message);
            }
            None => {}
        }
        if message.protocol_version().is_none() {
            // A probe without the envelope is misread (§4.5): the bridge probes with one of
            // its own (no capabilities), then treats the host's request by the verdict.
            return match self.server_era_for(ctx, &message).await {
                Ok(ServerEra::Modern(_)) => {
                    self.set_mode(Mode::Modern);
                    modern_leg(message)
                }
                Ok(ServerEra::Legacy) => {
                    answer_legacy_discover(ctx, &message);
                    Routed::Done
                }
                Err(line) => {
                    ctx.output.write_small(line);
                    Routed::Done
                }
            };
        }
        let probed = probe(&ctx.client, message.clone()).await;
        match probed.verdict {
            ProbeVerdict::Modern { .. } => {
                let discover = probed.discover_result().unwrap_or_else(|| "{}".to_owned());
                self.remember(&ServerEra::Modern(discover.into()));
                self.set_mode(Mode::Modern);
            }
            ProbeVerdict::Legacy(reason) if self.protocol != Protocol::Modern => {
                tracing::info!(
                    ?reason,
                    "the server speaks the 2025 era; the host's server/discover gets -32601"
                );
                self.remember(&ServerEra::Legacy);
                answer_legacy_discover(ctx, &message);
                return Routed::Done;
            }
            _ => {}
        }
        let line = match (probed.answer, probed.error) {
            // An error for a `null` id (the server could not tell) goes to the host's id.
            (Some(answer), _) => JsonLine::new(
                crate::message::readdress_error(&answer, message.id()).unwrap_or(answer),
            ),
            (None, Some(e)) => JsonLine::error(&e, message.id()),
            (None, None) => JsonLine::new(error_response(
                message.id(),
                -32603,
                "the server sent no answer to server/discover",
                None,
            )),
        };
        ctx.output.write_small(line);
        Routed::Done
    }

    /// The server's era for a 2025 host's `initialize`: known, cached, or probed with the
    /// envelope made from that `initialize`. `Err`: the line that answers the `initialize`.
    async fn server_era_for(
        &self,
        ctx: &Context,
        initialize: &Outgoing,
    ) -> Result<ServerEra, JsonLine> {
        if let Some(server) = self.known_server() {
            return Ok(server);
        }
        let fail = |message: String, status: Option<u16>| {
            let data = status.map(|status| serde_json::json!({ "status": status }));
            JsonLine::new(error_response(
                initialize.id(),
                -32603,
                &message,
                data.as_ref(),
            ))
        };
        let envelope = Envelope::from_initialize(initialize.bytes(), MODERN_VERSION)
            .map_err(|e| fail(format!("Invalid initialize: {e}"), None))?;
        let id = self.own_id("discover");
        let request = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{DISCOVER}"}}"#);
        let request = splice(request.as_bytes(), &envelope)
            .ok()
            .and_then(|bytes| Outgoing::new(bytes).ok())
            .ok_or_else(|| fail("could not build the server/discover probe".to_owned(), None))?;
        let probed = probe(&ctx.client, request).await;
        match probed.verdict {
            ProbeVerdict::Modern { .. } => {
                let discover = probed.discover_result().unwrap_or_else(|| "{}".to_owned());
                let server = ServerEra::Modern(discover.into());
                self.remember(&server);
                Ok(server)
            }
            ProbeVerdict::Legacy(reason) => {
                tracing::info!(?reason, "the server speaks the 2025 era");
                self.remember(&ServerEra::Legacy);
                Ok(ServerEra::Legacy)
            }
            // No era: the host gets the error its `initialize` would have met (a status
            // the sign-in could not meet, a proxy's refusal, an outage, silence).
            verdict => Err(match &probed.error {
                Some(e) => JsonLine::error(e, initialize.id()),
                None => {
                    let (text, status) = match verdict {
                        ProbeVerdict::Reprobe { .. } => (
                            "the server supports none of the protocol versions the bridge speaks",
                            None,
                        ),
                        ProbeVerdict::SignIn { status } => (UNUSABLE, Some(status)),
                        ProbeVerdict::Unavailable { status } => (UNUSABLE, status),
                        _ => (UNUSABLE, None),
                    };
                    fail(text.to_owned(), status)
                }
            }),
        }
    }

    /// Case B starts: the host's `initialize` is answered from the `DiscoverResult`.
    fn open_translation(&self, ctx: &Context, initialize: &Outgoing, discover: Arc<str>) -> Routed {
        let envelope = match Envelope::from_initialize(initialize.bytes(), MODERN_VERSION) {
            Ok(envelope) => envelope,
            Err(e) => {
                answer_error(ctx, initialize, -32602, &format!("Invalid initialize: {e}"));
                return Routed::Done;
            }
        };
        let version = host_version(initialize.bytes());
        let translation = Arc::new(Translation {
            envelope: Mutex::new(Arc::new(envelope)),
            discover: Arc::clone(&discover),
        });
        lock(&self.state).translation = Some(Arc::clone(&translation));
        self.set_mode(Mode::Translate);
        tracing::info!(
            session = "new",
            "translating a 2025-era host to a 2026-07-28 server"
        );
        let result = initialize_result(&discover, version.as_deref());
        answer_result(ctx, initialize, &result);
        Routed::Done
    }

    pub(crate) fn translation(&self) -> Option<Arc<Translation>> {
        lock(&self.state).translation.clone()
    }

    /// Case B: one message of a 2025-era host.
    fn translate(&self, ctx: &Context, message: Outgoing) -> Routed {
        let Some(translation) = self.translation() else {
            return Routed::Legacy(message);
        };
        if message.is_batch() {
            // A 2025-03-26 host may batch its answers to the bridge's input requests.
            for element in batch_elements(message.bytes()) {
                if element.id().is_some() && element.method().is_none() {
                    self.deliver_host_answer(&element);
                }
            }
            for id in message.owed() {
                ctx.output.write_small(JsonLine::new(error_response(
                    Some(id.raw()),
                    -32600,
                    "Invalid Request: a 2026-07-28 server takes no batches",
                    None,
                )));
            }
            return Routed::Done;
        }
        if !message.is_request() {
            self.host_message(ctx, &message, &translation);
            return Routed::Done;
        }
        match message.method() {
            Some("initialize") => {
                let version = host_version(message.bytes());
                answer_result(
                    ctx,
                    &message,
                    &initialize_result(&translation.discover, version.as_deref()),
                );
            }
            Some("ping") => answer_result(ctx, &message, b"{}"),
            Some("logging/setLevel") => {
                if let Some(level) = log_level(message.bytes()) {
                    let mut envelope = lock(&translation.envelope);
                    *envelope = Arc::new(Envelope::clone(envelope.as_ref()).with_log_level(&level));
                }
                answer_result(ctx, &message, b"{}");
            }
            Some(method @ ("resources/subscribe" | "resources/unsubscribe")) => {
                if let Some(uri) = message.name().or_else(|| uri_of(message.bytes())) {
                    let mut state = lock(&self.state);
                    if method == "resources/subscribe" {
                        state.subscribed.insert(uri.to_owned());
                    } else {
                        state.subscribed.remove(uri);
                    }
                }
                self.refresh_listener(ctx, &translation);
                answer_result(ctx, &message, b"{}");
            }
            _ => match splice(message.bytes(), &translation.envelope())
                .ok()
                .and_then(|bytes| Outgoing::new(bytes).ok())
            {
                Some(enveloped) => {
                    return Routed::Modern(
                        enveloped,
                        Leg {
                            mode: Mode::Translate,
                            original: Some(message),
                        },
                    );
                }
                None => answer_error(
                    ctx,
                    &message,
                    -32600,
                    "Invalid Request: params must be an object",
                ),
            },
        }
        Routed::Done
    }

    /// Case B: a host notification or response.
    fn host_message(&self, ctx: &Context, message: &Outgoing, translation: &Arc<Translation>) {
        if let Some(id) = message.cancels() {
            // Closing the request's stream is the 2026 cancellation; nothing is POSTed.
            ctx.pending.cancel(id);
            return;
        }
        match message.method() {
            Some("notifications/initialized") => self.refresh_listener(ctx, translation),
            Some(method) => {
                tracing::debug!(method, "host notification not sent: the 2026 era has none");
            }
            None => self.deliver_host_answer(message),
        }
    }

    /// Case C: one message of a 2026-era host.
    fn pass(ctx: &Context, message: Outgoing) -> Routed {
        if message.is_request() || message.is_batch() {
            return modern_leg(message);
        }
        if let Some(id) = message.cancels() {
            ctx.pending.cancel(id);
        } else {
            tracing::debug!(
                method = message.method(),
                "host message not sent: a 2026-07-28 server takes no notifications or responses"
            );
        }
        Routed::Done
    }

    /// A host's answer to one of the bridge's MRTR input requests.
    fn deliver_host_answer(&self, message: &Outgoing) {
        let Some(id) = message.id() else { return };
        match lock(&self.host_requests).remove(id) {
            Some(waiter) => {
                let _ = waiter.send(message.bytes().clone());
            }
            None => tracing::debug!("host answer to no pending request of the bridge: dropped"),
        }
    }

    /// Registers a bridge request to the host; its answer arrives on the receiver (which
    /// fails once the host's input has ended).
    pub(crate) fn await_host(&self, id: &str) -> oneshot::Receiver<Bytes> {
        let (tx, rx) = oneshot::channel();
        let mut waiting = lock(&self.host_requests);
        if !self.input_ended.load(Ordering::Acquire) {
            waiting.insert(id.to_owned(), tx);
        }
        rx
    }

    /// The host's input ended: every request of the bridge's to the host fails now, so the
    /// host requests they serve get their one answer (an error) and the bridge can exit.
    pub(crate) fn input_ended(&self) {
        let mut waiting = lock(&self.host_requests);
        self.input_ended.store(true, Ordering::Release);
        waiting.clear();
    }

    /// Forgets a bridge request to the host (answered, or given up).
    pub(crate) fn forget_host(&self, id: &str) -> bool {
        lock(&self.host_requests).remove(id).is_some()
    }

    /// (Re)opens the `subscriptions/listen` stream of case B for what the host may hear.
    fn refresh_listener(&self, ctx: &Context, translation: &Arc<Translation>) {
        let filter = {
            let state = lock(&self.state);
            listen_filter(&translation.discover, &state.subscribed)
        };
        let mut listener = lock(&self.listener);
        // A listener that gave up (refused, or too many short streams) stays stopped; a new
        // subscription from the host is worth one more try.
        if let Some(listener) = listener.as_ref().filter(|listener| !listener.is_stopped()) {
            listener.set_filter(filter);
            return;
        }
        let make: MakeListen = {
            let translation = Arc::clone(translation);
            Arc::new(move |filter: &ListenFilter, id: &str| {
                let request = format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"subscriptions/listen","params":{{"notifications":{}}}}}"#,
                    notifications_param(filter)
                );
                let bytes = splice(request.as_bytes(), &translation.envelope())
                    .unwrap_or_else(|_| Bytes::from(request));
                let message = Outgoing::new(bytes).unwrap_or_else(|_| {
                    Outgoing::new(Bytes::from_static(
                        br#"{"jsonrpc":"2.0","id":0,"method":"subscriptions/listen"}"#,
                    ))
                    .unwrap_or_else(|_| unreachable!("a constant request parses"))
                });
                (message, reqwest::header::HeaderMap::new())
            })
        };
        *listener = Some(Listener::spawn(
            ctx.client.clone(),
            ctx.output.clone(),
            make,
            filter,
        ));
    }

    /// Stops what runs in the background (the listen stream).
    pub(crate) fn stop(&self) {
        if let Some(listener) = lock(&self.listener).take() {
            listener.stop();
        }
    }

    /// Sends a message to the 2026-era server: the `Mcp-Param-*` headers from the schema
    /// cache (the other headers come from the body, in `post_headers`), no session.
    pub(crate) async fn send(
        &self,
        client: &Client,
        message: &Outgoing,
        attempts: &mut u32,
    ) -> Result<Forwarded, Error> {
        let params = match (message.method(), message.name()) {
            (Some("tools/call"), Some(name)) => self.schemas.params_for(name),
            _ => None,
        };
        let extra = params
            .and_then(|params| modern_headers(message, &params).ok())
            .unwrap_or_default();
        // Without `_meta` the version goes in the header anyway, so that the server answers
        // -32602 instead of taking the request for a 2025-era one (§4.3).
        let ctx = RequestHeaders::new(None, Some(MODERN_VERSION.to_owned())).with_extra(extra);
        let headers: HeaderSource = Arc::new(move || ctx.clone());
        if is_listen(message) {
            // A host's own listen (case C) stays open as long as the server keeps it: no
            // idle timeout, never resent (§4.6).
            *attempts += 1;
            return client.forward_long_lived(message.clone(), headers).await;
        }
        client
            .forward_with(message.clone(), headers, attempts)
            .await
    }

    /// A request to the server we took for 2026-era drew `error`: a 400, 404 or 405 with no
    /// JSON-RPC error in it is what a 2025-era server says to an enveloped request, so a
    /// cached modern verdict is dropped and the next start probes again (§2.5). This run
    /// keeps its road: the host sees the errors, and a restart of the host fixes it.
    pub(crate) fn doubt(&self, error: &Error) {
        let Error::Status(status) = error else { return };
        if !matches!(status.status.as_u16(), 400 | 404 | 405) || is_modern_rejection(&status.body) {
            return;
        }
        if let Some(cache) = &self.cache
            && cache.get(&self.key, SystemTime::now()).is_some()
        {
            tracing::warn!(
                status = status.status.as_u16(),
                "the server answered like a 2025-era server: its cached 2026 verdict is dropped"
            );
            cache.put(&self.key, None, SystemTime::now());
        }
    }

    /// Whether a `tools/call` that drew `error` should be sent once more after re-listing
    /// the tools: a pre-dispatch `-32020` for a tool the schema cache does not know (§1.9:
    /// the server checks before it runs anything, so the retry cannot run it twice).
    pub(crate) fn needs_relist(&self, error: &Error, message: &Outgoing) -> bool {
        let Error::Status(status) = error else {
            return false;
        };
        status.status.as_u16() == 400
            && message.method() == Some("tools/call")
            && message
                .name()
                .is_some_and(|name| !self.schemas.is_known(name))
            && error_code(&status.body) == Some(-32020)
    }

    /// Lists every page of tools (at most 100) to fill the schema cache (case B).
    pub(crate) async fn relist_tools(&self, client: &Client) {
        let Some(translation) = self.translation() else {
            return;
        };
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let id = self.own_id("tools");
            let params = cursor
                .as_ref()
                .map(|cursor| {
                    format!(
                        r#","params":{{"cursor":{}}}"#,
                        serde_json::Value::from(cursor.as_str())
                    )
                })
                .unwrap_or_default();
            let request = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"{params}}}"#);
            let Some(message) = splice(request.as_bytes(), &translation.envelope())
                .ok()
                .and_then(|bytes| Outgoing::new(bytes).ok())
            else {
                return;
            };
            let mut attempts = 0;
            let Ok(mut response) = self.send(client, &message, &mut attempts).await else {
                return;
            };
            let mut answer = None;
            let messages = response.messages();
            while let Some(Ok(routed)) = messages.next_routed().await {
                if !routed.answers.is_empty() {
                    answer = Some(routed.line);
                }
            }
            let Some(answer) = answer else { return };
            self.schemas.record_list(answer.bytes());
            cursor = next_cursor(answer.bytes());
            if cursor.is_none() {
                return;
            }
        }
    }
}

/// Case C: the host's message as it is.
fn modern_leg(message: Outgoing) -> Routed {
    Routed::Modern(
        message,
        Leg {
            mode: Mode::Modern,
            original: None,
        },
    )
}

/// A `subscriptions/listen` request.
pub(crate) fn is_listen(message: &Outgoing) -> bool {
    message.method() == Some("subscriptions/listen")
}

/// Case C: a host's listen stream broke without the server's closing result. The stdio way
/// for a server to end a subscription is `notifications/cancelled` for the listen's id, on
/// which the host may listen again (§4.3); the listen gets no error answer.
pub(crate) fn end_listen(ctx: &Context, message: &Outgoing) {
    let Some(id) = message.id() else { return };
    let line = format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{id},"reason":"the server's listen stream ended"}}}}"#
    );
    if let Some(owed) = message.owed().first() {
        ctx.pending.cancel(owed.key());
    }
    ctx.output.write_small(JsonLine::new(Bytes::from(line)));
}

fn is_discover(message: &Outgoing) -> bool {
    message.is_request() && message.method() == Some(DISCOVER)
}

/// The messages of a batch, each peeked on its own; elements that are not messages are
/// skipped (the batch's requests are answered all the same).
fn batch_elements(bytes: &[u8]) -> Vec<Outgoing> {
    serde_json::from_slice::<Vec<&RawValue>>(bytes)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|raw| Outgoing::new(Bytes::copy_from_slice(raw.get().as_bytes())).ok())
        .collect()
}

/// Case D: a 2026-era host's `server/discover` against a 2025-era server gets `-32601`, on
/// which every dual-era client falls back to `initialize` (§4.4; not `-32022` with a legacy
/// list, on which rmcp errors instead).
fn answer_legacy_discover(ctx: &Context, message: &Outgoing) {
    let data = serde_json::json!({
        "reason": "the server speaks only 2025-era MCP; send initialize",
        "legacyVersions": ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"],
    });
    ctx.output.write_small(JsonLine::new(error_response(
        message.id(),
        -32601,
        "Method not found: server/discover (the server speaks 2025-era MCP)",
        Some(&data),
    )));
}

fn answer_error(ctx: &Context, message: &Outgoing, code: i64, text: &str) {
    ctx.output.write_small(JsonLine::new(error_response(
        message.id(),
        code,
        text,
        None,
    )));
}

fn answer_result(ctx: &Context, message: &Outgoing, result: &[u8]) {
    let id = message.id().unwrap_or("null");
    let mut line = Vec::with_capacity(result.len() + id.len() + 32);
    line.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    line.extend_from_slice(id.as_bytes());
    line.extend_from_slice(br#","result":"#);
    line.extend_from_slice(result);
    line.push(b'}');
    ctx.output.write_small(JsonLine::new(Bytes::from(line)));
}

/// The `protocolVersion` an `initialize` request asks for.
fn host_version(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Request {
        params: Params,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Params {
        protocol_version: Option<String>,
    }
    serde_json::from_slice::<Request>(bytes)
        .ok()
        .and_then(|request| request.params.protocol_version)
}

fn log_level(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value["params"]["level"].as_str().map(str::to_owned)
}

fn uri_of(bytes: &[u8]) -> Option<&str> {
    #[derive(Deserialize)]
    struct Request<'a> {
        #[serde(borrow)]
        params: Params<'a>,
    }
    #[derive(Deserialize)]
    struct Params<'a> {
        uri: &'a str,
    }
    serde_json::from_slice::<Request<'_>>(bytes)
        .ok()
        .map(|r| r.params.uri)
}

/// Whether an error body is one a 2026 server gives (§1.8): a header, capability, version or
/// `_meta` rejection, or an unknown method, for the request's own id. A 2025 server refusing
/// a session-less request answers otherwise ("Missing session ID", `-32600` or `-32000`,
/// often with a null id), or with no JSON-RPC at all.
fn is_modern_rejection(body: &[u8]) -> bool {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let code = value["error"]["code"].as_i64();
    !value["id"].is_null() && matches!(code, Some(-32022..=-32020 | -32602 | -32601))
}

fn error_code(body: &[u8]) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value["error"]["code"].as_i64()
}

fn next_cursor(answer: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(answer).ok()?;
    value["result"]["nextCursor"].as_str().map(str::to_owned)
}

/// What case B's listen stream asks for: the changes the server says it announces, and the
/// resources the host subscribed to.
fn listen_filter(discover: &str, subscribed: &BTreeSet<String>) -> ListenFilter {
    let value: serde_json::Value = serde_json::from_str(discover).unwrap_or_default();
    let caps = &value["capabilities"];
    let list_changed = |kind: &str| caps[kind]["listChanged"].as_bool().unwrap_or(false);
    ListenFilter {
        tools: list_changed("tools"),
        prompts: list_changed("prompts"),
        resources: list_changed("resources"),
        resource_uris: subscribed.iter().cloned().collect(),
    }
}

/// The bridge's requests to the host that are still unanswered; dropped (the host cancelled
/// the request they serve, or shutdown), it tells the host they are cancelled (§4.7).
struct Outstanding<'a> {
    eras: &'a Eras,
    output: &'a crate::stdio::Output,
    ids: Vec<String>,
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            if self.eras.forget_host(&id) {
                let line = format!(
                    r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{id},"reason":"the request they serve was cancelled"}}}}"#
                );
                self.output.write_small(JsonLine::new(Bytes::from(line)));
            }
        }
    }
}

/// Case B: drives a request whose answer was `input_required` to its one final answer
/// (§4.7). Each round's input requests go to the host at once, as ordinary 2025 server
/// requests with ids `mwr:in:<n>` (the host may run them concurrently); their answers are
/// never sent upstream. Then the host's original request is sent again under a fresh id
/// `mwr:rt:<n>` with `inputResponses` and the `requestState` echoed byte for byte. At most
/// [`MAX_ROUNDS`] rounds. Returns the line that answers the host's request, with its own id.
/// Dropped (the host cancelled), it cancels what it asked the host and answers nothing.
pub(crate) async fn input_required(
    ctx: &Context,
    translation: &Translation,
    original: &Outgoing,
    first: JsonLine,
    attempts: &mut u32,
) -> JsonLine {
    let eras = &ctx.eras;
    let host_id = original.id().unwrap_or("null");
    let fail = |text: &str| JsonLine::new(error_response(Some(host_id), -32603, text, None));
    let mut answer = first;
    for round in 1..=MAX_ROUNDS + 1 {
        if !is_input_required(answer.bytes()) {
            return match with_id(answer.bytes(), host_id) {
                Ok(line) => JsonLine::new(line),
                Err(_) => fail("the server's final answer could not be re-addressed"),
            };
        }
        if round > MAX_ROUNDS {
            break;
        }
        let envelope = translation.envelope();
        let input = match InputRequired::parse(answer.bytes())
            .and_then(|input| input.check(envelope.capabilities()).map(|()| input))
        {
            Ok(input) => input,
            Err(e) => return JsonLine::new(e.to_response(Some(host_id))),
        };
        let mut responses = Vec::with_capacity(input.requests.len());
        if input.requests.is_empty() {
            tokio::time::sleep(state_only_delay(round)).await;
        } else {
            let mut outstanding = Outstanding {
                eras,
                output: &ctx.output,
                ids: Vec::with_capacity(input.requests.len()),
            };
            let mut waits = Vec::with_capacity(input.requests.len());
            for request in &input.requests {
                let id = eras.own_id("in");
                let wait = eras.await_host(&id);
                outstanding.ids.push(id.clone());
                let line = host_request(&id, &request.method, &request.params);
                if !ctx.output.write(JsonLine::new(line)).await {
                    return fail("output closed");
                }
                waits.push((request.key.clone(), wait));
            }
            for (key, wait) in waits {
                let Ok(reply) = wait.await else {
                    return fail("the host's answer to an input request was lost");
                };
                match host_result(&reply) {
                    Ok(result) => responses.push((key, result)),
                    Err(()) => {
                        return match crate::message::readdress_error(&reply, Some(host_id)) {
                            Some(error) => JsonLine::new(error),
                            None => fail(
                                "the host answered an input request with neither result nor error",
                            ),
                        };
                    }
                }
            }
            outstanding.ids.clear();
        }
        let retry_id = eras.own_id("rt");
        let Some(retry) = retry_request(
            original.bytes(),
            &retry_id,
            &responses,
            input.request_state.as_deref(),
            &translation.envelope(),
        )
        .ok()
        .and_then(|bytes| Outgoing::new(bytes).ok()) else {
            return fail("could not build the retry of an input_required request");
        };
        let mut response = match eras.send(&ctx.client, &retry, attempts).await {
            Ok(response) => response,
            Err(e) => return JsonLine::error(&e, Some(host_id)),
        };
        let mut next = None;
        let messages = response.messages();
        while let Some(item) = messages.next_routed().await {
            match item {
                Ok(routed) if routed.answers.is_empty() => {
                    if !ctx.output.write(routed.line).await {
                        return fail("output closed");
                    }
                }
                Ok(routed) => next = Some(routed.line),
                Err(e) => return JsonLine::error(&e, Some(host_id)),
            }
        }
        match next {
            Some(line) => answer = line,
            None => return fail("the server sent no answer to the retried request"),
        }
    }
    JsonLine::new(MrtrError::TooManyRounds.to_response(Some(host_id)))
}

/// The `result` of a host's answer, raw; `Err` for an error answer (or no result).
fn host_result(reply: &[u8]) -> Result<Box<RawValue>, ()> {
    #[derive(Deserialize)]
    struct Reply {
        result: Option<Box<RawValue>>,
    }
    serde_json::from_slice::<Reply>(reply)
        .ok()
        .and_then(|reply| reply.result)
        .ok_or(())
}
