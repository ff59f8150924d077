//! The conversation with one server: its session id and protocol version, the GET listen
//! stream, and recovery when the server forgets the session.
//!
//! - The `initialize` response carries `Mcp-Session-Id` and, in its result, the negotiated
//!   `protocolVersion`; both go on every later request. They are recorded before the
//!   `initialize` answer reaches stdout, so the client's next message already carries them.
//!   An `initialize` inside a batch counts the same. A client's own second `initialize`
//!   goes out without the old session id, and its answer replaces the session.
//! - Once the server accepts `notifications/initialized`, the GET listen stream is opened and
//!   kept open while the session lives: what it carries goes to stdout (responses never do:
//!   nothing is owed on it). A stream that opened and later ended, with or without messages
//!   (a proxy's idle timeout), is reopened after the server's `retry` with `Last-Event-ID`;
//!   only failed opens count as failures, and they are retried with a backoff (with jitter)
//!   that grows to [`LISTEN_MAX_BACKOFF`], logged at WARN the first time and at DEBUG after.
//!   405 means the server has no such stream.
//! - A 404 to a message that carried the session id means the server forgot the session:
//!   the id is dropped, the saved `initialize` and `notifications/initialized` are replayed
//!   (their answers hidden from stdout), the client's `resources/subscribe` calls re-issued,
//!   the listen stream reopened, and the failed message sent once more. Concurrent 404s of
//!   one session recover it once, and messages that arrive meanwhile wait for the new
//!   session. If the replay fails (the server is down, say), the session is marked lost:
//!   the next message tries again, after a backoff, before it is sent.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;

use crate::client::Client;
use crate::error::{Error, display_chain};
use crate::forwarded::Forwarded;
use crate::headers::RequestHeaders;
use crate::message::{IdKey, JsonLine, Outgoing, OwedId};
use crate::stdio::Output;

/// The longest wait between two failed opens of the GET listen stream.
pub(crate) const LISTEN_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The wait before reopening a listen stream that ended, when the server set no `retry`.
const LISTEN_REOPEN: Duration = Duration::from_secs(1);
/// The shortest wait before reopening a listen stream, whatever `retry` says: a server
/// that ends every stream at once must not make the bridge spin.
const LISTEN_REOPEN_MIN: Duration = Duration::from_millis(50);
/// The longest wait between two tries to recover a lost session.
const RECOVERY_MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The shared state of a bridge's conversation.
#[derive(Debug, Default)]
pub(crate) struct Session {
    headers: RwLock<RequestHeaders>,
    saved: Mutex<Saved>,
    /// Held while recovering, so that concurrent 404s recover once; it guards the
    /// [`Lost`] state too.
    recovery: tokio::sync::Mutex<Option<Lost>>,
    listener: Mutex<Option<AbortHandle>>,
}

/// A session whose recovery failed: the next message tries again, not before `retry_at`.
#[derive(Debug, Clone, Copy)]
struct Lost {
    failures: u32,
    retry_at: Instant,
}

