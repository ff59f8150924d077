//! The `mcp-wrapper` binary as a subprocess over real pipes.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_mcp-wrapper");

/// A credentials (and era cache) directory for this test process alone, never the user's.
pub fn scratch_auth_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mcp-wrapper-test-auth-{}", std::process::id()))
}

/// A running bridge: write lines to it, read its lines with a deadline.
pub struct Wrapper {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub lines: mpsc::Receiver<String>,
}

impl Wrapper {
    pub fn start(url: &str, extra: &[&str]) -> Self {
        Self::start_with(url, extra, &[])
    }

    pub fn start_with(url: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(Command::new(BIN), url, extra, env)
    }

    /// Starts `command` (the binary, maybe with variables removed) on `url` with `extra`
    /// arguments and `env` added, logs off, all three pipes.
    pub fn spawn(mut command: Command, url: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        command
            .arg("--url")
            .arg(url)
            .args(extra)
            .env("MCP_WRAPPER_LOG_LEVEL", "OFF")
            // These suites test the 2025 wire (case A): no `server/discover` probe ahead of
            // `initialize`, which would take a scripted fault meant for it. tests/eras.rs
            // covers `--protocol auto`. Era verdicts go to a directory of this process's own.
            .env("MCP_PROTOCOL", "legacy")
            .env("MCP_WRAPPER_AUTH_DIR", scratch_auth_dir())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn mcp-wrapper");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        Self {
            lines: read_lines(stdout),
            child,
            stdin,
        }
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).expect("write");
        stdin.write_all(b"\n").expect("write");
        stdin.flush().expect("flush");
    }

    pub fn send_json(&mut self, value: &Value) {
        self.send(&value.to_string());
    }

    /// The next stdout line as JSON, within `timeout`.
    pub fn recv(&self, timeout: Duration) -> Value {
        let line = self.recv_line(timeout);
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    }

    /// The next stdout line as it is, within `timeout`.
    pub fn recv_line(&self, timeout: Duration) -> String {
        self.lines.recv_timeout(timeout).expect("a line in time")
    }

    /// Every line until stdout closes, within `timeout`.
    pub fn recv_all(&self, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => out.push(serde_json::from_str(&line).expect("JSON line")),
                Err(mpsc::RecvTimeoutError::Disconnected) => return out,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("stdout still open; got {out:?}"),
            }
        }
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// The exit code, within `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the bridge did not exit in time");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for Wrapper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it holds, failing after `timeout` (a deadline that only matters when
/// the code under test is wrong).
pub fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `lines` are exactly the `-32000 Bridge shutting down` answers of the requests `ids`.
pub fn assert_shutting_down(mut lines: Vec<Value>, ids: &[u64]) {
    lines.sort_by_key(|l| l["id"].as_u64());
    assert_eq!(lines.len(), ids.len(), "{lines:?}");
    for (line, id) in lines.iter().zip(ids) {
        assert_eq!(line["id"], *id);
        assert_eq!(line["error"]["code"], -32000);
        assert_eq!(line["error"]["message"], "Bridge shutting down");
    }
}

pub fn read_lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Runs the binary to completion (stdin closed at once) without the variables that would
/// configure it from the test's own environment: exit code, stdout, stderr.
pub fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("MCP_SERVER_URL")
        .env_remove("MCP_AUTH")
        .env_remove("MCP_HEADER_FILE")
        .env_remove("MCP_TOOL_CALL_TIMEOUT")
        .env_remove("CONCURRENCY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run mcp-wrapper");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
