//! The conversation with one server: its session id and protocol version, the GET listen
//! stream, and recovery when the server forgets the session.
//!
//! - The `initialize` response carries `Mcp-Session-Id` and, in its result, the negotiated
//!   `protocolVersion`; both go on every later request. They are recorded before the
//!   `initialize` answer reaches stdout, so the client's next message already carries them.
//! - Once the server accepts `notifications/initialized`, the GET listen stream is opened;
//!   what it carries goes to stdout. When it ends or breaks it is reopened after the server's
//!   `retry` (else a backoff) with `Last-Event-ID`; after [`MAX_LISTEN_FAILURES`] attempts in a
//!   row that fail or bring nothing, one warning and no more tries. 405 means the server has
//!   no such stream.
//! - A 404 to a message that carried the session id means the server forgot the session:
//!   the id is dropped, the saved `initialize` and `notifications/initialized` are replayed
//!   (their answers hidden from stdout), the client's `resources/subscribe` calls re-issued,
//!   the listen stream reopened, and the failed message sent once more. Concurrent 404s of
//!   one session recover it once, and messages that arrive meanwhile wait for the new
//!   session.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::client::{Client, Forwarded};
use crate::error::{Error, display_chain};
use crate::headers::RequestHeaders;
use crate::message::Outgoing;
use crate::stdio::Out;

/// Listen-stream attempts in a row that may fail (or bring nothing) before giving up.
pub(crate) const MAX_LISTEN_FAILURES: u32 = 5;

/// The shared state of a bridge's conversation.
#[derive(Debug, Default)]
pub(crate) struct Session {
    headers: RwLock<RequestHeaders>,
    saved: Mutex<Saved>,
    /// Held while recovering, so that concurrent 404s recover once.
    recovery: tokio::sync::Mutex<()>,
    listener: Mutex<Option<AbortHandle>>,
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
    /// The headers for a client message, once any recovery in progress is over: while one
    /// runs the session id is unset, and a message sent then would carry none (a 400, not
    /// a 404 that would recover).
    pub(crate) async fn settled_headers(&self) -> RequestHeaders {
        drop(self.recovery.lock().await);
        self.headers()
    }

