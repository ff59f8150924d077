//! Networks people actually have (issue 15 §3): proxies from `--proxy` and the environment,
//! a proxy that refuses, and a load balancer that pins the session by cookie.
//!
//! The real forward proxy (proxy.py: CONNECT, forwarding, `--basic-auth`) is driven from
//! `python-tests/test_proxy.py`; here the proxy is a port nobody listens on, or a socket that
//! answers `407` to whatever it is sent, which is all a refusing proxy does.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::wrapper::Wrapper;
use serde_json::{Value, json};
use test_server::{Scenario, TestServer};

const T: Duration = Duration::from_secs(20);
const PROXY_VARIABLES: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// The bridge with exactly these proxy variables (those of the test's own environment
/// removed) and `--timeout 2`, which bounds the retries of a refused connection.
fn bridge(url: &str, args: &[&str], env: &[(&str, &str)]) -> Wrapper {
    let mut command = Command::new(common::wrapper::BIN);
    for name in PROXY_VARIABLES.iter().chain(&["MCP_PROXY"]) {
        command.env_remove(name);
    }
    let args: Vec<&str> = ["--timeout", "2"].iter().chain(args).copied().collect();
    Wrapper::spawn(command, url, &args, env)
}

/// Sends `tools/list` and returns the answer.
fn list_tools(w: &mut Wrapper) -> Value {
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 1, "{answer}");
    answer
}

fn error_message(answer: &Value) -> &str {
    answer["error"]["message"].as_str().unwrap_or_default()
}

/// A "proxy" that answers every request (a CONNECT or a forwarded one) with
/// `407 Proxy Authentication Required` and keeps the heads it was sent.
struct Refusing407 {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Refusing407 {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&heads);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && matches!(stream.read(&mut byte), Ok(1)) {
                    head.push(byte[0]);
                }
                kept.lock()
                    .expect("lock")
                    .push(String::from_utf8_lossy(&head).into_owned());
                let _ = stream.write_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                      Proxy-Authenticate: Basic realm=\"test\"\r\n\
                      Content-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Self { port, heads }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("lock").clone()
    }
}

#[test]
fn a_refused_proxy_port_is_one_error_naming_the_proxy() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let proxy = test_server::refused_addr();
    let mut w = bridge(&server.url(), &["--proxy", &format!("http://{proxy}")], &[]);
    let answer = list_tools(&mut w);
    assert_eq!(answer["error"]["code"], -32000, "{answer}");
    assert_eq!(
        error_message(&answer),
        format!("Connection failed: proxy http://{proxy} refused the connection"),
    );
    assert!(server.requests().is_empty(), "nothing reached the server");
}

#[test]
fn the_proxy_variables_are_read_lower_case_first_and_no_proxy_bypasses() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let lower = test_server::refused_addr();
    let upper = test_server::refused_addr();
    let (lower_url, upper_url) = (format!("http://{lower}"), format!("http://{upper}"));

    // http URLs take http_proxy (lower case first) ...
    let mut w = bridge(
        &server.url(),
        &[],
        &[("http_proxy", &lower_url), ("HTTP_PROXY", &upper_url)],
    );
    let message = error_message(&list_tools(&mut w)).to_owned();
    assert!(
        message.contains(&format!("proxy {lower_url} refused")),
        "{message}"
    );

    // ... else ALL_PROXY; HTTPS_PROXY is for https URLs only.
    let mut w = bridge(
        &server.url(),
        &[],
        &[("ALL_PROXY", &upper_url), ("HTTPS_PROXY", &lower_url)],
    );
    let message = error_message(&list_tools(&mut w)).to_owned();
    assert!(
        message.contains(&format!("proxy {upper_url} refused")),
        "{message}"
    );

    // NO_PROXY=127.0.0.1: straight to the server.
    let mut w = bridge(
        &server.url(),
        &[],
        &[
            ("HTTP_PROXY", &upper_url),
            ("NO_PROXY", "localhost,127.0.0.1"),
        ],
    );
    assert!(list_tools(&mut w)["result"]["tools"].is_array());

    // `--proxy none` (and `MCP_PROXY=none`, or empty) ignores the variables.
    let env_proxy = ("HTTP_PROXY", upper_url.as_str());
    for (args, env) in [
        (&["--proxy", "none"][..], &[env_proxy][..]),
        (&["--proxy", ""][..], &[env_proxy][..]),
        (&[][..], &[env_proxy, ("MCP_PROXY", "none")][..]),
        (&[][..], &[env_proxy, ("MCP_PROXY", "")][..]),
    ] {
        let mut w = bridge(&server.url(), args, env);
        assert!(
            list_tools(&mut w)["result"]["tools"].is_array(),
            "{args:?} {env:?}"
        );
    }

    // `--proxy` wins over the variables (MCP_PROXY too).
    let mut w = bridge(
        &server.url(),
        &[],
        &[("MCP_PROXY", &lower_url), ("HTTP_PROXY", &upper_url)],
    );
    let message = error_message(&list_tools(&mut w)).to_owned();
    assert!(
        message.contains(&format!("proxy {lower_url} refused")),
        "{message}"
    );
}

