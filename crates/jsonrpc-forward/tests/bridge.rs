//! The `mcp-wrapper` binary driven as a subprocess over real pipes against `test-server`.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::wrapper::Wrapper;
use serde_json::{Value, json};
use test_server::{Fault, Scenario, TestServer};

const T: Duration = Duration::from_secs(10);

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
}

fn call_with(id: u64, fault: &Fault) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "echo", "arguments": {}, "_meta": fault.to_meta()}})
}

#[test]
fn bridge_answers_a_request_and_exits_0_at_eof() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(w.recv(T), json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
}

#[test]
fn bridge_answers_every_error_row_with_the_request_id() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(
        &server.url(),
        &["--timeout", "0.5", "--max-message-bytes", "4096"],
    );
    let rows: [(u64, Fault, i64, &str); 6] = [
        (1, Fault::status(500), -32000, "HTTP 500"),
        (
            2,
            Fault {
                delay_headers_ms: 1500,
                ..Fault::default()
            },
            -32001,
            "Request timed out",
        ),
        (
            3,
            Fault {
                invalid_json: true,
                ..Fault::default()
            },
            -32700,
            "Invalid JSON from server",
        ),
        (
            4,
            Fault {
                message_bytes: Some(10_000),
                ..Fault::default()
            },
            -32603,
            "Response exceeds",
        ),
        (
            5,
            Fault {
                end_without_response: true,
                ..Fault::default()
            },
            -32000,
            "Server closed the stream",
        ),
        (
            6,
            Fault {
                status: Some(404),
                error_body: test_server::ErrorBody::JsonRpc {
                    code: -32602,
                    message: "nope".into(),
                },
                ..Fault::default()
            },
            -32602,
            "nope",
        ),
    ];
    for (id, fault, _, _) in &rows {
        w.send_json(&call_with(*id, fault));
    }
    let mut answers: Vec<Value> = (0..rows.len()).map(|_| w.recv(T)).collect();
    answers.sort_by_key(|a| a["id"].as_u64());
    for ((id, _, code, message), answer) in rows.iter().zip(&answers) {
        assert_eq!(answer["id"], *id, "{answer}");
        assert_eq!(answer["error"]["code"], *code, "{answer}");
        let text = answer["error"]["message"].as_str().expect("message");
        assert!(text.starts_with(message), "{id}: {text}");
    }
    let refused = test_server::refused_addr();
    let mut w = Wrapper::start(&format!("http://{refused}/mcp/"), &[]);
    w.send_json(
        &json!({"jsonrpc": "2.0", "id": "r", "method": "tools/call", "params": {"name": "echo"}}),
    );
    let answer = w.recv(Duration::from_secs(30));
    assert_eq!(answer["id"], "r");
    assert!(
        answer["error"]["message"]
            .as_str()
            .expect("text")
            .starts_with("Connection failed")
    );
}

#[test]
fn bridge_answers_32_concurrent_requests_once_each_with_whole_lines() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--concurrency", "32"]);
    for id in 0..32u64 {
        // Slow and fast answers interleaved; the slow ones stream progress, the fast ones
        // carry a 20 KB text so that a torn line would show.
        if id % 2 == 0 {
            w.send_json(&call(
                id,
                "stream",
                json!({"count": 3, "interval_ms": 30 + id}),
            ));
        } else {
            w.send_json(&call(id, "echo", json!({"text": "x".repeat(20_000)})));
        }
    }
    let mut answered = std::collections::HashMap::new();
    let mut progress = 0;
    while answered.len() < 32 {
        let line = w.recv(T);
        if line["method"] == "notifications/progress" {
            progress += 1;
            continue;
        }
        let id = line["id"].as_u64().expect("a response id");
        assert!(line["result"].is_object(), "{line}");
        assert!(
            answered.insert(id, line).is_none(),
            "id {id} answered twice"
        );
    }
    assert_eq!(progress, 16 * 3);
    w.close_stdin();
    assert!(w.recv_all(T).is_empty(), "nothing after the answers");
    assert_eq!(w.wait(T), 0);
    for id in 0..32 {
        assert_eq!(server.hits(&id.to_string()), 1);
    }
}

