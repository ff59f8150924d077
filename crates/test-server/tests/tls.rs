//! TLS with the test CA (HTTP/2 and HTTP/1.1 by ALPN) and mutual TLS.

mod common;

use common::{Client, bounded, client_config, request};
use http::{StatusCode, Version};
use serde_json::json;
use test_server::{Scenario, TestServer};

#[tokio::test]
async fn tls_with_the_test_ca_negotiates_h2_or_http1() {
    let server = TestServer::start(Scenario::default().tls(true)).expect("server starts");
    assert!(server.url().starts_with("https://127.0.0.1:"));
    let ping = request(json!(1), "ping", json!({}));
    bounded(async {
        let config = client_config(&server.ca_pem(), None);
        let mut client = Client::connect_tls(server.addr(), config)
            .await
            .expect("connect");
        let reply = client.post(&ping).await.expect("ping over h2");
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.version, Version::HTTP_2);
        assert_eq!(reply.json()["id"], 1);

        let mut config = client_config(&server.ca_pem(), None);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut client = Client::connect_tls(server.addr(), config)
            .await
            .expect("connect");
        let reply = client.post(&ping).await.expect("ping over http/1.1");
        assert_eq!(reply.version, Version::HTTP_11);
    })
    .await;
    let versions: Vec<String> = server.requests().into_iter().map(|r| r.version).collect();
    assert_eq!(versions, ["HTTP/2", "HTTP/1.1"]);
}

#[tokio::test]
async fn tls_rejects_a_client_that_does_not_trust_the_ca() {
    let server = TestServer::start(Scenario::default().tls(true)).expect("server starts");
    let other = TestServer::start(Scenario::default().tls(true)).expect("server starts");
    let config = client_config(&other.ca_pem(), None);
    let result = bounded(Client::connect_tls(server.addr(), config)).await;
    assert!(result.is_err(), "another CA must not verify this server");
}

#[tokio::test]
async fn mtls_rejects_a_client_without_a_certificate_and_accepts_one_with() {
    let scenario = Scenario::default().tls(true).require_client_cert(true);
    let server = TestServer::start(scenario).expect("server starts");
    let ping = request(json!(1), "ping", json!({}));
    bounded(async {
        let config = client_config(&server.ca_pem(), None);
        // TLS 1.3 finishes the client's handshake before the server checks; the refusal
        // shows on the first request at the latest.
        let refused = match Client::connect_tls(server.addr(), config).await {
            Err(_) => true,
            Ok(mut client) => client.post(&ping).await.is_err(),
        };
        assert!(refused, "no client certificate, no answer");

        let identity = (server.client_cert_pem(), server.client_key_pem());
        let config = client_config(&server.ca_pem(), Some((&identity.0, &identity.1)));
        let mut client = Client::connect_tls(server.addr(), config)
            .await
            .expect("connect");
        let reply = client.post(&ping).await.expect("ping with a certificate");
        assert_eq!(reply.status, StatusCode::OK);
    })
    .await;
    assert_eq!(
        server.hits("1"),
        1,
        "only the authenticated request arrived"
    );
}
