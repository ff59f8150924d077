//! The `mcp-wrapper` command line: flags, environment, precedence, errors.

mod common;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    common::wrapper::run_to_end(args, env)
}

#[test]
fn cli_without_a_url_exits_2_with_one_line() {
    let (code, stdout, stderr) = run(&[], &[]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--url or MCP_SERVER_URL"), "{stderr}");
}

#[test]
fn cli_with_an_invalid_url_exits_2_without_printing_secrets() {
    let (code, _, stderr) = run(&["--url", "ftp://user:hunter2@host/x"], &[]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let (code, _, _) = run(&["--url", "not a url"], &[]);
    assert_eq!(code, 2);
}

#[test]
fn cli_prints_help_with_examples_and_version() {
    let (code, stdout, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    for word in [
        "MCP_SERVER_URL",
        "MCP_AUTH",
        "MCP_TOOL_CALL_TIMEOUT",
        "CONCURRENCY",
        "Examples:",
    ] {
        assert!(stdout.contains(word), "{word} missing from --help");
    }
    let (code, stdout, _) = run(&["--version"], &[]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("mcp-wrapper "));
}

// Issue 12 item 19: `--help` said a URL ending in `/mcp` is used as is; the bridge appends
// `/` (as `mcpgateway.wrapper.convert_url` does) and follows the server's redirect back.
#[test]
fn cli_help_states_how_the_url_is_normalised() {
    let (code, stdout, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    let help = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for rule in [
        "ending in `/mcp/` is used as is",
        "`/mcp` gets a trailing `/`",
        "a final `/sse` turns every `/sse` into `/mcp/`",
        "anything else gets `/mcp/` appended",
        "redirects `/mcp/` to `/mcp`",
    ] {
        assert!(help.contains(rule), "--help lacks {rule:?}: {stdout}");
    }
    // And the behaviour is that rule.
    use clap::Parser;
    use jsonrpc_forward::cli::Args;
    for (given, used) in [
        ("http://h/x/mcp/", "http://h/x/mcp/"),
        ("http://h/x/mcp", "http://h/x/mcp/"),
        ("http://h/sse/x/sse", "http://h/mcp//x/mcp/"),
        ("http://h/x", "http://h/x/mcp/"),
    ] {
        let args = Args::try_parse_from(["mcp-wrapper", "--url", given]).expect("parse");
        assert_eq!(args.endpoint().expect("url"), used);
    }
}

#[test]
fn cli_rejects_bad_numbers_and_headers_with_exit_2() {
    for args in [
        &["--url", "http://h/", "--timeout", "-1"][..],
        &["--url", "http://h/", "--concurrency", "many"],
        &["--url", "http://h/", "--header", "no colon here"],
    ] {
        let (code, _, stderr) = run(args, &[]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
    }
}

#[test]
fn cli_flags_win_over_environment_which_wins_over_defaults() {
    // With stdin at EOF a valid configuration exits 0 at once; an invalid one exits 2. So
    // which value was used shows in the exit code.
    let valid = "http://127.0.0.1:9/";
    assert_eq!(
        run(&[], &[("MCP_SERVER_URL", valid)]).0,
        0,
        "the URL from the environment"
    );
    assert_eq!(
        run(&["--url", "ftp://bad/"], &[("MCP_SERVER_URL", valid)]).0,
        2,
        "the flag wins"
    );
    assert_eq!(
        run(&["--url", valid], &[("MCP_SERVER_URL", "ftp://bad/")]).0,
        0,
        "the flag wins"
    );
    let bad_timeout = [("MCP_SERVER_URL", valid), ("MCP_TOOL_CALL_TIMEOUT", "soon")];
    assert_eq!(run(&[], &bad_timeout).0, 2, "the environment is read");
    assert_eq!(run(&["--timeout", "5"], &bad_timeout).0, 0, "the flag wins");
    let bad_concurrency = [("MCP_SERVER_URL", valid), ("CONCURRENCY", "lots")];
    assert_eq!(run(&[], &bad_concurrency).0, 2);
    assert_eq!(run(&["--concurrency", "3"], &bad_concurrency).0, 0);
}

#[test]
fn cli_defaults_match_mcpgateway_wrapper() {
    use clap::Parser;
    use jsonrpc_forward::cli::Args;
    let args = Args::try_parse_from(["mcp-wrapper", "--url", "http://h/servers/1"]).expect("parse");
    assert_eq!(args.endpoint().expect("url"), "http://h/servers/1/mcp/");
    assert_eq!(args.connect_timeout, 15.0);
    assert_eq!(args.max_message_bytes, 64 * 1024 * 1024);
}

#[test]
fn cli_rejects_zero_concurrency_and_zero_message_size_with_exit_2() {
    // Zero permits would leave every request waiting for ever.
    for args in [
        &["--url", "http://h/", "--concurrency", "0"][..],
        &["--url", "http://h/", "--max-message-bytes", "0"],
    ] {
        let (code, _, stderr) = run(args, &[("CONCURRENCY", "0")]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
    }
}

#[test]
fn cli_reads_skip_ssl_verify_from_the_environment() {
    use std::time::Duration;
    use test_server::{Scenario, TestServer};

    // The server's certificate is signed by a CA nobody trusts: only skipping the check
    // lets the ping through.
    let server = TestServer::start(Scenario::default().tls(true)).expect("server");
    let url = server.url();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    for (value, answered) in [("true", true), ("1", true), ("false", false), ("", false)] {
        let mut wrapper = common::wrapper::Wrapper::start_with(
            &url,
            &["--log-level", "OFF"],
            &[("SKIP_SSL_VERIFY", value)],
        );
        wrapper.send(ping);
        let answer = wrapper.recv(Duration::from_secs(60));
        assert_eq!(
            answer.get("result").is_some(),
            answered,
            "SKIP_SSL_VERIFY={value:?}: {answer}"
        );
    }
}
