//! Stateful sessions: `Mcp-Session-Id`, 400 without it, 404 once expired, DELETE.

mod common;

use common::{Client, bounded, request};
use http::{Method, StatusCode};
use serde_json::json;
use test_server::{Scenario, TestServer};

#[tokio::test]
async fn session_id_is_required_and_404_after_expiry() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server starts");
    let ping = request(json!(2), "ping", json!({}));
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let init = request(
            json!(1),
            "initialize",
            json!({"protocolVersion": "2025-03-26"}),
        );
        let reply = client.post(&init).await.expect("initialize");
        assert_eq!(reply.status, StatusCode::OK);
        let session = reply
            .header("mcp-session-id")
            .expect("a session id")
            .to_owned();
        assert!(!session.is_empty());

        let without = client.post(&ping).await.expect("ping without session");
        assert_eq!(without.status, StatusCode::BAD_REQUEST);

        let with = [("mcp-session-id", session.as_str())];
        let reply = client
            .request(Method::POST, &ping, &with)
            .await
            .expect("ping");
        assert_eq!(reply.status, StatusCode::OK);

        let unknown = [("mcp-session-id", "nope")];
        let reply = client
            .request(Method::POST, &ping, &unknown)
            .await
            .expect("ping");
        assert_eq!(reply.status, StatusCode::NOT_FOUND);

        server.expire_sessions();
        let reply = client
            .request(Method::POST, &ping, &with)
            .await
            .expect("ping");
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.json()["error"]["code"], -32001);
    })
    .await;
    assert_eq!(server.hits("2"), 4, "rejected requests still count");
}

#[tokio::test]
async fn delete_ends_the_session() {
    let server = TestServer::start(Scenario::default().sessions(true)).expect("server starts");
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let init = request(json!(1), "initialize", json!({}));
        let reply = client.post(&init).await.expect("initialize");
        let session = reply
            .header("mcp-session-id")
            .expect("a session id")
            .to_owned();
        let with = [("mcp-session-id", session.as_str())];
        let reply = client
            .request(Method::DELETE, "", &with)
            .await
            .expect("DELETE");
        assert_eq!(reply.status, StatusCode::OK);
        let ping = request(json!(2), "ping", json!({}));
        let reply = client
            .request(Method::POST, &ping, &with)
            .await
            .expect("ping");
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        let reply = client
            .request(Method::DELETE, "", &with)
            .await
            .expect("DELETE");
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn delete_without_sessions_is_405() {
    let server = TestServer::start(Scenario::default()).expect("server starts");
    let reply = bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        client
            .request(Method::DELETE, "", &[])
            .await
            .expect("DELETE")
    })
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}