#[test]
fn bridge_answers_bad_lines_and_loses_nothing_else() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--max-message-bytes", "1000"]);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    w.send("this is not json");
    w.send("");
    w.send("   ");
    w.send(&format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"ping\",\"pad\":\"{}\"}}",
        "y".repeat(5000)
    ));
    w.send("42");
    w.send_json(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}));
    w.close_stdin();
    let lines = w.recv_all(T);
    assert_eq!(w.wait(T), 0);
    // Requests run concurrently, so answers may come in any order: compare sorted.
    let mut codes: Vec<String> = lines
        .iter()
        .map(|l| format!("{} {}", l["id"], l["error"]["code"]))
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            "1 null",
            "2 null",
            "null -32600",
            "null -32600",
            "null -32700"
        ],
        "{lines:?}"
    );
    let too_long = lines
        .iter()
        .find_map(|l| {
            l["error"]["message"]
                .as_str()
                .filter(|m| m.contains("exceeds"))
        })
        .expect("the over-long line's error");
    assert_eq!(too_long, "Invalid Request: message exceeds 1000 bytes");
    assert_eq!(server.hits("99"), 0);
}

#[test]
fn bridge_answers_pending_requests_before_exiting_at_eof() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    w.send_json(&call(1, "sleep", json!({"ms": 800})));
    w.send_json(&call(2, "stream", json!({"count": 2, "interval_ms": 300})));
    w.close_stdin();
    let lines = w.recv_all(T);
    assert_eq!(w.wait(T), 0);
    let ids: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("result").is_some())
        .map(|l| &l["id"])
        .collect();
    assert_eq!(ids.len(), 2, "{lines:?}");
}

#[cfg(unix)]
#[test]
fn bridge_answers_pending_requests_on_sigterm_and_exits_by_itself() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 0, "method": "ping"}));
    assert_eq!(w.recv(T)["id"], 0, "the bridge is up");
    w.send_json(&call(1, "sleep", json!({"ms": 30_000})));
    w.send_json(&call(2, "sleep", json!({"ms": 30_000})));
    common::wrapper::wait_until(T, "both calls reached the server", || {
        server.hits("1") == 1 && server.hits("2") == 1
    });
    w.signal("TERM");
    // The calls sleep for 30 s: the answers and the exit within T come from the signal.
    let lines = w.recv_all(T);
    assert_eq!(w.wait(T), 0);
    common::wrapper::assert_shutting_down(lines, &[1, 2]);
}

#[test]
fn bridge_stops_at_once_when_stdout_closes() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start_with(&server.url(), &[], &[("MCP_WRAPPER_LOG_LEVEL", "DEBUG")]);
    w.send_json(&call(1, "stream", json!({"count": 50, "interval_ms": 20})));
    assert_eq!(w.recv(T)["method"], "notifications/progress");
    // Close our end of stdout: the bridge's next write fails with EPIPE.
    drop(std::mem::replace(&mut w.lines, mpsc::channel().1));
    assert_eq!(w.wait(T), 0);
    let stderr = w.stderr();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bridge_passes_a_64_mib_message_whole() {
    let server = TestServer::start(Scenario::default().record_requests(false)).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    let text = "z".repeat(64 * 1024 * 1024 - 200);
    let request = call(1, "echo", json!({"text": text}));
    let line = request.to_string();
    assert!(line.len() < 64 * 1024 * 1024);
    w.send(&line);
    let answer = w.recv(Duration::from_secs(60));
    assert_eq!(answer["id"], 1);
    let echoed = answer["result"]["content"][0]["text"]
        .as_str()
        .expect("text");
    assert_eq!(echoed.len(), text.len() + r#"{"text":""}"#.len());
}

#[test]
fn bridge_records_the_session_id_and_sends_it_on_later_requests() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}));
    assert_eq!(w.recv(T)["result"]["protocolVersion"], "2025-06-18");
    w.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    w.send_json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    assert!(w.recv(T)["result"]["tools"].is_array());
    let requests = server.requests();
    let last = requests
        .iter()
        .rev()
        .find(|r| r.method == "POST")
        .expect("a POST");
    assert!(last.header("mcp-session-id").is_some());
    assert_eq!(last.header("mcp-protocol-version"), Some("2025-06-18"));
    let initialized = requests
        .iter()
        .position(|r| r.body.windows(11).any(|w| w == b"initialized"))
        .expect("sent");
    let list = requests
        .iter()
        .position(|r| r.body.windows(10).any(|w| w == b"tools/list"))
        .expect("sent");
    assert!(
        initialized < list,
        "the notification reached the server first"
    );
}

/// Starts `mcp-wrapper` on the given stdio.
fn run_on(
    url: &str,
    stdin: std::process::Stdio,
    stdout: std::process::Stdio,
    stderr: std::process::Stdio,
    env: &[(&str, &str)],
) -> std::process::Child {
    std::process::Command::new(common::wrapper::BIN)
        .args(["--url", url])
        .env("MCP_WRAPPER_LOG_LEVEL", "OFF")
        .env("MCP_WRAPPER_AUTH_DIR", common::wrapper::scratch_auth_dir())
        .envs(env.iter().copied())
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("spawn mcp-wrapper")
}

