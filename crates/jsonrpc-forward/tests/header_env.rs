//! Secrets out of argv (issue 15 §2): `${VAR}` in `--header` values and `--auth`, and
//! `--header-file`. Each test drives the real binary against the test server, checks what
//! the server received, and that no secret reached stderr at DEBUG.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::wrapper::Wrapper;
use serde_json::json;
use test_server::{RecordedRequest, Scenario, TestServer};

const T: Duration = Duration::from_secs(10);

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    common::wrapper::run_to_end(args, env)
}

/// A file under Cargo's temporary directory for integration tests, with `text` in it.
fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("header_env-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("write the file");
    path
}

/// A debug-logging bridge with `extra` arguments and `env`, one ping through it, stdin
/// closed: the POST the server received, and stderr.
fn ping_through(extra: &[&str], env: &[(&str, &str)]) -> (RecordedRequest, String) {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut args = vec!["--log-level", "DEBUG"];
    args.extend_from_slice(extra);
    let mut w = Wrapper::start_with(&server.url(), &args, env);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 1, "{answer}");
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
    let stderr = w.stderr();
    assert!(
        stderr.contains("DEBUG"),
        "debug logs were written: {stderr}"
    );
    let post = common::received(&server, "POST")
        .into_iter()
        .next()
        .expect("the ping");
    (post, stderr)
}

#[test]
fn header_values_and_auth_expand_environment_variables() {
    let (post, stderr) = ping_through(
        &[
            "--auth",
            "Bearer ${MCPW_TEST_TOKEN}",
            // mcp-remote's form: no space, since Windows hosts split arguments at spaces.
            "--header",
            "X-Api-Key:${MCPW_TEST_KEY}",
            "--header",
            "X-Joined: ${MCPW_TEST_A}-${MCPW_TEST_B}",
            "--header",
            "X-Literal: cost $5, $${MCPW_TEST_A} and $HOME",
        ],
        &[
            ("MCPW_TEST_TOKEN", "token-secret-e1"),
            ("MCPW_TEST_KEY", "key-secret-e2"),
            ("MCPW_TEST_A", "left"),
            ("MCPW_TEST_B", "right"),
        ],
    );
    assert_eq!(post.header("authorization"), Some("Bearer token-secret-e1"));
    assert_eq!(post.header("x-api-key"), Some("key-secret-e2"));
    assert_eq!(post.header("x-joined"), Some("left-right"));
    assert_eq!(
        post.header("x-literal"),
        Some("cost $5, ${MCPW_TEST_A} and $HOME"),
        "`$${{` is a literal `${{`, a lone `$` is itself"
    );
    for secret in ["token-secret-e1", "key-secret-e2"] {
        assert!(!stderr.contains(secret), "{secret} on stderr:\n{stderr}");
    }
}

#[test]
fn header_expansion_of_a_missing_variable_exits_2_naming_it() {
    let url = "http://127.0.0.1:9/";
    for (args, place) in [
        (
            &[
                "--url",
                url,
                "--header",
                "X-Ok: 1",
                "--header",
                "X-Key: ${MCPW_TEST_UNSET}",
            ][..],
            "--header #2",
        ),
        (
            &["--url", url, "--auth", "Bearer ${MCPW_TEST_UNSET}"],
            "--auth",
        ),
    ] {
        let (code, stdout, stderr) = run(args, &[]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("MCPW_TEST_UNSET"), "{stderr}");
        assert!(stderr.contains(place), "{place} named: {stderr}");
    }
}

#[test]
fn header_expansion_rejects_a_malformed_reference_without_echoing_it() {
    for value in [
        "${token-secret-m1}",
        "Bearer ${token-secret-m1",
        "${}token-secret-m1",
    ] {
        let header = format!("X-Key: {value}");
        let (code, _, stderr) = run(&["--url", "http://127.0.0.1:9/", "--header", &header], &[]);
        assert_eq!(code, 2, "{value}: {stderr}");
        assert!(stderr.contains("--header #1"), "{stderr}");
        assert!(stderr.contains("$${"), "says how to escape: {stderr}");
        assert!(!stderr.contains("token-secret-m1"), "{stderr}");
    }
}

