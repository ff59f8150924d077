//! One test per row of the error table: each failure answers the request with its own id.

mod common;

use std::time::Duration;

use common::{client, client_with, echo_with, forward, method_with};
use jsonrpc_forward::ClientConfig;
use test_server::{BodyFormat, ErrorBody, Fault, Scenario, TestServer};

#[tokio::test]
async fn http_error_status_with_a_jsonrpc_body_is_forwarded_with_the_request_id() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let fault = Fault {
        status: Some(400),
        error_body: ErrorBody::JsonRpc {
            code: -32602,
            message: "bad arguments".into(),
        },
        ..Fault::default()
    };
    let outcome = forward(&client(&server.url()), echo_with(5, &fault)).await;
    let answer = outcome.error_answer("5");
    assert_eq!(answer["id"], 5);
    assert_eq!(answer["error"]["code"], -32602);
    assert_eq!(answer["error"]["message"], "bad arguments");
}

#[tokio::test]
async fn http_error_status_without_a_jsonrpc_body_is_minus_32000_with_status_and_body() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let fault = Fault {
        status: Some(500),
        error_body: ErrorBody::Text {
            text: "boom".repeat(2000),
        },
        ..Fault::default()
    };
    let outcome = forward(&client(&server.url()), echo_with(6, &fault)).await;
    let error = outcome.error.as_ref().expect("error");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500));
    let answer = outcome.error_answer("6");
    assert_eq!(answer["id"], 6);
    assert_eq!(answer["error"]["code"], -32000);
    assert_eq!(answer["error"]["message"], "HTTP 500 Internal Server Error");
    assert_eq!(answer["error"]["data"]["status"], 500);
    let body = answer["error"]["data"]["body"].as_str().expect("body");
    assert_eq!(body.len(), 4096, "the first 4 KiB of the body");
    assert!(body.starts_with("boomboom"));
}

#[tokio::test]
async fn silence_past_the_idle_timeout_is_minus_32001() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client =
        client_with(ClientConfig::new(server.url()).idle_timeout(Duration::from_millis(500)));
    // Silent before the headers, then silent in the middle of the body.
    let before = Fault {
        delay_headers_ms: 2000,
        ..Fault::default()
    };
    let during = Fault {
        format: Some(BodyFormat::Sse),
        pause_after_bytes: Some(5),
        pause_ms: 2000,
        ..Fault::default()
    };
    for (id, fault) in [(1, before), (2, during)] {
        let outcome = forward(&client, echo_with(id, &fault)).await;
        assert!(outcome.messages.is_empty(), "{outcome:?}");
        assert!(
            outcome
                .error
                .as_ref()
                .is_some_and(jsonrpc_forward::Error::is_timeout),
            "{outcome:?}"
        );
        let answer = outcome.error_answer(&id.to_string());
        assert_eq!(answer["error"]["code"], -32001);
        assert!(
            answer["error"]["message"]
                .as_str()
                .expect("text")
                .starts_with("Request timed out")
        );
        assert_eq!(
            server.hits(&id.to_string()),
            1,
            "a timed-out tools/call is not resent"
        );
    }
}

#[tokio::test]
async fn a_slow_server_that_keeps_sending_progress_does_not_time_out() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client_with(ClientConfig::new(server.url()).idle_timeout(Duration::from_secs(1)));
    let fault = Fault {
        progress_every_ms: Some(500),
        progress_total_ms: 3000,
        ..Fault::default()
    };
    let outcome = forward(&client, echo_with(3, &fault)).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert!(
        outcome.messages.len() >= 5,
        "progress, then the result: {:?}",
        outcome.messages
    );
    assert_eq!(outcome.response()["id"], 3);
    assert!(outcome.response()["result"].is_object());
}

