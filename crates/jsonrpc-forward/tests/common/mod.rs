//! Shared helpers: messages, a client with short backoffs, and draining a response.
#![allow(dead_code, unreachable_pub)] // Each test binary uses a part.

pub mod wrapper;

use std::time::Duration;

use bytes::Bytes;
use jsonrpc_forward::retry::RetryPolicy;
use jsonrpc_forward::{Client, ClientConfig, Error, RequestHeaders};
use serde_json::{Value, json};
use test_server::Fault;

/// A JSON-RPC request as bytes.
pub fn request(id: u64, method: &str, params: Value) -> Bytes {
    Bytes::from(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string())
}

/// A `tools/call` of `echo` whose answer is bent by `fault`.
pub fn echo_with(id: u64, fault: &Fault) -> Bytes {
    request(
        id,
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "h\u{e9}llo"}, "_meta": fault.to_meta()}),
    )
}

/// Any method, with its answer bent by `fault`.
pub fn method_with(id: u64, method: &str, fault: &Fault) -> Bytes {
    request(id, method, json!({"_meta": fault.to_meta()}))
}

/// The POSTs the server received whose body has this `method`.
pub fn posts_of(server: &test_server::TestServer, method: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.json().is_some_and(|b| b["method"] == method))
        .count()
}

/// The requests with this HTTP method the server received, in arrival order.
pub fn received(
    server: &test_server::TestServer,
    method: &str,
) -> Vec<test_server::RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == method)
        .collect()
}

/// Retries as the default policy, with backoffs short enough for tests.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        ..RetryPolicy::default()
    }
}

pub fn client(url: &str) -> Client {
    Client::new(ClientConfig::new(url).retry_policy(quick_retries())).expect("client")
}

pub fn client_with(config: ClientConfig) -> Client {
    Client::new(config.retry_policy(quick_retries())).expect("client")
}

/// What one forward produced: the messages as JSON, and the error that ended it, if any.
#[derive(Debug)]
pub struct Outcome {
    pub messages: Vec<Value>,
    pub raw: Vec<Bytes>,
    pub error: Option<Error>,
}

impl Outcome {
    /// The last message, which for a request is its response.
    pub fn response(&self) -> &Value {
        self.messages.last().expect("at least one message")
    }

    /// The error as the JSON-RPC answer for `id`.
    pub fn error_answer(&self, id: &str) -> Value {
        let error = self.error.as_ref().expect("an error");
        serde_json::from_slice(&error.to_response(Some(id))).expect("error answers are JSON")
    }
}

/// Forwards `message` and drains the answer, within a bound.
pub async fn forward(client: &Client, message: Bytes) -> Outcome {
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut outcome = Outcome {
            messages: Vec::new(),
            raw: Vec::new(),
            error: None,
        };
        match client.forward(message, &RequestHeaders::default()).await {
            Err(e) => outcome.error = Some(e),
            Ok(mut response) => {
                while let Some(item) = response.messages().next().await {
                    match item {
                        Ok(line) => {
                            assert!(
                                !line.contains(&b'\n') && !line.contains(&b'\r'),
                                "one line: {line:?}"
                            );
                            outcome
                                .messages
                                .push(serde_json::from_slice(&line).expect("valid JSON"));
                            outcome.raw.push(line);
                        }
                        Err(e) => {
                            assert!(outcome.error.is_none(), "one error at most");
                            outcome.error = Some(e);
                        }
                    }
                }
            }
        }
        outcome
    })
    .await
    .expect("the forward ends within 20 s")
}
