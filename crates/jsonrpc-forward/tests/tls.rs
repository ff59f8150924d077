//! TLS: a CA bundle, `insecure`, client certificates, a wrong CA, HTTP/2 by ALPN.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{client_with, forward, quick_retries, received, request};
use jsonrpc_forward::{Client, ClientConfig, HttpClient, HttpRequest, RequestHeaders};
use serde_json::json;
use test_server::{Scenario, TestServer};

/// A PEM written to a file that is removed on drop.
struct TempPem(std::path::PathBuf);

impl Drop for TempPem {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pem_file(pem: &str) -> TempPem {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let name = format!("jsonrpc-forward-test-{}-{n}.pem", std::process::id());
    let path = std::env::temp_dir().join(name);
    std::fs::write(&path, pem).expect("write the PEM");
    TempPem(path)
}

#[tokio::test]
async fn tls_with_the_ca_bundle_works_over_http2() {
    let server = TestServer::start(Scenario::default().tls(true)).expect("server");
    let ca = pem_file(&server.ca_pem());
    let client = client_with(ClientConfig::new(server.url()).ca_bundle(&ca.0));
    let response = client
        .forward(request(1, "ping", json!({})), &RequestHeaders::default())
        .await
        .expect("2xx");
    assert_eq!(
        response.http_version(),
        reqwest::Version::HTTP_2,
        "ALPN chose h2"
    );
    let outcome = forward(&client, request(2, "ping", json!({}))).await;
    assert_eq!(outcome.response()["id"], 2);
    assert_eq!(
        server
            .requests()
            .last()
            .map(|r| r.version.clone())
            .as_deref(),
        Some("HTTP/2")
    );
}

#[tokio::test]
async fn tls_insecure_accepts_an_unknown_ca() {
    let server = TestServer::start(Scenario::default().tls(true)).expect("server");
    let client = client_with(ClientConfig::new(server.url()).insecure(true));
    let outcome = forward(&client, request(1, "ping", json!({}))).await;
    assert_eq!(outcome.response()["id"], 1);
}

#[tokio::test]
async fn tls_with_a_wrong_ca_fails_at_once_with_a_clear_error() {
    let server = TestServer::start(Scenario::default().tls(true)).expect("server");
    let other = TestServer::start(Scenario::default().tls(true)).expect("another CA");
    let wrong_ca = pem_file(&other.ca_pem());
    let client = client_with(ClientConfig::new(server.url()).ca_bundle(&wrong_ca.0));
    let outcome = forward(&client, request(1, "ping", json!({}))).await;
    let error = outcome.error.as_ref().expect("an error");
    assert!(error.is_connect() && !error.is_retryable(), "{error:?}");
    let text = jsonrpc_forward::display_chain(error);
    assert!(
        text.contains("TLS handshake") && text.to_lowercase().contains("certificate"),
        "{text}"
    );
    assert_eq!(server.accepts(), 1, "not retried");
}

#[tokio::test]
async fn mtls_needs_the_client_certificate() {
    let server = TestServer::start(Scenario::default().require_client_cert(true)).expect("server");
    let ca = pem_file(&server.ca_pem());
    let cert = pem_file(&server.client_cert_pem());
    let key = pem_file(&server.client_key_pem());
    let with_cert = client_with(
        ClientConfig::new(server.url())
            .ca_bundle(&ca.0)
            .client_identity(&cert.0, &key.0),
    );
    let outcome = forward(&with_cert, request(1, "ping", json!({}))).await;
    assert_eq!(outcome.response()["id"], 1);

    let without = client_with(ClientConfig::new(server.url()).ca_bundle(&ca.0));
    let outcome = forward(&without, request(2, "ping", json!({}))).await;
    assert!(outcome.error.is_some(), "{outcome:?}");
    assert_eq!(server.hits("2"), 0, "the request never reached the server");
}

#[test]
fn client_config_errors_name_the_setting() {
    let err = Client::new(ClientConfig::new("ftp://x/")).expect_err("bad scheme");
    assert!(err.to_string().contains("scheme"), "{err}");
    let err = Client::new(ClientConfig::new("http://x/").ca_bundle("/nonexistent/ca.pem"))
        .expect_err("no file");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    let err = Client::new(ClientConfig::new("http://x/").header("Bad Name", "v"))
        .expect_err("bad header");
    // Named by position: a "name" that is not one may be a pasted token.
    assert!(err.to_string().contains("header #1"), "{err}");
    assert!(!err.to_string().contains("Bad Name"), "{err}");
    let err = Client::new(ClientConfig::new("https://user:hunter2@[::1")).expect_err("bad url");
    assert!(
        !err.to_string().contains("hunter2"),
        "the password is not printed: {err}"
    );
}

// Issue 13 part C: httpx's `cert="both.pem"` (certificate and key in one file) is given as
// the same path twice; the file was read twice, presenting the certificate twice.
#[tokio::test]
async fn mtls_with_certificate_and_key_in_one_file() {
    let server = TestServer::start(Scenario::default().require_client_cert(true)).expect("server");
    let ca = pem_file(&server.ca_pem());
    let both = pem_file(&format!(
        "{}\n{}",
        server.client_cert_pem(),
        server.client_key_pem()
    ));
    let client = client_with(
        ClientConfig::new(server.url())
            .ca_bundle(&ca.0)
            .client_identity(&both.0, &both.0),
    );
    let outcome = forward(&client, request(1, "ping", json!({}))).await;
    assert_eq!(outcome.response()["id"], 1, "{:?}", outcome.error);
}

#[tokio::test]
async fn http2_false_speaks_http1_even_when_the_server_offers_h2() {
    let server = TestServer::start(Scenario::default().tls(true)).expect("server");
    let ca = pem_file(&server.ca_pem());
    let client = client_with(
        ClientConfig::new(server.url())
            .ca_bundle(&ca.0)
            .http2(false),
    );
    let response = client
        .forward(request(1, "ping", json!({})), &RequestHeaders::default())
        .await
        .expect("2xx");
    assert_eq!(response.http_version(), reqwest::Version::HTTP_11);
    drop(response);
    assert_eq!(
        received(&server, "POST").pop().map(|r| r.version),
        Some("HTTP/1.1".to_owned())
    );
}

// Issue 13 part C: the bindings' `forward_request(url, msg, client=c)` must use c's pool.
// Over HTTP/2 one connection carries every request at once, so the count is exact.
#[tokio::test]
async fn clients_made_with_one_http_client_share_its_connections() {
    let server = TestServer::start(Scenario::default().tls(true)).expect("server");
    let ca = pem_file(&server.ca_pem());
    let http = HttpClient::new(
        &ClientConfig::new("unused")
            .ca_bundle(&ca.0)
            .retry_policy(quick_retries()),
    )
    .expect("client");
    let first = Client::with_http(http.clone(), &server.url()).expect("client");
    let second = Client::with_http(http.clone(), &server.url()).expect("client");
    assert_eq!(
        forward(&first, request(1, "ping", json!({})))
            .await
            .response()["id"],
        1
    );
    let mut generic = http
        .send(
            HttpRequest::new(reqwest::Method::POST, server.url().parse().expect("a URL"))
                .body(request(2, "ping", json!({}))),
        )
        .await
        .expect("a response");
    assert_eq!(generic.version(), reqwest::Version::HTTP_2);
    while generic.chunk().await.expect("the body").is_some() {}
    assert_eq!(
        forward(&second, request(3, "ping", json!({})))
            .await
            .response()["id"],
        3
    );
    assert_eq!(server.accepts(), 1, "one connection for the three requests");

    let own = client_with(ClientConfig::new(server.url()).ca_bundle(&ca.0));
    assert_eq!(
        forward(&own, request(4, "ping", json!({})))
            .await
            .response()["id"],
        4
    );
    assert_eq!(server.accepts(), 2, "Client::new has a pool of its own");
    assert!(Client::with_http(http, "ftp://x/").is_err());
}
