//! Every body framing the server may choose yields the same messages, each on one line.

mod common;

use common::{client, echo_with, forward, request};
use serde_json::json;
use test_server::{BodyFormat, Fault, LineEnding, Scenario, TestServer};

fn echo_result() -> serde_json::Value {
    json!({"content": [{"type": "text", "text": "{\"text\":\"h\u{e9}llo\"}"}], "isError": false})
}

#[tokio::test]
async fn forward_yields_the_same_answer_for_every_body_framing() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client(&server.url());
    let sse = |f: Fault| Fault {
        format: Some(BodyFormat::Sse),
        ..f
    };
    let cases = [
        ("json", Fault::default()),
        (
            "json chunked",
            Fault {
                content_length: Some(false),
                ..Fault::default()
            },
        ),
        (
            "json pretty-printed",
            Fault {
                multiline_data: true,
                ..Fault::default()
            },
        ),
        (
            "json 1-byte chunks",
            Fault {
                chunk_size: Some(1),
                ..Fault::default()
            },
        ),
        (
            "json gzip",
            Fault {
                gzip: true,
                ..Fault::default()
            },
        ),
        ("sse", sse(Fault::default())),
        (
            "sse with length",
            sse(Fault {
                content_length: Some(true),
                ..Fault::default()
            }),
        ),
        (
            "sse crlf",
            sse(Fault {
                line_ending: LineEnding::CrLf,
                ..Fault::default()
            }),
        ),
        (
            "sse cr only",
            sse(Fault {
                line_ending: LineEnding::Cr,
                ..Fault::default()
            }),
        ),
        (
            "sse multi-line data",
            sse(Fault {
                multiline_data: true,
                ..Fault::default()
            }),
        ),
        (
            "sse comments and ids",
            sse(Fault {
                sse_comments: true,
                event_ids: true,
                ..Fault::default()
            }),
        ),
        (
            "sse gzip",
            sse(Fault {
                gzip: true,
                ..Fault::default()
            }),
        ),
        (
            "sse crlf split at every byte",
            sse(Fault {
                line_ending: LineEnding::CrLf,
                chunk_size: Some(1),
                ..Fault::default()
            }),
        ),
        (
            "ndjson",
            Fault {
                format: Some(BodyFormat::Ndjson),
                ..Fault::default()
            },
        ),
        (
            "ndjson crlf in 3-byte chunks",
            Fault {
                format: Some(BodyFormat::Ndjson),
                line_ending: LineEnding::CrLf,
                chunk_size: Some(3),
                ..Fault::default()
            },
        ),
        (
            "text/plain",
            Fault {
                format: Some(BodyFormat::TextPlain),
                ..Fault::default()
            },
        ),
        (
            "no content type",
            Fault {
                format: Some(BodyFormat::NoContentType),
                ..Fault::default()
            },
        ),
    ];
    for (i, (name, fault)) in cases.into_iter().enumerate() {
        let id = i as u64 + 1;
        let outcome = forward(&client, echo_with(id, &fault)).await;
        assert!(outcome.error.is_none(), "{name}: {:?}", outcome.error);
        assert_eq!(outcome.messages.len(), 1, "{name}: {:?}", outcome.messages);
        assert_eq!(outcome.response()["id"], id, "{name}");
        assert_eq!(outcome.response()["result"], echo_result(), "{name}");
    }
}

#[tokio::test]
async fn forward_hands_on_single_line_json_byte_for_byte() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client(&server.url());
    let outcome = forward(&client, request(1, "ping", json!({}))).await;
    // test-server writes keys in sorted order; a bridge that re-serialised would not.
    assert_eq!(
        &outcome.raw[0][..],
        br#"{"id":1,"jsonrpc":"2.0","result":{}}"#
    );
}

#[tokio::test]
async fn forward_sends_the_message_unchanged_with_mcp_headers() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client(&server.url());
    let message = bytes::Bytes::from_static(
        b"{ \"jsonrpc\": \"2.0\", \"method\": \"tools/call\", \"id\": \"a\",\n \"params\": {\"name\": \"echo\", \"arguments\": {}} }",
    );
    let outcome = forward(&client, message.clone()).await;
    assert_eq!(outcome.response()["id"], "a");
    let recorded = server.requests().pop().expect("a request");
    assert_eq!(recorded.body, message.to_vec());
    assert_eq!(recorded.header("content-type"), Some("application/json"));
    assert!(
        recorded
            .header("accept")
            .is_some_and(|a| a.contains("text/event-stream"))
    );
    assert_eq!(recorded.header("mcp-method"), Some("tools/call"));
    assert_eq!(recorded.header("mcp-name"), Some("echo"));
}

#[tokio::test]
async fn forward_hands_on_messages_as_they_arrive() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client(&server.url());
    // The server asks the client something and holds the answer until it replies: the
    // question can only reach us if messages are handed on before the body ends.
    let fault = test_server::Fault {
        elicit: true,
        ..test_server::Fault::default()
    };
    let mut response = client
        .forward(
            echo_with(7, &fault),
            &jsonrpc_forward::RequestHeaders::default(),
        )
        .await
        .expect("2xx");
    let first = response
        .messages()
        .next()
        .await
        .expect("a message")
        .expect("ok");
    let first: serde_json::Value = serde_json::from_slice(&first).expect("json");
    assert_eq!(first["method"], "elicitation/create", "{first}");
    let reply = bytes::Bytes::from(
        json!({"jsonrpc": "2.0", "id": first["id"], "result": {"action": "decline"}}).to_string(),
    );
    let replied = forward(&client, reply).await;
    assert!(replied.error.is_none(), "{replied:?}");
    let mut rest = Vec::new();
    while let Some(item) = response.messages().next().await {
        rest.push(serde_json::from_slice::<serde_json::Value>(&item.expect("ok")).expect("json"));
    }
    let last = rest.last().expect("the answer");
    assert_eq!(last["id"], 7, "{rest:?}");
}

#[tokio::test]
async fn forward_yields_nothing_for_an_accepted_notification() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client(&server.url());
    let note =
        bytes::Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let outcome = forward(&client, note).await;
    assert!(
        outcome.messages.is_empty() && outcome.error.is_none(),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn forward_reports_the_http_version_and_session_id() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server");
    let client = client(&server.url());
    let init = request(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}),
    );
    let response = client
        .forward(init, &jsonrpc_forward::RequestHeaders::default())
        .await
        .expect("2xx");
    assert_eq!(response.http_version(), reqwest::Version::HTTP_11);
    assert!(response.session_id().is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn forward_adopts_a_trailing_slash_redirect_once() {
    let server =
        TestServer::start(Scenario::default().redirect_trailing_slash(true)).expect("server");
    let client = client(&server.url());
    for id in 1..=3 {
        let outcome = forward(&client, request(id, "ping", json!({}))).await;
        assert_eq!(outcome.response()["id"], id);
    }
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/mcp/", "/mcp", "/mcp", "/mcp"],
        "one redirect, then the server's form"
    );
    assert!(client.url().as_str().ends_with("/mcp"));
}