fn wait_exit(child: &mut std::process::Child) -> i32 {
    let deadline = Instant::now() + T;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "the bridge did not exit in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The ids answered with a result in `text`, one JSON line each (other lines ignored).
fn answered_ids(text: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m.get("result").is_some())
        .filter_map(|m| m["id"].as_u64())
        .collect();
    ids.sort_unstable();
    ids
}

fn requests(ids: std::ops::RangeInclusive<u64>) -> String {
    ids.map(|id| call(id, "echo", json!({"n": id})).to_string() + "\n")
        .collect()
}

// Pipes take the non-blocking path on the runtime (every other test here); a regular file
// and a terminal take the thread path, sockets (Node's libuv spawns with socketpairs) the
// non-blocking one again, and a stdout shared with stderr the thread path for stdout only.

#[test]
fn bridge_reads_a_file_and_writes_a_file() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let dir = std::env::temp_dir().join(format!("bridge-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (input, output, log) = (
        dir.join("in.jsonl"),
        dir.join("out.jsonl"),
        dir.join("err.log"),
    );
    std::fs::write(&input, requests(1..=20)).expect("write input");
    let mut child = run_on(
        &server.url(),
        std::fs::File::open(&input).expect("input").into(),
        std::fs::File::create(&output).expect("output").into(),
        std::fs::File::create(&log).expect("log").into(),
        &[("MCP_WRAPPER_LOG_LEVEL", "debug")],
    );
    assert_eq!(wait_exit(&mut child), 0);
    let text = std::fs::read_to_string(&output).expect("output");
    let log = std::fs::read_to_string(&log).expect("log");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(answered_ids(&text), (1..=20).collect::<Vec<_>>(), "{text}");
    assert!(log.contains(r#"stdin="thread" stdout="thread""#), "{log}");
}

#[cfg(unix)]
#[test]
fn bridge_serves_socketpairs_as_a_node_parent_spawns_it() {
    use std::io::{Read as _, Write as _};
    use std::os::unix::net::UnixStream;

    let server = TestServer::start(Scenario::default()).expect("server");
    let (mut to_child, child_in) = UnixStream::pair().expect("socketpair");
    let (mut from_child, child_out) = UnixStream::pair().expect("socketpair");
    let log_path = std::env::temp_dir().join(format!("bridge-socket-{}.log", std::process::id()));
    let mut child = run_on(
        &server.url(),
        std::os::fd::OwnedFd::from(child_in).into(),
        std::os::fd::OwnedFd::from(child_out).into(),
        std::fs::File::create(&log_path).expect("log").into(),
        &[("MCP_WRAPPER_LOG_LEVEL", "debug")],
    );
    to_child
        .write_all(requests(1..=50).as_bytes())
        .expect("write");
    to_child
        .shutdown(std::net::Shutdown::Write)
        .expect("end of input");
    from_child.set_read_timeout(Some(T)).expect("timeout");
    let mut text = String::new();
    from_child
        .read_to_string(&mut text)
        .expect("read to the end");
    assert_eq!(wait_exit(&mut child), 0);
    assert_eq!(answered_ids(&text), (1..=50).collect::<Vec<_>>(), "{text}");
    let log = std::fs::read_to_string(&log_path).expect("log");
    let _ = std::fs::remove_file(&log_path);
    assert!(log.contains(r#"stdin="runtime" stdout="runtime""#), "{log}");
}

#[test]
fn bridge_keeps_answers_whole_when_stderr_shares_stdout() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let (reader, writer) = std::io::pipe().expect("pipe");
    let (child_in, mut feed) = std::io::pipe().expect("pipe");
    let mut child = run_on(
        &server.url(),
        child_in.into(),
        writer.try_clone().expect("dup").into(),
        writer.into(),
        // Logs on stderr interleave with the answers on the same pipe (`2>&1`).
        &[("MCP_WRAPPER_LOG_LEVEL", "debug")],
    );
    let collect = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut { reader }, &mut text);
        text
    });
    std::io::Write::write_all(&mut feed, requests(1..=30).as_bytes()).expect("write");
    drop(feed);
    assert_eq!(wait_exit(&mut child), 0);
    let text = collect.join().expect("reader");
    // Stdout shared with stderr stays blocking (a thread writes it); stdin is a pipe.
    assert!(
        text.contains("stdio served by stdin=\"runtime\" stdout=\"thread\""),
        "{text}"
    );
    assert_eq!(answered_ids(&text), (1..=30).collect::<Vec<_>>(), "{text}");
}
