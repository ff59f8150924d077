//! A scripted 2026-07-28 `subscriptions/listen` responder (research notes
//! `protocol-2026.md` §1.6): a POST whose SSE answer stays open.
//!
//! The stream opens with `notifications/subscriptions/acknowledged` naming the granted subset
//! of the asked filter ([`Scenario::listen_deny_resources`] grants no resource kinds). Then it
//! carries what the test triggers: [`TestServer::listen_bump`] sends every open stream the
//! notifications it subscribed to, and [`TestServer::listen_end`] ends them gracefully (the
//! `{"resultType":"complete"}` result), with a clean end of body and no result, or with a
//! TCP reset. [`Scenario::listen_end_after_ack`] ends every stream right after its ack, and
//! [`Scenario::listen_refused`] answers every listen `404` with `-32601`, as mcp 2.3 answers
//! a method it does not serve. Every listen POST is kept, whatever
//! [`Scenario::record_requests`] says, for [`TestServer::listen_requests`].
//!
//! [`Scenario::listen_deny_resources`]: crate::Scenario::listen_deny_resources
//! [`Scenario::listen_end_after_ack`]: crate::Scenario::listen_end_after_ack
//! [`Scenario::listen_refused`]: crate::Scenario::listen_refused
//! [`Scenario::record_requests`]: crate::Scenario::record_requests
//! [`TestServer::listen_bump`]: crate::TestServer::listen_bump
//! [`TestServer::listen_end`]: crate::TestServer::listen_end
//! [`TestServer::listen_requests`]: crate::TestServer::listen_requests

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::request::Parts;
use http::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::body::ResponseBody;
use crate::conn::Killer;
use crate::mcp::error;
use crate::record::RecordedRequest;
use crate::server::State;

/// The method that opens a listen stream.
pub(crate) const LISTEN: &str = "subscriptions/listen";
/// The `_meta` key that names the listen request a notification belongs to.
const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// How [`TestServer::listen_end`](crate::TestServer::listen_end) (or
/// [`Scenario::listen_end_after_ack`](crate::Scenario::listen_end_after_ack)) ends a listen
/// stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListenEnd {
    /// Graceful: the result `{"resultType":"complete","_meta":{subscriptionId}}` for the
    /// listen id, then the end of the body.
    Complete,
    /// A drop: the body ends cleanly (the last chunk) without the result.
    Eof,
    /// A drop: the connection is reset (TCP RST) without the result.
    Reset,
}

/// What a test asks of the open streams.
#[derive(Debug, Clone, Copy)]
enum Command {
    Bump,
    End(ListenEnd),
}

