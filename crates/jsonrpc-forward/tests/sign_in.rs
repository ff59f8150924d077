//! Sign-in as the client sees it without an authorization server: a 401 from a server that
//! publishes no OAuth metadata stays the answer, and nothing is written. (The flows against
//! real authorization servers are in python-tests/test_oauth.py: they need the MCP SDK's and
//! oidc-provider's servers.)

mod common;

use common::{client_with, echo_with, forward};
use jsonrpc_forward::ClientConfig;
use jsonrpc_forward::auth::OAuthOptions;
use test_server::{Fault, Scenario, TestServer};

fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mcp-wrapper-sign-in-{name}-{}", std::process::id()))
}

#[tokio::test]
async fn a_401_without_oauth_metadata_is_the_answer_and_nothing_is_stored() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let store = scratch("no-metadata");
    let _ = std::fs::remove_dir_all(&store);
    let mut options = OAuthOptions::default();
    options.store_dir = Some(store.clone());
    options.browser = false;
    let client = client_with(ClientConfig::new(server.url()).sign_in(options));
    assert!(client.sign_in_state().is_some());
    let outcome = forward(&client, echo_with(3, &Fault::status(401))).await;
    let error = outcome.error.as_ref().expect("the 401");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(401));
    assert!(!error.is_sign_in());
    let answer = outcome.error_answer("3");
    assert_eq!(answer["error"]["message"], "HTTP 401 Unauthorized");
    assert!(
        !store.exists(),
        "a bridge that never signed in leaves no directory"
    );
}

#[tokio::test]
async fn a_static_authorization_turns_sign_in_off() {
    let server = TestServer::start(Scenario::default()).expect("server");
    let client = client_with(
        ClientConfig::new(server.url())
            .authorization("Bearer static")
            .sign_in(OAuthOptions::default()),
    );
    assert!(client.sign_in_state().is_none());
    let outcome = forward(&client, echo_with(4, &Fault::status(401))).await;
    assert_eq!(
        outcome
            .error
            .as_ref()
            .and_then(jsonrpc_forward::Error::status)
            .map(|s| s.as_u16()),
        Some(401)
    );
}
