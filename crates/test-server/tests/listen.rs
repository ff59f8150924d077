//! The scripted 2026-07-28 `subscriptions/listen` responder: ack, bumps, ends, refusal and
//! the record of every listen POST.

mod common;

use std::net::SocketAddr;

use common::{bounded, parse_sse, post, request};
use http::StatusCode;
use serde_json::{Value, json};
use test_server::{ListenEnd, Scenario, TestServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

fn listen_body(id: &str, notifications: &Value) -> String {
    request(
        json!(id),
        "subscriptions/listen",
        json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"},
            "notifications": notifications}),
    )
}

/// A listen POST over a raw HTTP/1.1 connection, read as it streams.
struct Stream {
    socket: TcpStream,
    received: Vec<u8>,
}

impl Stream {
    async fn open(addr: SocketAddr, body: &str) -> Self {
        let mut socket = TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST /mcp/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\n\
             Mcp-Method: subscriptions/listen\r\nMCP-Protocol-Version: 2026-07-28\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(head.as_bytes()).await.expect("send");
        Self {
            socket,
            received: Vec::new(),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    /// The messages received so far (each SSE event is one chunk, so the chunk framing
    /// around them does not matter).
    fn messages(&self) -> Vec<Value> {
        parse_sse(&self.text())
            .into_iter()
            .filter_map(|(_, data)| serde_json::from_str(&data).ok())
            .collect()
    }

    /// Reads until `needle` has arrived (panics if the stream ends first).
    async fn until(&mut self, needle: &str) {
        let mut buf = [0u8; 4096];
        while !self.text().contains(needle) {
            let n = self.socket.read(&mut buf).await.expect("read");
            assert!(n > 0, "the stream ended before {needle:?}: {}", self.text());
            self.received.extend_from_slice(&buf[..n]);
        }
    }

    /// Reads to the end; `Err` when the connection was reset.
    async fn read_to_end(&mut self) -> Result<(), std::io::Error> {
        let mut buf = [0u8; 4096];
        loop {
            // The body of a kept-alive HTTP/1.1 answer ends with its last chunk.
            if self.text().ends_with("\r\n0\r\n\r\n") {
                return Ok(());
            }
            let n = self.socket.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            self.received.extend_from_slice(&buf[..n]);
        }
    }
}

const ACK: &str = "notifications/subscriptions/acknowledged";

#[tokio::test]
async fn the_ack_grants_the_filter_then_bumps_arrive_tagged_and_complete_ends_it() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server starts");
    bounded(async {
        let asked = json!({"toolsListChanged": true, "resourceSubscriptions": ["file:///x"]});
        let mut stream = Stream::open(server.addr(), &listen_body("l-1", &asked)).await;
        stream.until(ACK).await;
        assert!(
            stream.text().starts_with("HTTP/1.1 200 OK"),
            "no session needed"
        );
        assert!(stream.text().contains("content-type: text/event-stream"));
        assert!(stream.text().contains(
            r#""notifications":{"resourceSubscriptions":["file:///x"],"toolsListChanged":true}"#
        ));
        assert_eq!(server.live_listens(), 1);

        assert_eq!(server.listen_bump(), 1);
        stream.until(r#""uri":"file:///x""#).await;
        let text = stream.text();
        let tools = text
            .find("notifications/tools/list_changed")
            .expect("tools");
        let updated = text
            .find("notifications/resources/updated")
            .expect("updated");
        assert!(tools < updated, "in order: {text}");
        assert_eq!(
            text.matches(r#""io.modelcontextprotocol/subscriptionId":"l-1""#)
                .count(),
            3,
            "the ack and both notifications carry the listen id"
        );
        assert!(!text.contains("prompts"), "only what was asked");

        assert_eq!(server.listen_end(ListenEnd::Complete), 1);
        stream.read_to_end().await.expect("a clean end");
        let messages = stream.messages();
        let last = messages.last().expect("messages");
        assert_eq!(last["id"], "l-1");
        assert_eq!(last["result"]["resultType"], "complete");
        assert_eq!(
            last["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
            "l-1"
        );
        assert_eq!(messages.len(), 4, "ack, two notifications, result");
    })
    .await;
    let recorded = server.listen_requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].header("mcp-method"),
        Some("subscriptions/listen")
    );
    assert_eq!(
        recorded[0].json().expect("JSON")["params"]["notifications"]["resourceSubscriptions"],
        json!(["file:///x"])
    );
}

#[tokio::test]
async fn resources_can_be_denied_and_a_drop_ends_without_the_result() {
    let server =
        TestServer::start(Scenario::default().listen_deny_resources(true)).expect("server starts");
    bounded(async {
        let asked = json!({"toolsListChanged": true, "resourcesListChanged": true,
            "resourceSubscriptions": ["file:///x"]});
        let mut stream = Stream::open(server.addr(), &listen_body("l-2", &asked)).await;
        stream.until(ACK).await;
        assert!(
            stream
                .text()
                .contains(r#""notifications":{"toolsListChanged":true}"#)
        );
        server.listen_end(ListenEnd::Eof);
        stream.read_to_end().await.expect("a clean end of body");
        assert!(!stream.text().contains("result"), "a drop has no result");

        let mut reset = Stream::open(server.addr(), &listen_body("l-3", &asked)).await;
        reset.until(ACK).await;
        server.listen_end(ListenEnd::Reset);
        let ended = reset.read_to_end().await;
        assert!(
            ended.is_err() || !reset.text().ends_with("\r\n0\r\n\r\n"),
            "no clean end after a reset: {}",
            reset.text()
        );
    })
    .await;
}

#[tokio::test]
async fn end_after_ack_and_refusal() {
    let server =
        TestServer::start(Scenario::default().listen_end_after_ack(Some(ListenEnd::Complete)))
            .expect("server starts");
    bounded(async {
        let asked = json!({"promptsListChanged": true});
        let mut stream = Stream::open(server.addr(), &listen_body("l-4", &asked)).await;
        stream.read_to_end().await.expect("a clean end");
        let text = stream.text();
        let ack = text.find(ACK).expect("ack");
        let result = text.find(r#""resultType":"complete""#).expect("result");
        assert!(ack < result);
    })
    .await;
    assert_eq!(server.listen_bump(), 0, "no stream left open");

    let refused = TestServer::start(Scenario::default().listen_refused(true)).expect("starts");
    let reply = bounded(post(
        refused.addr(),
        &listen_body("l-5", &json!({"toolsListChanged": true})),
    ))
    .await
    .expect("answer");
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["error"]["code"], -32601);
    assert_eq!(reply.json()["id"], "l-5");
    assert_eq!(refused.listen_requests().len(), 1);
}

#[tokio::test]
async fn fail_next_refuses_that_many_listens_with_503() {
    let server = TestServer::start(Scenario::default()).expect("server starts");
    server.listen_fail_next(1);
    let body = listen_body("l-7", &json!({"toolsListChanged": true}));
    let reply = bounded(post(server.addr(), &body)).await.expect("answer");
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    bounded(async {
        let mut stream = Stream::open(server.addr(), &body).await;
        stream.until(ACK).await;
    })
    .await;
    assert_eq!(server.listen_requests().len(), 2);
}

#[tokio::test]
async fn a_listen_without_a_filter_is_invalid_and_other_methods_are_unchanged() {
    let server = TestServer::start(Scenario::default()).expect("server starts");
    let body = request(json!(1), "subscriptions/listen", json!({}));
    let reply = bounded(post(server.addr(), &body)).await.expect("answer");
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], -32602);
    let reply = bounded(post(
        server.addr(),
        &request(json!(2), "resources/subscribe", json!({"uri": "a"})),
    ))
    .await
    .expect("answer");
    assert_eq!(reply.json()["error"]["code"], -32601);
    assert_eq!(server.listen_requests().len(), 1);
}

#[tokio::test]
async fn a_stream_the_client_closes_is_no_longer_live() {
    let server = TestServer::start(Scenario::default()).expect("server starts");
    bounded(async {
        let asked = json!({"toolsListChanged": true});
        let mut stream = Stream::open(server.addr(), &listen_body("l-6", &asked)).await;
        stream.until(ACK).await;
        assert_eq!(server.live_listens(), 1);
        drop(stream);
        // The server notices the close when it next writes: a bump writes. Polled, as the
        // count is the only sign.
        while server.live_listens() > 0 {
            server.listen_bump();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
}
