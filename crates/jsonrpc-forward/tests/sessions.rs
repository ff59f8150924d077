//! Streamable HTTP sessions through the bridge: ids, the GET listen stream, 404 recovery,
//! DELETE on exit.

mod common;

use std::time::Duration;

use common::posts_of;
use common::wrapper::{Wrapper, wait_until};
use serde_json::{Value, json};
use test_server::{Fault, Scenario, TestServer};

const T: Duration = Duration::from_secs(10);

fn initialize(w: &mut Wrapper) {
    w.send_json(&json!({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}));
    assert_eq!(w.recv(T)["id"], "init");
    w.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
}

#[test]
fn session_recovers_from_404_by_replaying_initialize_unseen() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    initialize(&mut w);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": "test://r"}}));
    assert_eq!(w.recv(T)["id"], 1);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    assert!(w.recv(T)["result"]["tools"].is_array());
    let first_session = server
        .requests()
        .last()
        .and_then(|r| r.header("mcp-session-id").map(str::to_owned));

    server.expire_sessions();
    w.send_json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "echo", "arguments": {"a": 1}}}));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 3, "the client sees only its answer: {answer}");
    assert!(answer["result"].is_object(), "{answer}");

    assert_eq!(
        posts_of(&server, "initialize"),
        2,
        "initialize was replayed"
    );
    assert_eq!(posts_of(&server, "notifications/initialized"), 2);
    assert_eq!(
        posts_of(&server, "resources/subscribe"),
        2,
        "the subscription was re-issued"
    );
    assert_eq!(server.hits("3"), 2, "404 first, then the resend");
    let last = server
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "POST")
        .expect("a POST");
    assert!(last.header("mcp-session-id").is_some());
    assert_ne!(
        last.header("mcp-session-id").map(str::to_owned),
        first_session,
        "a new session"
    );
    w.close_stdin();
    assert!(w.recv_all(T).is_empty(), "no hidden answer leaked");
    assert_eq!(w.wait(T), 0);
}

#[test]
fn a_request_sent_while_the_session_is_recovering_waits_for_the_new_session() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    initialize(&mut w);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert!(w.recv(T)["result"]["tools"].is_array());

    server.expire_sessions();
    // The 404 is answered before any fault is chosen, so this slows the replayed
    // `initialize`: the recovery takes half a second.
    server.push_script(Fault {
        delay_headers_ms: 500,
        ..Fault::default()
    });
    let echo = |id: u64| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "echo", "arguments": {"n": id}}});
    w.send_json(&echo(2));
    // Mid-recovery (the replayed `initialize` has arrived and is held for 500 ms): there is
    // no session id to send yet.
    wait_until(T, "the recovery started", || {
        posts_of(&server, "initialize") == 2
    });
    w.send_json(&echo(3));
    let mut answers = [w.recv(T), w.recv(T)];
    answers.sort_by_key(|a| a["id"].as_u64());
    for (answer, id) in answers.iter().zip([2, 3]) {
        assert_eq!(answer["id"], id, "{answer}");
        assert!(answer["result"].is_object(), "{answer}");
    }
    assert_eq!(posts_of(&server, "initialize"), 2, "one recovery");
    assert_eq!(
        server.hits("3"),
        1,
        "the later request went once, with the new session"
    );
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
}

#[test]
fn session_is_deleted_at_eof() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    initialize(&mut w);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(w.recv(T)["id"], 1);
    w.close_stdin();
    assert_eq!(w.wait(T), 0);
    let delete = server
        .requests()
        .into_iter()
        .find(|r| r.method == "DELETE")
        .expect("a DELETE");
    assert!(delete.header("mcp-session-id").is_some());
}

#[test]
fn session_missing_id_error_is_forwarded_with_the_request_id() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    // No initialize: the server answers 400 with a JSON-RPC error body.
    w.send_json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 7, "{answer}");
    assert!(answer["error"]["code"].is_i64(), "{answer}");
}

#[test]
fn listen_stream_is_forwarded_and_resumed_from_the_last_event_id() {
    let scenario = Scenario::default()
        .sessions(true)
        .listen_stream(true)
        .listen_interval(Duration::from_millis(20))
        .listen_events(6)
        .listen_events_per_stream(Some(3));
    let server = TestServer::start(scenario).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    initialize(&mut w);
    let events: Vec<Value> = (0..6).map(|_| w.recv(T)).collect();
    for event in &events {
        assert_eq!(event["method"], "notifications/message", "{event}");
    }
    let gets = common::received(&server, "GET");
    assert!(gets.len() >= 2, "the stream was reopened: {}", gets.len());
    assert_eq!(gets[0].header("last-event-id"), None);
    assert_eq!(
        gets[1].header("last-event-id"),
        Some("3"),
        "resumed after the last event"
    );
    assert!(gets.iter().all(|g| g.header("mcp-session-id").is_some()));
}

