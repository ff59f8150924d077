//! Faults, selected by `_meta`, by the `fault` tool or by the scenario's script.

mod common;

use std::io::Read as _;
use std::time::{Duration, Instant};

use common::{Client, bounded, dechunk, parse_sse, post, raw_post, request};
use http::StatusCode;
use serde_json::{Value, json};
use test_server::{BodyFormat, ErrorBody, Fault, LineEnding, Scenario, TestServer, http_date};

fn server() -> TestServer {
    TestServer::start(Scenario::default()).expect("server starts")
}

/// An `echo` call carrying `fault` in its `_meta`.
fn echo_with(id: Value, fault: &Fault, args: &Value) -> String {
    request(
        id,
        "tools/call",
        json!({"name": "echo", "arguments": args, "_meta": fault.to_meta()}),
    )
}

fn echoed(answer: &Value) -> Value {
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .expect("text");
    serde_json::from_str(text).expect("JSON text")
}

#[tokio::test]
async fn sse_split_at_every_byte_with_crlf_and_multibyte_text_arrives_intact() {
    let server = server();
    let fault = Fault {
        format: Some(BodyFormat::Sse),
        line_ending: LineEnding::CrLf,
        multiline_data: true,
        sse_comments: true,
        event_ids: true,
        chunk_size: Some(1),
        chunk_delay_ms: 1,
        ..Fault::default()
    };
    let args = json!({"text": "é✓🎉"});
    let reply = bounded(post(server.addr(), &echo_with(json!(1), &fault, &args)))
        .await
        .expect("split call");
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert!(reply.header("content-length").is_none(), "chunked");
    let text = reply.text();
    assert!(text.starts_with(": ping\r\nevent: message\r\nid: 1\r\ndata: {\r\n"));
    let events = parse_sse(&text);
    assert_eq!(events.len(), 1);
    assert!(events[0].1.lines().count() > 3, "multi-line data");
    let answer: Value = serde_json::from_str(&events[0].1).expect("JSON");
    assert_eq!(echoed(&answer), args);
}

#[tokio::test]
async fn chunk_size_one_frames_every_byte_on_the_wire() {
    let server = server();
    let fault = Fault {
        format: Some(BodyFormat::Sse),
        chunk_size: Some(1),
        ..Fault::default()
    };
    let args = json!({"text": "é✓"});
    let (raw, error) = bounded(raw_post(server.addr(), &echo_with(json!(1), &fault, &args))).await;
    assert!(error.is_none(), "{error:?}");
    let (_, sizes, body) = dechunk(&raw);
    assert!(sizes.iter().all(|&n| n == 1), "{sizes:?}");
    assert_eq!(sizes.len(), body.len());
    let text = String::from_utf8(body).expect("UTF-8 once reassembled");
    assert_eq!(echoed(&parse_sse_json(&text)), args);
}

#[tokio::test]
async fn split_at_offsets_with_cr_line_endings() {
    let server = server();
    let fault = Fault {
        format: Some(BodyFormat::Sse),
        line_ending: LineEnding::Cr,
        split_at: vec![30, 1, 5],
        chunk_delay_ms: 2,
        ..Fault::default()
    };
    let args = json!({"k": "v"});
    let call = echo_with(json!(2), &fault, &args);
    let (raw, error) = bounded(raw_post(server.addr(), &call)).await;
    assert!(error.is_none(), "{error:?}");
    let (_, sizes, body) = dechunk(&raw);
    assert_eq!(sizes[..3], [1, 4, 25]);
    assert_eq!(sizes.len(), 4);
    assert!(!body.contains(&b'\n'));
    let text = String::from_utf8(body).expect("UTF-8");
    assert_eq!(echoed(&parse_sse_json(&text)), args);

    // The same cuts under a Content-Length.
    let with_length = Fault {
        content_length: Some(true),
        ..fault
    };
    let call = echo_with(json!(3), &with_length, &args);
    let reply = bounded(post(server.addr(), &call))
        .await
        .expect("split call");
    let length: usize = reply
        .header("content-length")
        .expect("a length")
        .parse()
        .expect("a number");
    assert_eq!(length, reply.body.len());
    assert_eq!(echoed(&reply.sse_json()[0]), args);
}

