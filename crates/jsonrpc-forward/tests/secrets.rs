//! Secrets never printed (issue 12, item 16): the `Authorization` value, `--header` values,
//! URL userinfo and query strings, and session ids appear in no stdout line, no log line,
//! no error message and no `Debug` output.

mod common;

use std::time::Duration;

use clap::Parser as _;
use common::wrapper::Wrapper;
use jsonrpc_forward::cli::Args;
use jsonrpc_forward::{Client, ClientConfig, RequestHeaders};
use serde_json::json;
use test_server::{Fault, Scenario, TestServer};

const T: Duration = Duration::from_secs(10);

const AUTH: &str = "auth-secret-a1";
const HEADER: &str = "header-secret-h2";
const USERINFO: &str = "userinfo-secret-u3";
const QUERY: &str = "query-secret-q4";
const MALFORMED: &str = "malformed-secret-m5";
const BAD_NAME: &str = "name-secret-n6";
const REFUSED_QUERY: &str = "refused-query-secret-r7";
const PROXY_PASSWORD: &str = "proxy-secret-x9";
const ENV_HEADER: &str = "env-header-secret-e9";
const FILE_HEADER: &str = "file-header-secret-f10";

/// Everything the bridge printed: stdout lines, then stderr.
struct Printed {
    stdout: String,
    stderr: String,
}

impl Printed {
    fn assert_free_of(&self, secrets: &[&str]) {
        for secret in secrets {
            assert!(
                !self.stdout.contains(secret),
                "{secret} on stdout:\n{}",
                self.stdout
            );
            assert!(
                !self.stderr.contains(secret),
                "{secret} on stderr:\n{}",
                self.stderr
            );
        }
    }
}

/// Closes stdin, waits for the exit, and collects what was printed.
fn finish(mut w: Wrapper, mut stdout: Vec<String>) -> Printed {
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
    while let Ok(line) = w.lines.recv_timeout(T) {
        stdout.push(line);
    }
    Printed {
        stdout: stdout.join("\n"),
        stderr: w.stderr(),
    }
}

/// Runs the binary to completion with these arguments (stdin closed at once).
fn run(args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(common::wrapper::BIN)
        .args(args)
        .env_remove("MCP_SERVER_URL")
        .env_remove("MCP_AUTH")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run mcp-wrapper");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn initialize(w: &mut Wrapper) -> String {
    w.send_json(&json!({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}));
    let answer = w.recv(T);
    assert_eq!(answer["id"], "init", "{answer}");
    w.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    answer.to_string()
}

/// A debug-logging bridge with every kind of secret, against a stateful server: answers,
/// an HTTP error, a body broken mid-way (a reqwest error that names the URL), the DELETE.
/// Logs in `format` (`text` or `json`); a header value comes from the environment
/// (`${VAR}`) and one from a `--header-file`.
fn run_with_secrets(server: &TestServer, format: &str) -> Printed {
    let url = format!(
        "http://user:{USERINFO}@{}/mcp/?token={QUERY}",
        server.addr()
    );
    let header_file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("secrets-{}-{format}.headers", std::process::id()));
    std::fs::write(&header_file, format!("X-File-Key: {FILE_HEADER}\n")).expect("header file");
    let mut w = Wrapper::start_with(
        &url,
        &[
            "--log-level",
            "debug",
            "--log-format",
            format,
            "--auth",
            &format!("Bearer {AUTH}"),
            "--header",
            &format!("X-Api-Key: {HEADER}"),
            "--header",
            "X-Env-Key: ${MCPW_SECRET_ENV_HEADER}",
            "--header-file",
            header_file.to_str().expect("UTF-8 path"),
        ],
        &[("MCPW_SECRET_ENV_HEADER", ENV_HEADER)],
    );
    let mut stdout = vec![initialize(&mut w)];
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    stdout.push(w.recv(T).to_string());
    let broken = Fault {
        reset_after_bytes: Some(5),
        ..Fault::default()
    };
    for (id, fault) in [(2, Fault::status(500)), (3, broken)] {
        w.send_json(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "echo", "arguments": {}, "_meta": fault.to_meta()}}));
        let answer = w.recv(T);
        assert_eq!(answer["id"], id, "{answer}");
        assert!(answer["error"].is_object(), "{answer}");
        stdout.push(answer.to_string());
    }
    finish(w, stdout)
}

