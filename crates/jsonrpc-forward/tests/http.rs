//! `HttpClient`: generic requests over the pool the MCP client uses (issue 13 part C):
//! statuses are responses, base headers give way to the request's, redirects follow the
//! configured rule, bodies stream with an idle timeout, a reset mid-body is a read error.

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{echo_with, quick_retries, received, request};
use jsonrpc_forward::{
    Client, ClientConfig, Error, HttpClient, HttpRequest, Redirects, RequestHeaders,
    StreamedResponse,
};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::json;
use test_server::{BodyFormat, Fault, Scenario, TestServer};

fn http(config: ClientConfig) -> HttpClient {
    HttpClient::new(&config.retry_policy(quick_retries())).expect("client")
}

fn url(s: &str) -> Url {
    Url::parse(s).expect("a URL")
}

fn post(server_url: &str, body: Bytes) -> HttpRequest {
    HttpRequest::new(Method::POST, url(server_url))
        .header(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )
        .body(body)
}

/// Reads the whole body, within a bound.
async fn read_all(response: &mut StreamedResponse) -> Result<Bytes, Error> {
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    })
    .await
    .expect("the body ends within 20 s")
}

#[tokio::test]
async fn send_returns_any_status_as_a_response_and_never_resends_it() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = http(ClientConfig::new("unused"));
    let fault = Fault {
        status: Some(503),
        retry_after: Some("0".to_owned()),
        ..Fault::default()
    };
    let mut response = client
        .send(post(&server.url(), echo_with(1, &fault)))
        .await
        .expect("a 503 is a response");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "0");
    assert_eq!(response.url().as_str(), server.url());
    read_all(&mut response).await.expect("the body");
    assert_eq!(server.hits("1"), 1, "a status is never resent here");
}

#[tokio::test]
async fn send_streams_a_gzip_body_decompressed() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = http(ClientConfig::new("unused"));
    let fault = Fault {
        gzip: true,
        format: Some(BodyFormat::Ndjson),
        ..Fault::default()
    };
    let mut response = client
        .send(post(&server.url(), echo_with(2, &fault)))
        .await
        .expect("2xx");
    assert_eq!(response.status(), StatusCode::OK);
    let body = read_all(&mut response).await.expect("the body");
    let answer: serde_json::Value =
        serde_json::from_slice(body.trim_ascii()).expect("decompressed JSON");
    assert_eq!(answer["id"], 2);
}

#[tokio::test]
async fn request_headers_replace_base_headers_of_the_same_name() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = http(
        ClientConfig::new("unused")
            .authorization("Bearer base")
            .header("X-Tenant", "blue")
            .header("X-Tag", "one")
            .header("X-Tag", "two"),
    );
    let first = post(&server.url(), request(1, "ping", json!({})))
        .header(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer per-request"),
        )
        .header(
            HeaderName::from_static("x-tag"),
            HeaderValue::from_static("three"),
        );
    let mut response = client.send(first).await.expect("2xx");
    read_all(&mut response).await.expect("the body");
    let mut plain = client
        .send(post(&server.url(), request(2, "ping", json!({}))))
        .await
        .expect("2xx");
    read_all(&mut plain).await.expect("the body");

    let posts = received(&server, "POST");
    let values = |i: usize, name: &str| -> Vec<String> {
        posts[i]
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(values(0, "authorization"), ["Bearer per-request"]);
    assert_eq!(values(0, "x-tag"), ["three"]);
    assert_eq!(values(0, "x-tenant"), ["blue"]);
    assert_eq!(values(1, "authorization"), ["Bearer base"]);
    assert_eq!(values(1, "x-tag"), ["one", "two"]);
    assert!(
        !format!("{client:?}").contains("Bearer"),
        "no header values in Debug: {client:?}"
    );
}

#[tokio::test]
async fn user_agent_is_the_crate_by_default_and_can_be_set() {
    let server = TestServer::start(Scenario::default()).expect("server");
    for (config, expected) in [
        (
            ClientConfig::new("unused"),
            format!("mcp-wrapper-rs/{}", env!("CARGO_PKG_VERSION")),
        ),
        (
            ClientConfig::new("unused").user_agent("my-app/2.0"),
            "my-app/2.0".to_owned(),
        ),
    ] {
        let mut response = http(config)
            .send(post(&server.url(), request(1, "ping", json!({}))))
            .await
            .expect("2xx");
        read_all(&mut response).await.expect("the body");
        let last = received(&server, "POST").pop().expect("a POST");
        assert_eq!(last.header("user-agent"), Some(expected.as_str()));
    }
    let err = HttpClient::new(&ClientConfig::new("unused").user_agent("bad\nagent"))
        .expect_err("a line break");
    assert!(err.to_string().contains("User-Agent"), "{err}");
}

/// A server whose next POSTs are answered 307 to each of `locations` in turn.
fn redirecting(locations: Vec<String>) -> TestServer {
    TestServer::start(
        Scenario::default().script(
            locations
                .into_iter()
                .map(|location| Fault {
                    status: Some(307),
                    location: Some(location),
                    ..Fault::default()
                })
                .collect(),
        ),
    )
    .expect("server")
}