#[tokio::test]
async fn reset_mid_stream_is_a_connection_reset_on_the_wire() {
    let server = server();
    let fault = Fault {
        format: Some(BodyFormat::Sse),
        reset_after_bytes: Some(20),
        ..Fault::default()
    };
    let call = echo_with(json!(4), &fault, &json!({"pad": "p".repeat(500)}));
    let (raw, error) = bounded(raw_post(server.addr(), &call)).await;
    let error = error.expect("the read ends with an error");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
    assert!(raw.starts_with(b"HTTP/1.1 200 OK"));
}

fn parse_sse_json(text: &str) -> Value {
    let events = parse_sse(text);
    assert_eq!(events.len(), 1, "{text:?}");
    serde_json::from_str(&events[0].1).expect("JSON data")
}

#[tokio::test]
async fn gzip_body_decodes_to_the_answer() {
    let server = server();
    let fault = Fault {
        gzip: true,
        ..Fault::default()
    };
    let args = json!({"big": "z".repeat(2000)});
    let reply = bounded(post(server.addr(), &echo_with(json!(3), &fault, &args)))
        .await
        .expect("gzip call");
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    assert!(reply.body.len() < 1000, "compressed");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&reply.body[..])
        .read_to_string(&mut text)
        .expect("valid gzip");
    let answer: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(echoed(&answer), args);
}

#[tokio::test]
async fn status_503_with_retry_after_once_then_success() {
    let server = server();
    let fault = Fault {
        status: Some(503),
        retry_after: Some("2".to_owned()),
        error_body: ErrorBody::JsonRpc {
            code: -32000,
            message: "overloaded".to_owned(),
        },
        times: Some(1),
        ..Fault::default()
    };
    let call = echo_with(json!(4), &fault, &json!({}));
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let first = client.post(&call).await.expect("first");
        assert_eq!(first.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(first.header("retry-after"), Some("2"));
        let error = first.json();
        assert_eq!(error["id"], 4);
        assert_eq!(error["error"]["message"], "overloaded");
        let second = client.post(&call).await.expect("second");
        assert_eq!(second.status, StatusCode::OK);
        assert_eq!(echoed(&second.json()), json!({}));
    })
    .await;
    assert_eq!(server.hits("4"), 2);
}

#[tokio::test]
async fn times_key_counts_a_retry_under_a_new_id_as_the_same_call() {
    let server = server();
    let fault = Fault {
        status: Some(429),
        times: Some(1),
        times_key: Some("call-a".to_owned()),
        ..Fault::default()
    };
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let first = client
            .post(&echo_with(json!(10), &fault, &json!({})))
            .await
            .expect("first");
        assert_eq!(first.status, StatusCode::TOO_MANY_REQUESTS);
        // The retry comes with another id (a renumbering proxy): the key still counts it.
        let retry = client
            .post(&echo_with(json!(11), &fault, &json!({})))
            .await
            .expect("retry");
        assert_eq!(retry.status, StatusCode::OK);
        // Another key is a call of its own.
        let other = Fault {
            times_key: Some("call-b".to_owned()),
            ..fault.clone()
        };
        let third = client
            .post(&echo_with(json!(10), &other, &json!({})))
            .await
            .expect("other key");
        assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    })
    .await;
}

#[tokio::test]
async fn status_429_with_an_http_date_and_no_body() {
    let server = server();
    let date = http_date(std::time::SystemTime::now() + Duration::from_secs(1));
    let fault = Fault {
        status: Some(429),
        retry_after: Some(date.clone()),
        ..Fault::default()
    };
    let reply = bounded(post(
        server.addr(),
        &echo_with(json!(5), &fault, &json!({})),
    ))
    .await
    .expect("429");
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.header("retry-after"), Some(date.as_str()));
    assert!(reply.body.is_empty());
    assert!(reply.header("content-type").is_none());
}

#[tokio::test]
async fn script_applies_faults_in_order_then_behaves() {
    let scenario = Scenario::default().script(vec![
        Fault::status(502),
        Fault {
            status: Some(504),
            error_body: ErrorBody::Text {
                text: "gateway timeout".to_owned(),
            },
            ..Fault::default()
        },
    ]);
    let server = TestServer::start(scenario).expect("server starts");
    server.push_script(Fault::status(202));
    let ping = request(json!(6), "ping", json!({}));
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let statuses = [502, 504, 202, 200];
        for status in statuses {
            let reply = client.post(&ping).await.expect("ping");
            assert_eq!(reply.status.as_u16(), status);
            if status == 504 {
                assert_eq!(reply.text(), "gateway timeout");
            }
            if status == 202 {
                assert!(reply.body.is_empty());
            }
        }
    })
    .await;
    assert_eq!(server.hits("6"), 4);
}