// Regression test for issue 12 item 16: reqwest's error text carried the URL with its query
// string (`Connection failed: ... for url (...?token=...)`) to stdout and the log.
#[test]
fn secrets_never_reach_stdout_or_stderr() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let printed = run_with_secrets(&server, "text");
    assert!(
        printed.stderr.contains("starting mcp-wrapper") && printed.stderr.contains("DEBUG"),
        "debug logs were written: {}",
        printed.stderr
    );
    assert!(
        printed.stdout.contains("Connection failed"),
        "the broken body was answered: {}",
        printed.stdout
    );
    // The secrets did reach the server, so the run exercised them.
    let post = server
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("a POST");
    assert!(post.path.contains(QUERY));
    assert_eq!(
        post.header("authorization"),
        Some(format!("Bearer {AUTH}").as_str())
    );
    assert_eq!(post.header("x-api-key"), Some(HEADER));
    assert_eq!(post.header("x-env-key"), Some(ENV_HEADER));
    assert_eq!(post.header("x-file-key"), Some(FILE_HEADER));
    printed.assert_free_of(&[AUTH, HEADER, USERINFO, QUERY, ENV_HEADER, FILE_HEADER]);

    // A `--header` with no colon is a usage error naming its position only.
    let (code, stdout, stderr) = run(&[
        "--url",
        "http://127.0.0.1:9/",
        "--header",
        "X-Ok: 1",
        "--header",
        &format!("Authorization Bearer {MALFORMED}"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--header #2"), "{stderr}");
    Printed { stdout, stderr }.assert_free_of(&[MALFORMED]);

    // A header name that cannot be one (a token pasted into it) is not echoed either.
    let (code, stdout, stderr) = run(&[
        "--url",
        "http://127.0.0.1:9/",
        "--header",
        &format!("Bearer {BAD_NAME}: x"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("#1"), "{stderr}");
    Printed { stdout, stderr }.assert_free_of(&[BAD_NAME]);

    // A refused connection: the `Connection failed` answer and its log line.
    let url = format!(
        "http://{}/mcp/?token={REFUSED_QUERY}",
        test_server::refused_addr()
    );
    let mut w = Wrapper::start(&url, &["--log-level", "debug", "--timeout", "1"]);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "echo", "arguments": {}}}));
    let answer = w.recv(T);
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Connection failed"), "{answer}");
    let printed = finish(w, vec![answer.to_string()]);
    assert!(
        printed.stderr.contains("request failed"),
        "{}",
        printed.stderr
    );
    printed.assert_free_of(&[REFUSED_QUERY]);
}

// The session id is a credential for the session: never in a log line (it was, at debug).
#[test]
fn secrets_session_id_is_never_printed() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let printed = run_with_secrets(&server, "text");
    let session_id = server
        .requests()
        .into_iter()
        .find_map(|r| r.header("mcp-session-id").map(str::to_owned))
        .expect("the bridge sent the session id it was given");
    printed.assert_free_of(&[&session_id]);
}

// Issue 15 §5: the JSON formatter writes every field of every event; none may be a secret.
#[test]
fn secrets_never_reach_json_logs() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let printed = run_with_secrets(&server, "json");
    let mut debug = 0;
    for line in printed.stderr.lines() {
        let line: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line:?}"));
        debug += usize::from(line["level"] == "DEBUG");
    }
    assert!(debug > 0, "debug logs were written: {}", printed.stderr);
    assert!(
        printed.stderr.contains(r#""message":"request""#),
        "{}",
        printed.stderr
    );
    let session_id = server
        .requests()
        .into_iter()
        .find_map(|r| r.header("mcp-session-id").map(str::to_owned))
        .expect("the bridge sent the session id it was given");
    printed.assert_free_of(&[
        AUTH,
        HEADER,
        USERINFO,
        QUERY,
        ENV_HEADER,
        FILE_HEADER,
        &session_id,
    ]);
}