/// The listen streams of one server, and every listen POST it received.
#[derive(Debug, Default)]
pub(crate) struct Listens {
    open: Mutex<Vec<mpsc::UnboundedSender<Command>>>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Streams answered 200 and still being served (the client has not gone).
    live: Arc<AtomicU64>,
    /// Listens still to be refused with `503`.
    fail_next: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Listens {
    /// Sends `command` to every open stream; returns how many were still there.
    fn tell(&self, command: Command) -> usize {
        let mut open = lock(&self.open);
        open.retain(|tx| tx.send(command).is_ok());
        open.len()
    }

    pub(crate) fn bump(&self) -> usize {
        self.tell(Command::Bump)
    }

    pub(crate) fn end(&self, how: ListenEnd) -> usize {
        self.tell(Command::End(how))
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub(crate) fn fail_next(&self, n: u64) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Takes one of the failures [`fail_next`](Self::fail_next) asked for.
    fn take_failure(&self) -> bool {
        self.fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn live(&self) -> u64 {
        self.live.load(Ordering::SeqCst)
    }
}

/// What the ack grants: the asked filter, less the resource kinds when they are denied.
fn granted(asked: &Value, deny_resources: bool) -> Value {
    let mut granted = serde_json::Map::new();
    for key in [
        "toolsListChanged",
        "promptsListChanged",
        "resourcesListChanged",
    ] {
        if asked[key] == true && !(deny_resources && key == "resourcesListChanged") {
            granted.insert(key.to_owned(), Value::Bool(true));
        }
    }
    if let Some(uris) = asked["resourceSubscriptions"].as_array()
        && !deny_resources
        && !uris.is_empty()
    {
        granted.insert(
            "resourceSubscriptions".to_owned(),
            Value::Array(uris.clone()),
        );
    }
    Value::Object(granted)
}

/// The notifications one bump sends a stream that was granted `granted`.
fn bump_messages(granted: &Value, meta: &Value) -> Vec<Value> {
    let mut messages = Vec::new();
    for (key, method) in [
        ("toolsListChanged", "notifications/tools/list_changed"),
        ("promptsListChanged", "notifications/prompts/list_changed"),
        (
            "resourcesListChanged",
            "notifications/resources/list_changed",
        ),
    ] {
        if granted[key] == true {
            messages.push(json!({"jsonrpc": "2.0", "method": method, "params": {"_meta": meta}}));
        }
    }
    for uri in granted["resourceSubscriptions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        messages.push(
            json!({"jsonrpc": "2.0", "method": "notifications/resources/updated",
            "params": {"uri": uri, "_meta": meta}}),
        );
    }
    messages
}

fn event(message: &Value) -> Bytes {
    Bytes::from(format!("event: message\ndata: {message}\n\n"))
}

/// Answers one `subscriptions/listen` POST (see the module docs).
pub(crate) fn answer(
    parts: &Parts,
    body: &[u8],
    message: &Value,
    state: &State,
    killer: Arc<Killer>,
) -> Response<ResponseBody> {
    let listens = &state.listens;
    // Recorded once its stream is open, so that a bump after the record reaches it.
    let response = open(message, state, killer);
    lock(&listens.requests).push(RecordedRequest::new(parts, body));
    response
}

/// The answer to a listen: a refusal, or a stream that is open (it takes bumps) on return.
fn open(message: &Value, state: &State, killer: Arc<Killer>) -> Response<ResponseBody> {
    let listens = &state.listens;
    let id = message["id"].clone();
    if listens.take_failure() {
        let answer = error(id, -32000, "listen unavailable");
        return json_response(StatusCode::SERVICE_UNAVAILABLE, &answer);
    }
    if state.scenario.listen_refused {
        let answer = error(id, -32601, "Method not found");
        return json_response(StatusCode::NOT_FOUND, &answer);
    }
    let Some(asked) = message
        .pointer("/params/notifications")
        .filter(|n| n.is_object())
    else {
        let answer = error(id, -32602, "params.notifications must be an object");
        return json_response(StatusCode::BAD_REQUEST, &answer);
    };
    let granted = granted(asked, state.scenario.listen_deny_resources);
    let meta = json!({ SUBSCRIPTION_ID: id });
    let ack = json!({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
        "params": {"_meta": meta, "notifications": granted}});
    let (body_tx, body_rx) = mpsc::channel::<Bytes>(16);
    let (tx, mut commands) = mpsc::unbounded_channel();
    match state.scenario.listen_end_after_ack {
        // Queued before the stream is visible, so that it ends right after its ack.
        Some(how) => {
            let _ = tx.send(Command::End(how));
        }
        None => lock(&listens.open).push(tx),
    }
    let live = Arc::clone(&listens.live);
    live.fetch_add(1, Ordering::SeqCst);
    tokio::spawn(async move {
        serve(&body_tx, &mut commands, &ack, &granted, &meta, &id, &killer).await;
        live.fetch_sub(1, Ordering::SeqCst);
    });
    let mut response = Response::new(ResponseBody::Channel {
        rx: body_rx,
        len: None,
    });
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
    response
}

/// Writes the ack, then what the commands ask, until an end or the client goes away.
async fn serve(
    body: &mpsc::Sender<Bytes>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    ack: &Value,
    granted: &Value,
    meta: &Value,
    id: &Value,
    killer: &Killer,
) {
    if body.send(event(ack)).await.is_err() {
        return;
    }
    loop {
        let command = tokio::select! {
            () = body.closed() => return,
            command = commands.recv() => command,
        };
        match command {
            None => {
                // The server is gone: hold the stream until the client leaves.
                body.closed().await;
                return;
            }
            Some(Command::Bump) => {
                for message in bump_messages(granted, meta) {
                    if body.send(event(&message)).await.is_err() {
                        return;
                    }
                }
            }
            Some(Command::End(ListenEnd::Complete)) => {
                let done = json!({"jsonrpc": "2.0", "id": id,
                    "result": {"resultType": "complete", "_meta": meta}});
                let _ = body.send(event(&done)).await;
                return;
            }
            Some(Command::End(ListenEnd::Eof)) => return,
            Some(Command::End(ListenEnd::Reset)) => {
                // Let hyper write what was sent, then reset the connection.
                let _ = body.reserve_many(body.max_capacity()).await;
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                killer.reset();
                body.closed().await;
                return;
            }
        }
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ack_grants_the_asked_subset_and_can_deny_resources() {
        let asked = json!({"toolsListChanged": true, "promptsListChanged": false,
            "resourcesListChanged": true, "resourceSubscriptions": ["file:///a"]});
        assert_eq!(
            granted(&asked, false),
            json!({"toolsListChanged": true, "resourcesListChanged": true,
                "resourceSubscriptions": ["file:///a"]})
        );
        assert_eq!(granted(&asked, true), json!({"toolsListChanged": true}));
    }

    #[test]
    fn a_bump_sends_what_was_granted_tagged_with_the_subscription() {
        let meta = json!({SUBSCRIPTION_ID: "l-1"});
        let granted = json!({"promptsListChanged": true, "resourceSubscriptions": ["a", "b"]});
        let sent = bump_messages(&granted, &meta);
        let methods: Vec<&str> = sent.iter().filter_map(|m| m["method"].as_str()).collect();
        assert_eq!(
            methods,
            [
                "notifications/prompts/list_changed",
                "notifications/resources/updated",
                "notifications/resources/updated"
            ]
        );
        assert_eq!(sent[2]["params"]["uri"], "b");
        assert!(
            sent.iter()
                .all(|m| m["params"]["_meta"][SUBSCRIPTION_ID] == "l-1")
        );
    }
}