#[tokio::test]
async fn limited_redirects_follow_another_origin_without_the_authorization() {
    let other = TestServer::start(Scenario::default()).expect("server");
    let first = redirecting(vec![other.url()]);
    let client = http(
        ClientConfig::new("unused")
            .authorization("Bearer secret-a")
            .redirects(Redirects::Limited(20)),
    );
    let sent = post(&first.url(), request(1, "ping", json!({})))
        .header(AUTHORIZATION, HeaderValue::from_static("Bearer secret-b"));
    let mut response = client.send(sent).await.expect("followed");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.url().as_str(), other.url(), "where it landed");
    read_all(&mut response).await.expect("the body");
    let landed = received(&other, "POST");
    assert_eq!(landed.len(), 1, "307 keeps the method");
    assert_eq!(landed[0].json().expect("the body followed")["id"], 1);
    assert_eq!(
        landed[0].header("authorization"),
        None,
        "reqwest drops Authorization on the way to another origin"
    );
    assert_eq!(
        received(&first, "POST")[0].header("authorization"),
        Some("Bearer secret-b")
    );
}

#[tokio::test]
async fn limited_redirects_stop_past_the_limit() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let base = server.url();
    for hop in 1..=3 {
        server.push_script(Fault {
            status: Some(307),
            location: Some(format!("{base}?hop={hop}")),
            ..Fault::default()
        });
    }
    let client = http(ClientConfig::new("unused").redirects(Redirects::Limited(2)));
    let error = client
        .send(post(&base, request(1, "ping", json!({}))))
        .await
        .expect_err("three redirects, two allowed");
    assert!(
        matches!(error, Error::TooManyRedirects { limit: 2 }),
        "{error:?}"
    );
    assert!(error.is_redirect() && !error.is_retryable(), "{error:?}");
    assert_eq!(received(&server, "POST").len(), 3, "not resent");
}

#[tokio::test]
async fn no_redirects_returns_the_3xx_and_same_origin_refuses_another_origin() {
    let other = TestServer::start(Scenario::default()).expect("server");
    let first = redirecting(vec![other.url(), other.url()]);

    let none = http(ClientConfig::new("unused").redirects(Redirects::None));
    let response = none
        .send(post(&first.url(), request(1, "ping", json!({}))))
        .await
        .expect("a 307 is a response");
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(response.headers()["location"], other.url().as_str());
    drop(response);

    let same_origin = http(ClientConfig::new("unused"));
    let error = same_origin
        .send(post(&first.url(), request(2, "ping", json!({}))))
        .await
        .expect_err("another origin");
    assert!(
        matches!(error, Error::Redirect { .. }) && error.is_redirect(),
        "{error:?}"
    );
    assert!(
        other.requests().is_empty(),
        "nothing reached the other origin"
    );
}

#[tokio::test]
async fn a_reset_mid_body_is_a_read_error() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = http(ClientConfig::new("unused"));
    let fault = Fault {
        format: Some(BodyFormat::Sse),
        reset_after_bytes: Some(5),
        ..Fault::default()
    };
    let mut response = client
        .send(post(&server.url(), echo_with(1, &fault)))
        .await
        .expect("the head arrives");
    let error = read_all(&mut response).await.expect_err("reset");
    assert!(error.is_read(), "{error:?}");
    assert!(error.is_protocol() && !error.is_timeout() && !error.is_connect());
}

#[tokio::test]
async fn silence_mid_body_or_before_the_head_is_a_timeout() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = http(ClientConfig::new("unused"));
    let during = Fault {
        format: Some(BodyFormat::Sse),
        pause_after_bytes: Some(5),
        pause_ms: 10_000,
        ..Fault::default()
    };
    let mut response = client
        .send(post(&server.url(), echo_with(1, &during)).timeout(Duration::from_secs(2)))
        .await
        .expect("the head arrives");
    let error = read_all(&mut response).await.expect_err("silence");
    assert!(error.is_timeout() && !error.is_read(), "{error:?}");

    let before = Fault {
        delay_headers_ms: 10_000,
        ..Fault::default()
    };
    let error = client
        .send(post(&server.url(), echo_with(2, &before)).timeout(Duration::from_secs(2)))
        .await
        .expect_err("silence");
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(server.hits("2"), 1, "a timeout is not resent");
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error_after_the_retries() {
    let addr = test_server::refused_addr();
    let client = http(ClientConfig::new("unused"));
    let error = client
        .send(HttpRequest::new(
            Method::GET,
            url(&format!("http://{addr}/")),
        ))
        .await
        .expect_err("refused");
    assert!(
        error.is_connect() && !error.is_connect_timeout(),
        "{error:?}"
    );
    let error = client
        .send(HttpRequest::new(Method::GET, url("ftp://127.0.0.1/")))
        .await
        .expect_err("not http");
    assert!(error.is_usage(), "{error:?}");
}

// Issue 13 part C: a token that rotates per request (the bindings' `headers=`) reaches the
// server, replacing the configured one, while the MCP headers stay the transport's.
#[tokio::test]
async fn extra_request_headers_replace_base_headers_per_request() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = Client::new(
        ClientConfig::new(server.url())
            .authorization("Bearer configured")
            .retry_policy(quick_retries()),
    )
    .expect("client");
    for token in ["t-1", "t-2", ""] {
        let mut extra = HeaderMap::new();
        if !token.is_empty() {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("a value");
            extra.insert(AUTHORIZATION, value);
        }
        extra.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        );
        let ctx = RequestHeaders::default().with_extra(extra);
        let mut response = client
            .forward(request(1, "ping", json!({})), &ctx)
            .await
            .expect("2xx");
        while let Some(message) = response.messages().next().await {
            message.expect("a message");
        }
    }
    let posts = received(&server, "POST");
    let auth: Vec<_> = posts.iter().map(|r| r.header("authorization")).collect();
    assert_eq!(
        auth,
        [
            Some("Bearer t-1"),
            Some("Bearer t-2"),
            Some("Bearer configured")
        ]
    );
    for post in &posts {
        assert_eq!(post.header("content-type"), Some("application/json"));
        assert_eq!(post.header("mcp-method"), Some("ping"));
    }
}