#[test]
fn config_args_and_client_debug_show_header_names_only() {
    let url = format!("https://user:{USERINFO}@h.example/mcp/?token={QUERY}");
    let config = ClientConfig::new(&url)
        .authorization(format!("Bearer {AUTH}"))
        .header("X-Api-Key", HEADER)
        .proxy(format!("http://alice:{PROXY_PASSWORD}@proxy.example:3128"));
    let client = Client::new(config.clone()).expect("client");
    let args = Args::try_parse_from([
        "mcp-wrapper",
        "--url",
        &url,
        "--auth",
        &format!("Bearer {AUTH}"),
        "--header",
        &format!("X-Api-Key: {HEADER}"),
        "--header",
        &format!("Authorization Bearer {MALFORMED}"),
        "--proxy",
        &format!("http://alice:{PROXY_PASSWORD}@proxy.example:3128"),
    ])
    .expect("parse");
    let ctx = RequestHeaders::new(
        Some("session-secret-s8".to_owned()),
        Some("2025-11-25".to_owned()),
    );
    for shown in [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{client:?}"),
        format!("{args:?}"),
        format!("{ctx:?}"),
    ] {
        for secret in [
            AUTH,
            HEADER,
            USERINFO,
            QUERY,
            MALFORMED,
            PROXY_PASSWORD,
            "session-secret-s8",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
    for shown in [
        format!("{config:?}"),
        format!("{args:?}"),
        format!("{client:?}"),
    ] {
        assert!(shown.contains("proxy.example:3128"), "proxy shown: {shown}");
    }
    for shown in [format!("{config:?}"), format!("{args:?}")] {
        assert!(shown.contains("X-Api-Key"), "header names shown: {shown}");
        assert!(
            shown.contains(r#"Some("<redacted>")"#),
            "auth shown as redacted: {shown}"
        );
    }
    assert!(format!("{ctx:?}").contains("2025-11-25"));
}

#[tokio::test]
async fn forwarded_debug_hides_the_session_id() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let client = common::client(&server.url());
    let init = common::request(
        1,
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {},
               "clientInfo": {"name": "t", "version": "1"}}),
    );
    let response = client
        .forward(init, &RequestHeaders::default())
        .await
        .expect("2xx");
    let session_id = response.session_id().expect("a session").to_owned();
    let shown = format!("{response:?}");
    assert!(!shown.contains(&session_id), "{shown}");
    assert!(shown.contains("mcp-session-id"), "names shown: {shown}");
}

/// Keep-alive pings (issue 15 §3) carry the credentials; their failures and the recovery a
/// 404 starts are logged without them.
#[test]
fn secrets_never_in_keep_alive_logs() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let url = format!(
        "http://user:{USERINFO}@{}/mcp/?token={QUERY}",
        server.addr()
    );
    let mut w = Wrapper::start(
        &url,
        &[
            "--log-level",
            "debug",
            "--keep-alive",
            "0.2",
            "--auth",
            &format!("Bearer {AUTH}"),
            "--header",
            &format!("X-Api-Key: {HEADER}"),
        ],
    );
    let stdout = vec![initialize(&mut w)];
    let pings = || {
        server
            .requests()
            .iter()
            .filter(|r| r.json().is_some_and(|b| b["method"] == "ping"))
            .count()
    };
    common::wrapper::wait_until(T, "a ping", || pings() >= 1);
    // The next POST is a ping: it fails with 500, and the one after is sent anyway.
    server.push_script(Fault::status(500));
    let failed = pings() + 1;
    common::wrapper::wait_until(T, "a ping after the failed one", || pings() > failed);
    server.expire_sessions();
    common::wrapper::wait_until(T, "the session recovered", || {
        common::posts_of(&server, "initialize") == 2
    });
    let printed = finish(w, stdout);
    assert!(
        printed.stderr.contains("keep-alive ping failed"),
        "{}",
        printed.stderr
    );
    printed.assert_free_of(&[AUTH, HEADER, USERINFO, QUERY]);
}
