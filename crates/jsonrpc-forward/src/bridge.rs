//! The stdio bridge: stdin -> HTTP -> stdout, with exactly one answer per request.
//!
//! - Each stdin line is one message. A request (`id` and `method`, or a batch holding
//!   requests) is owed exactly one answer per id: it is entered in the pending table at
//!   once and runs in its own task, at most `concurrency` at a time; more wait in order
//!   (nothing is dropped). Only requests take a permit: the client's notifications and its
//!   responses to the server's requests (an elicitation, say) never wait for one, and never
//!   wait behind a request. A notification or a response is sent before the next line is
//!   read (up to its response headers), so the server sees `notifications/initialized`
//!   before the requests after it.
//! - Exactly one answer per request: the server's, or the bridge's own error with the request's
//!   id (see [`Error::to_response`]). Ids are compared as JSON values. A response the server
//!   sends for an id that is not owed on that stream (a duplicate, another request's id, one
//!   on the GET stream) is logged and never written. Notifications and responses get no
//!   answer; their failures are logged. A line that is not JSON gets `-32700` and one over
//!   the size limit `-32600`, both with `id: null`, and the next line is read normally.
//! - Every line written is valid JSON on one line. The output queue and the
//!   lines read ahead (requests waiting for a permit among them) are each bounded by bytes
//!   (2 x the message size limit, at least 16 MiB): a client that reads
//!   slowly holds the server's streams back instead of filling memory.
//! - `notifications/cancelled` from the client is forwarded, then the request it names is
//!   dropped: its upstream stream is closed (on a 2026-07-28 server that *is* the
//!   cancellation), its permit released, and nothing more is written for its id.
//! - End of stdin: stop reading, let the pending requests finish (each within its timeout),
//!   return [`Exit::Eof`]. The shutdown future (SIGINT/SIGTERM for [`Bridge::run_stdio`]):
//!   answer every pending request, including those still waiting for a permit, with
//!   `Bridge shutting down` and return at once, even when the client stopped reading stdout.
//!   Output closed (EPIPE): return at once.
//! - A failure inside the bridge on one exchange (a bug, a panic) answers that request with
//!   `-32603 Internal error` and ends nothing else.
//! - Each request (or batch) ends with one DEBUG line, `request`: method, id, tool (for
//!   `tools/call`), HTTP status, attempts, duration in ms, bytes written and outcome. The
//!   session's life is logged at INFO with a `session` field: `new`, `expired`,
//!   `recovered`, `closed`. Never a header value, a session id or a message's content.

use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::budget::Charge;
use crate::client::Client;
use crate::era::Protocol;
use crate::era_cache::EraCache;
use crate::error::{Error, display_chain};
use crate::forwarded::{Forwarded, HeaderSource};
use crate::keepalive::{self, Activity};
use crate::legacy::{Legacy, Transport, Transports, Via};
use crate::message::{IdKey, JsonLine, Outgoing, OwedId, error_response};
use crate::modern::{self, Eras, Mode, Routed};
use crate::mrtr::is_input_required;
use crate::peek::PeekError;
use crate::session::Session;
use crate::stdio::{
    Line, Output, async_stdin, async_stdout, queue_bytes, spawn_async_reader, spawn_async_writer,
    spawn_reader, spawn_writer,
};
use crate::tools::ToolFilter;

/// The default number of requests in flight.
pub const DEFAULT_CONCURRENCY: usize = 10;

/// How long a shutdown waits for stdout to take the last answers.
const FLUSH_DEADLINE: Duration = Duration::from_millis(500);

/// Why [`Bridge::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// Input ended and every pending request was answered.
    Eof,
    /// The shutdown future completed (a signal): pending requests were answered with
    /// `Bridge shutting down`.
    Shutdown,
    /// Output could not be written (the client closed stdout).
    OutputClosed,
}

/// The stdio bridge over one [`Client`].
#[derive(Debug, Clone)]
pub struct Bridge {
    client: Client,
    concurrency: usize,
    max_line_bytes: usize,
    /// `None`: every tool is shown, and no answer is parsed.
    tools: Option<Arc<ToolFilter>>,
    /// `None`: no pings of the bridge's own.
    keep_alive: Option<Duration>,
    transport: Transport,
    /// The SSE URL of the legacy HTTP+SSE transport (see [`Bridge::with_transport`]).
    sse: Option<Client>,
    /// The era spoken to the server (see [`Bridge::protocol`]).
    protocol: Protocol,
    /// Where server-era verdicts are kept between runs; `None`: probe at every start.
    era_cache: Option<PathBuf>,
}

impl Bridge {
    /// A bridge that forwards through `client`, with at most `concurrency` (at least 1)
    /// requests in flight. Input lines have the client's message size limit.
    #[must_use]
    pub fn new(client: Client, concurrency: usize) -> Self {
        let max_line_bytes = client.max_message_bytes();
        Self {
            client,
            concurrency: concurrency.max(1),
            max_line_bytes,
            tools: None,
            keep_alive: None,
            transport: Transport::StreamableHttp,
            sse: None,
            protocol: Protocol::Legacy,
            era_cache: None,
        }
    }

