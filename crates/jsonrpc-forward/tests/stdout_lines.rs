//! Every stdout line is one JSON message, whatever the server sends: pretty-printed error
//! bodies, SSE events of other types, JSON nested far deeper than `serde_json`'s default
//! limit (issue 12 B.8 .. B.10).

mod common;

use std::time::Duration;

use common::wrapper::Wrapper;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use test_server::{BodyFormat, ErrorBody, Fault, Scenario, TestServer};

const T: Duration = Duration::from_secs(10);

fn call_with(id: u64, fault: &Fault) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "echo", "arguments": {}, "_meta": fault.to_meta()}})
}

/// Issue 12 B.8: a pretty-printed JSON-RPC error body (`json.dumps(..., indent=2)`) is
/// re-addressed on one line.
#[test]
fn pretty_printed_error_body_is_written_on_one_line() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    let fault = Fault {
        status: Some(400),
        error_body: ErrorBody::JsonRpc {
            code: -32602,
            message: "bad\narguments".into(),
        },
        multiline_data: true,
        ..Fault::default()
    };
    w.send_json(&call_with(7, &fault));
    w.send_json(&json!({"jsonrpc": "2.0", "id": 8, "method": "ping"}));
    w.close_stdin();
    let lines = w.recv_all(T);
    assert_eq!(w.wait(T), 0);
    let error = lines.iter().find(|l| l["id"] == 7).expect("answered");
    assert_eq!(error["error"]["code"], -32602, "{error}");
    assert_eq!(error["error"]["message"], "bad\narguments");
    assert_eq!(lines.len(), 2, "{lines:?}");
}

/// Issue 12 B.9: SSE events of another type (`event: ping`) carry no message: skipped.
#[test]
fn sse_events_of_other_types_are_skipped() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    let fault = Fault {
        format: Some(BodyFormat::Sse),
        ping_events: true,
        progress_every_ms: Some(1),
        progress_total_ms: 3,
        ..Fault::default()
    };
    w.send_json(&call_with(1, &fault));
    w.close_stdin();
    let lines = w.recv_all(T);
    assert_eq!(w.wait(T), 0);
    let answer = lines.last().expect("lines");
    assert_eq!(answer["id"], 1, "{lines:?}");
    assert!(answer["result"].is_object(), "{answer}");
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l["method"] == "notifications/progress"),
        "{lines:?}"
    );
}

/// Issue 12 B.10: JSON nested far deeper than 128 levels passes both ways, whole.
#[test]
fn deeply_nested_messages_pass_both_ways() {
    const DEPTH: usize = 100_000;
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    let nested = "[".repeat(DEPTH) + &"]".repeat(DEPTH);
    // stdin -> server: the echo tool answers with its arguments as text.
    w.send(&format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"deep":{nested}}}}}}}"#
    ));
    let line = w.recv_line(T);
    serde_json::from_str::<IgnoredAny>(&line).expect("valid JSON");
    assert!(line.contains(r#""id":1,"#), "{}", &line[..80]);
    assert!(line.contains(&format!(r#"{{\"deep\":{nested}}}"#)));
    // server -> stdout: an answer that deep.
    let fault = Fault {
        nest_depth: Some(DEPTH),
        ..Fault::default()
    };
    w.send_json(&call_with(2, &fault));
    let line = w.recv_line(T);
    serde_json::from_str::<IgnoredAny>(&line).expect("valid JSON");
    assert!(line.contains(r#""id":2,"#), "{}", &line[..80]);
    assert!(line.contains(&format!(r#""nested":{nested}"#)));
    w.close_stdin();
    assert!(w.recv_all(T).is_empty());
    assert_eq!(w.wait(T), 0);
}
