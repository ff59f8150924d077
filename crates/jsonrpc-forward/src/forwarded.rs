//! [`Forwarded`]: the answer to one forwarded message, and the streams of messages it and
//! the session's GET listen stream carry.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Response, StatusCode, Version};

use crate::body::{BodyDecoder, BodyFormat};
use crate::client::Client;
use crate::error::Error;
use crate::headers::{MCP_SESSION_ID, RequestHeaders};
use crate::message::{
    IdKey, Inbound, JsonLine, Outgoing, OwedId, inbound, readdress_error, retain_responses,
};
use crate::redact::redacted;

/// Where a forwarded message reads the conversation's headers, for each attempt.
pub(crate) type HeaderSource = Arc<dyn Fn() -> RequestHeaders + Send + Sync>;

/// How the body of a forwarded message is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum BodyWatch {
    /// An ordinary request: the client's idle timeout; a stream that breaks is resumed
    /// (`Last-Event-ID`) or resent as [`crate::retry`] allows.
    #[default]
    Request,
    /// A `subscriptions/listen` stream (§1.6): no idle timeout, since a server may stay silent
    /// for hours and keep-alive comments are only "encouraged" (§4.6), and no resumption or
    /// resend, since a 2026 server has neither GET nor `Last-Event-ID` and the stream's owner
    /// reopens it itself, counting and pacing the opens.
    LongLived,
}

/// A 2xx response to a forwarded message, with its messages as they arrive.
pub struct Forwarded {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    messages: Messages,
}

/// Shows the response's header names, not their values: `Mcp-Session-Id` and cookies are
/// secrets.
impl std::fmt::Debug for Forwarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarded")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Forwarded {
    pub(crate) fn new(
        client: Client,
        message: Outgoing,
        headers: HeaderSource,
        response: Response,
        started: Instant,
        attempt: u32,
    ) -> Self {
        Self::watched(
            client,
            message,
            headers,
            response,
            (started, attempt),
            BodyWatch::Request,
        )
    }

    /// As [`new`](Self::new), its body watched as `watch` says.
    pub(crate) fn watched(
        client: Client,
        message: Outgoing,
        headers: HeaderSource,
        response: Response,
        (started, attempt): (Instant, u32),
        watch: BodyWatch,
    ) -> Self {
        Self {
            status: response.status(),
            version: response.version(),
            headers: response.headers().clone(),
            messages: Messages {
                stream: Box::pin(message_stream(
                    client,
                    message,
                    headers,
                    response,
                    (started, attempt),
                    watch,
                )),
            },
        }
    }

    /// The HTTP status (always 2xx: other statuses are errors).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version the response came over (HTTP/2 when the server offers it by ALPN).
    #[must_use]
    pub fn http_version(&self) -> Version {
        self.version
    }

    /// The response headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The `Mcp-Session-Id` the server sent, if any.
    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        self.headers.get(MCP_SESSION_ID)?.to_str().ok()
    }

    /// The messages, as [`Messages`].
    pub fn messages(&mut self) -> &mut Messages {
        &mut self.messages
    }
}

/// One message of a response, and the ids it answers (none for the server's own requests
/// and notifications).
#[derive(Debug)]
pub(crate) struct Routed {
    pub(crate) line: JsonLine,
    pub(crate) answers: Vec<IdKey>,
}

/// The messages of one response, each valid JSON on one line, yielded as they arrive.
///
/// For a request (or a batch), the stream yields the server's messages (its requests and
/// notifications, then the answer) and ends once every id it is owed was answered: the rest
/// of the body is read and dropped in the background (so the connection can be reused) but
/// never yielded. A response whose id is not owed (another request's, or one already
/// answered) is logged and skipped, so no id is answered twice. If the body ends or fails
/// before every answer, the last item is the error that takes their place. Dropping the
/// stream closes the response (on a 2026 server that cancels the call), so drop it only on
/// purpose.
pub struct Messages {
    stream: Pin<Box<dyn Stream<Item = Result<Routed, Error>> + Send>>,
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages").finish_non_exhaustive()
    }
}

impl Messages {
    /// The next message, or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Bytes, Error>> {
        let routed = poll_fn(|cx| self.stream.as_mut().poll_next(cx)).await?;
        Some(routed.map(|r| r.line.bytes().clone()))
    }

    /// The next message with the ids it answers.
    pub(crate) async fn next_routed(&mut self) -> Option<Result<Routed, Error>> {
        poll_fn(|cx| self.stream.as_mut().poll_next(cx)).await
    }
}

impl Stream for Messages {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|r| r.map(|r| r.line.bytes().clone())))
    }
}

/// The session's GET listen stream: server messages outside any request, as they arrive.
pub(crate) struct ListenStream {
    response: Response,
    body: BodyDecoder,
    ended: bool,
}

impl std::fmt::Debug for ListenStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenStream")
            .field("last_event_id", &self.last_event_id())
            .finish_non_exhaustive()
    }
}