    /// Which protocol era the bridge speaks to the server (see [`Protocol`]); `cache` is the
    /// directory where the server's era is kept between runs (`eras.json`; `None`: probe at
    /// every start). A bridge made by [`Bridge::new`] speaks [`Protocol::Legacy`] (the
    /// 2025 era, no probe) until this is called; the `mcp-wrapper` command defaults to
    /// [`Protocol::Auto`] with the sign-in credentials directory as the cache.
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol, cache: Option<PathBuf>) -> Self {
        self.protocol = protocol;
        self.era_cache = cache;
        self
    }

    /// Shows the host only the tools `filter` allows (see [`ToolFilter`]); `None` (the
    /// default) shows every tool.
    #[must_use]
    pub fn tool_filter(mut self, filter: Option<ToolFilter>) -> Self {
        self.tools = filter.map(Arc::new);
        self
    }

    /// Sends an MCP `ping` of the bridge's own whenever no message has gone either way for
    /// `every`, so that proxies do not reap an idle session; its answer never reaches the
    /// host. `None` (the default) sends none.
    #[must_use]
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        self.keep_alive = every.filter(|every| !every.is_zero());
        self
    }

    /// Speaks `transport` to the server (Streamable HTTP unless this is called). `sse_url`
    /// is the SSE stream of the legacy HTTP+SSE transport, used as given (under
    /// [`Transport::Auto`], where the bridge falls back when the server does not speak
    /// Streamable HTTP); it shares the client's pool, headers and sign-in.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if `sse_url` is not an http or https URL.
    pub fn with_transport(mut self, transport: Transport, sse_url: &str) -> Result<Self, Error> {
        let sse = Client::with_http(self.client.http().clone(), sse_url)?;
        self.sse = Some(self.client.for_url(sse.url()));
        self.transport = transport;
        Ok(self)
    }

    /// The most bytes the output queue holds.
    fn output_budget(&self) -> usize {
        queue_bytes(self.client.max_message_bytes())
    }

    /// Runs on the process's stdin and stdout until stdin ends, SIGINT or SIGTERM arrives,
    /// or stdout closes.
    ///
    /// A stdin or stdout that is a pipe or a socket is made non-blocking and served on this
    /// runtime (and put back in blocking mode at the end); a file or a terminal gets a
    /// thread. Such a thread reading stdin may stay blocked in `read` after this returns; a
    /// process exits anyway.
    ///
    /// # Errors
    ///
    /// When the IO threads or the signal handlers cannot be set up.
    pub async fn run_stdio(self) -> std::io::Result<Exit> {
        let shutdown = shutdown_signal()?;
        let (stdout, stdin) = (async_stdout(), async_stdin());
        let kind = |on_runtime: bool| if on_runtime { "runtime" } else { "thread" };
        tracing::debug!(
            stdin = kind(stdin.is_some()),
            stdout = kind(stdout.is_some()),
            "stdio served by"
        );
        // Held until the end: they put the descriptors back in blocking mode.
        let mut restore = Vec::new();
        let output = match stdout {
            Some((stdout, back)) => {
                restore.push(back);
                spawn_async_writer(stdout, self.output_budget())
            }
            None => spawn_writer(std::io::stdout(), self.output_budget())?,
        };
        let (lines, reader) = match stdin {
            Some((stdin, back)) => {
                restore.push(back);
                let (lines, task) = spawn_async_reader(stdin, self.max_line_bytes);
                (lines, Some(task))
            }
            None => (spawn_reader(std::io::stdin(), self.max_line_bytes)?, None),
        };
        let exit = self.serve(lines, output, shutdown).await;
        if let Some(reader) = reader {
            reader.abort();
        }
        drop(restore);
        Ok(exit)
    }

    /// Runs on `input` and `output` until `input` ends, `shutdown` completes, or `output`
    /// fails.
    ///
    /// # Errors
    ///
    /// When the IO threads cannot be started.
    pub async fn run<R, W, S>(self, input: R, output: W, shutdown: S) -> std::io::Result<Exit>
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
        S: Future<Output = ()>,
    {
        let output = spawn_writer(output, self.output_budget())?;
        let lines = spawn_reader(input, self.max_line_bytes)?;
        Ok(self.serve(lines, output, shutdown).await)
    }

    /// The bridge between a reader's lines and a writer, whichever kind they are.
    async fn serve<S: Future<Output = ()>>(
        self,
        lines: mpsc::UnboundedReceiver<Line>,
        (output, mut output_closed): (Output, watch::Receiver<bool>),
        shutdown: S,
    ) -> Exit {
        let activity = self.keep_alive.map(|_| Arc::new(Activity::new()));
        let output = match &activity {
            Some(activity) => output.with_activity(Arc::clone(activity)),
            None => output,
        };
        let pending = Arc::new(Pending::new(output.clone()));
        let tasks = TaskTracker::new();
        let session = Arc::new(Session::default());
        let (queue, queued) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        let headers: HeaderSource = {
            let session = Arc::clone(&session);
            Arc::new(move || session.headers())
        };
        let legacy = self.sse.clone().map(|sse| {
            Arc::new(Legacy::new(
                sse,
                Arc::clone(&pending),
                output.clone(),
                Arc::clone(&session),
            ))
        });
        let transport = Arc::new(Transports::new(self.transport, legacy));
        // The legacy HTTP+SSE transport is 2024-11-05: nothing to probe.
        let protocol = if self.transport == Transport::Sse {
            Protocol::Legacy
        } else {
            self.protocol
        };
        let eras = Arc::new(Eras::new(
            protocol,
            self.era_cache.clone().map(EraCache::at),
            EraCache::key(&self.client.url(), self.client.http().base_headers()),
        ));
        let ctx = Context {
            eras: Arc::clone(&eras),
            client: self.client.clone(),
            session: Arc::clone(&session),
            headers,
            pending: Arc::clone(&pending),
            output: output.clone(),
            tasks: tasks.clone(),
            tools: self.tools.clone(),
            activity: activity.clone(),
            transport: Arc::clone(&transport),
        };
        let keep_alive = self
            .keep_alive
            .zip(activity)
            .map(|(every, activity)| tokio::spawn(keepalive::run(ctx.clone(), every, activity)));
        let permits = Arc::new(Semaphore::new(self.concurrency));
        tasks.spawn(launch(
            ctx.clone(),
            queued,
            Arc::clone(&permits),
            Arc::clone(&waiting),
        ));
        let dispatcher = Dispatcher {
            ctx,
            permits,
            queue,
            waiting,
            routing: Mutex::default(),
        };
        let (stop_reading, stop_rx) = watch::channel(false);
        let mut reading = tokio::spawn(dispatcher.run(lines, stop_rx));
        tokio::pin!(shutdown);

        let mut input_done = false;
        let exit = loop {
            tokio::select! {
                () = &mut shutdown => break Exit::Shutdown,
                _ = output_closed.wait_for(|closed| *closed) => break Exit::OutputClosed,
                _ = &mut reading, if !input_done => {
                    input_done = true;
                    // No answer from the host can come any more: what the bridge asked it
                    // (MRTR input) ends now, so the requests waiting on it end too.
                    eras.input_ended();
                    tasks.close();
                }
                () = tasks.wait(), if input_done => break Exit::Eof,
            }
        };
        session.stop_listening();
        if let Some(keep_alive) = keep_alive {
            keep_alive.abort();
        }
        transport.stop();
        eras.stop();
        match exit {
            Exit::Shutdown => {
                tracing::info!("shutting down: answering pending requests");
                // Stop reading first, so that no request is entered after the table is
                // emptied; the lines already read are answered too.
                let _ = stop_reading.send(true);
                let unread = if input_done {
                    Vec::new()
                } else {
                    (&mut reading).await.unwrap_or_default()
                };
                pending.shut_down(&unread);
                output.finish(FLUSH_DEADLINE).await;
                end_session(&self.client, &session, SIGNAL_DELETE_DEADLINE).await;
            }
            Exit::Eof => {
                output.finish(FLUSH_DEADLINE).await;
                end_session(&self.client, &session, DELETE_DEADLINE).await;
            }
            Exit::OutputClosed => {
                reading.abort();
                pending.abandon();
            }
        }
        exit
    }
}