#[test]
fn listen_stream_405_is_quiet_and_requests_still_work() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &["--log-level", "WARNING"]);
    initialize(&mut w);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(w.recv(T)["id"], 1);
    w.close_stdin();
    assert!(w.recv_all(T).is_empty());
    assert_eq!(w.wait(T), 0);
    let gets = common::received(&server, "GET").len();
    assert_eq!(gets, 1, "one GET, answered 405, not retried");
    let stderr = w.stderr();
    assert!(!stderr.contains("WARN"), "{stderr}");
}

/// A broken SSE answer is resumed after the last event id it saw, an ASCII one or not:
/// issue 12 item 18 feared that a non-ASCII id made the resume a plain GET without
/// `Last-Event-ID`; http 1.x sends such bytes (obs-text) as they are, and this keeps it so.
#[tokio::test]
async fn a_broken_sse_answer_with_event_ids_is_resumed_with_last_event_id() {
    use test_server::BodyFormat;
    for prefix in ["", "événement-"] {
        let server = TestServer::start(Scenario::default()).expect("server");
        let client = common::client(&server.url());
        let fault = Fault {
            format: Some(BodyFormat::Sse),
            event_ids: true,
            event_id_prefix: prefix.to_owned(),
            progress_every_ms: Some(5),
            progress_total_ms: 50,
            reset_after_bytes: Some(400),
            ..Fault::default()
        };
        let outcome = common::forward(&client, common::echo_with(1, &fault)).await;
        assert!(!outcome.messages.is_empty(), "progress came first");
        // test-server cannot resume these POST streams (405), so the request ends in an
        // error ...
        assert!(outcome.error.is_some(), "{outcome:?}");
        // ... after the bridge asked to resume after the last event it saw.
        let get = server
            .requests()
            .into_iter()
            .find(|r| r.method == "GET")
            .expect("a resume GET");
        let last_seen = format!("{prefix}{}", outcome.messages.len());
        assert_eq!(get.header("last-event-id"), Some(last_seen.as_str()));
        assert_eq!(get.header("accept"), Some("text/event-stream"));
        assert_eq!(server.hits("1"), 1, "the tool was not run again");
    }
}

/// The POST requests the server received, newest last.
fn posts(server: &TestServer) -> Vec<test_server::RecordedRequest> {
    common::received(server, "POST")
}

/// Issue 12 C.11: a recovery whose replayed `initialize` fails (a 500 once) must not leave
/// the bridge without a session: the next message tries again and succeeds.
#[test]
fn failed_recovery_is_tried_again_by_the_next_message() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    initialize(&mut w);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert!(w.recv(T)["result"]["tools"].is_array());

    server.expire_sessions();
    // The 404 takes no scripted fault: this one fails the replayed `initialize`.
    server.push_script(Fault::status(500));
    w.send_json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let failed = w.recv(T);
    assert_eq!(failed["id"], 2, "{failed}");
    assert!(failed["error"].is_object(), "{failed}");

    w.send_json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 3, "{answer}");
    assert!(answer["result"]["tools"].is_array(), "{answer}");
    assert_eq!(
        posts_of(&server, "initialize"),
        3,
        "recovered on the second try"
    );
    let last = posts(&server).pop().expect("a POST");
    assert!(last.header("mcp-session-id").is_some());
}

/// Issue 12 C.12: a GET stream that opens and closes, again and again, is not a failure:
/// the bridge keeps reopening it while the session lives.
#[test]
fn listen_stream_that_keeps_closing_is_reopened_without_end() {
    let scenario = Scenario::default()
        .sessions(true)
        .listen_stream(true)
        .listen_events(1_000)
        .listen_interval(Duration::from_millis(1))
        .listen_events_per_stream(Some(0));
    let server = TestServer::start(scenario).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    initialize(&mut w);
    let gets = || common::received(&server, "GET").len();
    wait_until(T, "eight GETs", || gets() >= 8);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(w.recv(T)["id"], 1);
}

