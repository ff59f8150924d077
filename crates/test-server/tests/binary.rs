//! The `test-server` binary: `LISTENING <port>` on stdout, then serves until stdin ends.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_test-server"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

/// The first stdout line, read with a timeout.
fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Nothing else may come; keep reading so that the child never blocks on the pipe.
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
        assert!(rest.is_empty(), "unexpected stdout {rest:?}");
    });
    rx.recv_timeout(Duration::from_secs(10))
        .inspect_err(|_| {
            let _ = child.kill();
        })
        .expect("a line within 10 s")
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn binary_prints_listening_serves_and_exits_on_stdin_eof() {
    let mut child = spawn(&["--sessions"]);
    let line = first_line(&mut child);
    let port: u16 = line
        .strip_prefix("LISTENING ")
        .and_then(|p| p.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(line.ends_with('\n'));

    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        stream,
        "POST /mcp/ HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.to_ascii_lowercase().contains("mcp-session-id: "));

    drop(child.stdin.take());
    let status = wait_exit(&mut child, Duration::from_secs(5)).expect("exits on stdin EOF");
    assert!(status.success());
}

#[test]
fn binary_exits_when_its_lifetime_ends_and_writes_certificates() {
    let dir = std::env::temp_dir().join(format!("test-server-certs-{}", std::process::id()));
    let dir_arg = dir.to_str().expect("a UTF-8 temp path");
    let mut child = spawn(&["--tls", "--lifetime-secs", "1", "--cert-dir", dir_arg]);
    let line = first_line(&mut child);
    assert!(line.starts_with("LISTENING "), "{line:?}");
    for file in ["ca.pem", "client.pem", "client-key.pem"] {
        let pem = std::fs::read_to_string(dir.join(file)).expect("written before LISTENING");
        assert!(pem.starts_with("-----BEGIN "), "{file}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    // stdin stays open: only the lifetime can end it.
    let status = wait_exit(&mut child, Duration::from_secs(5)).expect("exits after 1 s");
    assert!(status.success());
}

#[test]
fn binary_rejects_unknown_flags_with_status_2() {
    let mut child = spawn(&["--bogus"]);
    let status = wait_exit(&mut child, Duration::from_secs(5)).expect("exits");
    assert_eq!(status.code(), Some(2));
}

#[test]
fn binary_modern_flag_answers_server_discover() {
    let mut child = spawn(&["--modern"]);
    let line = first_line(&mut child);
    let port: u16 = line
        .strip_prefix("LISTENING ")
        .and_then(|p| p.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        stream,
        "POST /mcp/ HTTP/1.1\r\nHost: x\r\nMCP-Protocol-Version: 2026-07-28\r\n\
         Mcp-Method: server/discover\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#""supportedVersions":["2026-07-28"]"#),
        "{response}"
    );
    drop(child.stdin.take());
    assert!(wait_exit(&mut child, Duration::from_secs(5)).is_some_and(|s| s.success()));
}
