//! `Scenario::modern`: the 2026-07-28 side of a dual-era server (research notes
//! `protocol-2026.md` §1.3, §1.8, §1.10): `server/discover`, enveloped requests, retired
//! methods and header/body disagreements, next to the 2025 side that stays as it was.

mod common;

use common::{Client, bounded, request};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use test_server::{Scenario, TestServer};

const MODERN: &str = "2026-07-28";

fn modern_server() -> TestServer {
    TestServer::start(Scenario::default().modern(true)).expect("server starts")
}

fn envelope() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
    })
}

/// The headers a 2026-07-28 client derives from a request body.
fn modern_headers<'a>(method: &'a str, name: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
    if let Some(name) = name {
        headers.push(("mcp-name", name));
    }
    headers
}

async fn modern_post(client: &mut Client, body: &str, headers: &[(&str, &str)]) -> common::Reply {
    client
        .request(Method::POST, body, headers)
        .await
        .expect("POST")
}

#[tokio::test]
async fn discover_with_the_modern_header_gets_a_discover_result() {
    let server = modern_server();
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let body = request(json!("d1"), "server/discover", json!({"_meta": envelope()}));
        let reply = modern_post(&mut client, &body, &modern_headers("server/discover", None)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let answer = reply.json();
        assert_eq!(answer["id"], "d1");
        let result = &answer["result"];
        assert_eq!(result["supportedVersions"], json!([MODERN]));
        assert_eq!(result["resultType"], "complete");
        assert_eq!(result["capabilities"]["tools"]["listChanged"], false);
        let info = &result["_meta"]["io.modelcontextprotocol/serverInfo"];
        assert_eq!(info["name"], "test-server");
        assert!(info["version"].is_string());
        assert_eq!(server.hits("\"d1\""), 1);
    })
    .await;
}

#[tokio::test]
async fn enveloped_requests_are_answered_as_before() {
    let server = modern_server();
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let params = json!({"name": "echo", "arguments": {"text": "hi"}, "_meta": envelope()});
        let body = request(json!(7), "tools/call", params);
        let headers = modern_headers("tools/call", Some("echo"));
        let answer = modern_post(&mut client, &body, &headers).await.json();
        assert_eq!(answer["id"], 7);
        let text = answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            serde_json::from_str::<Value>(text).ok(),
            Some(json!({"text": "hi"}))
        );

        let list = request(json!(8), "tools/list", json!({"_meta": envelope()}));
        let answer = modern_post(&mut client, &list, &modern_headers("tools/list", None))
            .await
            .json();
        assert!(answer["result"]["tools"].is_array(), "{answer}");
    })
    .await;
}

#[tokio::test]
async fn retired_methods_with_the_modern_header_get_404_and_method_not_found() {
    let server = modern_server();
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        for (id, method) in [(1, "initialize"), (2, "ping"), (3, "logging/setLevel")] {
            let body = request(json!(id), method, json!({"_meta": envelope()}));
            let reply = modern_post(&mut client, &body, &modern_headers(method, None)).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method}");
            let answer = reply.json();
            assert_eq!(answer["id"], id);
            assert_eq!(answer["error"]["code"], -32601, "{method}");
            assert_eq!(answer["error"]["data"], method);
        }
    })
    .await;
}

#[tokio::test]
async fn header_and_body_disagreements_are_rejected_before_dispatch() {
    let server = modern_server();
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let call = |meta: Value| {
            request(
                json!(1),
                "tools/call",
                json!({"name": "echo", "arguments": {}, "_meta": meta}),
            )
        };
        // No envelope: -32602.
        let reply = modern_post(
            &mut client,
            &call(json!({})),
            &modern_headers("tools/call", Some("echo")),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json()["error"]["code"], -32602);
        // The envelope's version differs from the header's: -32020.
        let mut old = envelope();
        old["io.modelcontextprotocol/protocolVersion"] = json!("2025-11-25");
        let reply = modern_post(
            &mut client,
            &call(old),
            &modern_headers("tools/call", Some("echo")),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json()["error"]["code"], -32020);
        // Mcp-Method missing, or naming another method: -32020.
        let reply = modern_post(
            &mut client,
            &call(envelope()),
            &[("mcp-protocol-version", MODERN), ("mcp-name", "echo")],
        )
        .await;
        assert_eq!(reply.json()["error"]["code"], -32020);
        let reply = modern_post(
            &mut client,
            &call(envelope()),
            &modern_headers("tools/list", Some("echo")),
        )
        .await;
        assert_eq!(reply.json()["error"]["code"], -32020);
        // Mcp-Name missing or different on a tools/call: -32020.
        let reply = modern_post(
            &mut client,
            &call(envelope()),
            &modern_headers("tools/call", None),
        )
        .await;
        assert_eq!(reply.json()["error"]["code"], -32020);
        let reply = modern_post(
            &mut client,
            &call(envelope()),
            &modern_headers("tools/call", Some("sleep")),
        )
        .await;
        assert_eq!(reply.json()["error"]["code"], -32020);
        // None of them reached a tool: the id arrived six times, nothing ran or streamed.
        assert_eq!(server.hits("1"), 6);
    })
    .await;
}

#[tokio::test]
async fn the_2025_side_stays_as_it_was_and_modern_requests_need_no_session() {
    let server =
        TestServer::start(Scenario::default().modern(true).sessions(true)).expect("server starts");
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        // Without the header, initialize and server/discover are 2025-era requests.
        let init = request(
            json!(1),
            "initialize",
            json!({"protocolVersion": "2025-11-25"}),
        );
        let reply = client.post(&init).await.expect("initialize");
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.header("mcp-session-id").is_some());
        let discover = request(json!(2), "server/discover", json!({"_meta": envelope()}));
        let reply = client
            .request(Method::POST, &discover, &[("mcp-session-id", "nope")])
            .await
            .expect("POST");
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "no such session");
        // With it, no session is asked for.
        let params = json!({"name": "echo", "arguments": {}, "_meta": envelope()});
        let call = request(json!(3), "tools/call", params);
        let reply = modern_post(
            &mut client,
            &call,
            &modern_headers("tools/call", Some("echo")),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.json()["result"].is_object());
    })
    .await;
}

#[tokio::test]
async fn without_the_mode_the_server_is_2025_only() {
    let server = TestServer::start(Scenario::default()).expect("server starts");
    bounded(async {
        let mut client = Client::connect(server.addr()).await.expect("connect");
        let body = request(json!("d"), "server/discover", json!({"_meta": envelope()}));
        let reply = modern_post(&mut client, &body, &modern_headers("server/discover", None)).await;
        assert_eq!(reply.json()["error"]["code"], -32601);
        let ping = request(json!(2), "ping", json!({"_meta": envelope()}));
        let reply = modern_post(&mut client, &ping, &modern_headers("ping", None)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["result"], json!({}));
    })
    .await;
}
