//! The legacy HTTP+SSE transport of MCP (protocol 2024-11-05), for the servers that still
//! offer nothing else, and the choice between it and Streamable HTTP ([`Transport`]).
//!
//! - One `GET` of the SSE URL (as the user gave it, `Accept: text/event-stream`) carries
//!   everything the server sends. Its first event, `endpoint`, names where to POST: its data
//!   is resolved against the SSE URL and must stay on that origin (scheme, host, port), or
//!   nothing is sent and every request is answered with an error naming the other origin.
//! - Each client message is sent (`POST`) to the endpoint (202 or 200; the body is ignored). The
//!   answers come back on the GET stream and are routed by id to their pending requests,
//!   through the bridge's pending table, so each request still gets exactly one answer; a
//!   response nobody is owed is logged and dropped. The server's notifications and requests
//!   go to stdout. A request's idle timeout restarts with each of its progress notifications
//!   (matched by `progressToken`) and ends with its answer.
//! - The session lives as long as the stream. When the stream drops, or a new `endpoint`
//!   event names a new session, the requests pending on the old one are answered `Server
//!   closed the stream without a response` at once (the server lost them), and the stream is
//!   reopened with a backoff. A new session after the first is initialized by the bridge
//!   itself (the client's saved `initialize`, under an id of the bridge's own, and
//!   `notifications/initialized`; their answers are hidden) before any other message goes
//!   there, so the client carries on as if nothing happened, as it does after a Streamable
//!   HTTP session expires. No resumption: this transport has no `Last-Event-ID`, so what the
//!   server sent while the stream was down is lost.
//! - The GET and the POSTs go through the same [`Client`] machinery as everything else:
//!   the same pool, headers, redirect rule, retry policy and sign-in (`Authorization` with
//!   the OAuth token, renewed on a 401).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use serde_json::value::RawValue;
use stream_parse::{SseDecoder, SseEvent};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

use crate::body::BodyFormat;
use crate::bridge::Pending;
use crate::client::Client;
use crate::error::{Error, display_chain};
use crate::forwarded::{HeaderSource, drain};
use crate::headers::RequestHeaders;
use crate::message::{IdKey, Inbound, JsonLine, Outgoing, inbound};
use crate::redact::{redact_url, redacted};
use crate::session::Session;
use crate::stdio::Output;

/// Which transport the bridge speaks to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Transport {
    /// Streamable HTTP first; the legacy HTTP+SSE transport when the first `initialize`
    /// POST is answered 400, 404 or 405 without a JSON-RPC error body. The verdict holds for
    /// the bridge's life.
    #[default]
    Auto,
    /// Streamable HTTP only (protocol 2025-03-26 and later).
    StreamableHttp,
    /// The legacy HTTP+SSE transport only (protocol 2024-11-05).
    Sse,
}

impl Transport {
    /// The name used on the command line and in `MCP_TRANSPORT`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Auto => "auto",
            Transport::StreamableHttp => "streamable-http",
            Transport::Sse => "sse",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transport name that is none of `auto`, `streamable-http`, `sse`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport {0:?}: expected auto, streamable-http or sse")]
#[non_exhaustive]
pub struct UnknownTransport(pub String);

impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Transport::Auto),
            "streamable-http" | "streamable_http" | "http" => Ok(Transport::StreamableHttp),
            "sse" => Ok(Transport::Sse),
            _ => Err(UnknownTransport(s.to_owned())),
        }
    }
}

/// The longest wait between two failed opens of the SSE stream.
const RECONNECT_MAX_BACKOFF: Duration = Duration::from_secs(8);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A bridge's transport: the mode asked for and, under [`Transport::Auto`], the verdict.
pub(crate) struct Transports {
    mode: Transport,
    legacy: Option<Arc<Legacy>>,
    /// Under `Auto`: true once the server was found to speak only HTTP+SSE.
    verdict: OnceLock<bool>,
    /// Held by the `initialize` that probes the server, so that one probe decides.
    probe: tokio::sync::Mutex<()>,
}

/// How one message goes out.
pub(crate) enum Via<'a> {
    /// Over HTTP+SSE.
    Legacy(&'a Arc<Legacy>),
    /// Over Streamable HTTP: the POST's outcome.
    Streamable(Result<crate::Forwarded, Error>),
}

