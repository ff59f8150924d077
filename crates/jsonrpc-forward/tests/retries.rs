//! The retry rules against a real server: what is resent, and that a tool never runs twice.

mod common;

use common::{client, echo_with, forward, method_with};
use test_server::{BodyFormat, Fault, Scenario, TestServer, http_date};

#[tokio::test]
async fn a_502_on_tools_call_is_not_resent() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let outcome = forward(&client(&server.url()), echo_with(1, &Fault::status(502))).await;
    assert_eq!(server.hits("1"), 1, "the tool ran once");
    assert_eq!(
        outcome
            .error
            .as_ref()
            .and_then(jsonrpc_forward::Error::status)
            .map(|s| s.as_u16()),
        Some(502)
    );
    assert_eq!(
        outcome.error_answer("1")["error"]["message"],
        "HTTP 502 Bad Gateway"
    );
}

#[tokio::test]
async fn a_502_504_or_408_on_a_read_only_method_is_resent() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client(&server.url());
    for (id, status, method) in [
        (1, 502, "tools/list"),
        (2, 504, "ping"),
        (3, 408, "initialize"),
    ] {
        let fault = Fault {
            status: Some(status),
            times: Some(2),
            ..Fault::default()
        };
        let outcome = forward(&client, method_with(id, method, &fault)).await;
        assert!(outcome.error.is_none(), "{method}: {:?}", outcome.error);
        assert_eq!(
            server.hits(&id.to_string()),
            3,
            "{method}: two failures, then success"
        );
    }
}

#[tokio::test]
async fn a_503_with_retry_after_is_resent_once_and_succeeds() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let fault = Fault {
        status: Some(503),
        retry_after: Some("1".into()),
        times: Some(1),
        ..Fault::default()
    };
    let started = std::time::Instant::now();
    let outcome = forward(&client(&server.url()), echo_with(1, &fault)).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.response()["id"], 1);
    assert_eq!(server.hits("1"), 2);
    // Retry-After: 1 replaced the 10 ms backoff of the test policy.
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
}

#[tokio::test]
async fn a_429_with_an_http_date_is_resent_for_a_tool_call() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let date = http_date(std::time::SystemTime::now());
    let fault = Fault {
        status: Some(429),
        retry_after: Some(date),
        times: Some(1),
        ..Fault::default()
    };
    let outcome = forward(&client(&server.url()), echo_with(1, &fault)).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(server.hits("1"), 2, "429 means the server did not act");
}

#[tokio::test]
async fn retries_stop_after_five_resends() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let outcome = forward(&client(&server.url()), echo_with(1, &Fault::status(503))).await;
    assert_eq!(server.hits("1"), 6, "the first attempt and five resends");
    assert_eq!(
        outcome.error_answer("1")["error"]["message"],
        "HTTP 503 Service Unavailable"
    );
}

#[tokio::test]
async fn a_broken_stream_is_resent_only_for_read_only_methods_before_any_output() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client(&server.url());
    let reset = Fault {
        format: Some(BodyFormat::Sse),
        reset_after_bytes: Some(3),
        times: Some(1),
        ..Fault::default()
    };
    let outcome = forward(&client, method_with(1, "tools/list", &reset)).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(server.hits("1"), 2);

    let outcome = forward(&client, echo_with(2, &reset)).await;
    assert_eq!(server.hits("2"), 1, "the tool ran once");
    let answer = outcome.error_answer("2");
    assert!(
        answer["error"]["message"]
            .as_str()
            .expect("text")
            .starts_with("Connection failed"),
        "{answer}"
    );

    // A notification already handed on: resending would repeat it.
    let after_output = Fault {
        progress_every_ms: Some(5),
        progress_total_ms: 10,
        reset_after_bytes: Some(150),
        times: Some(1),
        ..Fault::default()
    };
    let outcome = forward(&client, method_with(3, "tools/list", &after_output)).await;
    assert!(
        !outcome.messages.is_empty() && outcome.error.is_some(),
        "{outcome:?}"
    );
    assert_eq!(server.hits("3"), 1);
}