/// How long the DELETE of the session may take at the end of input.
const DELETE_DEADLINE: Duration = Duration::from_secs(2);
/// The same after a signal, which must end the bridge within a second.
const SIGNAL_DELETE_DEADLINE: Duration = Duration::from_millis(400);

/// Tells the server the session is over (405 and failures only logged).
async fn end_session(client: &Client, session: &Session, deadline: Duration) {
    let headers = session.headers();
    if headers.session_id.is_none() {
        return;
    }
    match client.delete_session(&headers, deadline).await {
        Ok(()) => tracing::info!(session = "closed", "session closed"),
        Err(e) => tracing::info!(
            session = "closed",
            error = %display_chain(&e),
            "session closed; ending it on the server failed"
        ),
    }
}

/// Completes on SIGINT or SIGTERM (Ctrl-C elsewhere).
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The requests still owed an answer. Marking an id answered is the right to answer it, so
/// every id is answered once however a response, an error, a cancellation and a shutdown
/// race.
///
/// The lock is never held across an `.await`: an answer draws its room in the output queue
/// first, then marks its ids and queues its line in one step, so that shutdown's answers can
/// neither overtake nor duplicate it, and a shutdown never waits for stdout.
#[derive(Debug)]
pub(crate) struct Pending {
    next_token: AtomicU64,
    owed: Mutex<HashMap<u64, Owed>>,
    output: Output,
}

