//! Exactly one answer per request, against servers that do what real ones do: ask the client
//! something mid-call, split a batch, re-escape ids, ping after answering, answer twice,
//! ask for absurd delays; and clients that cancel or signal.
//!
//! Each test names the defect of issue 12 it reproduces (A.1 .. A.7).

mod common;

use std::time::Duration;

use common::posts_of;
use common::wrapper::{Wrapper, assert_shutting_down, wait_until};
use serde_json::{Value, json};
use test_server::{BodyFormat, Fault, Scenario, TestServer};

const T: Duration = Duration::from_secs(10);

fn call_with(id: Value, tool: &str, arguments: Value, fault: &Fault) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments, "_meta": fault.to_meta()}})
}

fn ping(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "ping"})
}

/// Issue 12 A.1: a tool call that elicits holds the only permit; the client's reply must
/// not wait for it.
#[test]
fn client_response_to_an_elicitation_takes_no_permit() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let args = ["--concurrency", "1", "--max-message-bytes", "1000"];
    let mut w = Wrapper::start(&server.url(), &args);
    let fault = Fault {
        elicit: true,
        ..Fault::default()
    };
    w.send_json(&call_with(json!(1), "echo", json!({}), &fault));
    let asked = w.recv(T);
    assert_eq!(asked["method"], "elicitation/create", "{asked}");
    assert_eq!(asked["id"], "elicit-1");
    // Requests queued behind the permit (far more bytes than two messages of the limit)
    // do not keep the reply from being read.
    for id in 2..40 {
        w.send_json(&ping(id));
    }
    w.send_json(&json!({"jsonrpc": "2.0", "id": "elicit-1",
                        "result": {"action": "accept", "content": {"colour": "blue"}}}));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 1, "{answer}");
    assert!(answer["result"].is_object(), "{answer}");
    w.close_stdin();
    let rest = w.recv_all(T);
    assert_eq!(rest.len(), 38, "{rest:?}");
    assert_eq!(w.wait(T), 0);
}

/// Issue 12 A.1: a notification never waits behind a request that holds the only permit.
#[test]
fn notification_is_sent_while_a_request_holds_the_only_permit() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--concurrency", "1"]);
    w.send_json(&call_with(
        json!(1),
        "sleep",
        json!({"ms": 30_000}),
        &Fault::default(),
    ));
    wait_until(T, "the call reached the server", || server.hits("1") == 1);
    w.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}));
    wait_until(T, "the notification reached the server", || {
        posts_of(&server, "notifications/roots/list_changed") == 1
    });
}

/// Issue 12 A.2: a batch answered with one SSE event per response gets one answer per id.
#[test]
fn batch_answered_as_separate_events_gets_one_answer_per_id() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    let fault = Fault {
        format: Some(BodyFormat::Sse),
        ..Fault::default()
    };
    w.send_json(&json!([
        {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"_meta": fault.to_meta()}},
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": 1}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    ]));
    // A one-request batch answered with a bare object.
    let bare = Fault {
        unwrap_batch: true,
        ..Fault::default()
    };
    w.send_json(&json!([
        {"jsonrpc": "2.0", "id": 3, "method": "ping", "params": {"_meta": bare.to_meta()}}
    ]));
    w.close_stdin();
    let lines = w.recv_all(T);
    assert_eq!(w.wait(T), 0);
    let mut ids: Vec<u64> = lines.iter().filter_map(|l| l["id"].as_u64()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3], "{lines:?}");
    assert!(lines.iter().all(|l| l["result"].is_object()), "{lines:?}");
}

/// Issue 12 A.2: an `initialize` inside a batch starts the session like a single one.
#[test]
fn batched_initialize_is_recorded_for_the_session() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    w.send_json(&json!([{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}]));
    let answer = w.recv(T);
    let answer = if answer.is_array() {
        answer[0].clone()
    } else {
        answer
    };
    assert_eq!(
        answer["result"]["protocolVersion"], "2025-03-26",
        "{answer}"
    );
    w.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    w.send_json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let listed = w.recv(T);
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    let last = common::received(&server, "POST").pop().expect("a POST");
    assert!(last.header("mcp-session-id").is_some());
    assert_eq!(last.header("mcp-protocol-version"), Some("2025-03-26"));
}

/// Issue 12 A.3: ids are compared as JSON values: `"a\/b"` echoed as `"a/b"` is answered.
#[test]
fn id_echoed_with_other_escapes_is_the_answer() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    w.send(r#"{"jsonrpc":"2.0","id":"a\/b","method":"ping"}"#);
    w.close_stdin();
    let lines = w.recv_all(T);
    assert_eq!(w.wait(T), 0);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["id"], "a/b");
    assert!(lines[0]["result"].is_object(), "{lines:?}");
}