/// Issue 12 C.13: SSE polling (2025-11-25): the server closes the answer stream again and
/// again, sometimes before sending a new event id; the bridge resumes it every time.
#[test]
fn answer_stream_is_resumed_as_often_as_the_server_closes_it() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    let fault = Fault {
        poll_closes: Some(6),
        ..Fault::default()
    };
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": {"name": "echo", "arguments": {"n": 1}, "_meta": fault.to_meta()}}));
    let answer = w.recv(T);
    assert_eq!(answer["id"], 1, "{answer}");
    assert!(answer["result"].is_object(), "{answer}");
    let resumes = common::received(&server, "GET");
    assert_eq!(resumes.len(), 6, "{resumes:?}");
    let first = resumes[0].header("last-event-id").map(str::to_owned);
    assert!(first.is_some());
    assert!(
        resumes
            .iter()
            .all(|r| r.header("last-event-id").map(str::to_owned) == first),
        "the last event id is kept across resumed streams that sent none"
    );
    assert_eq!(server.hits("1"), 1, "the tool ran once");
}

/// Issue 12 C.14: the client's own second `initialize` starts a new session: it goes out
/// without the old session id, and its answer's session replaces the old one.
#[test]
fn second_initialize_replaces_the_session() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    initialize(&mut w);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(w.recv(T)["id"], 1);
    let first = posts(&server).pop().expect("a POST");
    let first = first
        .header("mcp-session-id")
        .expect("a session")
        .to_owned();

    initialize(&mut w);
    w.send_json(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}));
    assert_eq!(w.recv(T)["id"], 2);
    let all = posts(&server);
    let second_init = all
        .iter()
        .rev()
        .find(|r| r.json().is_some_and(|b| b["method"] == "initialize"))
        .expect("the second initialize");
    assert_eq!(
        second_init.header("mcp-session-id"),
        None,
        "no old session id"
    );
    let last = all.last().expect("a POST");
    let second = last.header("mcp-session-id").expect("a session");
    assert_ne!(second, first, "the new session is used");
}

/// Issue 12 C.12: failed opens of the GET stream are retried with a backoff while the session
/// lives, not given up after a few (library level: the client's quick backoff keeps it short).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_stream_that_fails_to_open_is_retried_until_it_opens() {
    use std::io::{BufRead as _, Write as _};

    let scenario = Scenario::default()
        .sessions(true)
        .listen_stream(true)
        .listen_failures(8)
        .listen_interval(Duration::from_millis(1))
        .listen_events(3);
    let server = std::sync::Arc::new(TestServer::start(scenario).expect("server"));
    let bridge = jsonrpc_forward::Bridge::new(common::client(&server.url()), 4);
    let (input, mut feed) = std::io::pipe().expect("pipe");
    let (from_bridge, output) = std::io::pipe().expect("pipe");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(bridge.run(input, output, async {
        let _ = stopped.await;
    }));
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(from_bridge)
            .lines()
            .map_while(Result::ok)
        {
            if line_tx.send(line).is_err() {
                return;
            }
        }
    });
    let seen_by = std::sync::Arc::clone(&server);
    let next_line = move || {
        line_rx.recv_timeout(T).unwrap_or_else(|_| {
            let seen: Vec<_> = seen_by
                .requests()
                .iter()
                .map(|r| format!("{} {}", r.method, String::from_utf8_lossy(&r.body)))
                .collect();
            panic!("no line in time; the server saw {seen:#?}")
        })
    };
    writeln!(feed, "{}", json!({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
    .expect("write");
    let lines = tokio::task::spawn_blocking(move || {
        let answer = next_line();
        writeln!(
            feed,
            "{}",
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
        )
        .expect("write");
        let events: Vec<String> = (0..3).map(|_| next_line()).collect();
        (answer, events, feed)
    })
    .await
    .expect("joined");
    let (_, lines, feed) = lines;
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert!(
        events
            .iter()
            .all(|e| e["method"] == "notifications/message"),
        "{events:?}"
    );
    let gets = common::received(&server, "GET").len();
    assert_eq!(gets, 9, "eight failed opens, then the stream");
    let _ = stop.send(());
    drop(feed);
    let exit = tokio::time::timeout(T, running).await.expect("in time");
    assert!(exit.expect("joined").is_ok());
}

/// Issue 12 C.12: streams that open and end with nothing (an idle proxy) are no failures:
/// after six of them the events still arrive.
#[test]
fn listen_stream_closed_empty_again_and_again_still_delivers() {
    let scenario = Scenario::default()
        .sessions(true)
        .listen_stream(true)
        .listen_empty_streams(6)
        .listen_interval(Duration::from_millis(1))
        .listen_events(2);
    let server = TestServer::start(scenario).expect("server");
    let mut w = Wrapper::start(&server.url(), &[]);
    initialize(&mut w);
    for _ in 0..2 {
        assert_eq!(w.recv(T)["method"], "notifications/message");
    }
    let gets = common::received(&server, "GET").len();
    assert_eq!(gets, 7, "six empty streams, then the one with the events");
}