impl Transports {
    /// `legacy` is `None` only when `mode` is Streamable HTTP.
    pub(crate) fn new(mode: Transport, legacy: Option<Arc<Legacy>>) -> Self {
        let mode = if legacy.is_none() {
            Transport::StreamableHttp
        } else {
            mode
        };
        Self {
            mode,
            legacy,
            verdict: OnceLock::new(),
            probe: tokio::sync::Mutex::new(()),
        }
    }

    /// The legacy transport, if it is the one in use.
    fn decided_legacy(&self) -> Option<&Arc<Legacy>> {
        let legacy = match self.mode {
            Transport::Sse => true,
            Transport::Auto => self.verdict.get().copied().unwrap_or(false),
            Transport::StreamableHttp => false,
        };
        self.legacy.as_ref().filter(|_| legacy)
    }

    fn undecided(&self) -> bool {
        self.mode == Transport::Auto && self.verdict.get().is_none()
    }

    /// Sends `message` over the transport in use; under `Auto`, the first `initialize`
    /// decides it (`send` is the Streamable HTTP POST).
    pub(crate) async fn via<F>(&self, message: &Outgoing, send: F) -> Via<'_>
    where
        F: Future<Output = Result<crate::Forwarded, Error>>,
    {
        if let Some(legacy) = self.decided_legacy() {
            return Via::Legacy(legacy);
        }
        if !self.undecided() || message.initialize().is_none() {
            return Via::Streamable(send.await);
        }
        let _probe = self.probe.lock().await;
        if let Some(legacy) = self.decided_legacy() {
            return Via::Legacy(legacy);
        }
        if !self.undecided() {
            return Via::Streamable(send.await);
        }
        let result = send.await;
        let fall_back = match &result {
            Err(e) => falls_back(e),
            Ok(_) => false,
        };
        let _ = self.verdict.set(fall_back);
        match (fall_back, &self.legacy) {
            (true, Some(legacy)) => {
                if let Err(e) = &result {
                    tracing::info!(
                        answer = %display_chain(e),
                        "the server does not speak Streamable HTTP; using the legacy HTTP+SSE transport"
                    );
                }
                Via::Legacy(legacy)
            }
            _ => Via::Streamable(result),
        }
    }

    /// Stops the legacy stream, if any.
    pub(crate) fn stop(&self) {
        if let Some(legacy) = &self.legacy {
            legacy.stop();
        }
    }
}

/// Whether the answer to the first `initialize` POST means "no Streamable HTTP here": 400,
/// 404 or 405 without a JSON-RPC error body (a server that speaks the protocol and refused
/// the request says so in JSON-RPC). A 401 never is: the sign-in ran before this is asked.
fn falls_back(error: &Error) -> bool {
    let Error::Status(status) = error else {
        return false;
    };
    matches!(status.status.as_u16(), 400 | 404 | 405)
        && crate::message::readdress_error(&status.body, None).is_none()
}

/// What the SSE stream's state is, as requests see it.
#[derive(Clone)]
enum Conn {
    /// No endpoint to POST to yet; why the last attempt failed, and whether waiting can
    /// help (a refused connection can; another origin cannot).
    Connecting {
        error: Option<Arc<Error>>,
        fatal: bool,
    },
    /// Messages go to `endpoint`, in session `generation`.
    Ready { endpoint: Client, generation: u64 },
}

/// A request waiting for its answer on the stream.
struct Waiter {
    ids: Vec<IdKey>,
    progress: Option<IdKey>,
    events: mpsc::UnboundedSender<Event>,
}

enum Event {
    /// An answer or a progress notification for it arrived.
    Activity,
    /// Its session is gone.
    Lost,
}

#[derive(Default)]
struct Routes {
    /// The latest session (one per `endpoint` event).
    latest: u64,
    /// The session requests may be sent in, once it is ready.
    live: Option<u64>,
    /// By pending-table token, oldest first: an answer goes to the oldest request owed it.
    waiters: BTreeMap<u64, Waiter>,
    /// The bridge's own requests (a replayed `initialize`), answered off stdout.
    hidden: HashMap<IdKey, oneshot::Sender<JsonLine>>,
}

/// The HTTP+SSE transport of one bridge.
pub(crate) struct Legacy {
    /// The SSE URL; its clones for the endpoint share pool and sign-in.
    sse: Client,
    pending: Arc<Pending>,
    output: Output,
    session: Arc<Session>,
    state: watch::Sender<Conn>,
    routes: Mutex<Routes>,
    reader: Mutex<Option<AbortHandle>>,
}