#[test]
fn a_407_names_the_proxy_for_http_and_for_connect() {
    let proxy = Refusing407::start();
    let plain = TestServer::start(Scenario::default()).expect("server");
    let tls = TestServer::start(Scenario::default().tls(true)).expect("server");
    let ca = std::env::temp_dir().join(format!("network-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, tls.ca_pem()).expect("write CA");
    let shown = format!("http://127.0.0.1:{}", proxy.port);

    for (server, extra) in [
        (&plain, Vec::new()),
        (&tls, vec!["--ca-bundle", ca.to_str().expect("UTF-8 path")]),
    ] {
        let mut args = vec!["--proxy", shown.as_str()];
        args.extend(extra);
        let mut w = bridge(&server.url(), &args, &[]);
        let answer = list_tools(&mut w);
        assert_eq!(
            error_message(&answer),
            format!(
                "Connection failed: proxy {shown} refused: 407 Proxy Authentication Required \
                 (give credentials in the proxy URL: http://user:password@host:port)"
            ),
            "{}",
            server.url()
        );
        assert!(server.requests().is_empty());
    }
    let heads = proxy.heads();
    // Each refused once: a 407 is not retried.
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert!(heads[0].starts_with("POST http://127.0.0.1:"), "{heads:?}");
    assert!(heads[1].starts_with("CONNECT 127.0.0.1:"), "{heads:?}");
    let _ = std::fs::remove_file(ca);
}

#[test]
fn proxy_credentials_are_sent_and_never_printed() {
    const PASSWORD: &str = "proxy-secret-p9";
    let proxy = Refusing407::start();
    let tls = TestServer::start(Scenario::default().tls(true)).expect("server");
    let plain = TestServer::start(Scenario::default()).expect("server");
    let ca = std::env::temp_dir().join(format!("network-ca2-{}.pem", std::process::id()));
    std::fs::write(&ca, tls.ca_pem()).expect("write CA");
    let proxy_url = format!("http://alice:{PASSWORD}@127.0.0.1:{}", proxy.port);
    for (server, env_name) in [(&plain, "HTTP_PROXY"), (&tls, "HTTPS_PROXY")] {
        let mut w = bridge(
            &server.url(),
            &["--ca-bundle", ca.to_str().expect("UTF-8 path")],
            &[(env_name, &proxy_url), ("MCP_WRAPPER_LOG_LEVEL", "debug")],
        );
        let answer = list_tools(&mut w);
        assert!(
            error_message(&answer)
                .contains("(the user name and password of the proxy URL were not accepted)"),
            "{answer}"
        );
        w.close_stdin();
        assert_eq!(w.wait(T), 0);
        let stderr = w.stderr();
        assert!(stderr.contains("DEBUG"), "{stderr}");
        for printed in [answer.to_string(), stderr] {
            assert!(!printed.contains(PASSWORD), "{printed}");
        }
    }
    // Basic alice:proxy-secret-p9, on the forwarded POST and on the CONNECT.
    let expected = "proxy-authorization: Basic YWxpY2U6cHJveHktc2VjcmV0LXA5";
    let heads = proxy.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for head in &heads {
        assert!(
            head.to_ascii_lowercase()
                .contains(&expected.to_ascii_lowercase()),
            "{head}"
        );
    }
    let _ = std::fs::remove_file(ca);
}

#[test]
fn an_invalid_proxy_is_a_usage_error_that_hides_the_value() {
    for (args, env) in [
        (
            &["--proxy", "socks5://u:secret-v1@127.0.0.1:1080"][..],
            &[][..],
        ),
        (&[][..], &[("HTTPS_PROXY", "http://u:secret-v1@")][..]),
    ] {
        let mut w = bridge("https://127.0.0.1:9/mcp/", args, env);
        w.close_stdin();
        assert_eq!(w.wait(T), 2);
        let stderr = w.stderr();
        assert!(stderr.contains("proxy"), "{stderr}");
        assert!(!stderr.contains("secret-v1"), "{stderr}");
    }
}

// A load balancer that pins the session by cookie: what `initialize` set goes on every later
// request of the bridge (the notification, tools/list, the DELETE at exit).
#[test]
fn cookies_set_at_initialize_go_on_every_later_request() {
    let server = TestServer::start(
        Scenario::default()
            .sessions(true)
            .set_cookie("lb=node-7; Path=/; HttpOnly"),
    )
    .expect("server");
    let mut w = bridge(&server.url(), &[], &[]);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}));
    assert_eq!(w.recv(T)["id"], 0);
    w.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    assert!(list_tools(&mut w)["result"]["tools"].is_array());
    w.close_stdin();
    assert_eq!(w.wait(T), 0);

    let requests = server.requests();
    let (first, later) = requests.split_first().expect("requests");
    assert_eq!(first.json().expect("JSON")["method"], "initialize");
    assert_eq!(first.header("cookie"), None);
    assert!(later.len() >= 3, "{later:?}");
    for request in later {
        assert_eq!(
            request.header("cookie"),
            Some("lb=node-7"),
            "{} {:?}",
            request.method,
            request.json()
        );
    }
    assert!(later.iter().any(|r| r.method == "DELETE"), "{later:?}");
}
