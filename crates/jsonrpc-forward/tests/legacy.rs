//! `--transport`: what `auto` does to a Streamable HTTP server (never touches the legacy SSE
//! URL), when it does not fall back, and the same-origin rule of the legacy `endpoint`
//! event. The legacy transport against a real HTTP+SSE server (the MCP SDK 1.x) is tested in
//! python-tests/legacy.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::wrapper::Wrapper;
use serde_json::{Value, json};
use test_server::{ErrorBody, Fault, Scenario, TestServer};

const T: Duration = Duration::from_secs(10);

fn initialize(id: u64, fault: Option<&Fault>) -> Value {
    let mut params = json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "legacy-tests", "version": "0"},
    });
    if let Some(fault) = fault {
        params["_meta"] = fault.to_meta();
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": params})
}

/// The user's URL ends in `/sse`: Streamable HTTP goes to `/mcp/` (`convert_url`), the
/// legacy fallback would GET `/sse`.
fn sse_url(server: &TestServer) -> String {
    format!("http://{}/sse", server.addr())
}

fn sse_gets(server: &TestServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/sse"))
        .count()
}

#[test]
fn auto_against_streamable_http_never_gets_the_sse_url() {
    let server =
        TestServer::start(Scenario::default().sessions(true).listen_stream(true)).expect("server");
    let mut w = Wrapper::start(&sse_url(&server), &[]);
    w.send_json(&initialize(1, None));
    assert!(w.recv(T)["result"].is_object());
    w.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    w.send_json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    assert!(w.recv(T)["result"]["tools"].is_array());
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
    assert_eq!(sse_gets(&server), 0, "{:?}", server.requests());
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.path.starts_with("/mcp/"))
    );
}

#[test]
fn auto_does_not_fall_back_on_a_json_rpc_error_and_keeps_its_verdict() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&sse_url(&server), &[]);
    // A 400 with a JSON-RPC body: the server speaks the protocol, the request was wrong.
    let refused = Fault {
        status: Some(400),
        error_body: ErrorBody::JsonRpc {
            code: -32602,
            message: "unsupported protocol version".to_owned(),
        },
        ..Fault::default()
    };
    w.send_json(&initialize(1, Some(&refused)));
    let answer = w.recv(T);
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    // The verdict stands: a later bare 404 is an answer, not a reason to go looking.
    w.send_json(&initialize(2, Some(&Fault::status(404))));
    let answer = w.recv(T);
    assert_eq!(answer["error"]["data"]["status"], 404, "{answer}");
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
    assert_eq!(sse_gets(&server), 0, "{:?}", server.requests());
}

#[test]
fn auto_does_not_fall_back_on_401_or_500() {
    for status in [401, 500] {
        let server = TestServer::start(Scenario::default()).expect("server");
        let mut w = Wrapper::start(&sse_url(&server), &["--no-oauth"]);
        w.send_json(&initialize(1, Some(&Fault::status(status))));
        let answer = w.recv(T);
        assert_eq!(answer["error"]["data"]["status"], status, "{answer}");
        w.close_stdin();
        assert_eq!(w.wait(T), 0);
        assert_eq!(sse_gets(&server), 0, "{status}: {:?}", server.requests());
    }
}

#[test]
fn streamable_http_never_falls_back() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&sse_url(&server), &["--transport", "streamable-http"]);
    w.send_json(&initialize(1, Some(&Fault::status(404))));
    let answer = w.recv(T);
    assert_eq!(answer["error"]["data"]["status"], 404, "{answer}");
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
    assert_eq!(sse_gets(&server), 0);
}

/// A legacy server whose `endpoint` event points to another origin (here `localhost`
/// instead of `127.0.0.1`, another port): no message is sent there, and the requests are
/// answered with an error naming that origin, never its path or query.
#[test]
fn an_endpoint_on_another_origin_is_refused_and_named() {
    let elsewhere = TcpListener::bind("127.0.0.1:0").expect("bind");
    elsewhere.set_nonblocking(true).expect("nonblocking");
    let other_port = elsewhere.local_addr().expect("addr").port();
    let sse = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = sse.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        // Every GET gets the same stream, held open until the bridge hangs up.
        for stream in sse.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let event = format!(
                    "event: endpoint\ndata: http://localhost:{other_port}/messages/?session_id=planted-session-secret\n\n"
                );
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\r\n";
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(event.as_bytes());
                let _ = stream.flush();
                let _ = reader.read_line(&mut line);
            });
        }
    });
    let url = format!("http://127.0.0.1:{port}/sse");
    let mut w = Wrapper::start_with(
        &url,
        &["--transport", "sse"],
        &[("MCP_WRAPPER_LOG_LEVEL", "DEBUG")],
    );
    w.send_json(&initialize(1, None));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["error"]["code"], -32000, "{answer}");
    let message = answer["error"]["message"].as_str().expect("message");
    assert!(
        message.contains(&format!("http://localhost:{other_port}")),
        "{message}"
    );
    assert!(message.contains("another origin"), "{message}");
    assert!(!message.contains("planted-session-secret"), "{message}");
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
    assert!(
        elsewhere.accept().is_err(),
        "the bridge connected to the other origin"
    );
    let log = w.stderr();
    assert!(!log.contains("planted-session-secret"), "{log}");
}

#[test]
fn an_unknown_transport_is_a_usage_error() {
    let mut w = Wrapper::start("http://127.0.0.1:9/sse", &["--transport", "websocket"]);
    assert_eq!(w.wait(T), 2);
    let err = w.stderr();
    assert!(err.contains("auto, streamable-http or sse"), "{err}");
}

#[test]
fn help_names_the_transport_its_variable_and_the_sse_url_rule() {
    let out = std::process::Command::new(common::wrapper::BIN)
        .arg("--help")
        .output()
        .expect("run --help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--transport"), "{help}");
    assert!(help.contains("MCP_TRANSPORT"), "{help}");
    assert!(help.contains("NOT rewritten to `/mcp/`"), "{help}");
}

/// A legacy server that is down: once the stream failed to open as often as the retry
/// policy would resend a POST, the waiting request is answered with the connection error
/// (well before its 600 s timeout), and the bridge keeps trying in the background.
#[test]
fn a_legacy_server_that_is_down_is_answered_not_waited_for() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/sse", closed.local_addr().expect("addr"));
    drop(closed);
    let mut w = Wrapper::start(&url, &["--transport", "sse", "--timeout", "600"]);
    w.send_json(&initialize(1, None));
    let answer = w.recv(Duration::from_secs(60));
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["error"]["code"], -32000, "{answer}");
    let message = answer["error"]["message"].as_str().expect("message");
    assert!(message.starts_with("Connection failed"), "{message}");
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
}