    /// The headers for the next request.
    pub(crate) fn headers(&self) -> RequestHeaders {
        self.headers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Remembers what a recovery replays: `initialize`, `notifications/initialized` and the
    /// resource subscriptions (an unsubscribe forgets its subscription).
    pub(crate) fn on_send(&self, message: &Outgoing) {
        let mut saved = lock(&self.saved);
        match message.method() {
            Some("initialize") => saved.initialize = Some(message.clone()),
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

    /// Notes the session id of an `initialize` response.
    pub(crate) fn on_response(&self, message: &Outgoing, response: &Forwarded) {
        if message.method() != Some("initialize") {
            return;
        }
        let session_id = response.session_id().map(str::to_owned);
        let mut headers = self.headers.write().unwrap_or_else(PoisonError::into_inner);
        if headers.session_id != session_id {
            tracing::debug!(session = session_id.as_deref(), "session started");
            headers.session_id = session_id;
        }
    }

    /// Notes the negotiated protocol version from the answer to `initialize`.
    pub(crate) fn on_answer(&self, message: &Outgoing, answer: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Answer {
            result: Option<InitResult>,
        }
        #[derive(serde::Deserialize)]
        struct InitResult {
            #[serde(rename = "protocolVersion")]
            protocol_version: Option<String>,
        }
        if message.method() != Some("initialize") {
            return;
        }
        let version = serde_json::from_slice::<Answer>(answer)
            .ok()
            .and_then(|a| a.result)
            .and_then(|r| r.protocol_version);
        if let Some(version) = version {
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
            && message.method() != Some("initialize")
    }

    /// Re-establishes a session the server forgot (see the module docs). `failed` is what the
    /// failed message carried: if the session has changed since, another message already
    /// recovered it.
    ///
    /// # Errors
    ///
    /// When nothing was saved to replay, or the replayed `initialize` fails.
    pub(crate) async fn recover(
        self: &Arc<Self>,
        client: &Client,
        writer: &mpsc::Sender<Out>,
        failed: &RequestHeaders,
    ) -> Result<(), Error> {
        let _recovering = self.recovery.lock().await;
        if self.headers().session_id != failed.session_id {
            return Ok(());
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
        tracing::info!("the server forgot the session; initializing a new one");
        {
            let mut headers = self.headers.write().unwrap_or_else(PoisonError::into_inner);
            headers.session_id = None;
        }
        let answer = self.replay(client, initialize.clone()).await?;
        self.on_answer(&initialize, &answer);
        if is_error_answer(&answer) {
            return Err(Error::SessionExpired(None));
        }
        if let Some(initialized) = initialized {
            self.replay(client, initialized).await?;
        }
        for subscribe in subscriptions {
            if let Err(e) = self.replay(client, subscribe).await {
                tracing::warn!(error = %display_chain(&e), "re-subscribing failed");
            }
        }
        self.listen(client.clone(), writer.clone());
        Ok(())
    }

    /// Sends a saved message again with the current headers and swallows its messages; the
    /// answer (if it is a request) is returned.
    async fn replay(&self, client: &Client, message: Outgoing) -> Result<Vec<u8>, Error> {
        let mut response = client
            .forward_peeked(message.clone(), &self.headers())
            .await?;
        self.on_response(&message, &response);
        let messages = response.messages();
        let mut answer = Vec::new();
        while let Some(item) = messages.next().await {
            let line = item?;
            if messages.answered() && answer.is_empty() {
                answer = line.to_vec();
            }
        }
        Ok(answer)
    }

    /// Starts (or restarts) the GET listen stream task.
    pub(crate) fn listen(self: &Arc<Self>, client: Client, writer: mpsc::Sender<Out>) {
        let task = tokio::spawn(listen_loop(Arc::clone(self), client, writer));
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

fn is_error_answer(answer: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Answer {
        error: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Answer>(answer).map_or(true, |a| a.error.is_some())
}

/// Keeps the GET listen stream open (see the module docs).
async fn listen_loop(session: Arc<Session>, client: Client, writer: mpsc::Sender<Out>) {
    let mut last_event_id: Option<String> = None;
    let mut retry: Option<Duration> = None;
    let mut failures = 0;
    loop {
        let ctx = session.headers();
        let mut delivered = false;
        match client.listen(&ctx, last_event_id.as_deref()).await {
            Ok(None) => {
                tracing::debug!("the server has no GET listen stream (405)");
                return;
            }
            Err(e) if e.status().is_some_and(|s| s.as_u16() == 404) && ctx.session_id.is_some() => {
                // Recovery reopens the stream; this task ends here.
                let session = Arc::clone(&session);
                tokio::spawn(async move {
                    if let Err(e) = session.recover(&client, &writer, &ctx).await {
                        tracing::warn!(error = %display_chain(&e), "recovering the session failed");
                    }
                });
                return;
            }
            Err(e) => {
                tracing::debug!(error = %display_chain(&e), "opening the listen stream failed");
            }
            Ok(Some(mut stream)) => {
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(line) => {
                            delivered = true;
                            if writer.send(Out::Line(line)).await.is_err() {
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
                    delivered |= last_event_id.as_deref() != Some(id);
                    last_event_id = Some(id.to_owned());
                }
                retry = stream.retry().or(retry);
            }
        }
        failures = if delivered { 0 } else { failures + 1 };
        if failures >= MAX_LISTEN_FAILURES {
            tracing::warn!(
                attempts = failures,
                "giving up on the GET listen stream; requests still work"
            );
            return;
        }
        let backoff = Duration::from_millis(250 * (1 << failures.min(5)));
        tokio::time::sleep(retry.unwrap_or(backoff)).await;
    }
}