/// One message's answers (its request, or a batch's requests), and how to stop its exchange.
#[derive(Debug)]
struct Owed {
    /// The message: its ids are `message.owed()`.
    message: Outgoing,
    /// Per id of `message.owed()`: answered (or cancelled) already.
    done: Vec<bool>,
    cancel: CancellationToken,
}

impl Owed {
    /// The ids still owed an answer.
    fn remaining(&self) -> impl Iterator<Item = &OwedId> {
        self.message
            .owed()
            .iter()
            .zip(&self.done)
            .filter(|(_, done)| !**done)
            .map(|(id, _)| id)
    }

    /// Marks the ids still owed that `matches` accepts; true if there was any.
    fn mark(&mut self, matches: impl Fn(&IdKey) -> bool) -> bool {
        let mut any = false;
        for (id, done) in self.message.owed().iter().zip(&mut self.done) {
            if !*done && matches(id.key()) {
                *done = true;
                any = true;
            }
        }
        any
    }

    fn is_done(&self) -> bool {
        self.done.iter().all(|done| *done)
    }
}

impl Pending {
    fn new(output: Output) -> Self {
        Self {
            next_token: AtomicU64::new(0),
            owed: Mutex::default(),
            output,
        }
    }

    /// Enters a message owed answers; returns its token and what cancels its exchange.
    fn add(&self, message: &Outgoing) -> (u64, CancellationToken) {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let cancel = CancellationToken::new();
        let entry = Owed {
            message: message.clone(),
            done: vec![false; message.owed().len()],
            cancel: cancel.clone(),
        };
        lock(&self.owed).insert(token, entry);
        (token, cancel)
    }

    /// Whether any answer of this message is still owed.
    pub(crate) fn is_owed(&self, token: u64) -> bool {
        lock(&self.owed).contains_key(&token)
    }

    /// Writes `line`, which answers `answers`, if any of them is still owed; they are owed
    /// no more. False when none was (cancelled, or shut down).
    pub(crate) async fn answer(&self, token: u64, answers: &[IdKey], line: JsonLine) -> bool {
        let charge = self.output.reserve(line.len()).await;
        let mut owed = lock(&self.owed);
        let Some(entry) = owed.get_mut(&token) else {
            return false;
        };
        if !entry.mark(|id| answers.contains(id)) {
            return false;
        }
        if entry.is_done() {
            owed.remove(&token);
        }
        self.output.write_now(line, charge);
        true
    }

    /// Answers every id of this message still owed with `answer(id)`; returns the bytes
    /// written.
    fn fail_with(&self, token: u64, answer: impl Fn(&OwedId) -> JsonLine) -> usize {
        let Some(entry) = lock(&self.owed).remove(&token) else {
            return 0;
        };
        let mut written = 0;
        for id in entry.remaining() {
            let line = answer(id);
            let len = line.len();
            // Small lines, one per request: never made to wait for room.
            if self.output.write_now(line, Charge::none()) {
                written += len;
            }
        }
        written
    }

    /// Answers every id of this message still owed with `error`; returns the bytes written.
    pub(crate) fn fail(&self, token: u64, error: &Error) -> usize {
        self.fail_with(token, |id| JsonLine::error(error, Some(id.raw())))
    }

    /// The client gave up on `id` (`notifications/cancelled`): it is owed nothing more, and
    /// a message with nothing left owed is stopped.
    pub(crate) fn cancel(&self, id: &IdKey) {
        let mut owed = lock(&self.owed);
        let mut emptied = Vec::new();
        for (token, entry) in owed.iter_mut() {
            if entry.mark(|owed| owed == id) && entry.is_done() {
                emptied.push(*token);
            }
        }
        for token in emptied {
            if let Some(entry) = owed.remove(&token) {
                tracing::debug!(%id, "the client cancelled the request; dropping its stream");
                entry.cancel.cancel();
            }
        }
    }

    /// Answers everything still owed, and the requests among `unread` (lines read but not
    /// yet dispatched), with `Bridge shutting down`, and stops every exchange.
    fn shut_down(&self, unread: &[Outgoing]) {
        let shutting_down = |id: &OwedId| {
            JsonLine::new(error_response(
                Some(id.raw()),
                -32000,
                "Bridge shutting down",
                None,
            ))
        };
        let mut owed = lock(&self.owed);
        for (_, entry) in owed.drain() {
            for id in entry.remaining() {
                self.output.write_now(shutting_down(id), Charge::none());
            }
            entry.cancel.cancel();
        }
        for id in unread.iter().flat_map(Outgoing::owed) {
            self.output.write_now(shutting_down(id), Charge::none());
        }
    }

    /// Stops every exchange without answering (the output is gone).
    fn abandon(&self) {
        for (_, entry) in lock(&self.owed).drain() {
            entry.cancel.cancel();
        }
    }
}

