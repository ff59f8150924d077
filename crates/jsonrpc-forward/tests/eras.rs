//! `--protocol auto` against 2025-era servers (issue 16): the `server/discover` probe, its
//! cached verdict, case D (a 2026 host falls back) and the probe's faults. The 2026-era
//! server side (cases B and C) is tested against the MCP Python SDK 2.3 in
//! python-tests/era/.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::wrapper::Wrapper;
use serde_json::{Value, json};
use test_server::{ErrorBody, Fault, Scenario, TestServer};

const T: Duration = Duration::from_secs(20);

/// A fresh credentials directory (where `eras.json` goes) for one test.
fn auth_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-wrapper-eras-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn start(server: &TestServer, dir: &Path, protocol: &str) -> Wrapper {
    let dir = dir.to_str().expect("utf-8 path");
    Wrapper::start_with(
        &server.url(),
        &[],
        &[("MCP_PROTOCOL", protocol), ("MCP_WRAPPER_AUTH_DIR", dir)],
    )
}

fn initialize(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "era-test", "version": "1"}}})
}

/// The JSON-RPC methods of the POSTs the server received, in order.
fn posted_methods(server: &TestServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .filter_map(test_server::RecordedRequest::json)
        .map(|body| body["method"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn finish(mut w: Wrapper) {
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
}

#[test]
fn auto_probes_a_2025_server_once_then_trusts_the_cached_verdict() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let dir = auth_dir("cached");
    let mut w = start(&server, &dir, "auto");
    w.send_json(&initialize(1));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 1);
    assert_eq!(
        answer["result"]["protocolVersion"], "2025-11-25",
        "{answer}"
    );
    finish(w);
    assert_eq!(posted_methods(&server), ["server/discover", "initialize"]);
    let probe = &server.requests()[0];
    assert_eq!(probe.header("mcp-protocol-version"), Some("2026-07-28"));
    assert_eq!(probe.header("mcp-method"), Some("server/discover"));
    assert!(probe.header("mcp-session-id").is_none());
    let body = probe.json().expect("json");
    let meta = &body["params"]["_meta"];
    assert_eq!(
        meta["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    assert_eq!(
        meta["io.modelcontextprotocol/clientCapabilities"],
        json!({"elicitation": {}})
    );
    assert_eq!(
        meta["io.modelcontextprotocol/clientInfo"]["name"],
        "era-test"
    );
    let cache: Value =
        serde_json::from_slice(&std::fs::read(dir.join("eras.json")).expect("eras.json"))
            .expect("json");
    let entries: Vec<&Value> = cache.as_object().expect("an object").values().collect();
    assert_eq!(entries.len(), 1, "{cache}");
    assert_eq!(entries[0]["era"], "legacy", "{cache}");
    assert!(
        !cache.to_string().contains("127.0.0.1"),
        "keys are hashes: {cache}"
    );

    // A second start: the verdict comes from the cache, no probe.
    let mut w = start(&server, &dir, "auto");
    w.send_json(&initialize(2));
    assert_eq!(w.recv(T)["id"], 2);
    finish(w);
    assert_eq!(
        posted_methods(&server),
        ["server/discover", "initialize", "initialize"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn legacy_sends_no_probe_and_writes_nothing() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let dir = auth_dir("legacy");
    let mut w = start(&server, &dir, "legacy");
    w.send_json(&initialize(1));
    assert_eq!(w.recv(T)["id"], 1);
    finish(w);
    assert_eq!(posted_methods(&server), ["initialize"]);
    assert!(!dir.exists(), "no era cache written");
}

/// Case D: a 2026 host's `server/discover` against a 2025 server gets `-32601`, then its
/// `initialize` goes through as today.
#[test]
fn a_2026_host_is_told_to_fall_back_and_then_served_as_2025() {
    for protocol in ["auto", "legacy"] {
        let server = TestServer::start(Scenario::default()).expect("server");
        let dir = auth_dir(&format!("case-d-{protocol}"));
        let mut w = start(&server, &dir, protocol);
        w.send_json(
            &json!({"jsonrpc": "2.0", "id": "d1", "method": "server/discover",
            "params": {"_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}}}),
        );
        let answer = w.recv(T);
        assert_eq!(answer["id"], "d1", "{protocol}: {answer}");
        assert_eq!(answer["error"]["code"], -32601, "{protocol}: {answer}");
        assert!(
            answer["error"]["data"]["legacyVersions"]
                .as_array()
                .is_some_and(|v| v.iter().any(|v| v == "2025-11-25")),
            "{protocol}: {answer}"
        );
        w.send_json(&initialize(2));
        assert_eq!(w.recv(T)["result"]["protocolVersion"], "2025-11-25");
        w.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        w.send_json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"x": 1}}}));
        let answer = w.recv(T);
        assert_eq!(answer["id"], 3, "{protocol}: {answer}");
        assert!(answer["result"].is_object(), "{protocol}: {answer}");
        // A repeated probe from the host is answered the same way, without a POST.
        w.send_json(&json!({"jsonrpc": "2.0", "id": "d2", "method": "server/discover"}));
        assert_eq!(w.recv(T)["error"]["code"], -32601);
        finish(w);
        let expected: &[&str] = if protocol == "auto" {
            &[
                "server/discover",
                "initialize",
                "notifications/initialized",
                "tools/call",
            ]
        } else {
            &["initialize", "notifications/initialized", "tools/call"]
        };
        assert_eq!(posted_methods(&server), expected, "{protocol}");
        assert_eq!(server.hits("3"), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A 5xx or a 401 (no sign-in offered) to the probe says nothing about the era: the host's
/// `initialize` gets one error naming the status, nothing is cached, and the next `initialize` probes again.
#[test]
fn a_failed_probe_answers_initialize_with_an_error_and_caches_nothing() {
    for status in [500, 401] {
        let server = TestServer::start(Scenario::default().script(vec![Fault {
            status: Some(status),
            error_body: ErrorBody::Text {
                text: "down".into(),
            },
            ..Fault::default()
        }]))
        .expect("server");
        let dir = auth_dir(&format!("fault-{status}"));
        let mut w = start(&server, &dir, "auto");
        w.send_json(&initialize(1));
        let answer = w.recv(T);
        assert_eq!(answer["id"], 1, "{status}: {answer}");
        // The error the `initialize` itself would have met (design error table).
        assert_eq!(answer["error"]["code"], -32000, "{status}: {answer}");
        assert_eq!(
            answer["error"]["data"]["status"], status,
            "{status}: {answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&status.to_string())),
            "{status}: {answer}"
        );
        assert!(!dir.join("eras.json").exists(), "{status}: nothing cached");
        // The host tries again: a new probe, answered normally this time.
        w.send_json(&initialize(2));
        let answer = w.recv(T);
        assert_eq!(
            answer["result"]["protocolVersion"], "2025-11-25",
            "{answer}"
        );
        finish(w);
        assert_eq!(
            posted_methods(&server),
            ["server/discover", "server/discover", "initialize"],
            "{status}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A 2026 host that sends enveloped requests without probing, against a server known to be
/// 2025-era, gets one clear error per request and nothing is sent.
#[test]
fn a_pinned_2026_host_against_a_known_2025_server_gets_an_error_per_request() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let dir = auth_dir("pinned");
    let mut w = start(&server, &dir, "legacy");
    for id in [1, 2] {
        w.send_json(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/list",
            "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}}}));
        let answer = w.recv(T);
        assert_eq!(answer["id"], id);
        assert_eq!(answer["error"]["code"], -32603, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("2025")),
            "{answer}"
        );
    }
    finish(w);
    assert!(posted_methods(&server).is_empty());
}

/// A signal while the probe is out still answers the host's `initialize` (exactly one
/// answer per request), at once.
#[test]
fn a_signal_during_the_probe_answers_initialize() {
    let server = TestServer::start(Scenario::default().script(vec![Fault {
        delay_headers_ms: 60_000,
        ..Fault::default()
    }]))
    .expect("server");
    let dir = auth_dir("signal");
    let mut w = start(&server, &dir, "auto");
    w.send_json(&initialize(1));
    common::wrapper::wait_until(T, "the probe reached the server", || {
        posted_methods(&server) == ["server/discover"]
    });
    w.signal("TERM");
    let answer = w.recv(T);
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(
        answer["error"]["message"], "Bridge shutting down",
        "{answer}"
    );
    assert_eq!(w.wait(T), 0);
    assert!(
        w.recv_all(Duration::from_millis(200)).is_empty(),
        "one answer only"
    );
    assert!(!dir.join("eras.json").exists());
}