#[tokio::test]
async fn reset_after_bytes_breaks_the_body_for_the_client() {
    let server = server();
    let fault = Fault {
        reset_after_bytes: Some(10),
        ..Fault::default()
    };
    let args = json!({"pad": "p".repeat(500)});
    let result = bounded(post(server.addr(), &echo_with(json!(7), &fault, &args))).await;
    assert!(result.is_err(), "a reset body is an error: {result:?}");
    let sse = Fault {
        format: Some(BodyFormat::Sse),
        reset_after_bytes: Some(20),
        ..Fault::default()
    };
    let result = bounded(post(server.addr(), &echo_with(json!(8), &sse, &args))).await;
    assert!(result.is_err(), "a reset stream is an error: {result:?}");
    assert_eq!(server.hits("7"), 1);
}

#[tokio::test]
async fn invalid_json_and_padded_messages() {
    let server = server();
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let invalid = Fault {
            invalid_json: true,
            ..Fault::default()
        };
        let reply = client
            .post(&echo_with(json!(9), &invalid, &json!({})))
            .await
            .expect("invalid JSON");
        assert_eq!(reply.status, StatusCode::OK);
        assert!(serde_json::from_slice::<Value>(&reply.body).is_err());

        let big = Fault {
            message_bytes: Some(100_000),
            ..Fault::default()
        };
        let reply = client
            .post(&echo_with(json!(10), &big, &json!({})))
            .await
            .expect("big message");
        assert_eq!(reply.body.len(), 100_000);
        assert_eq!(reply.json()["id"], 10);
    })
    .await;
}

#[tokio::test]
async fn ndjson_text_plain_and_no_content_type_formats() {
    let server = server();
    let cases = [
        (BodyFormat::Ndjson, Some("application/x-ndjson")),
        (BodyFormat::TextPlain, Some("text/plain; charset=utf-8")),
        (BodyFormat::NoContentType, None),
    ];
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        for (n, (format, content_type)) in cases.into_iter().enumerate() {
            let fault = Fault {
                format: Some(format),
                progress_every_ms: Some(5),
                progress_total_ms: 10,
                ..Fault::default()
            };
            let reply = client
                .post(&echo_with(json!(n), &fault, &json!({"n": n})))
                .await
                .expect("ndjson");
            assert_eq!(reply.header("content-type"), content_type);
            let lines: Vec<Value> = reply
                .text()
                .lines()
                .map(|l| serde_json::from_str(l).expect("one JSON per line"))
                .collect();
            assert_eq!(lines.len(), 3, "two progress notifications and the answer");
            assert_eq!(lines[0]["method"], "notifications/progress");
            assert_eq!(echoed(&lines[2]), json!({"n": n}));
        }
    })
    .await;
}

#[tokio::test]
async fn stream_can_end_without_a_response() {
    let server = server();
    let fault = Fault {
        progress_every_ms: Some(5),
        progress_total_ms: 15,
        end_without_response: true,
        ..Fault::default()
    };
    let reply = bounded(post(
        server.addr(),
        &echo_with(json!(11), &fault, &json!({})),
    ))
    .await
    .expect("stream");
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let events = reply.sse_json();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.get("id").is_none()));
}

#[tokio::test]
async fn silences_before_headers_and_mid_body() {
    let server = server();
    let fault = Fault {
        delay_headers_ms: 100,
        pause_after_bytes: Some(5),
        pause_ms: 100,
        ..Fault::default()
    };
    let started = Instant::now();
    let reply = bounded(post(
        server.addr(),
        &echo_with(json!(12), &fault, &json!({})),
    ))
    .await
    .expect("slow");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(echoed(&reply.json()), json!({}));
}

#[tokio::test]
async fn fault_tool_arguments_are_a_fault() {
    let server = server();
    let call = request(
        json!(13),
        "tools/call",
        json!({"name": "fault", "arguments": {"status": 500, "times": 1}}),
    );
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let first = client.post(&call).await.expect("first");
        assert_eq!(first.status, StatusCode::INTERNAL_SERVER_ERROR);
        let second = client.post(&call).await.expect("second");
        assert_eq!(second.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn malformed_fault_is_rejected_with_400() {
    let server = server();
    let call = request(
        json!(14),
        "ping",
        json!({"_meta": {"test-server/fault": {"no_such_field": 1}}}),
    );
    let reply = bounded(post(server.addr(), &call)).await.expect("reply");
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], -32602);
    assert_eq!(reply.json()["id"], 14);
}
