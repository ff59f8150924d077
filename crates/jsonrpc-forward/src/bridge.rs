//! The stdio bridge: stdin -> HTTP -> stdout, with exactly one answer per request.
//!
//! - Each stdin line is one message. A request (`id` and `method`) runs in its own task, at
//!   most `concurrency` at a time (more wait: stdin is simply read later, nothing is dropped).
//!   A notification or a response is sent before the next line is read (up to its response
//!   headers), so the server sees `notifications/initialized` before the requests after it.
//! - Exactly one answer per request: the server's, or the bridge's own error with the request's
//!   id (see [`Error::to_response`]). Notifications and responses get no answer; their
//!   failures are logged. A line that is not JSON gets `-32700` and one over the size limit
//!   `-32600`, both with `id: null`, and the next line is read normally.
//! - End of stdin: stop reading, let the pending requests finish (each within its timeout),
//!   return [`Exit::Eof`]. The shutdown future (SIGINT/SIGTERM for [`Bridge::run_stdio`]):
//!   answer every pending request with `Bridge shutting down` and return at once. Output
//!   closed (EPIPE): return at once.

use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio_util::task::TaskTracker;

use crate::client::Client;
use crate::error::{Error, display_chain};
use crate::message::{Outgoing, error_response};
use crate::peek::PeekError;
use crate::session::Session;
use crate::stdio::{
    Line, Out, async_stdin, async_stdout, spawn_async_reader, spawn_async_writer, spawn_reader,
    spawn_writer,
};

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
        }
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
                spawn_async_writer(stdout)
            }
            None => spawn_writer(std::io::stdout())?,
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
        let output = spawn_writer(output)?;
        let lines = spawn_reader(input, self.max_line_bytes)?;
        Ok(self.serve(lines, output, shutdown).await)
    }

    /// The bridge between a reader's lines and a writer, whichever kind they are.
    async fn serve<S: Future<Output = ()>>(
        self,
        lines: mpsc::Receiver<Line>,
        (writer, mut output_closed): (mpsc::Sender<Out>, watch::Receiver<bool>),
        shutdown: S,
    ) -> Exit {
        let pending = Arc::new(Pending::default());
        let tasks = TaskTracker::new();
        let session = Arc::new(Session::default());
        let dispatcher = Dispatcher {
            client: self.client.clone(),
            session: Arc::clone(&session),
            permits: Arc::new(Semaphore::new(self.concurrency)),
            pending: Arc::clone(&pending),
            writer: writer.clone(),
            tasks: tasks.clone(),
        };
        let mut reading = tokio::spawn(dispatcher.run(lines));
        tokio::pin!(shutdown);

        let mut input_done = false;
        let exit = loop {
            tokio::select! {
                () = &mut shutdown => break Exit::Shutdown,
                _ = output_closed.wait_for(|closed| *closed) => break Exit::OutputClosed,
                _ = &mut reading, if !input_done => {
                    input_done = true;
                    tasks.close();
                }
                () = tasks.wait(), if input_done => break Exit::Eof,
            }
        };
        reading.abort();
        session.stop_listening();
        match exit {
            Exit::Shutdown => {
                tracing::info!("shutting down: answering pending requests");
                pending.shut_down(&writer).await;
                finish(&writer).await;
                end_session(&self.client, &session, SIGNAL_DELETE_DEADLINE).await;
            }
            Exit::Eof => {
                finish(&writer).await;
                end_session(&self.client, &session, DELETE_DEADLINE).await;
            }
            Exit::OutputClosed => {}
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
    if let Err(e) = client.delete_session(&session.headers(), deadline).await {
        tracing::debug!(error = %display_chain(&e), "ending the session failed");
    }
}

/// Flushes stdout, waiting at most [`FLUSH_DEADLINE`].
async fn finish(writer: &mpsc::Sender<Out>) {
    let (done_tx, done_rx) = oneshot::channel();
    let flushed = async {
        if writer.send(Out::Finish(done_tx)).await.is_ok() {
            let _ = done_rx.await;
        }
    };
    let _ = tokio::time::timeout(FLUSH_DEADLINE, flushed).await;
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

/// The requests still owed an answer. Taking an entry out is the right to answer, so a
/// request is answered once even when a shutdown races its response.
#[derive(Debug, Default)]
struct Pending {
    next_token: AtomicU64,
    /// Token -> the ids to answer (one, or a batch's requests). Held across the channel send
    /// of an answer so that shutdown's answers cannot overtake or duplicate it.
    owed: Mutex<HashMap<u64, Vec<Box<str>>>>,
}

impl Pending {
    async fn add(&self, ids: Vec<Box<str>>) -> u64 {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        self.owed.lock().await.insert(token, ids);
        token
    }

    /// Writes `answer(ids)` if the entry is still owed; false if shutdown took it.
    async fn answer(
        &self,
        token: u64,
        writer: &mpsc::Sender<Out>,
        answer: impl FnOnce(&[Box<str>]) -> Vec<Bytes>,
    ) -> bool {
        let mut owed = self.owed.lock().await;
        let Some(ids) = owed.remove(&token) else {
            return false;
        };
        for line in answer(&ids) {
            let _ = writer.send(Out::Line(line)).await;
        }
        true
    }

    /// Answers everything still owed with `Bridge shutting down`.
    async fn shut_down(&self, writer: &mpsc::Sender<Out>) {
        let mut owed = self.owed.lock().await;
        for (_, ids) in owed.drain() {
            for id in ids {
                let line = error_response(Some(&id), -32000, "Bridge shutting down", None);
                let sent = tokio::time::timeout(FLUSH_DEADLINE, writer.send(Out::Line(line)));
                if !matches!(sent.await, Ok(Ok(()))) {
                    return;
                }
            }
        }
    }
}

/// Reads lines and starts their forwarding.
struct Dispatcher {
    client: Client,
    session: Arc<Session>,
    permits: Arc<Semaphore>,
    pending: Arc<Pending>,
    writer: mpsc::Sender<Out>,
    tasks: TaskTracker,
}

impl Dispatcher {
    async fn run(self, mut lines: mpsc::Receiver<Line>) {
        while let Some(line) = lines.recv().await {
            match line {
                Line::TooLong { limit } => {
                    let message = format!("Invalid Request: message exceeds {limit} bytes");
                    self.write(error_response(None, -32600, &message, None))
                        .await;
                }
                Line::Message(bytes) => match Outgoing::new(bytes) {
                    Ok(message) => self.dispatch(message).await,
                    Err(e) => self.write(parse_error(&e)).await,
                },
            }
        }
    }

    async fn write(&self, line: Bytes) {
        let _ = self.writer.send(Out::Line(line)).await;
    }

    async fn dispatch(&self, message: Outgoing) {
        let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
            return; // The semaphore is never closed.
        };
        self.session.on_send(&message);
        let owed: Vec<Box<str>> = if message.is_batch() {
            message.batch_request_ids().to_vec()
        } else if message.is_request() {
            message.id().map(Box::from).into_iter().collect()
        } else {
            Vec::new()
        };
        let exchange = Exchange {
            client: self.client.clone(),
            session: Arc::clone(&self.session),
            pending: Arc::clone(&self.pending),
            writer: self.writer.clone(),
            token: if owed.is_empty() {
                None
            } else {
                Some(self.pending.add(owed).await)
            },
            message,
            _permit: permit,
        };
        if exchange.token.is_some() {
            self.tasks.spawn(exchange.run());
        } else {
            // Sent before the next line is read, so the server sees it first; its body (202
            // and nothing, normally) is drained in the background.
            match exchange.send().await {
                Ok(response) => {
                    if exchange.message.method() == Some("notifications/initialized") {
                        self.session
                            .listen(self.client.clone(), self.writer.clone());
                    }
                    self.tasks.spawn(exchange.drain(response));
                }
                Err(e) => log_unanswered(&exchange.message, &e),
            }
        }
    }
}

fn parse_error(e: &PeekError) -> Bytes {
    let detail = display_chain(e);
    match e {
        PeekError::NotAMessage => {
            error_response(None, -32600, &format!("Invalid Request: {detail}"), None)
        }
        _ => error_response(None, -32700, &format!("Parse error: {detail}"), None),
    }
}

fn log_unanswered(message: &Outgoing, e: &Error) {
    tracing::warn!(
        method = message.method(),
        error = %display_chain(e),
        "forwarding a message that expects no answer failed"
    );
}

fn line_starts_array(item: &Result<Bytes, Error>) -> bool {
    matches!(item, Ok(line) if line.first() == Some(&b'['))
}

/// One forwarded message and what it owes.
struct Exchange {
    client: Client,
    session: Arc<Session>,
    pending: Arc<Pending>,
    writer: mpsc::Sender<Out>,
    /// The entry in `pending` for the answers this message is owed.
    token: Option<u64>,
    message: Outgoing,
    _permit: OwnedSemaphorePermit,
}

impl Exchange {
    /// Forwards a request and writes everything that comes back, ending with its answer.
    async fn run(self) {
        match self.send().await {
            Ok(response) => self.drain(response).await,
            Err(e) => self.fail(&e).await,
        }
    }

    /// Sends the message; if the server forgot the session, recovers it and sends once more.
    async fn send(&self) -> Result<crate::client::Forwarded, Error> {
        let ctx = self.session.settled_headers().await;
        match self.client.forward_peeked(self.message.clone(), &ctx).await {
            Err(e) if Session::is_expired(&e, &ctx, &self.message) => {
                self.session
                    .recover(&self.client, &self.writer, &ctx)
                    .await
                    .map_err(|cause| Error::SessionExpired(Some(Box::new(cause))))?;
                let ctx = self.session.headers();
                self.client.forward_peeked(self.message.clone(), &ctx).await
            }
            other => other,
        }
    }

    /// Writes the messages of `response`; the answer only if it is still owed.
    async fn drain(self, mut response: crate::client::Forwarded) {
        self.session.on_response(&self.message, &response);
        let messages = response.messages();
        let mut answered = false;
        while let Some(item) = messages.next().await {
            let is_answer = if self.message.is_batch() {
                // A batch's answer is one array that answers every request in it.
                line_starts_array(&item)
            } else {
                messages.answered()
            };
            match item {
                Ok(line) if !answered && is_answer => {
                    answered = true;
                    self.session.on_answer(&self.message, &line);
                    let Some(token) = self.token else { continue };
                    let sent = self
                        .pending
                        .answer(token, &self.writer, |_| vec![line])
                        .await;
                    if !sent {
                        return; // Shutdown answered it.
                    }
                }
                Ok(line) => {
                    let _ = self.writer.send(Out::Line(line)).await;
                }
                Err(e) => return self.fail(&e).await,
            }
        }
        if !answered && self.message.is_batch() {
            // No array came back: the batch's requests are owed an answer each.
            self.fail(&Error::StreamEnded).await;
        }
    }

    /// Answers what this message is owed with `error`, or logs it.
    async fn fail(&self, error: &Error) {
        match self.token {
            Some(token) => {
                tracing::warn!(
                    method = self.message.method(),
                    id = self.message.id(),
                    error = %display_chain(error),
                    "request failed; answering it with an error"
                );
                self.pending
                    .answer(token, &self.writer, |ids| {
                        ids.iter().map(|id| error.to_response(Some(id))).collect()
                    })
                    .await;
            }
            None => log_unanswered(&self.message, error),
        }
    }
}