#[tokio::test]
async fn a_refused_connection_is_minus_32000_connection_failed() {
    let addr = test_server::refused_addr();
    let outcome = forward(
        &client(&format!("http://{addr}/mcp/")),
        echo_with(1, &Fault::default()),
    )
    .await;
    assert!(
        outcome
            .error
            .as_ref()
            .is_some_and(jsonrpc_forward::Error::is_connect),
        "{outcome:?}"
    );
    let answer = outcome.error_answer("1");
    assert_eq!(answer["error"]["code"], -32000);
    assert!(
        answer["error"]["message"]
            .as_str()
            .expect("text")
            .starts_with("Connection failed")
    );
}

#[tokio::test]
async fn invalid_json_from_the_server_is_minus_32700_and_the_connection_is_not_reused() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client(&server.url());
    for (id, format) in [
        (1, BodyFormat::Json),
        (2, BodyFormat::Sse),
        (3, BodyFormat::Ndjson),
    ] {
        let fault = Fault {
            invalid_json: true,
            format: Some(format),
            ..Fault::default()
        };
        let outcome = forward(&client, echo_with(id, &fault)).await;
        let answer = outcome.error_answer(&id.to_string());
        assert_eq!(answer["id"], id);
        assert_eq!(answer["error"]["code"], -32700, "{format:?}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .expect("text")
                .starts_with("Invalid JSON from server")
        );
    }
    // The bridge keeps serving after bad input.
    let outcome = forward(&client, echo_with(4, &Fault::default())).await;
    assert_eq!(outcome.response()["id"], 4);
}

#[tokio::test]
async fn a_message_over_the_limit_is_minus_32603_in_every_framing() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client_with(ClientConfig::new(server.url()).max_message_bytes(4096));
    for (id, format) in [
        (1, BodyFormat::Json),
        (2, BodyFormat::Sse),
        (3, BodyFormat::Ndjson),
    ] {
        let fault = Fault {
            message_bytes: Some(10_000),
            format: Some(format),
            ..Fault::default()
        };
        let outcome = forward(&client, echo_with(id, &fault)).await;
        let answer = outcome.error_answer(&id.to_string());
        assert_eq!(answer["error"]["code"], -32603, "{format:?}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .expect("text")
                .starts_with("Response exceeds")
        );
    }
    // Just under the limit passes.
    let fault = Fault {
        message_bytes: Some(4000),
        ..Fault::default()
    };
    let outcome = forward(&client, echo_with(9, &fault)).await;
    assert_eq!(outcome.raw[0].len(), 4000);
}

#[tokio::test]
async fn a_stream_that_ends_without_the_response_is_minus_32000_server_closed() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client(&server.url());
    let fault = Fault {
        end_without_response: true,
        progress_every_ms: Some(10),
        progress_total_ms: 30,
        ..Fault::default()
    };
    let outcome = forward(&client, echo_with(1, &fault)).await;
    assert!(!outcome.messages.is_empty(), "progress went through");
    let answer = outcome.error_answer("1");
    assert_eq!(answer["error"]["code"], -32000);
    assert!(
        answer["error"]["message"]
            .as_str()
            .expect("text")
            .starts_with("Server closed the stream")
    );
    // A 202 with no body for a request is the same failure.
    let outcome = forward(&client, echo_with(2, &Fault::status(202))).await;
    assert!(
        matches!(outcome.error, Some(jsonrpc_forward::Error::StreamEnded)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_reset_after_the_response_is_not_an_error() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client(&server.url());
    // The SSE body holds the whole response, then the connection is reset.
    let probe = forward(
        &client,
        method_with(
            1,
            "ping",
            &Fault {
                format: Some(BodyFormat::Sse),
                ..Fault::default()
            },
        ),
    )
    .await;
    let body_len = format!(
        "event: message\ndata: {}\n\n",
        String::from_utf8_lossy(&probe.raw[0])
    )
    .len();
    let fault = Fault {
        format: Some(BodyFormat::Sse),
        reset_after_bytes: Some(body_len),
        content_length: Some(false),
        ..Fault::default()
    };
    let outcome = forward(&client, method_with(2, "ping", &fault)).await;
    assert_eq!(outcome.messages.len(), 1, "{outcome:?}");
    assert!(outcome.error.is_none(), "{outcome:?}");
}
