//! TLS: a CA bundle, `insecure`, client certificates, a wrong CA, HTTP/2 by ALPN.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{client_with, forward, request};
use jsonrpc_forward::{Client, ClientConfig, RequestHeaders};
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
