//! `--allow-tool` / `--deny-tool`: which tools the host sees (issue 15 §4), through the
//! `mcp-wrapper` binary over real pipes, against the test server.

mod common;

use std::time::Duration;

use common::wrapper::Wrapper;
use serde_json::{Value, json};
use test_server::{Fault, Scenario, TestServer};

const T: Duration = Duration::from_secs(10);

fn names(answer: &Value) -> Vec<&str> {
    answer["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("a tools list: {answer}"))
        .iter()
        .map(|tool| tool["name"].as_str().expect("a name"))
        .collect()
}

fn list(id: u64, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params})
}

fn call(id: u64, name: &str, params: Value) -> Value {
    let mut params = params;
    params["name"] = json!(name);
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

/// The `tools/call` POSTs the server received for the tool `name`.
fn calls_of(server: &TestServer, name: &str) -> usize {
    server
        .requests()
        .iter()
        .filter_map(test_server::RecordedRequest::json)
        .filter(|b| b["method"] == "tools/call" && b["params"]["name"] == name)
        .count()
}

#[test]
fn tools_list_shows_only_allowed_tools_that_are_not_denied() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(
        &server.url(),
        &[
            "--allow-tool",
            "s*",
            "--allow-tool",
            "echo",
            "--deny-tool",
            "sleep",
        ],
    );
    w.send_json(&list(1, json!({})));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 1);
    assert_eq!(names(&answer), ["echo", "stream"], "{answer}");
    // The rest of each tool is kept.
    assert!(answer["result"]["tools"][1]["inputSchema"]["properties"]["count"].is_object());
}

#[test]
fn tool_filter_is_read_from_the_environment() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start_with(
        &server.url(),
        &[],
        &[("MCP_DENY_TOOLS", "sleep, fault"), ("MCP_ALLOW_TOOLS", "")],
    );
    w.send_json(&list(1, json!({})));
    assert_eq!(names(&w.recv(T)), ["echo", "stream"]);
}

#[test]
fn ignore_tool_is_an_alias_of_deny_tool() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--ignore-tool", "s*"]);
    w.send_json(&list(1, json!({})));
    assert_eq!(names(&w.recv(T)), ["echo", "fault"]);
}

#[test]
fn tools_call_of_a_hidden_tool_is_answered_32602_and_never_reaches_the_server() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--deny-tool", "sl*"]);
    w.send_json(&call(7, "sleep", json!({"arguments": {"ms": 0}})));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 7, "{answer}");
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let message = answer["error"]["message"].as_str().expect("a message");
    assert!(message.contains("sleep"), "names the tool: {message}");

    // A shown tool still goes through, and the server saw only that one.
    w.send_json(&call(8, "echo", json!({"arguments": {"a": 1}})));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 8);
    assert!(answer["result"].is_object(), "{answer}");
    assert_eq!(
        server.hits("7"),
        0,
        "the hidden call never reached the server"
    );
    assert_eq!(calls_of(&server, "sleep"), 0);
    assert_eq!(calls_of(&server, "echo"), 1);
    w.close_stdin();
    assert!(w.recv_all(T).is_empty());
    assert_eq!(w.wait(T), 0);
}

#[test]
fn each_page_of_a_paginated_tools_list_is_filtered() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(
        &server.url(),
        &["--deny-tool", "stream", "--deny-tool", "fault"],
    );
    let paged = Fault {
        tools_page_size: Some(2),
        ..Fault::default()
    };
    w.send_json(&list(1, json!({"_meta": paged.to_meta()})));
    let first = w.recv(T);
    assert_eq!(names(&first), ["echo"], "{first}");
    assert_eq!(first["result"]["nextCursor"], "2", "the cursor is kept");
    w.send_json(&list(2, json!({"cursor": "2", "_meta": paged.to_meta()})));
    let second = w.recv(T);
    assert_eq!(names(&second), ["sleep"], "{second}");
    assert!(second["result"].get("nextCursor").is_none(), "{second}");
}

#[test]
fn tools_list_after_list_changed_is_filtered_again() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--deny-tool", "fault"]);
    w.send_json(&list(1, json!({})));
    assert_eq!(names(&w.recv(T)), ["echo", "stream", "sleep"]);
    // The server announces a changed list on a call's stream.
    let changed = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
    let fault = Fault {
        before_answer: vec![changed.clone()],
        ..Fault::default()
    };
    w.send_json(&call(2, "echo", json!({"_meta": fault.to_meta()})));
    assert_eq!(w.recv(T), changed, "the notification is forwarded as it is");
    assert_eq!(w.recv(T)["id"], 2);
    w.send_json(&list(3, json!({})));
    assert_eq!(names(&w.recv(T)), ["echo", "stream", "sleep"]);
}

#[test]
fn tools_list_in_a_batch_is_filtered_and_the_rest_kept() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--allow-tool", "echo"]);
    w.send_json(&json!([list(1, json!({})), {"jsonrpc": "2.0", "id": 2, "method": "ping"}]));
    let answer = w.recv(T);
    let answers = answer.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 2, "{answer}");
    assert_eq!(names(&answers[0]), ["echo"]);
    assert_eq!(answers[1], json!({"jsonrpc": "2.0", "id": 2, "result": {}}));
}

/// Every line of a session that the filter does not change is the line an unfiltered
/// bridge writes, byte for byte.
#[test]
fn messages_the_filter_does_not_change_are_forwarded_byte_for_byte() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let script: Vec<Value> = vec![
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
        call(
            2,
            "echo",
            json!({"arguments": {"tools": [{"name": "fault"}], "text": "h\u{e9}llo \u{1d11e}"}}),
        ),
        json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}),
        // The filter hides nothing here: the list is kept as the server wrote it.
        list(
            4,
            json!({"_meta": Fault { tools_page_size: Some(1), ..Fault::default() }.to_meta()}),
        ),
        // A server request on a call's stream, then the call's answer.
        call(
            5,
            "fault",
            json!({"arguments": {}, "_meta": Fault {
                before_answer: vec![json!({"jsonrpc": "2.0", "id": "x", "method": "ping"})],
                ..Fault::default()
            }.to_meta()}),
        ),
    ];
    let lines = |extra: &[&str]| {
        let mut w = Wrapper::start(&server.url(), extra);
        let mut out = Vec::new();
        for message in &script {
            w.send_json(message);
            loop {
                let line = w.recv_line(T);
                let done =
                    serde_json::from_str::<Value>(&line).expect("JSON")["id"] == message["id"];
                out.push(line);
                if done {
                    break;
                }
            }
        }
        out
    };
    let plain = lines(&[]);
    let filtered = lines(&["--deny-tool", "sleep"]);
    assert_eq!(plain, filtered);
}

#[test]
fn invalid_tool_glob_exits_2_naming_it() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start_with(
        &server.url(),
        &["--allow-tool", "a[b"],
        &[("MCP_WRAPPER_LOG_LEVEL", "INFO")],
    );
    assert_eq!(w.wait(T), 2);
    let stderr = w.stderr();
    assert!(stderr.contains("a[b"), "{stderr}");
    assert_eq!(server.requests().len(), 0);
}
