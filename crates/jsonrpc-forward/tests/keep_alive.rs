//! `--keep-alive`: the bridge pings an idle session itself (issue 15 §3). Every wait is on
//! what the server recorded, never on time.

mod common;

use std::time::Duration;

use common::posts_of;
use common::wrapper::{Wrapper, wait_until};
use serde_json::json;
use test_server::{Scenario, TestServer};

const T: Duration = Duration::from_secs(20);

fn initialize(w: &mut Wrapper) {
    w.send_json(&json!({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}));
    assert_eq!(w.recv(T)["id"], "init");
    w.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
}

/// The ids of the pings the server received.
fn ping_ids(server: &TestServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter_map(test_server::RecordedRequest::json)
        .filter(|b| b["method"] == "ping")
        .map(|b| b["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn idle_session_is_pinged_and_the_host_sees_none_of_it() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--keep-alive", "0.2"]);
    initialize(&mut w);
    wait_until(T, "the server received three pings", || {
        ping_ids(&server).len() >= 3
    });
    let ids = ping_ids(&server);
    assert!(
        ids.iter()
            .all(|id| id.starts_with("mcp-wrapper-keep-alive-")),
        "{ids:?}"
    );
    let pings: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.json().is_some_and(|b| b["method"] == "ping"))
        .collect();
    assert!(
        pings.iter().all(|r| r.header("mcp-session-id").is_some()),
        "pings carry the session"
    );
    // Nothing of the pings reached stdout: the next line is the answer to this request.
    w.send_json(&json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}));
    assert_eq!(w.recv(T)["id"], 5);
    w.close_stdin();
    assert!(w.recv_all(T).is_empty(), "no ping answer leaked");
    assert_eq!(w.wait(T), 0);
}

#[test]
fn keep_alive_is_read_from_the_environment() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = Wrapper::start_with(&server.url(), &[], &[("MCP_KEEP_ALIVE", "0.2")]);
    initialize(&mut w);
    wait_until(T, "the server received a ping", || {
        !ping_ids(&server).is_empty()
    });
}

#[test]
fn a_404_to_a_keep_alive_ping_reinitializes_the_session_at_once() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--keep-alive", "0.2"]);
    initialize(&mut w);
    wait_until(T, "the server received a ping", || {
        !ping_ids(&server).is_empty()
    });
    server.expire_sessions();
    wait_until(T, "the session was initialized again", || {
        posts_of(&server, "initialize") == 2 && posts_of(&server, "notifications/initialized") == 2
    });
    // The failed ping is sent again in the new session, and pinging goes on.
    let session_of =
        |r: &test_server::RecordedRequest| r.header("mcp-session-id").map(str::to_owned);
    let reinit_session = {
        let requests = server.requests();
        let replayed = requests
            .iter()
            .filter(|r| {
                r.json()
                    .is_some_and(|b| b["method"] == "notifications/initialized")
            })
            .nth(1)
            .expect("the replayed initialized");
        session_of(replayed)
    };
    wait_until(T, "a ping in the new session", || {
        server.requests().iter().any(|r| {
            r.json().is_some_and(|b| b["method"] == "ping") && session_of(r) == reinit_session
        })
    });
    w.send_json(&json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}));
    assert_eq!(w.recv(T)["id"], 9, "nothing of the recovery reached stdout");
    w.close_stdin();
    assert!(w.recv_all(T).is_empty());
    assert_eq!(w.wait(T), 0);
}

#[test]
fn keep_alive_rejects_a_non_positive_period() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--keep-alive", "0"]);
    assert_eq!(w.wait(T), 2);
}