#[test]
fn header_file_sends_its_headers_with_comments_crlf_and_variables() {
    let file = temp_file(
        "headers.txt",
        "\u{feff}# team credentials\r\n\
         \r\n\
         Authorization: Bearer file-secret-f1\r\n\
         \t  # indented comment\r\n\
         X-Tenant:blue\r\n\
         X-From-Env: ${MCPW_TEST_FILE_KEY}\n\
         X-Literal: $${MCPW_TEST_FILE_KEY}",
    );
    let path = file.to_str().expect("UTF-8 path");
    let (post, stderr) = ping_through(
        &["--header-file", path, "--header", "X-Cli: 1"],
        &[("MCPW_TEST_FILE_KEY", "env-secret-f2")],
    );
    assert_eq!(post.header("authorization"), Some("Bearer file-secret-f1"));
    assert_eq!(post.header("x-tenant"), Some("blue"));
    assert_eq!(post.header("x-from-env"), Some("env-secret-f2"));
    assert_eq!(post.header("x-literal"), Some("${MCPW_TEST_FILE_KEY}"));
    assert_eq!(post.header("x-cli"), Some("1"));
    for secret in ["file-secret-f1", "env-secret-f2"] {
        assert!(!stderr.contains(secret), "{secret} on stderr:\n{stderr}");
    }

    // The same file from the environment.
    let (post, _) = ping_through(
        &[],
        &[
            ("MCP_HEADER_FILE", path),
            ("MCPW_TEST_FILE_KEY", "env-secret-f2"),
        ],
    );
    assert_eq!(post.header("authorization"), Some("Bearer file-secret-f1"));
    assert_eq!(post.header("x-from-env"), Some("env-secret-f2"));
}

#[test]
fn header_file_errors_name_the_file_and_line_never_the_text() {
    let url = "http://127.0.0.1:9/";
    let malformed = temp_file(
        "malformed.txt",
        "# ok\nX-Ok: 1\r\nAuthorization Bearer line-secret-l1\n",
    );
    let invalid_name = temp_file("invalid-name.txt", "Bearer line-secret-l2: x\n");
    let unset = temp_file("unset.txt", "\n\nX-Key: ${MCPW_TEST_UNSET_IN_FILE}\n");
    for (file, line) in [(&malformed, 3), (&invalid_name, 1), (&unset, 3)] {
        let path = file.to_str().expect("UTF-8 path");
        let (code, stdout, stderr) = run(&["--url", url, "--header-file", path], &[]);
        assert_eq!(code, 2, "{path}: {stderr}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(path), "the file named: {stderr}");
        assert!(
            stderr.contains(&format!("line {line}")),
            "line {line} named: {stderr}"
        );
        for secret in ["line-secret-l1", "line-secret-l2"] {
            assert!(!stderr.contains(secret), "{secret} on stderr:\n{stderr}");
        }
    }
    let (_, _, stderr) = run(
        &[
            "--url",
            url,
            "--header-file",
            unset.to_str().expect("UTF-8"),
        ],
        &[],
    );
    assert!(stderr.contains("MCPW_TEST_UNSET_IN_FILE"), "{stderr}");

    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-header-file");
    let path = missing.to_str().expect("UTF-8 path");
    let (code, _, stderr) = run(&["--url", url, "--header-file", path], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(path), "{stderr}");
}

#[test]
fn header_file_and_expansion_are_in_help() {
    let (code, stdout, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    for word in ["--header-file", "MCP_HEADER_FILE", "${VAR}"] {
        assert!(
            stdout.contains(word),
            "{word} missing from --help:\n{stdout}"
        );
    }
}
