//! One pooled client reuses its connections.

mod common;

use common::{client, request};
use jsonrpc_forward::RequestHeaders;
use serde_json::json;
use test_server::{Scenario, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_over_one_client_reuse_connections() {
    let server = TestServer::start(Scenario::default().record_requests(false)).expect("server");
    let client = client(&server.url());
    let mut tasks = Vec::new();
    // Four lanes of 2 500 sequential requests each.
    for lane in 0..4u64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..2_500u64 {
                let id = lane * 10_000 + i;
                let mut response = client
                    .forward(request(id, "ping", json!({})), &RequestHeaders::default())
                    .await
                    .expect("2xx");
                let line = response
                    .messages()
                    .next()
                    .await
                    .expect("one message")
                    .expect("ok");
                assert!(line.starts_with(br#"{"id":"#));
                assert!(response.messages().next().await.is_none());
            }
        }));
    }
    for task in tasks {
        task.await.expect("lane");
    }
    // One connection per lane, give or take a race: hyper hands a connection back to the
    // pool from its connection task, so a lane's next request can start just before that
    // and open one more. Without pooling it would be 10 000.
    assert!(
        server.accepts() <= 8,
        "connections opened: {}",
        server.accepts()
    );
}