impl ListenStream {
    pub(crate) fn new(response: Response, body: BodyDecoder) -> Self {
        Self {
            response,
            body,
            ended: false,
        }
    }

    /// The next message (valid JSON on one line), or `None` when the stream ends; an error
    /// ends it too. Responses are logged and skipped: nothing is owed an answer on this
    /// stream, and a response written to stdout would be a second answer.
    pub(crate) async fn next_line(&mut self) -> Option<Result<JsonLine, Error>> {
        loop {
            let next = if self.ended {
                self.body.decode_eof()
            } else {
                self.body.decode()
            };
            match next {
                Ok(Some(raw)) => match inbound(raw) {
                    Ok(Some(message)) if message.answers.is_empty() => {
                        return Some(Ok(JsonLine::from_inbound(message)));
                    }
                    Ok(Some(message)) => {
                        tracing::warn!(
                            ids = ?message.answers,
                            "dropping a response on the GET stream: nothing is owed there"
                        );
                    }
                    Ok(None) => {}
                    Err(e) => return Some(Err(e.into())),
                },
                Ok(None) if self.ended => return None,
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => {
                    if let Err(e) = self.body.push(&chunk) {
                        return Some(Err(e));
                    }
                }
                Ok(None) => self.ended = true,
                Err(e) => return Some(Err(Error::Read(redacted(e)))),
            }
        }
    }

    /// The id of the last event received, for resuming with `Last-Event-ID`.
    #[must_use]
    pub(crate) fn last_event_id(&self) -> Option<&str> {
        self.body.last_event_id()
    }

    /// The reconnection time the server asked for (`retry:`), if any.
    #[must_use]
    pub(crate) fn retry(&self) -> Option<Duration> {
        self.body.retry()
    }
}

/// How long the rest of a body is read (and dropped) after its last answer, so that its
/// connection goes back to the pool; a server that keeps the stream open longer loses it.
const DRAIN_AFTER_ANSWER: Duration = Duration::from_secs(2);

/// Reads what is left of a response after its answer, dropping it (see [`Messages`]).
pub(crate) async fn drain(mut response: Response) {
    let drained = async {
        let mut dropped = 0usize;
        while let Ok(Some(chunk)) = response.chunk().await {
            dropped = dropped.saturating_add(chunk.len());
        }
        dropped
    };
    match tokio::time::timeout(DRAIN_AFTER_ANSWER, drained).await {
        Ok(0) => {}
        Ok(dropped) => tracing::debug!(dropped, "dropped what came after the answer"),
        Err(_) => tracing::debug!("the server kept the stream open after the answer; closed it"),
    }
}

/// What [`message_stream`] does with one checked message.
enum Route {
    /// Hand it on: the server's request or notification, or an answer still owed.
    Yield(Routed),
    /// Nothing in it is owed: log and drop it.
    Drop(Vec<IdKey>),
}

/// Routes `message` against the ids `owed` on this stream, those already answered marked
/// in `answered` (the ids it answers are marked too).
///
/// An error response with `id: null` (the server could not read the id) on the stream of a
/// single request can only be about that request: it answers it, re-addressed, so that the
/// client sees the server's error rather than "Server closed the stream".
fn route(message: Inbound, owed: &[OwedId], answered: &mut [bool], single: bool) -> Route {
    if message.answers.is_empty() {
        return Route::Yield(Routed {
            line: JsonLine::from_inbound(message),
            answers: Vec::new(),
        });
    }
    if let ([request], [null], [false]) = (owed, message.answers.as_slice(), &*answered)
        && single
        && null.as_str() == "null"
        && let Some(readdressed) = readdress_error(&message.bytes, Some(request.raw()))
    {
        answered[0] = true;
        return Route::Yield(Routed {
            line: JsonLine::new(readdressed),
            answers: vec![request.key().clone()],
        });
    }
    let mut fresh = Vec::with_capacity(message.answers.len());
    for id in &message.answers {
        let still_owed = owed
            .iter()
            .zip(answered.iter_mut())
            .find(|(owed, answered)| !**answered && owed.key() == id);
        if let Some((_, answered)) = still_owed {
            *answered = true;
            fresh.push(id.clone());
        }
    }
    if fresh.is_empty() {
        return Route::Drop(message.answers);
    }
    if fresh.len() == message.answers.len() {
        return Route::Yield(Routed {
            line: JsonLine::from_inbound(message),
            answers: fresh,
        });
    }
    // A batch answer that also holds responses not owed: keep only the owed ones.
    let mut keep = fresh.clone();
    match retain_responses(&message.bytes, |id| {
        keep.iter()
            .position(|k| k == id)
            .map(|i| keep.swap_remove(i))
            .is_some()
    }) {
        Some(bytes) => Route::Yield(Routed {
            line: JsonLine::new(bytes),
            answers: fresh,
        }),
        None => Route::Drop(message.answers),
    }
}