impl Legacy {
    pub(crate) fn new(
        sse: Client,
        pending: Arc<Pending>,
        output: Output,
        session: Arc<Session>,
    ) -> Self {
        let (state, _) = watch::channel(Conn::Connecting {
            error: None,
            fatal: false,
        });
        Self {
            sse,
            pending,
            output,
            session,
            state,
            routes: Mutex::default(),
            reader: Mutex::default(),
        }
    }

    /// Opens the stream on first use (under `Auto`, only after the fallback).
    fn start(self: &Arc<Self>) {
        let mut reader = lock(&self.reader);
        if reader.is_none() {
            tracing::info!(url = %redact_url(self.sse.url().as_str()), "opening the legacy SSE stream");
            *reader = Some(tokio::spawn(Arc::clone(self).run()).abort_handle());
        }
    }

    pub(crate) fn stop(&self) {
        if let Some(reader) = lock(&self.reader).take() {
            reader.abort();
        }
    }

    /// The endpoint of a live session, waiting for one up to the idle timeout.
    async fn ready(self: &Arc<Self>) -> Result<(Client, u64), Arc<Error>> {
        self.start();
        let idle = self.sse.idle_timeout();
        let deadline = Instant::now() + idle;
        let mut state = self.state.subscribe();
        loop {
            let conn = state.borrow_and_update().clone();
            let last = match conn {
                Conn::Ready {
                    endpoint,
                    generation,
                } => return Ok((endpoint, generation)),
                Conn::Connecting {
                    error: Some(error),
                    fatal: true,
                } => return Err(error),
                Conn::Connecting { error, .. } => error,
            };
            match tokio::time::timeout_at(deadline.into(), state.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Arc::new(Error::StreamEnded)),
                Err(_) => return Err(last.unwrap_or_else(|| Arc::new(Error::Timeout(idle)))),
            }
        }
    }

    /// Sends a request (or a batch) whose answers `token` in the pending table is owed, and
    /// waits until the stream has brought them all.
    pub(crate) async fn exchange(
        self: &Arc<Self>,
        token: u64,
        message: &Outgoing,
    ) -> Result<(), Arc<Error>> {
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let ids: Vec<IdKey> = message.owed().iter().map(|o| o.key().clone()).collect();
        let progress = progress_token_of_request(message.bytes());
        let endpoint = loop {
            let (endpoint, generation) = self.ready().await?;
            {
                let mut routes = lock(&self.routes);
                if routes.live == Some(generation) {
                    routes.waiters.insert(
                        token,
                        Waiter {
                            ids: ids.clone(),
                            progress: progress.clone(),
                            events: events_tx.clone(),
                        },
                    );
                    break endpoint;
                }
            }
            // The session changed between the two looks: the state is about to say so.
            tokio::task::yield_now().await;
        };
        drop(events_tx);
        let _registered = Unregister {
            legacy: self,
            token,
        };
        post(&endpoint, message).await.map_err(Arc::new)?;
        let idle = self.sse.idle_timeout();
        loop {
            match tokio::time::timeout(idle, events.recv()).await {
                Err(_) => return Err(Arc::new(Error::Timeout(idle))),
                Ok(None | Some(Event::Lost)) => return Err(Arc::new(Error::StreamEnded)),
                Ok(Some(Event::Activity)) => {
                    if !self.pending.is_owed(token) {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Sends a notification or a response (nothing comes back for it).
    pub(crate) async fn post_unanswered(
        self: &Arc<Self>,
        message: &Outgoing,
    ) -> Result<(), Arc<Error>> {
        let (endpoint, _) = self.ready().await?;
        post(&endpoint, message).await.map_err(Arc::new)
    }

    /// Keeps the stream open for the bridge's life (see the module docs).
    async fn run(self: Arc<Self>) {
        let mut failures: u32 = 0;
        loop {
            let (error, fatal) = match self.sse.open_get(&RequestHeaders::default(), None).await {
                Ok(Some(response)) if is_event_stream(&response) => {
                    failures = 0;
                    tracing::debug!("the legacy SSE stream is open");
                    let error = self.read(response).await;
                    // An endpoint on another origin will not move by waiting.
                    let fatal = matches!(error, Error::Endpoint(_));
                    (error, fatal)
                }
                Ok(Some(response)) => {
                    let shown = response
                        .headers()
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("none")
                        .to_owned();
                    let reason = format!(
                        "the SSE URL answered with Content-Type {shown}, not text/event-stream"
                    );
                    (Error::Endpoint(reason.into_boxed_str()), true)
                }
                Ok(None) => {
                    let reason = "the SSE URL does not allow GET (405)";
                    (Error::Endpoint(reason.into()), true)
                }
                Err(e) => {
                    let fatal = !(e.is_retryable() || e.is_timeout());
                    (e, fatal)
                }
            };
            failures = failures.saturating_add(1);
            // As many tries as the retry policy gives a POST: then the requests waiting are
            // answered with the error, and new ones too until the stream is back.
            let fatal = fatal || failures > self.sse.retry_policy().max_retries;
            if failures == 1 {
                tracing::warn!(error = %display_chain(&error), "the legacy SSE stream is down; reconnecting");
            } else {
                tracing::debug!(error = %display_chain(&error), attempt = failures, "reconnecting the legacy SSE stream failed");
            }
            self.lose(Some(error), fatal);
            let backoff = self
                .sse
                .retry_policy()
                .initial_backoff
                .saturating_mul(2u32.saturating_pow(failures.min(16) - 1))
                .min(RECONNECT_MAX_BACKOFF);
            tokio::time::sleep(backoff.mul_f64(0.5 + 0.5 * fastrand::f64())).await;
        }
    }

    /// Reads one open stream to its end; returns why it ended.
    async fn read(self: &Arc<Self>, mut response: reqwest::Response) -> Error {
        let mut decoder = SseDecoder::new()
            .with_max_event_bytes(self.sse.max_message_bytes())
            .lenient_eof(true);
        let mut buf = BytesMut::new();
        let mut ended = false;
        loop {
            let next = if ended {
                decoder.decode_eof(&mut buf)
            } else {
                decoder.decode(&mut buf)
            };
            match next {
                Ok(Some(event)) => {
                    if let Err(e) = self.on_event(&event).await {
                        return e;
                    }
                    continue;
                }
                Ok(None) if ended => return Error::StreamEnded,
                Ok(None) => {}
                Err(stream_parse::Error::TooLong { limit }) => {
                    tracing::warn!(limit, "dropping an SSE event over the size limit");
                    continue;
                }
                Err(e) => return e.into(),
            }
            match response.chunk().await {
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                Ok(None) => ended = true,
                Err(e) => return Error::Read(redacted(e)),
            }
        }
    }

    async fn on_event(self: &Arc<Self>, event: &SseEvent) -> Result<(), Error> {
        match event.event_type() {
            "endpoint" => {
                let endpoint = self.resolve(event.data_str().trim())?;
                self.new_session(endpoint);
            }
            "message" => match inbound(event.data().clone()) {
                Ok(Some(message)) => self.route(message).await,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %display_chain(&e), "dropping a message that is not JSON from the SSE stream");
                }
            },
            other => tracing::debug!(event = other, "skipping an SSE event of another type"),
        }
        Ok(())
    }

    /// The endpoint event's URI, resolved against the SSE URL; it must stay on its origin.
    fn resolve(&self, data: &str) -> Result<Url, Error> {
        let base = self.sse.url();
        let endpoint = base.join(data).map_err(|e| {
            Error::Endpoint(format!("the endpoint event is not a URI reference: {e}").into())
        })?;
        if endpoint.origin() != base.origin() {
            let origin = endpoint.origin().ascii_serialization();
            return Err(Error::Endpoint(
                format!(
                    "the endpoint event points to {origin}, another origin; nothing was sent there"
                )
                .into(),
            ));
        }
        Ok(endpoint)
    }

    /// A new `endpoint` event: a new session. What was pending in the old one is lost; the
    /// new one is initialized by the bridge when the client had initialized the old one.
    fn new_session(self: &Arc<Self>, endpoint: Url) {
        let generation = {
            let mut routes = lock(&self.routes);
            routes.latest += 1;
            routes.latest
        };
        self.lose(None, false);
        tracing::debug!(endpoint = %redact_url(endpoint.as_str()), generation, "the legacy SSE stream gave an endpoint");
        let endpoint = self.sse.for_url(endpoint);
        let (initialize, initialized) = self.session.saved_handshake();
        match initialize {
            Some(initialize) if generation > 1 => {
                let legacy = Arc::clone(self);
                tokio::spawn(async move {
                    legacy
                        .reinitialize(endpoint, generation, initialize, initialized)
                        .await;
                });
            }
            _ => self.set_ready(endpoint, generation),
        }
    }

    /// Replays the client's `initialize` (under an id of the bridge's own) and
    /// `notifications/initialized` in a new session, then lets messages through.
    async fn reinitialize(
        self: Arc<Self>,
        endpoint: Client,
        generation: u64,
        initialize: Outgoing,
        initialized: Option<Outgoing>,
    ) {
        tracing::info!("the legacy SSE stream started a new session; initializing it");
        let id = format!("\"mcp-wrapper-reinitialize-{generation}\"");
        let Some(replayed) = with_id(&initialize, &id) else {
            return self.set_ready(endpoint, generation);
        };
        let (tx, rx) = oneshot::channel();
        lock(&self.routes).hidden.insert(IdKey::new(&id), tx);
        let answered = match post(&endpoint, &replayed).await {
            Ok(()) => tokio::time::timeout(self.sse.idle_timeout(), rx)
                .await
                .ok()
                .and_then(Result::ok),
            Err(e) => {
                tracing::warn!(error = %display_chain(&e), "re-initializing the session failed");
                None
            }
        };
        lock(&self.routes).hidden.remove(&IdKey::new(&id));
        match answered {
            Some(answer) if is_result(answer.bytes()) => {
                if let Some(initialized) = initialized
                    && let Err(e) = post(&endpoint, &initialized).await
                {
                    tracing::warn!(error = %display_chain(&e), "re-sending notifications/initialized failed");
                }
            }
            _ => tracing::warn!("re-initializing the session failed; messages go to it anyway"),
        }
        self.set_ready(endpoint, generation);
    }

    /// Lets requests into session `generation`, unless a newer one started meanwhile.
    fn set_ready(&self, endpoint: Client, generation: u64) {
        let mut routes = lock(&self.routes);
        if routes.latest != generation {
            return;
        }
        routes.live = Some(generation);
        self.state.send_replace(Conn::Ready {
            endpoint,
            generation,
        });
    }

    /// The session is gone: every request waiting in it is told so (and answered with an
    /// error by its exchange), and new ones wait for the next session.
    fn lose(&self, error: Option<Error>, fatal: bool) {
        let waiters = {
            let mut routes = lock(&self.routes);
            routes.live = None;
            routes.hidden.clear();
            std::mem::take(&mut routes.waiters)
        };
        if !waiters.is_empty() {
            tracing::warn!(
                requests = waiters.len(),
                "the legacy SSE session ended with requests pending; answering them with an error"
            );
        }
        for waiter in waiters.into_values() {
            let _ = waiter.events.send(Event::Lost);
        }
        self.state.send_replace(Conn::Connecting {
            error: error.map(Arc::new),
            fatal,
        });
    }

    /// Hands a message from the stream on: an answer to the request owed it, anything
    /// else to stdout.
    async fn route(&self, message: Inbound) {
        if message.answers.is_empty() {
            if let Some(token) = progress_token_of_notification(&message.bytes) {
                let routes = lock(&self.routes);
                for waiter in routes.waiters.values() {
                    if waiter.progress.as_ref() == Some(&token) {
                        let _ = waiter.events.send(Event::Activity);
                    }
                }
            }
            self.output.write(JsonLine::from_inbound(message)).await;
            return;
        }
        let owner = {
            let mut routes = lock(&self.routes);
            if let Some(hidden) = message
                .answers
                .first()
                .and_then(|id| routes.hidden.remove(id))
            {
                let _ = hidden.send(JsonLine::from_inbound(message));
                return;
            }
            routes
                .waiters
                .iter()
                .find(|(_, w)| message.answers.iter().any(|id| w.ids.contains(id)))
                .map(|(token, w)| (*token, w.events.clone()))
        };
        let Some((token, events)) = owner else {
            tracing::warn!(ids = ?message.answers, "dropping a response whose id is not owed");
            return;
        };
        let answers = message.answers.clone();
        if !self
            .pending
            .answer(token, &answers, JsonLine::from_inbound(message))
            .await
        {
            tracing::warn!(ids = ?answers, "dropping a response whose id is not owed");
        }
        let _ = events.send(Event::Activity);
    }
}

/// Takes a request out of the routes when its exchange ends, however it ends.
struct Unregister<'a> {
    legacy: &'a Legacy,
    token: u64,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        lock(&self.legacy.routes).waiters.remove(&self.token);
    }
}