/// What every part of a running bridge shares.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) client: Client,
    /// Which era each side speaks, and cases B and C.
    pub(crate) eras: Arc<Eras>,
    pub(crate) session: Arc<Session>,
    /// The session's current headers, read anew by every attempt of a message.
    headers: HeaderSource,
    pub(crate) pending: Arc<Pending>,
    pub(crate) output: Output,
    tasks: TaskTracker,
    /// The tools the host may see; `None`: all.
    tools: Option<Arc<ToolFilter>>,
    /// Told of every line read, with `--keep-alive`.
    activity: Option<Arc<Activity>>,
    transport: Arc<Transports>,
}

impl Context {
    /// How `message` goes out: over the legacy transport, or by [`send`](Self::send).
    /// `attempts` counts the POSTs of the Streamable HTTP path (for the request's log line).
    async fn via(&self, message: &Outgoing, attempts: &mut u32) -> Via<'_> {
        self.transport
            .via(message, self.send(message, attempts))
            .await
    }

    /// Sends `message`; if the server forgot the session, recovers it and sends once more.
    /// The POSTs sent are added to `attempts`.
    pub(crate) async fn send(
        &self,
        message: &Outgoing,
        attempts: &mut u32,
    ) -> Result<Forwarded, Error> {
        let expired = |cause| Error::SessionExpired(Some(Box::new(cause)));
        let ctx = self
            .session
            .settled_headers(&self.client, &self.output)
            .await
            .map_err(expired)?;
        match self
            .client
            .forward_with(message.clone(), Arc::clone(&self.headers), attempts)
            .await
        {
            Err(e) if Session::is_expired(&e, &ctx, message) => {
                self.session
                    .recover_detached(&self.client, &self.output, Some(&ctx))
                    .await
                    .map_err(expired)?;
                self.client
                    .forward_with(message.clone(), Arc::clone(&self.headers), attempts)
                    .await
            }
            other => other,
        }
    }

    /// A session the server forgot, seen on a stream already under way: recover it in the
    /// background, so that the next messages find a live session.
    fn recover_later(&self, error: &Error, message: &Outgoing) {
        let sent = self.session.headers();
        if !Session::is_expired(error, &sent, message) {
            return;
        }
        let (session, client, output) = (
            Arc::clone(&self.session),
            self.client.clone(),
            self.output.clone(),
        );
        tokio::spawn(async move {
            if let Err(e) = session.recover(&client, &output, Some(&sent)).await {
                tracing::warn!(error = %display_chain(&e), "recovering the session failed");
            }
        });
    }
}

/// A request waiting for a permit.
struct Queued {
    message: Outgoing,
    /// Set when the message goes to a 2026-era server.
    modern: Option<Box<Leg>>,
    token: u64,
    cancel: CancellationToken,
    /// Its share of the read-ahead budget, given back once it is sent.
    charge: Charge,
}

/// Starts queued requests in order as permits come free; skips those cancelled or shut
/// down while they waited.
async fn launch(
    ctx: Context,
    mut queued: mpsc::UnboundedReceiver<Queued>,
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
) {
    while let Some(request) = queued.recv().await {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.ok(),
            () = request.cancel.cancelled() => None,
        };
        waiting.fetch_sub(1, Ordering::AcqRel);
        let Some(permit) = permit else { continue };
        if !ctx.pending.is_owed(request.token) {
            continue;
        }
        drop(request.charge);
        let exchange = Exchange {
            ctx: ctx.clone(),
            token: request.token,
            cancel: request.cancel,
            message: request.message,
            modern: request.modern,
            _permit: Some(permit),
        };
        ctx.tasks.spawn(exchange.run());
    }
}

/// Reads lines and starts their forwarding.
struct Dispatcher {
    ctx: Context,
    permits: Arc<Semaphore>,
    queue: mpsc::UnboundedSender<Queued>,
    /// Requests in `queue`: while any wait, a new one queues behind them.
    waiting: Arc<AtomicUsize>,
    /// The message being routed while the protocol era is still undecided (its route may
    /// wait for a probe): a shutdown meanwhile answers it like the lines not yet read.
    routing: Mutex<Option<Outgoing>>,
}

impl Dispatcher {
    /// Dispatches lines until input ends or `stop` turns true; then returns the messages
    /// read but not dispatched (their requests are owed a shutdown answer).
    async fn run(
        self,
        mut lines: mpsc::UnboundedReceiver<Line>,
        mut stop: watch::Receiver<bool>,
    ) -> Vec<Outgoing> {
        loop {
            let line = tokio::select! {
                line = lines.recv() => line,
                _ = stop.wait_for(|stop| *stop) => break,
            };
            let Some(line) = line else {
                return Vec::new();
            };
            tokio::select! {
                () = self.dispatch(line) => {}
                _ = stop.wait_for(|stop| *stop) => break,
            }
        }
        let mut unread: Vec<Outgoing> = lock(&self.routing).take().into_iter().collect();
        while let Ok(line) = lines.try_recv() {
            if let Line::Message(bytes, _) = line
                && let Ok(message) = Outgoing::new(bytes)
            {
                unread.push(message);
            }
        }
        unread
    }

