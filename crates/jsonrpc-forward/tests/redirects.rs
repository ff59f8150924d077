//! Redirects: 307/308 are followed only within the origin of the endpoint (scheme, host,
//! port); a redirect anywhere else is answered with an error and nothing is sent there
//! (issue 12, item 15).

mod common;

use std::time::Duration;

use common::wrapper::Wrapper;
use serde_json::json;
use test_server::{Fault, Scenario, TestServer};

const T: Duration = Duration::from_secs(10);

/// `http://127.0.0.1:PORT`: the origin of a test server, as the error names it.
fn origin(server: &TestServer) -> String {
    format!("http://{}", server.addr())
}

/// A server whose next POST is answered `status` with `Location: location`.
fn redirecting(status: u16, location: String) -> TestServer {
    TestServer::start(Scenario::default().script(vec![Fault {
        status: Some(status),
        location: Some(location),
        ..Fault::default()
    }]))
    .expect("server")
}

// Regression test for issue 12 item 15: a 307 to another origin was followed, carrying the
// `--header` values and the tool arguments there.
#[test]
fn redirect_to_another_origin_is_an_error_and_sends_nothing_there() {
    for status in [307, 308] {
        let other = TestServer::start(Scenario::default()).expect("server");
        let first = redirecting(status, format!("{}?token=other-query-secret", other.url()));
        let mut w = Wrapper::start(&first.url(), &["--header", "X-Api-Key: k-123"]);
        w.send_json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "private"}}}));
        let answer = w.recv(T);
        assert_eq!(answer["id"], 7, "{status}: {answer}");
        assert_eq!(answer["error"]["code"], -32000, "{status}: {answer}");
        let message = answer["error"]["message"].as_str().expect("a message");
        assert!(
            message.contains(&origin(&other)),
            "{status}: the target origin is named: {message}"
        );
        assert!(
            !message.contains("/mcp") && !message.contains("other-query-secret"),
            "{status}: the origin only, no path or query: {message}"
        );
        assert_eq!(first.requests().len(), 1, "{status}: the POST, once");
        assert!(
            other.requests().is_empty(),
            "{status}: nothing reached the other origin: {:?}",
            other.requests()
        );
        w.close_stdin();
        assert_eq!(w.wait(T), 0);
    }
}

#[test]
fn redirect_within_the_origin_is_followed() {
    let server = TestServer::start(Scenario::default()).expect("server");
    // Same scheme, host and port; another path.
    let location = format!("{}?moved=1", server.url().trim_end_matches('/'));
    server.push_script(Fault {
        status: Some(307),
        location: Some(location),
        ..Fault::default()
    });
    let mut w = Wrapper::start(&server.url(), &[]);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(w.recv(T), json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/mcp/", "/mcp?moved=1"]);
}

#[test]
fn trailing_slash_redirect_is_still_followed_through_the_bridge() {
    let server =
        TestServer::start(Scenario::default().redirect_trailing_slash(true)).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    for id in 1..=2 {
        w.send_json(&json!({"jsonrpc": "2.0", "id": id, "method": "ping"}));
        assert_eq!(w.recv(T), json!({"jsonrpc": "2.0", "id": id, "result": {}}));
    }
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/mcp/", "/mcp", "/mcp"],
        "adopted after one redirect"
    );
}