fn is_event_stream(response: &reqwest::Response) -> bool {
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    BodyFormat::from_content_type(content_type) == BodyFormat::Sse
}

/// POSTs one message to the endpoint (resent as the retry policy allows); the body of the
/// answer (`Accepted`) is read and dropped in the background.
async fn post(endpoint: &Client, message: &Outgoing) -> Result<(), Error> {
    let headers: HeaderSource = Arc::new(RequestHeaders::default);
    let mut attempt = 0;
    let response = endpoint
        .send(message, &headers, Instant::now(), &mut attempt)
        .await?;
    tokio::spawn(drain(response));
    Ok(())
}

/// Whether a response is a result (not an error).
fn is_result(bytes: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Response<'a> {
        #[serde(borrow)]
        result: Option<&'a RawValue>,
    }
    serde_json::from_slice::<Response<'_>>(bytes).is_ok_and(|r| r.result.is_some())
}

/// `message` (a request object) with its id replaced by `id` (raw JSON).
fn with_id(message: &Outgoing, id: &str) -> Option<Outgoing> {
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(message.bytes()).ok()?;
    object.insert("id".to_owned(), serde_json::from_str(id).ok()?);
    Outgoing::new(serde_json::to_vec(&object).ok()?.into()).ok()
}

/// `params._meta.progressToken` of a request, as a key.
fn progress_token_of_request(bytes: &[u8]) -> Option<IdKey> {
    #[derive(serde::Deserialize)]
    struct Message<'a> {
        #[serde(borrow)]
        params: Option<Params<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        #[serde(borrow, rename = "_meta")]
        meta: Option<Meta<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Meta<'a> {
        #[serde(borrow, rename = "progressToken")]
        progress_token: Option<&'a RawValue>,
    }
    let message: Message<'_> = serde_json::from_slice(bytes).ok()?;
    let token = message.params?.meta?.progress_token?;
    Some(IdKey::new(token.get()))
}