/// Decodes `response` into routed messages (see [`Messages`]).
///
/// A request whose SSE answer ended or broke after an event with an id is resumed by a GET
/// with `Last-Event-ID` (2025-11-25 "SSE polling"): after the server's `retry`, with the last
/// id seen on any of its streams, as often as the server closes it, for as long as the
/// request's idle timeout has not run out (every byte received restarts it). A request safe
/// to resend whose body broke before anything was handed on is resent. Every attempt reads
/// the conversation's headers anew. A [`BodyWatch::LongLived`] body has no idle timeout
/// and is neither resumed nor resent: its end or failure is the last item.
fn message_stream(
    client: Client,
    message: Outgoing,
    headers: HeaderSource,
    first: Response,
    (started, mut attempt): (Instant, u32),
    watch: BodyWatch,
) -> impl Stream<Item = Result<Routed, Error>> + Send {
    async_stream::stream! {
        let idle = client.idle_timeout();
        let long_lived = watch == BodyWatch::LongLived;
        let limit = client.max_message_bytes();
        let mut answered = vec![false; message.owed().len()];
        let single = !message.is_batch();
        let owes_answers = !answered.is_empty();
        let mut response = first;
        let mut handed_on = false;
        let mut last_event_id: Option<String> = None;
        let mut retry: Option<Duration> = None;
        let mut last_byte = Instant::now();
        loop {
            let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let format = BodyFormat::from_content_type(content_type);
            let mut body = BodyDecoder::new(format, limit, response.content_length());
            let failure = 'body: loop {
                let next = if long_lived {
                    Ok(response.chunk().await)
                } else {
                    tokio::time::timeout(idle, response.chunk()).await
                };
                let chunk = match next {
                    Err(_) => break 'body Some(Error::Timeout(idle)),
                    Ok(Err(e)) => break 'body Some(Error::Read(redacted(e))),
                    Ok(Ok(chunk)) => chunk,
                };
                last_byte = Instant::now();
                let eof = chunk.is_none();
                if let Some(chunk) = chunk
                    && let Err(e) = body.push(&chunk)
                {
                    break 'body Some(e);
                }
                loop {
                    let next = if eof { body.decode_eof() } else { body.decode() };
                    let raw = match next {
                        Ok(Some(raw)) => raw,
                        Ok(None) => break,
                        Err(e) => break 'body Some(e),
                    };
                    let checked = match inbound(raw) {
                        Ok(Some(checked)) => checked,
                        Ok(None) => continue,
                        Err(e) => break 'body Some(e.into()),
                    };
                    match route(checked, message.owed(), &mut answered, single) {
                        Route::Yield(routed) => {
                            handed_on = true;
                            yield Ok(routed);
                        }
                        Route::Drop(ids) => {
                            tracing::warn!(?ids, method = message.method(), "dropping a response whose id is not owed on this stream");
                        }
                    }
                    if owes_answers && answered.iter().all(|a| *a) {
                        // Every answer is out: the stream is done. A body that has not
                        // ended yet is read to its end (and dropped) in the background.
                        if !eof {
                            tokio::spawn(drain(response));
                        }
                        return;
                    }
                }
                if eof {
                    break 'body None;
                }
            };
            if let Some(id) = body.last_event_id() {
                last_event_id = Some(id.to_owned());
            }
            retry = body.retry().or(retry);
            let error = match failure {
                None if owes_answers => Error::StreamEnded,
                None => return,
                Some(e) if !owes_answers => {
                    tracing::debug!(error = %crate::error::display_chain(&e), "the stream of a message owed no answer failed");
                    return;
                }
                Some(e) => e,
            };
            if long_lived {
                yield Err(error);
                return;
            }
            // A request carrying the 2026 envelope is never resumed: that era has no GET
            // and no `Last-Event-ID` (§4.5 of protocol-2026.md).
            if let Some(resume_from) = &last_event_id
                && message.protocol_version().is_none()
                && matches!(error, Error::Transport(_) | Error::Read(_) | Error::StreamEnded)
            {
                let wait = retry.unwrap_or(Duration::ZERO);
                if last_byte.elapsed().saturating_add(wait) < idle {
                    tokio::time::sleep(wait).await;
                    tracing::debug!("resuming an answer stream with Last-Event-ID");
                    match client.open_get(&headers(), Some(resume_from)).await {
                        Ok(Some(next)) => {
                            response = next;
                            continue;
                        }
                        Ok(None) => tracing::debug!("the server cannot resume streams (405)"),
                        Err(e) => tracing::debug!(error = %crate::error::display_chain(&e), "resuming failed"),
                    }
                }
            }
            if !handed_on
                && let Some(delay) = client.retry_delay(&error, attempt, &message, started)
            {
                tokio::time::sleep(delay).await;
                attempt += 1;
                match client.send(&message, &headers, started, &mut attempt).await {
                    Ok(next) => {
                        response = next;
                        continue;
                    }
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                }
            }
            yield Err(error);
            return;
        }
    }
}