/// What a replay needs.
#[derive(Debug, Default)]
struct Saved {
    initialize: Option<Outgoing>,
    initialized: Option<Outgoing>,
    /// `resources/subscribe` requests still in force, by resource URI.
    subscriptions: Vec<Outgoing>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Session {
    /// The headers for a client message, once any recovery in progress is over (while one
    /// runs the session id is unset, and a message sent then would carry none: a 400, not a
    /// 404 that would recover). A lost session is recovered first.
    ///
    /// # Errors
    ///
    /// When the session is lost and recovering it failed again.
    pub(crate) async fn settled_headers(
        self: &Arc<Self>,
        client: &Client,
        output: &Output,
    ) -> Result<RequestHeaders, Error> {
        let lost = self.recovery.lock().await.is_some();
        if lost {
            self.recover_detached(client, output, None).await?;
        }
        Ok(self.headers())
    }

    /// The headers for the next request.
    pub(crate) fn headers(&self) -> RequestHeaders {
        self.headers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Remembers what a recovery replays: `initialize` (alone or in a batch),
    /// `notifications/initialized` and the resource subscriptions (an unsubscribe forgets
    /// its subscription).
    pub(crate) fn on_send(&self, message: &Outgoing) {
        let mut saved = lock(&self.saved);
        if let Some(initialize) = message.initialize() {
            saved.initialize = Some(initialize.clone());
        }
        match message.method() {
            Some("notifications/initialized") => saved.initialized = Some(message.clone()),
            Some("resources/subscribe") => {
                saved.subscriptions.retain(|s| s.name() != message.name());
                saved.subscriptions.push(message.clone());
            }
            Some("resources/unsubscribe") => {
                saved.subscriptions.retain(|s| s.name() != message.name());
            }
            _ => {}
        }
    }

    /// Whether the host has sent `notifications/initialized` (the session is in use).
    pub(crate) fn is_initialized(&self) -> bool {
        lock(&self.saved).initialized.is_some()
    }

    /// The client's `initialize` and `notifications/initialized`, as last sent: what starts
    /// a new session of the legacy HTTP+SSE transport.
    pub(crate) fn saved_handshake(&self) -> (Option<Outgoing>, Option<Outgoing>) {
        let saved = lock(&self.saved);
        (saved.initialize.clone(), saved.initialized.clone())
    }

    /// Takes the session id of an `initialize` response: it replaces the old session (no id
    /// means the server keeps no session).
    pub(crate) fn on_response(&self, message: &Outgoing, response: &Forwarded) {
        if message.initialize().is_none() {
            return;
        }
        let session_id = response.session_id().map(str::to_owned);
        let mut headers = self.headers.write().unwrap_or_else(PoisonError::into_inner);
        if headers.session_id != session_id {
            // Never the id itself: it is a credential for the session.
            if session_id.is_some() {
                tracing::info!(session = "new", "session started");
            } else {
                tracing::debug!("the server keeps no session");
            }
            headers.session_id = session_id;
        }
    }

    /// Notes the negotiated protocol version from the answer to `initialize` (a response,
    /// or a batch answer that holds it); `answers` are the ids `line` answers.
    pub(crate) fn on_answer(&self, message: &Outgoing, answers: &[IdKey], line: &JsonLine) {
        let Some(initialize) = message.initialize() else {
            return;
        };
        let Some(key) = initialize.owed().first().map(OwedId::key) else {
            return;
        };
        if !answers.contains(key) {
            return;
        }
        if let Some(Some(version)) = initialize_result(line.bytes(), key) {
            self.headers
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .protocol_version = Some(version);
        }
    }

    /// Whether `error`, for a message sent with `sent`, means the server forgot the session.
    pub(crate) fn is_expired(error: &Error, sent: &RequestHeaders, message: &Outgoing) -> bool {
        error.status().is_some_and(|s| s.as_u16() == 404)
            && sent.session_id.is_some()
            && message.initialize().is_none()
    }

    /// [`recover`](Self::recover) in a task of its own, so that a caller that gives up (a
    /// cancelled request) cannot stop a recovery half way.
    ///
    /// # Errors
    ///
    /// As [`recover`](Self::recover).
    pub(crate) async fn recover_detached(
        self: &Arc<Self>,
        client: &Client,
        output: &Output,
        failed: Option<&RequestHeaders>,
    ) -> Result<(), Error> {
        let (session, client, output) = (Arc::clone(self), client.clone(), output.clone());
        let failed = failed.cloned();
        let task =
            tokio::spawn(async move { session.recover(&client, &output, failed.as_ref()).await });
        match task.await {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(error = %e, "recovering the session failed inside the bridge");
                Err(Error::SessionExpired(None))
            }
        }
    }

    /// Re-establishes a session the server forgot (see the module docs). `failed` is what the
    /// failed message carried: if the session has changed since, another message already
    /// recovered it. `None` retries a lost session.
    ///
    /// # Errors
    ///
    /// When nothing was saved to replay, or the replayed `initialize` fails: the session is
    /// then lost, and the next message tries again.
    pub(crate) async fn recover(
        self: &Arc<Self>,
        client: &Client,
        output: &Output,
        failed: Option<&RequestHeaders>,
    ) -> Result<(), Error> {
        let mut lost = self.recovery.lock().await;
        match (failed, *lost) {
            (Some(failed), None) if self.headers().session_id != failed.session_id => {
                return Ok(()); // Another message recovered it already.
            }
            (None, None) => return Ok(()),
            (_, Some(Lost { retry_at, .. })) => tokio::time::sleep_until(retry_at.into()).await,
            (Some(_), None) => {}
        }
        let (initialize, initialized, subscriptions) = {
            let saved = lock(&self.saved);
            (
                saved.initialize.clone(),
                saved.initialized.clone(),
                saved.subscriptions.clone(),
            )
        };
        let Some(initialize) = initialize else {
            return Err(Error::SessionExpired(None));
        };
        let started = Instant::now();
        tracing::info!(
            session = "expired",
            attempt = lost.map_or(1, |l| l.failures.saturating_add(1)),
            "the server forgot the session; initializing a new one"
        );
        self.headers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .session_id = None;
        if let Err(e) = self.replay_initialize(client, initialize).await {
            let failures = lost.map_or(1, |l| l.failures.saturating_add(1));
            let backoff = client
                .retry_policy()
                .initial_backoff
                .saturating_mul(2u32.saturating_pow(failures - 1))
                .min(RECOVERY_MAX_BACKOFF);
            tracing::warn!(
                error = %display_chain(&e),
                attempt = failures,
                "re-initializing the session failed; the next message tries again"
            );
            *lost = Some(Lost {
                failures,
                retry_at: Instant::now() + backoff,
            });
            return Err(e);
        }
        *lost = None;
        if let Some(initialized) = initialized
            && let Err(e) = self.replay(client, initialized).await
        {
            tracing::warn!(error = %display_chain(&e), "re-sending notifications/initialized failed");
        }
        let resubscribed = subscriptions.len();
        for subscribe in subscriptions {
            if let Err(e) = self.replay(client, subscribe).await {
                tracing::warn!(error = %display_chain(&e), "re-subscribing failed");
            }
        }
        tracing::info!(
            session = "recovered",
            resubscribed,
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "session recovered"
        );
        self.listen(client.clone(), output.clone());
        Ok(())
    }

    /// Replays `initialize`: an error unless it was answered with a result.
    async fn replay_initialize(&self, client: &Client, initialize: Outgoing) -> Result<(), Error> {
        let answer = self.replay(client, initialize.clone()).await?;
        let key = initialize.owed().first().map(|o| o.key().clone());
        let result = match (&answer, &key) {
            (Some(answer), Some(key)) => initialize_result(answer, key),
            _ => None,
        };
        let Some(version) = result else {
            return Err(Error::SessionExpired(None));
        };
        if let Some(version) = version {
            self.headers
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .protocol_version = Some(version);
        }
        Ok(())
    }

    /// Sends a saved message again with the current headers and swallows its messages; the
    /// answer (if it is a request) is returned.
    async fn replay(
        &self,
        client: &Client,
        message: Outgoing,
    ) -> Result<Option<bytes::Bytes>, Error> {
        let mut response = client
            .forward_peeked(message.clone(), &self.headers())
            .await?;
        self.on_response(&message, &response);
        let messages = response.messages();
        let mut answer = None;
        while let Some(item) = messages.next_routed().await {
            let routed = item?;
            if answer.is_none() && !routed.answers.is_empty() {
                answer = Some(routed.line.bytes().clone());
            }
        }
        Ok(answer)
    }

    /// Starts (or restarts) the GET listen stream task.
    pub(crate) fn listen(self: &Arc<Self>, client: Client, output: Output) {
        let task = tokio::spawn(listen_loop(Arc::clone(self), client, output));
        if let Some(previous) = lock(&self.listener).replace(task.abort_handle()) {
            previous.abort();
        }
    }

    /// Stops the listen stream, if any.
    pub(crate) fn stop_listening(&self) {
        if let Some(task) = lock(&self.listener).take() {
            task.abort();
        }
    }
}

/// The answer to `key` in `answer` (a response, or a batch answer that holds it), if it is a
/// result: `Some` of its `protocolVersion` (`Some(None)` without one); `None` for an error
/// or no answer to `key`.
fn initialize_result(answer: &[u8], key: &IdKey) -> Option<Option<String>> {
    #[derive(serde::Deserialize)]
    struct Response<'a> {
        #[serde(borrow)]
        id: Option<&'a serde_json::value::RawValue>,
        result: Option<InitResult>,
    }
    #[derive(serde::Deserialize)]
    struct InitResult {
        #[serde(rename = "protocolVersion")]
        protocol_version: Option<String>,
    }
    let of = |response: Response<'_>| {
        let answers = response.id.is_some_and(|id| IdKey::new(id.get()) == *key);
        answers
            .then_some(response.result)
            .flatten()
            .map(|r| r.protocol_version)
    };
    if answer.first() == Some(&b'[') {
        let batch: Vec<Response<'_>> = serde_json::from_slice(answer).ok()?;
        return batch.into_iter().find_map(of);
    }
    of(serde_json::from_slice(answer).ok()?)
}

