//! Header values (issue 12, item 18): an over-long `Mcp-Name` is left out, and a value that
//! cannot be a header is logged by header name, never dropped silently. (Legal non-ASCII
//! bytes are sent as they are: `sessions.rs` resumes a stream after a non-ASCII event id.)

mod common;

use std::time::Duration;

use common::wrapper::Wrapper;
use serde_json::json;
use test_server::{Scenario, TestServer};

const T: Duration = Duration::from_secs(10);

#[test]
fn mcp_name_is_capped_and_values_that_cannot_be_headers_are_logged_by_name() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--log-level", "debug"]);
    let long_uri = format!("test://{}", "r".repeat(2000));
    let messages = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": long_uri}}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": "test://short"}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "bad\u{1}name-value", "arguments": {}}}),
    ];
    for message in &messages {
        w.send_json(message);
        assert_eq!(w.recv(T)["id"], message["id"]);
    }
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
    let stderr = w.stderr();

    let posts: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[0].header("mcp-method"), Some("resources/read"));
    assert_eq!(
        posts[0].header("mcp-name"),
        None,
        "over 1024 bytes: left out"
    );
    assert_eq!(posts[1].header("mcp-name"), Some("test://short"));
    assert_eq!(posts[2].header("mcp-name"), None, "a control character");

    let omitted = stderr
        .lines()
        .find(|l| l.contains("DEBUG") && l.contains("mcp-name") && l.contains("1024"))
        .unwrap_or_else(|| panic!("a debug line for the long Mcp-Name: {stderr}"));
    assert!(!omitted.contains("rrrr"), "{omitted}");
    let warned = stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("mcp-name"))
        .unwrap_or_else(|| panic!("a warning for the unsendable Mcp-Name: {stderr}"));
    assert!(!warned.contains("name-value"), "never the value: {warned}");
}