    async fn dispatch(&self, line: Line) {
        let (bytes, charge) = match line {
            Line::TooLong { limit } => {
                let message = format!("Invalid Request: message exceeds {limit} bytes");
                let line = JsonLine::new(error_response(None, -32600, &message, None));
                self.ctx.output.write_small(line);
                return;
            }
            Line::Message(bytes, charge) => (bytes, charge),
        };
        if let Some(activity) = &self.ctx.activity {
            activity.touch();
        }
        let message = match Outgoing::new(bytes) {
            Ok(message) => message,
            Err(e) => {
                self.ctx.output.write_small(parse_error(&e));
                return;
            }
        };
        if let Some(tools) = &self.ctx.tools
            && let Some(answer) = hidden_call(tools, &message)
        {
            self.ctx.output.write_small(answer);
            return;
        }
        let mut modern = None;
        let undecided = self.ctx.eras.undecided();
        if undecided {
            *lock(&self.routing) = Some(message.clone());
        }
        let routed = self.ctx.eras.route(&self.ctx, message).await;
        if undecided {
            // Taken before any other await: from here the message is in the pending table,
            // answered, or dropped.
            lock(&self.routing).take();
        }
        let message = match routed {
            Routed::Legacy(message) => message,
            Routed::Done => return,
            Routed::Modern(message, leg) => {
                modern = Some(Box::new(leg));
                message
            }
        };
        if modern.is_none() {
            self.ctx.session.on_send(&message);
        }
        if message.owed().is_empty() {
            self.send_unanswered(message).await;
            return;
        }
        let (token, cancel) = self.ctx.pending.add(&message);
        if modern.as_ref().is_some_and(|leg| leg.mode == Mode::Modern)
            && modern::is_listen(&message)
        {
            drop(charge);
            let exchange = Exchange {
                ctx: self.ctx.clone(),
                token,
                cancel,
                message,
                modern,
                _permit: None,
            };
            self.ctx.tasks.spawn(exchange.run());
            return;
        }
        // No one waiting and a permit free: start now, without a hop through the queue.
        if self.waiting.load(Ordering::Acquire) == 0
            && let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned()
        {
            drop(charge);
            let exchange = Exchange {
                ctx: self.ctx.clone(),
                token,
                cancel,
                message,
                modern,
                _permit: Some(permit),
            };
            self.ctx.tasks.spawn(exchange.run());
            return;
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let queued = Queued {
            message,
            modern,
            token,
            cancel,
            charge,
        };
        if self.queue.send(queued).is_err() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Sends a notification or a response before the next line is read (so that the server
    /// sees it before the requests after it), and drains its answer in the background. It
    /// runs in a task of its own, so that a failure inside the bridge ends only this send.
    async fn send_unanswered(&self, message: Outgoing) {
        let ctx = self.ctx.clone();
        let cancels = message.cancels().cloned();
        let sent = tokio::spawn(async move {
            let response = match ctx.via(&message, &mut 0).await {
                Via::Legacy(legacy) => {
                    // The answer to a cancelled request comes on the shared stream, maybe
                    // before this POST returns: it is owed nothing from here on.
                    if let Some(id) = message.cancels() {
                        ctx.pending.cancel(id);
                    }
                    if let Err(e) = legacy.post_unanswered(&message).await {
                        log_unanswered(&message, &e);
                    }
                    return;
                }
                Via::Streamable(response) => response,
            };
            match response {
                Ok(response) => {
                    if message.method() == Some("notifications/initialized") {
                        ctx.session.listen(ctx.client.clone(), ctx.output.clone());
                    }
                    let exchange_ctx = ctx.clone();
                    ctx.tasks.spawn(async move {
                        drain_unanswered(&exchange_ctx, &message, response).await;
                    });
                }
                Err(e) => log_unanswered(&message, &e),
            }
        });
        if let Err(e) = sent.await {
            tracing::error!(error = %e, "forwarding a message failed inside the bridge");
        }
        if let Some(id) = cancels {
            self.ctx.pending.cancel(&id);
        }
    }
}

/// Writes what the server sent back for a notification or a response (normally nothing:
/// 202 with an empty body).
async fn drain_unanswered(ctx: &Context, message: &Outgoing, mut response: Forwarded) {
    let messages = response.messages();
    while let Some(item) = messages.next_routed().await {
        match item {
            Ok(routed) => {
                if !ctx.output.write(routed.line).await {
                    return;
                }
            }
            Err(e) => return log_unanswered(message, &e),
        }
    }
}

/// The bridge's own answer to a `tools/call` of a tool the filter hides: it never reaches
/// the server.
fn hidden_call(tools: &ToolFilter, message: &Outgoing) -> Option<JsonLine> {
    if !message.is_request() || message.method() != Some("tools/call") {
        return None;
    }
    let name = message.name()?;
    if tools.shows(name) {
        return None;
    }
    tracing::info!(
        tool = name,
        "call of a tool hidden by the tool filter; answered by the bridge"
    );
    let id = message.id().unwrap_or("null");
    Some(JsonLine::new(ToolFilter::hidden_call_answer(id, name)))
}

fn parse_error(e: &PeekError) -> JsonLine {
    let detail = display_chain(e);
    JsonLine::new(match e {
        PeekError::NotAMessage => {
            error_response(None, -32600, &format!("Invalid Request: {detail}"), None)
        }
        _ => error_response(None, -32700, &format!("Parse error: {detail}"), None),
    })
}

fn log_unanswered(message: &Outgoing, e: &Error) {
    tracing::warn!(
        method = message.method(),
        error = %display_chain(e),
        "forwarding a message that expects no answer failed"
    );
}

/// One forwarded request (or batch) and the answers it owes.
struct Exchange {
    ctx: Context,
    /// The entry in the pending table for the answers this message is owed.
    token: u64,
    /// Cancelled when the client cancels the request, or at shutdown.
    cancel: CancellationToken,
    message: Outgoing,
    /// Set when the message goes to a 2026-era server (cases B and C).
    modern: Option<Box<Leg>>,
    /// `None` for a 2026 host's `subscriptions/listen`, which lives as long as the host
    /// wants and must not hold one of the `--concurrency` slots meanwhile.
    _permit: Option<OwnedSemaphorePermit>,
}

/// How an exchange with a 2026-era server goes.
pub(crate) struct Leg {
    pub(crate) mode: Mode,
    /// Case B: the host's request as it sent it, before the envelope (what an MRTR retry
    /// is made from).
    pub(crate) original: Option<Outgoing>,
}

/// Answers what is still owed if an exchange ends without doing so (a panic inside the
/// bridge): the client must never wait forever.
struct AnswerGuard {
    pending: Arc<Pending>,
    token: u64,
}

impl Drop for AnswerGuard {
    fn drop(&mut self) {
        self.pending.fail_with(self.token, |id| {
            JsonLine::new(error_response(
                Some(id.raw()),
                -32603,
                "Internal error: the bridge failed while forwarding this request",
                None,
            ))
        });
    }
}

/// What one exchange did, for its log line: plain numbers on the stack, so an exchange
/// costs nothing more when DEBUG is off (the line's fields are only read if it is on).
struct Tally {
    started: Instant,
    /// The HTTP status of the response (or of the error that ended it), if any came.
    status: Option<u16>,
    /// The POSTs sent for it (resends and a resend after a session recovery included).
    attempts: u32,
    /// The bytes written to stdout for it: its answers and the server's messages on its
    /// stream.
    bytes: usize,
    outcome: &'static str,
}

impl Exchange {
    /// Forwards the request and writes everything that comes back, ending with its answer;
    /// stops at once (dropping the upstream stream) when cancelled. Ends with one DEBUG line.
    async fn run(self) {
        let _guard = AnswerGuard {
            pending: Arc::clone(&self.ctx.pending),
            token: self.token,
        };
        let mut tally = Tally {
            started: Instant::now(),
            status: None,
            attempts: 0,
            bytes: 0,
            outcome: "cancelled",
        };
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => {}
            () = self.forward(&mut tally) => {}
        }
        self.log(&tally);
    }

    async fn forward(&self, tally: &mut Tally) {
        if let Some(leg) = &self.modern {
            // Boxed: the 2026 path's state stays out of every 2025 exchange's future.
            return Box::pin(self.forward_modern(leg, tally)).await;
        }
        let ctx = &self.ctx;
        let response = match ctx.via(&self.message, &mut tally.attempts).await {
            Via::Legacy(legacy) => {
                // The answer arrives on the shared stream; this path counts one POST.
                tally.attempts += 1;
                // Boxed: the legacy path's state stays out of every exchange's future.
                match Box::pin(legacy.exchange(self.token, &self.message)).await {
                    Ok(()) => tally.outcome = "answered",
                    Err(e) => self.fail(&e, tally),
                }
                return;
            }
            Via::Streamable(response) => response,
        };
        let mut response = match response {
            Ok(response) => response,
            Err(e) => return self.fail(&e, tally),
        };
        tally.status = Some(response.status().as_u16());
        ctx.session.on_response(&self.message, &response);
        let messages = response.messages();
        while let Some(item) = messages.next_routed().await {
            match item {
                Ok(routed) if routed.answers.is_empty() => {
                    if !self.pass_on(routed.line, tally).await {
                        return;
                    }
                }
                Ok(routed) => {
                    ctx.session
                        .on_answer(&self.message, &routed.answers, &routed.line);
                    let line = self.filter_tools(&routed.answers, routed.line);
                    let len = line.len();
                    if ctx.pending.answer(self.token, &routed.answers, line).await {
                        tally.bytes += len;
                    }
                }
                Err(e) => {
                    ctx.recover_later(&e, &self.message);
                    return self.fail(&e, tally);
                }
            }
        }
        tally.outcome = "answered";
    }

    /// Cases B and C: one request to a 2026-era server. Its `tools/list` answers fill the
    /// schema cache (tools with invalid annotations dropped), an `input_required` answer in
    /// case B is driven to its end ([`modern::input_required`]), and a `tools/call` rejected
    /// with a pre-dispatch `-32020` for a tool never listed is sent once more after listing
    /// them (case B).
    async fn forward_modern(&self, leg: &Leg, tally: &mut Tally) {
        let mode = leg.mode;
        let ctx = &self.ctx;
        let eras = &ctx.eras;
        let mut response = eras
            .send(&ctx.client, &self.message, &mut tally.attempts)
            .await;
        if mode == Mode::Translate
            && let Err(e) = &response
            && eras.needs_relist(e, &self.message)
        {
            tracing::info!(
                "-32020 for a tool never listed: listing the tools, then sending once more"
            );
            eras.relist_tools(&ctx.client).await;
            response = eras
                .send(&ctx.client, &self.message, &mut tally.attempts)
                .await;
        }
        let mut response = match response {
            Ok(response) => response,
            Err(e) => {
                eras.doubt(&e);
                return self.fail(&e, tally);
            }
        };
        tally.status = Some(response.status().as_u16());
        let messages = response.messages();
        while let Some(item) = messages.next_routed().await {
            match item {
                Ok(routed) if routed.answers.is_empty() => {
                    if !self.pass_on(routed.line, tally).await {
                        return;
                    }
                }
                Ok(routed) => {
                    let mut line = routed.line;
                    if routed.answers.iter().any(|id| self.message.lists_tools(id))
                        && let Some(kept) = eras.schemas.record_list(line.bytes())
                    {
                        line = JsonLine::new(kept);
                    }
                    if mode == Mode::Translate
                        && matches!(
                            self.message.method(),
                            Some("tools/call" | "prompts/get" | "resources/read")
                        )
                        && is_input_required(line.bytes())
                        && let Some(translation) = eras.translation()
                        && let Some(original) = &leg.original
                    {
                        line = Box::pin(modern::input_required(
                            ctx,
                            &translation,
                            original,
                            line,
                            &mut tally.attempts,
                        ))
                        .await;
                    }
                    let line = self.filter_tools(&routed.answers, line);
                    let len = line.len();
                    if ctx.pending.answer(self.token, &routed.answers, line).await {
                        tally.bytes += len;
                    }
                }
                Err(_) if mode == Mode::Modern && modern::is_listen(&self.message) => {
                    modern::end_listen(ctx, &self.message);
                    tally.outcome = "listen ended";
                    return;
                }
                Err(e) => return self.fail(&e, tally),
            }
        }
        tally.outcome = "answered";
    }

    /// Writes a message of the server's that answers nothing (a notification, a request of
    /// its own) to the host; false when stdout is gone.
    async fn pass_on(&self, line: JsonLine, tally: &mut Tally) -> bool {
        let len = line.len();
        if !self.ctx.output.write(line).await {
            tally.outcome = "output closed";
            return false;
        }
        tally.bytes += len;
        true
    }

    /// `line` without the tools the filter hides, if it answers a `tools/list` of the host
    /// (and a filter is set: else nothing is parsed).
    fn filter_tools(&self, answers: &[IdKey], line: JsonLine) -> JsonLine {
        let Some(tools) = &self.ctx.tools else {
            return line;
        };
        let lists_tools = |id: &IdKey| self.message.lists_tools(id);
        if !answers.iter().any(lists_tools) {
            return line;
        }
        match tools.filter_answer(line.bytes(), lists_tools) {
            Some(filtered) => JsonLine::new(filtered),
            None => line,
        }
    }

    /// Answers what this message is still owed with `error`.
    fn fail(&self, error: &Error, tally: &mut Tally) {
        tracing::warn!(
            method = self.message.method(),
            error = %display_chain(error),
            "request failed; answering it with an error"
        );
        if let Some(status) = error.status() {
            tally.status = Some(status.as_u16());
        }
        tally.outcome = "failed";
        tally.bytes += self.ctx.pending.fail(self.token, error);
    }

    /// The exchange's one DEBUG line. Never a header, a session id or a message's content:
    /// the method, the id and, for `tools/call`, the tool's name.
    fn log(&self, tally: &Tally) {
        let method = self.message.method();
        tracing::debug!(
            method,
            id = self
                .message
                .id()
                .map(|id| tracing::field::display(LoggedId(id))),
            tool = self.message.name().filter(|_| method == Some("tools/call")),
            batch = self.message.is_batch().then(|| self.message.owed().len()),
            status = tally.status,
            attempts = tally.attempts,
            duration_ms = u64::try_from(tally.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            bytes = tally.bytes,
            outcome = tally.outcome,
            "request"
        );
    }
}

/// A request id for a log field: a JSON string without its quotes (when it has no escapes),
/// anything else (a number) as written.
struct LoggedId<'a>(&'a str);

impl std::fmt::Display for LoggedId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let raw = self.0;
        match raw
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .filter(|s| !s.contains('\\'))
        {
            Some(unquoted) => f.write_str(unquoted),
            None => f.write_str(raw),
        }
    }
}
