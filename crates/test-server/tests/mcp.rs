//! MCP behaviour without faults: initialize, tools, streams, batches, counting, GET.

mod common;

use std::time::{Duration, Instant};

use common::{Client, bounded, post, request};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use test_server::{LATEST_PROTOCOL_VERSION, Scenario, TestServer, refused_addr};

fn server() -> TestServer {
    TestServer::start(Scenario::default()).expect("server starts")
}

#[tokio::test]
async fn initialize_echoes_a_known_protocol_version_else_the_latest() {
    let server = server();
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let known = request(
            json!(1),
            "initialize",
            json!({"protocolVersion": "2025-06-18"}),
        );
        let reply = client.post(&known).await.expect("initialize");
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let answer = reply.json();
        assert_eq!(answer["id"], 1);
        assert_eq!(answer["result"]["protocolVersion"], "2025-06-18");
        assert!(answer["result"]["capabilities"]["tools"].is_object());
        assert_eq!(answer["result"]["serverInfo"]["name"], "test-server");

        let unknown = request(
            json!(2),
            "initialize",
            json!({"protocolVersion": "2024-11-05"}),
        );
        let answer = client.post(&unknown).await.expect("initialize").json();
        assert_eq!(answer["result"]["protocolVersion"], LATEST_PROTOCOL_VERSION);
    })
    .await;
    assert_eq!(
        server.accepts(),
        1,
        "both requests used one keep-alive connection"
    );
}

#[tokio::test]
async fn tools_list_and_echo_call() {
    let server = server();
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let tools = client
            .post(&request(json!(1), "tools/list", json!({})))
            .await
            .expect("tools/list")
            .json();
        let names: Vec<&str> = tools["result"]["tools"]
            .as_array()
            .expect("a tool list")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        for name in ["echo", "stream", "fault"] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        assert!(tools["result"]["tools"][0]["inputSchema"].is_object());

        let args = json!({"text": "héllo ✓", "n": 3});
        let call = request(
            json!("c"),
            "tools/call",
            json!({"name": "echo", "arguments": args}),
        );
        let answer = client.post(&call).await.expect("echo").json();
        assert_eq!(answer["id"], "c");
        let text = answer["result"]["content"][0]["text"]
            .as_str()
            .expect("text");
        assert_eq!(
            serde_json::from_str::<Value>(text).expect("JSON text"),
            args
        );
    })
    .await;
}

#[tokio::test]
async fn stream_tool_sends_progress_events_then_the_result() {
    let server = server();
    let reply = bounded(async {
        let params = json!({
            "name": "stream",
            "arguments": {"count": 3, "interval_ms": 20},
            "_meta": {"progressToken": "tok"},
        });
        let started = Instant::now();
        let reply = post(server.addr(), &request(json!(5), "tools/call", params))
            .await
            .expect("stream call");
        assert!(started.elapsed() >= Duration::from_millis(60));
        reply
    })
    .await;
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert!(reply.header("content-length").is_none());
    let events = reply.sse_json();
    assert_eq!(events.len(), 4);
    for (n, event) in events[..3].iter().enumerate() {
        assert_eq!(event["method"], "notifications/progress");
        assert_eq!(event["params"]["progressToken"], "tok");
        assert_eq!(event["params"]["progress"], n + 1);
        assert_eq!(event["params"]["total"], 3);
    }
    assert_eq!(events[3]["id"], 5);
    assert_eq!(
        events[3]["result"]["content"][0]["text"],
        "streamed 3 events"
    );
}

#[tokio::test]
async fn stream_tool_pads_events_to_event_bytes() {
    let server = server();
    let params = json!({"name": "stream", "arguments": {"count": 2, "event_bytes": 1024}});
    let reply = bounded(post(
        server.addr(),
        &request(json!(6), "tools/call", params),
    ))
    .await
    .expect("stream call");
    let events = reply.sse();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].1.len(), 1024);
    assert_eq!(events[1].1.len(), 1024);
}

#[tokio::test]
async fn notifications_and_responses_get_202_with_an_empty_body() {
    let server = server();
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
        let reply = client.post(&note).await.expect("notification");
        assert_eq!(reply.status, StatusCode::ACCEPTED);
        assert!(reply.body.is_empty());
        let response = json!({"jsonrpc": "2.0", "id": 9, "result": {}}).to_string();
        let reply = client.post(&response).await.expect("client response");
        assert_eq!(reply.status, StatusCode::ACCEPTED);
        assert!(reply.body.is_empty());
    })
    .await;
    assert_eq!(server.hits("9"), 0, "a client response is not a request");
}

#[tokio::test]
async fn unknown_method_and_invalid_body_get_jsonrpc_errors() {
    let server = server();
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let answer = client
            .post(&request(json!(1), "resources/frobnicate", json!({})))
            .await
            .expect("unknown method")
            .json();
        assert_eq!(answer["error"]["code"], -32601);
        let reply = client.post("{not json").await.expect("parse error");
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json()["error"]["code"], -32700);
    })
    .await;
}

#[tokio::test]
async fn batch_answers_each_request_in_an_array_and_counts_each_id() {
    let server = server();
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "a", "method": "tools/list"},
    ]);
    let answer = bounded(post(server.addr(), &batch.to_string()))
        .await
        .expect("batch")
        .json();
    let answers = answer.as_array().expect("an array");
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["id"], 1);
    assert_eq!(answers[1]["id"], "a");
    assert_eq!(server.hits("1"), 1);
    assert_eq!(server.hits("\"a\""), 1);
    assert_eq!(server.hits("a"), 0, "ids are given as JSON text");
}

#[tokio::test]
async fn hits_count_every_arrival_and_requests_are_recorded() {
    let server = server();
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        for _ in 0..3 {
            client
                .post(&request(json!(7), "ping", json!({})))
                .await
                .expect("ping");
        }
    })
    .await;
    assert_eq!(server.hits("7"), 3);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/mcp/");
    assert_eq!(requests[0].version, "HTTP/1.1");
    assert_eq!(requests[0].header("Content-Type"), Some("application/json"));
    assert_eq!(requests[0].json().expect("JSON")["method"], "ping");
}

#[tokio::test]
async fn get_is_405_without_a_listen_stream() {
    let server = server();
    let reply = bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        client.request(Method::GET, "", &[]).await.expect("GET")
    })
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn listen_stream_resumes_after_last_event_id() {
    let scenario = Scenario::default()
        .listen_stream(true)
        .listen_interval(Duration::from_millis(5))
        .listen_events(6)
        .listen_events_per_stream(Some(2));
    let server = TestServer::start(scenario).expect("server starts");
    let reply = bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        client
            .request(Method::GET, "", &[("last-event-id", "3")])
            .await
            .expect("GET")
    })
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert!(reply.text().starts_with("retry: "));
    let events = reply.sse();
    let ids: Vec<_> = events.iter().map(|(id, _)| id.as_deref()).collect();
    assert_eq!(ids, [Some("4"), Some("5")]);
    let first: Value = serde_json::from_str(&events[0].1).expect("JSON");
    assert_eq!(first["method"], "notifications/message");
}

#[test]
fn refused_addr_refuses_connections() {
    let addr = refused_addr();
    assert!(addr.ip().is_loopback());
    let error = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .expect_err("nothing listens there");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn test_server_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TestServer>();
    assert_send_sync::<Scenario>();
}

#[test]
fn server_stops_when_dropped() {
    let server = server();
    let addr = server.addr();
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("listening");
    drop(server);
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err());
}
