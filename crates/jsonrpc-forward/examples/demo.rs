//! The README demo: `mcp-wrapper` between a scripted client and the bundled `test-server`,
//! printing every message that crosses the bridge with its direction and round-trip time.
//!
//! Run it with `bash scripts/demo.sh` (it builds the binary first).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_server::{BodyFormat, Fault, Scenario, TestServer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(Scenario::default().sessions(true))?;
    let exe = std::env::current_exe()?;
    let bridge_path = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("mcp-wrapper"))
        .ok_or("cannot locate the target directory")?;
    if !bridge_path.exists() {
        return Err(format!(
            "{} is missing: run `bash scripts/demo.sh`",
            bridge_path.display()
        )
        .into());
    }
    println!("test-server  {}", server.url());
    println!(
        "bridge       {} --url {}\n",
        bridge_path.display(),
        server.url()
    );

    // The server-era verdict (`--protocol auto`) goes to a directory of the demo's own, not
    // the user's credentials directory: test-server's port is a new one each run.
    let auth_dir = std::env::temp_dir().join(format!("mcp-wrapper-demo-{}", std::process::id()));
    let mut child = Command::new(&bridge_path)
        .args(["--url", &server.url(), "--log-level", "OFF"])
        .env("MCP_WRAPPER_AUTH_DIR", &auth_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let ndjson = Fault {
        format: Some(BodyFormat::Ndjson),
        ..Fault::default()
    };
    let script: Vec<(&str, String, usize)> = vec![
        (
            "initialize",
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "demo", "version": "1.0"}}})
            .to_string(),
            1,
        ),
        (
            "initialized",
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
            0,
        ),
        (
            "list tools",
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string(),
            1,
        ),
        (
            "a tool that streams progress over SSE",
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "stream", "arguments": {"count": 3, "interval_ms": 150},
                       "_meta": {"progressToken": "p3"}}})
            .to_string(),
            4,
        ),
        (
            "an answer sent as NDJSON",
            json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "hello"}, "_meta": ndjson.to_meta()}})
            .to_string(),
            1,
        ),
        (
            "a line that is not JSON",
            "{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": ".to_owned(),
            1,
        ),
    ];

    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    for (what, line, expect) in script {
        println!("# {what}");
        let started = Instant::now();
        if let Ok(value) = serde_json::from_str::<Value>(&line)
            && let Some(id) = value.get("id")
        {
            sent_at.insert(id.to_string(), started);
        }
        println!("  client -> bridge  {}", shorten(&line));
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        for _ in 0..expect {
            let answer = lines.recv_timeout(Duration::from_secs(10))?;
            let value: Value = serde_json::from_str(&answer)?;
            let since = value
                .get("id")
                .and_then(|id| sent_at.get(&id.to_string()))
                .copied()
                .unwrap_or(started);
            println!(
                "  client <- bridge  {}  ({:.2} ms)",
                shorten(&answer),
                since.elapsed().as_secs_f64() * 1e3
            );
        }
        if expect == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    drop(stdin);
    let status = child.wait()?;
    let _ = std::fs::remove_dir_all(&auth_dir);
    println!("\nstdin closed: the bridge exited with {status}");
    let posts: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    let with_session = posts
        .iter()
        .filter(|r| r.header("mcp-session-id").is_some())
        .count();
    let methods: Vec<String> = posts
        .iter()
        .filter_map(test_server::RecordedRequest::json)
        .map(|body| body["method"].as_str().unwrap_or("?").to_owned())
        .collect();
    println!(
        "test-server received {} POSTs ({}); {with_session} carried the session id it gave at initialize",
        posts.len(),
        methods.join(", ")
    );
    println!(
        "(the first, server/discover, is the protocol-era probe: test-server speaks the 2025 era, \
         so the bridge forwarded initialize and kept the session)"
    );
    Ok(())
}

fn shorten(line: &str) -> String {
    const MAX: usize = 150;
    if line.chars().count() <= MAX {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(MAX).collect();
        format!("{cut}… ({} bytes)", line.len())
    }
}
