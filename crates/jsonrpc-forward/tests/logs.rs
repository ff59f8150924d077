//! Logs an operator can use (issue 15 §5): `--log-format json`, `--log-file`, one DEBUG line
//! per request, session events at INFO. The real binary against the test server.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::wrapper::Wrapper;
use serde_json::{Value, json};
use test_server::{Scenario, TestServer};

const T: Duration = Duration::from_secs(10);

fn initialize(w: &mut Wrapper) {
    w.send_json(&json!({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}));
    assert_eq!(w.recv(T)["id"], "init");
    w.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
}

/// Every line of `text` as JSON: the test fails on the first that is not.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect()
}

/// The log lines whose `message` is `message`.
fn with_message<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["message"] == message).collect()
}

/// The INFO lines of session event `event`.
fn session_events<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["session"] == event && l["level"] == "INFO")
        .collect()
}

fn json_wrapper(server: &TestServer) -> Wrapper {
    Wrapper::start(
        &server.url(),
        &["--log-format", "json", "--log-level", "DEBUG"],
    )
}

#[test]
fn logs_in_json_are_one_object_per_line_with_one_request_line_per_tools_call() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = json_wrapper(&server);
    initialize(&mut w);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "hi"}}}));
    let answer = w.recv_line(T);
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
    let lines = json_lines(&w.stderr());
    for line in &lines {
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
        assert!(line["message"].is_string(), "{line}");
    }
    assert!(!with_message(&lines, "starting mcp-wrapper").is_empty());

    let requests = with_message(&lines, "request");
    let calls: Vec<_> = requests.iter().filter(|l| l["id"] == "7").collect();
    assert_eq!(calls.len(), 1, "one line for the call: {requests:?}");
    let call = calls[0];
    assert_eq!(call["level"], "DEBUG");
    assert_eq!(call["method"], "tools/call");
    assert_eq!(call["tool"], "echo");
    assert_eq!(call["status"], 200);
    assert_eq!(call["attempts"], 1);
    assert!(call["duration_ms"].is_u64(), "{call}");
    assert_eq!(call["bytes"], answer.len(), "the answer's bytes: {answer}");
    // The initialize request has its line too, without a tool.
    let init: Vec<_> = requests.iter().filter(|l| l["id"] == "init").collect();
    assert_eq!(init.len(), 1, "{requests:?}");
    assert_eq!(init[0]["method"], "initialize");
    assert!(init[0].get("tool").is_none(), "{}", init[0]);

    assert_eq!(session_events(&lines, "new").len(), 1, "{lines:?}");
    assert_eq!(session_events(&lines, "closed").len(), 1, "{lines:?}");
}

#[test]
fn logs_record_a_failed_request_with_its_status() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = json_wrapper(&server);
    let fault = test_server::Fault::status(500);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "echo", "arguments": {}, "_meta": fault.to_meta()}}));
    let answer = w.recv_line(T);
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
    let lines = json_lines(&w.stderr());
    let requests = with_message(&lines, "request");
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["status"], 500);
    assert_eq!(requests[0]["tool"], "echo");
    assert_eq!(
        requests[0]["bytes"],
        answer.len(),
        "the error answer: {answer}"
    );
}

#[test]
fn logs_show_session_expiry_and_recovery_at_info() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = Wrapper::start(
        &server.url(),
        &["--log-format", "json", "--log-level", "INFO"],
    );
    initialize(&mut w);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert!(w.recv(T)["result"]["tools"].is_array());
    server.expire_sessions();
    w.send_json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "echo", "arguments": {}}}));
    assert!(w.recv(T)["result"].is_object());
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
    let lines = json_lines(&w.stderr());
    assert!(
        lines.iter().all(|l| l["level"] != "DEBUG"),
        "nothing below INFO: {lines:?}"
    );
    assert_eq!(session_events(&lines, "expired").len(), 1, "{lines:?}");
    let recovered = session_events(&lines, "recovered");
    assert_eq!(recovered.len(), 1, "{lines:?}");
    assert!(recovered[0]["duration_ms"].is_u64(), "{}", recovered[0]);
    // The first session and the one that replaced it.
    assert_eq!(session_events(&lines, "new").len(), 2, "{lines:?}");
    let expired_at = lines
        .iter()
        .position(|l| l["session"] == "expired")
        .expect("expired");
    let recovered_at = lines
        .iter()
        .position(|l| l["session"] == "recovered")
        .expect("recovered");
    assert!(expired_at < recovered_at);
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn logs_go_to_the_log_file_appended_and_nothing_to_stderr() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let path =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("logs-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let log_file = path.to_str().expect("UTF-8 path");
    let mut written = 0;
    for (round, format) in ["text", "json"].into_iter().enumerate() {
        let mut w = Wrapper::start_with(
            &server.url(),
            &["--log-level", "DEBUG", "--log-format", format],
            &[("MCP_WRAPPER_LOG_FILE", log_file)],
        );
        w.send_json(&json!({"jsonrpc": "2.0", "id": round, "method": "ping"}));
        assert_eq!(w.recv(T)["id"], round);
        w.close_stdin();
        assert_eq!(w.wait(T), 0);
        assert_eq!(w.stderr(), "", "nothing on stderr");
        let text = std::fs::read_to_string(&path).expect("the log file");
        assert!(
            text.len() > written,
            "round {round} appended to the file: {text}"
        );
        let new = &text[written..];
        assert!(new.contains("starting mcp-wrapper"), "{new}");
        assert!(new.contains("DEBUG"), "{new}");
        if format == "json" {
            json_lines(new);
        }
        written = text.len();
    }
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600, "created readable by its owner only");

    // The flag works as the variable does, and a file that cannot be opened is exit 2.
    let mut w = Wrapper::start(
        &server.url(),
        &["--log-file", log_file, "--log-level", "INFO"],
    );
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
    assert_eq!(w.stderr(), "");
    assert!(std::fs::read_to_string(&path).expect("file").len() > written);
    let unwritable = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-dir/x.log");
    let mut w = Wrapper::start(
        &server.url(),
        &[
            "--log-file",
            unwritable.to_str().expect("UTF-8"),
            "--log-level",
            "INFO",
        ],
    );
    w.close_stdin();
    assert_eq!(w.wait(T), 2);
    assert!(w.stderr().contains("no-such-dir"));
}

#[test]
fn logs_text_format_is_the_default_and_json_is_accepted_from_the_environment() {
    let server = TestServer::start(Scenario::default()).expect("server");
    for (env, json) in [(None, false), (Some("json"), true), (Some("JSON"), true)] {
        let env: Vec<_> = env
            .map(|v| ("MCP_WRAPPER_LOG_FORMAT", v))
            .into_iter()
            .collect();
        let mut w = Wrapper::start_with(&server.url(), &["--log-level", "INFO"], &env);
        w.close_stdin();
        assert_eq!(w.wait(T), 0);
        let stderr = w.stderr();
        assert!(stderr.contains("starting mcp-wrapper"), "{stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert_eq!(
            serde_json::from_str::<Value>(first).is_ok(),
            json,
            "{env:?}: {first}"
        );
    }
}