/// `params.progressToken` of a `notifications/progress`, as a key.
fn progress_token_of_notification(bytes: &[u8]) -> Option<IdKey> {
    #[derive(serde::Deserialize)]
    struct Message<'a> {
        method: Option<&'a str>,
        #[serde(borrow)]
        params: Option<Params<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        #[serde(borrow, rename = "progressToken")]
        progress_token: Option<&'a RawValue>,
    }
    let message: Message<'_> = serde_json::from_slice(bytes).ok()?;
    if message.method? != "notifications/progress" {
        return None;
    }
    Some(IdKey::new(message.params?.progress_token?.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_names_parse_and_print() {
        for t in [Transport::Auto, Transport::StreamableHttp, Transport::Sse] {
            assert_eq!(t.as_str().parse::<Transport>(), Ok(t));
        }
        assert_eq!(" SSE ".parse::<Transport>(), Ok(Transport::Sse));
        assert!("websocket".parse::<Transport>().is_err());
    }

    #[test]
    fn progress_tokens_match_between_request_and_notification() {
        let request = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"slow","_meta":{"progressToken":"p-3"}}}"#;
        let note = br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken": "p-3","progress":1}}"#;
        assert_eq!(
            progress_token_of_request(request),
            progress_token_of_notification(note)
        );
        assert!(progress_token_of_request(br#"{"id":1,"method":"ping"}"#).is_none());
    }

    #[test]
    fn only_400_404_405_without_a_json_rpc_body_fall_back() {
        let status = |code: u16, body: &'static [u8]| {
            Error::Status(Box::new(crate::StatusError {
                status: reqwest::StatusCode::from_u16(code).expect("valid"),
                body: bytes::Bytes::from_static(body),
                retry_after: None,
            }))
        };
        assert!(falls_back(&status(404, b"Not Found")));
        assert!(falls_back(&status(405, b"")));
        assert!(falls_back(&status(400, b"Bad Request")));
        assert!(!falls_back(&status(401, b"")));
        assert!(!falls_back(&status(500, b"")));
        let rpc = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"bad"}}"#;
        assert!(!falls_back(&status(400, rpc)));
        assert!(!falls_back(&Error::StreamEnded));
    }
}