/// Keeps the GET listen stream open while the session lives (see the module docs).
async fn listen_loop(session: Arc<Session>, client: Client, output: Output) {
    let mut last_event_id: Option<String> = None;
    let mut retry: Option<Duration> = None;
    let mut failures: u32 = 0;
    loop {
        let ctx = session.headers();
        match client.listen(&ctx, last_event_id.as_deref()).await {
            Ok(None) => {
                tracing::debug!("the server has no GET listen stream (405)");
                return;
            }
            Err(e) if e.status().is_some_and(|s| s.as_u16() == 404) && ctx.session_id.is_some() => {
                // Recovery reopens the stream; this task ends here.
                tokio::spawn(async move {
                    if let Err(e) = session.recover(&client, &output, Some(&ctx)).await {
                        tracing::warn!(error = %display_chain(&e), "recovering the session failed");
                    }
                });
                return;
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                if failures == 1 {
                    tracing::warn!(error = %display_chain(&e), "opening the GET listen stream failed; retrying while the session lives");
                } else {
                    tracing::debug!(error = %display_chain(&e), attempt = failures, "opening the GET listen stream failed");
                }
                let backoff = client
                    .retry_policy()
                    .initial_backoff
                    .saturating_mul(2u32.saturating_pow(failures.min(16) - 1))
                    .min(LISTEN_MAX_BACKOFF);
                tokio::time::sleep(backoff.mul_f64(0.5 + 0.5 * fastrand::f64())).await;
                continue;
            }
            Ok(Some(mut stream)) => {
                failures = 0;
                while let Some(item) = stream.next_line().await {
                    match item {
                        Ok(line) => {
                            if !output.write(line).await {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::debug!(error = %display_chain(&e), "the listen stream broke");
                            break;
                        }
                    }
                }
                if let Some(id) = stream.last_event_id() {
                    last_event_id = Some(id.to_owned());
                }
                retry = stream.retry().or(retry);
            }
        }
        // A stream that ended is no failure: reopen it as the server asked.
        let wait = retry.unwrap_or(LISTEN_REOPEN).max(LISTEN_REOPEN_MIN);
        tokio::time::sleep(wait).await;
    }
}
