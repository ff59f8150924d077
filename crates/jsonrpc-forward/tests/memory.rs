//! Memory is bounded by bytes, not by a count of messages: a client that reads stdout slowly
//! holds the server back instead of making the bridge buffer everything (issue 12 D.17).

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use test_server::{Scenario, TestServer};

const T: Duration = Duration::from_secs(30);

/// A line of `/proc/PID/status`, in KiB.
#[cfg(target_os = "linux")]
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("the field")
}

#[cfg(target_os = "linux")]
#[test]
fn slow_stdout_reader_holds_the_server_back_instead_of_filling_memory() {
    const MESSAGES: u64 = 150;
    const MESSAGE_BYTES: u64 = 1_000_000;
    let server = TestServer::start(Scenario::default().record_requests(false)).expect("server");
    let mut child = Command::new(common::wrapper::BIN)
        .args(["--url", &server.url(), "--max-message-bytes", "1100000"])
        .env("MCP_WRAPPER_LOG_LEVEL", "debug")
        .env("MCP_WRAPPER_AUTH_DIR", common::wrapper::scratch_auth_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mcp-wrapper");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "stream",
        "arguments": {"count": MESSAGES, "interval_ms": 0, "event_bytes": MESSAGE_BYTES}}});
    writeln!(stdin, "{call}").expect("write");

    // Nothing reads stdout until the bridge says its output queue is full.
    let (said, told) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("stdout is not keeping up") {
                let _ = said.send(());
            }
        }
    });
    told.recv_timeout(T)
        .expect("the bridge holds the stream back");
    let held = status_kib(pid, "VmRSS");

    let mut answered = false;
    let mut progress = 0;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let message: Value = serde_json::from_str(&line).expect("whole JSON lines");
        if message["id"] == 1 {
            answered = true;
            break;
        }
        assert_eq!(message["method"], "notifications/progress");
        progress += 1;
    }
    assert!(answered);
    assert_eq!(progress, MESSAGES);
    let peak = status_kib(pid, "VmHWM");
    drop(stdin);
    let _ = child.wait();
    // 150 MB went through; the bridge held a few messages at a time (the queue and the
    // read-ahead are each 2 x 1.1 MB), plus its own code and buffers.
    eprintln!("held {held} KiB, peak {peak} KiB");
    assert!(
        held < 64 * 1024,
        "{held} KiB resident while stdout was not read"
    );
    assert!(peak < 96 * 1024, "{peak} KiB at the peak");
}