/// Issue 12 A.4: a server that keeps the stream open with pings after answering does not
/// hold the bridge at the end of input.
#[test]
fn stream_kept_open_after_the_answer_does_not_hold_the_exit() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--concurrency", "1"]);
    let fault = Fault {
        keep_open_ms: 60_000,
        ..Fault::default()
    };
    w.send_json(&call_with(json!(1), "echo", json!({}), &fault));
    assert_eq!(w.recv(T)["id"], 1);
    // The permit is free again: a second call is answered while the first stream pings.
    w.send_json(&ping(2));
    assert_eq!(w.recv(T)["id"], 2);
    w.close_stdin();
    assert!(w.recv_all(T).is_empty());
    assert_eq!(w.wait(T), 0);
}

/// Issue 12 A.4: a response whose id is not owed (another request's id, a duplicate) is
/// never written.
#[test]
fn responses_not_owed_are_never_written() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    let fault = Fault {
        before_answer: vec![
            json!({"jsonrpc": "2.0", "id": 99, "result": {"stray": true}}),
            json!({"jsonrpc": "2.0", "id": 1, "result": {"first": true}}),
        ],
        ..Fault::default()
    };
    w.send_json(&call_with(json!(1), "echo", json!({}), &fault));
    w.close_stdin();
    let lines = w.recv_all(T);
    assert_eq!(w.wait(T), 0);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[0]["result"]["first"], true, "the first answer wins");
}

/// Issue 12 A.5: a request read but still waiting for a permit is answered on SIGTERM.
#[cfg(unix)]
#[test]
fn sigterm_answers_a_request_waiting_for_a_permit() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--concurrency", "1"]);
    let sleep = call_with(json!(1), "sleep", json!({"ms": 30_000}), &Fault::default());
    // One write, so both lines are read together.
    w.send(&format!("{sleep}\n{}", ping(2)));
    wait_until(T, "the first call reached the server", || {
        server.hits("1") == 1
    });
    w.signal("TERM");
    let lines = w.recv_all(T);
    assert_eq!(w.wait(T), 0);
    assert_shutting_down(lines, &[1, 2]);
}

/// Issue 12 A.5: shutdown never waits for a client that stopped reading stdout.
#[cfg(unix)]
#[test]
fn sigterm_ends_the_bridge_when_the_client_stopped_reading() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    // Far more than the pipe and the output queue hold; nobody reads it.
    w.send_json(&call_with(
        json!(1),
        "stream",
        json!({"count": 3000, "interval_ms": 0, "event_bytes": 2000}),
        &Fault::default(),
    ));
    wait_until(T, "the stream started", || server.hits("1") == 1);
    w.send_json(&ping(2));
    wait_until(T, "the ping reached the server", || server.hits("2") == 1);
    w.signal("TERM");
    assert_eq!(w.wait(T), 0);
}

/// Issue 12 A.6: a `Retry-After` of any size neither panics nor stops the bridge.
#[test]
fn huge_retry_after_is_answered_and_reading_goes_on() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    let fault = Fault {
        status: Some(429),
        retry_after: Some(u64::MAX.to_string()),
        delay_headers_ms: 1100,
        ..Fault::default()
    };
    w.send_json(&call_with(json!(1), "echo", json!({}), &fault));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(answer["error"]["data"]["status"], 429, "{answer}");
    // The same for a notification, which has no answer: the bridge must go on reading.
    w.send_json(
        &json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed",
                        "params": {"_meta": fault.to_meta()}}),
    );
    w.send_json(&ping(2));
    assert_eq!(w.recv(T)["id"], 2);
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
}

/// Issue 12 A.7: `notifications/cancelled` is forwarded, the request's stream dropped, its
/// permit released, and nothing more written for it.
#[test]
fn cancelled_request_releases_its_permit_and_gets_no_answer() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--concurrency", "1"]);
    let stream = json!({"count": 600, "interval_ms": 50});
    w.send_json(&call_with(json!(1), "stream", stream, &Fault::default()));
    assert_eq!(w.recv(T)["method"], "notifications/progress");
    w.send_json(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": 1, "reason": "user"}}),
    );
    w.send_json(&ping(2));
    // Progress that was already on its way may still arrive; nothing else for id 1.
    loop {
        let line = w.recv(T);
        if line["method"] == "notifications/progress" {
            continue;
        }
        assert_eq!(line["id"], 2, "{line}");
        break;
    }
    w.close_stdin();
    let rest = w.recv_all(T);
    assert!(
        rest.iter().all(|l| l["method"] == "notifications/progress"),
        "{rest:?}"
    );
    assert_eq!(w.wait(T), 0);
    assert_eq!(posts_of(&server, "notifications/cancelled"), 1);
}

/// An error with `id: null` on a single request's stream (the server could not read the id)
/// answers that request: the client sees the server's error, re-addressed.
#[test]
fn null_id_error_on_a_requests_stream_answers_it() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    let fault = Fault {
        before_answer: vec![
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}}),
        ],
        end_without_response: true,
        ..Fault::default()
    };
    w.send_json(&call_with(json!("q"), "echo", json!({}), &fault));
    w.close_stdin();
    let lines = w.recv_all(T);
    assert_eq!(w.wait(T), 0);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["id"], "q");
    assert_eq!(lines[0]["error"]["code"], -32700);
}
