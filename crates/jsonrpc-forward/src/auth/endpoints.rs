//! The requests a sign-in makes to the authorization server and the metadata hosts:
//! metadata GETs, client registration (RFC 7591), the token endpoint (authorization code,
//! refresh, client credentials, device code) and device authorization (RFC 8628).
//!
//! Each sends through an [`HttpClient`] that carries none of the MCP server's headers (an
//! authorization server is another party), follows no redirects and reads at most
//! [`MAX_BODY`] of an answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::error::SignInError;
use super::metadata::AuthorizationServer;
use super::store::{Client, Tokens};
use crate::http::{HttpClient, HttpRequest};

/// The most read of a metadata or token answer.
const MAX_BODY: usize = 1024 * 1024;
/// How much of an unexpected body an error shows.
const SHOWN: usize = 300;

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

/// Sends `request` and reads its status and whole body (at most [`MAX_BODY`]).
async fn exchange(
    http: &HttpClient,
    request: HttpRequest,
    what: &'static str,
) -> Result<(StatusCode, Bytes), SignInError> {
    let mut response = http
        .send(request)
        .await
        .map_err(|e| SignInError::http(what, e))?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| SignInError::http(what, e))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(SignInError::Status {
                what,
                status,
                detail: Some(format!("answer over {MAX_BODY} bytes")),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, Bytes::from(body)))
}

/// GETs a metadata document: `Ok(None)` when it is not there (any 4xx), so the next URL
/// of the discovery order is tried.
pub(crate) async fn get_metadata(
    http: &HttpClient,
    url: &Url,
    what: &'static str,
) -> Result<Option<Bytes>, SignInError> {
    let request =
        HttpRequest::new(Method::GET, url.clone()).header(ACCEPT, HeaderValue::from_static(JSON));
    let (status, body) = exchange(http, request, what).await?;
    if status.is_success() {
        Ok(Some(body))
    } else if status.is_client_error() {
        Ok(None)
    } else {
        Err(unexpected(what, status, &body))
    }
}

/// A refusal (4xx with an OAuth error body) or a server in trouble (the status, and the
/// start of its body). A 503 with `temporarily_unavailable` is trouble, not a refusal: it
/// must not throw away a refresh token that may work a minute later.
fn unexpected(what: &'static str, status: StatusCode, body: &[u8]) -> SignInError {
    if status.is_client_error()
        && let Some(refused) = oauth_error(what, body)
    {
        return refused;
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(SHOWN)]);
    let text = text.trim();
    SignInError::Status {
        what,
        status,
        detail: (!text.is_empty()).then(|| text.to_owned()),
    }
}

/// An OAuth error body (`{"error": ..., "error_description": ...}`), if it is one.
fn oauth_error(what: &'static str, body: &[u8]) -> Option<SignInError> {
    #[derive(Deserialize)]
    struct OAuthError {
        error: String,
        error_description: Option<String>,
    }
    let parsed: OAuthError = serde_json::from_slice(body).ok()?;
    Some(SignInError::Refused {
        what,
        error: parsed.error,
        description: parsed.error_description,
    })
}

/// The token endpoint authentication a client with or without a secret uses, from what
/// the server supports (RFC 8414's default is `client_secret_basic`).
pub(crate) fn auth_method(server: &AuthorizationServer, has_secret: bool) -> &'static str {
    let supported = |m: &str| {
        server.token_endpoint_auth_methods_supported.is_empty() && m == "client_secret_basic"
            || server
                .token_endpoint_auth_methods_supported
                .iter()
                .any(|s| s == m)
    };
    if !has_secret {
        return "none";
    }
    if supported("client_secret_basic") {
        "client_secret_basic"
    } else {
        "client_secret_post"
    }
}

/// How a registered client will get its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// Through the browser and the loopback redirect (and refresh tokens).
    Code,
    /// RFC 8628: a code the user enters on another device.
    Device,
    /// No user: the client's own credentials (a confidential client).
    ClientCredentials,
}

/// The device code grant type (RFC 8628 §3.4).
pub(crate) const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Registers a native client (RFC 7591), public (`none`) when the server allows it and the
/// grant needs no secret; `redirect_uri` for [`Grant::Code`].
pub(crate) async fn register(
    http: &HttpClient,
    server: &AuthorizationServer,
    grant: Grant,
    redirect_uri: Option<&str>,
    client_name: &str,
) -> Result<Client, SignInError> {
    const WHAT: &str = "client registration";
    let Some(endpoint) = &server.registration_endpoint else {
        return Err(SignInError::Unsupported(
            "the authorization server offers no dynamic client registration: give a client \
             with --oauth-client-id"
                .to_owned(),
        ));
    };
    let methods = &server.token_endpoint_auth_methods_supported;
    let public = grant != Grant::ClientCredentials
        && (methods.is_empty() || methods.iter().any(|m| m == "none"));
    let method = if public {
        "none"
    } else if methods.iter().any(|m| m == "client_secret_post") {
        "client_secret_post"
    } else {
        "client_secret_basic"
    };
    let grant_types: &[&str] = match grant {
        Grant::Code => &["authorization_code", "refresh_token"],
        Grant::Device => &[DEVICE_CODE, "refresh_token"],
        Grant::ClientCredentials => &["client_credentials"],
    };
    // No `scope`: a registration limited to today's scopes would make a later step-up to
    // more scopes fail (`invalid_scope`); the authorization request names the scopes.
    let body = serde_json::json!({
        "client_name": client_name,
        "application_type": "native",
        "grant_types": grant_types,
        "response_types": if grant == Grant::Code { vec!["code"] } else { Vec::new() },
        "token_endpoint_auth_method": method,
        "redirect_uris": redirect_uri.map(|u| vec![u]).unwrap_or_default(),
    });
    let url = Url::parse(endpoint).map_err(|_| SignInError::Unsupported(endpoint.clone()))?;
    let request = HttpRequest::new(Method::POST, url)
        .header(CONTENT_TYPE, HeaderValue::from_static(JSON))
        .header(ACCEPT, HeaderValue::from_static(JSON))
        .body(serde_json::to_vec(&body).map_err(std::io::Error::other)?);
    let (status, body) = exchange(http, request, WHAT).await?;
    if !status.is_success() {
        return Err(unexpected(WHAT, status, &body));
    }
    #[derive(Deserialize)]
    struct Registered {
        client_id: String,
        client_secret: Option<String>,
        token_endpoint_auth_method: Option<String>,
    }
    let registered: Registered =
        serde_json::from_slice(&body).map_err(|e| SignInError::Status {
            what: WHAT,
            status,
            detail: Some(format!("not a registration: {e}")),
        })?;
    Ok(Client {
        client_id: registered.client_id,
        auth_method: Some(
            registered
                .token_endpoint_auth_method
                .unwrap_or_else(|| method.to_owned()),
        ),
        client_secret: registered.client_secret,
        redirect_uri: redirect_uri.map(str::to_owned),
    })
}

/// A token endpoint request: `form` holds the grant's parameters; the client's identity is
/// added as its method says (`client_id` in the form for public clients and
/// `client_secret_post`, HTTP Basic for `client_secret_basic`).
pub(crate) async fn token(
    http: &HttpClient,
    server: &AuthorizationServer,
    client: &Client,
    what: &'static str,
    form: &[(&str, &str)],
) -> Result<Tokens, SignInError> {
    let url = Url::parse(&server.token_endpoint)
        .map_err(|_| SignInError::Unsupported(server.token_endpoint.clone()))?;
    let mut request = HttpRequest::new(Method::POST, url)
        .header(CONTENT_TYPE, HeaderValue::from_static(FORM))
        .header(ACCEPT, HeaderValue::from_static(JSON));
    let method = client
        .auth_method
        .clone()
        .unwrap_or_else(|| auth_method(server, client.client_secret.is_some()).to_owned());
    let mut pairs: Vec<(&str, &str)> = form.to_vec();
    match (method.as_str(), &client.client_secret) {
        ("client_secret_basic", Some(secret)) => {
            // RFC 6749 §2.3.1: each part form-encoded before Basic.
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(&client.client_id), encode(secret));
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                .map_err(std::io::Error::other)?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        (_, Some(secret)) => {
            pairs.push(("client_id", &client.client_id));
            pairs.push(("client_secret", secret));
        }
        (_, None) => pairs.push(("client_id", &client.client_id)),
    }
    let request = request.body(form_body(&pairs));
    let (status, body) = exchange(http, request, what).await?;
    if !status.is_success() {
        return Err(unexpected(what, status, &body));
    }
    parse_tokens(&body, what, status)
}

/// `application/x-www-form-urlencoded` (a plain function: the serializer is not `Send`).
fn form_body(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().copied())
        .finish()
}

/// A token response (RFC 6749 §5.1). `expires_in` becomes an absolute time.
fn parse_tokens(
    body: &[u8],
    what: &'static str,
    status: StatusCode,
) -> Result<Tokens, SignInError> {
    #[derive(Deserialize)]
    struct TokenResponse {
        access_token: String,
        refresh_token: Option<String>,
        // A number, or (some servers) a string holding one.
        expires_in: Option<serde_json::Value>,
        scope: Option<String>,
    }
    let parsed: TokenResponse = serde_json::from_slice(body).map_err(|_| SignInError::Status {
        what,
        status,
        detail: Some("the answer is not a token response".to_owned()),
    })?;
    let expires_in = parsed.expires_in.and_then(|v| match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    Ok(Tokens {
        access_token: parsed.access_token,
        refresh_token: parsed.refresh_token,
        expires_at: expires_in.map(|s| now().saturating_add(s)),
        scope: parsed.scope,
    })
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A device authorization (RFC 8628 §3.2).
#[derive(Deserialize)]
pub(crate) struct DeviceCode {
    pub(crate) device_code: String,
    pub(crate) user_code: String,
    pub(crate) verification_uri: String,
    pub(crate) verification_uri_complete: Option<String>,
    #[serde(default = "default_interval")]
    pub(crate) interval: u64,
    pub(crate) expires_in: Option<u64>,
}

fn default_interval() -> u64 {
    5
}

/// Starts a device authorization: the user code and where to enter it.
pub(crate) async fn device_authorization(
    http: &HttpClient,
    endpoint: &str,
    client: &Client,
    form: &[(&str, &str)],
) -> Result<DeviceCode, SignInError> {
    const WHAT: &str = "device authorization";
    let url = Url::parse(endpoint).map_err(|_| SignInError::Unsupported(endpoint.to_owned()))?;
    let mut pairs: Vec<(&str, &str)> = form.to_vec();
    pairs.push(("client_id", &client.client_id));
    if let Some(secret) = &client.client_secret {
        pairs.push(("client_secret", secret));
    }
    let request = HttpRequest::new(Method::POST, url)
        .header(CONTENT_TYPE, HeaderValue::from_static(FORM))
        .header(ACCEPT, HeaderValue::from_static(JSON))
        .body(form_body(&pairs));
    let (status, body) = exchange(http, request, WHAT).await?;
    if !status.is_success() {
        return Err(unexpected(WHAT, status, &body));
    }
    serde_json::from_slice(&body).map_err(|e| SignInError::Status {
        what: WHAT,
        status,
        detail: Some(format!("not a device authorization: {e}")),
    })
}

/// How long to wait before polling again after `error` from the token endpoint during a
/// device flow, or `None` when the flow is over (RFC 8628 §3.5).
pub(crate) fn device_poll(error: &SignInError, interval: &mut Duration) -> Option<Duration> {
    match error.oauth_error() {
        Some("authorization_pending") => Some(*interval),
        Some("slow_down") => {
            *interval += Duration::from_secs(5);
            Some(*interval)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(methods: &[&str]) -> AuthorizationServer {
        let json = serde_json::json!({
            "issuer": "https://as.example",
            "authorization_endpoint": "https://as.example/authorize",
            "token_endpoint": "https://as.example/token",
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": methods,
        });
        AuthorizationServer::parse(json.to_string().as_bytes(), "https://as.example")
            .expect("metadata")
    }

    #[test]
    fn the_auth_method_follows_what_the_server_supports() {
        assert_eq!(auth_method(&server(&[]), false), "none");
        assert_eq!(auth_method(&server(&[]), true), "client_secret_basic");
        assert_eq!(
            auth_method(&server(&["client_secret_post"]), true),
            "client_secret_post"
        );
        assert_eq!(
            auth_method(
                &server(&["client_secret_basic", "client_secret_post"]),
                true
            ),
            "client_secret_basic"
        );
    }

    #[test]
    fn token_responses_parse_with_numeric_or_string_lifetimes() {
        let ok = |body: &str| parse_tokens(body.as_bytes(), "t", StatusCode::OK);
        let tokens =
            ok(r#"{"access_token":"a","token_type":"Bearer","expires_in":60,"refresh_token":"r"}"#)
                .expect("tokens");
        assert_eq!(tokens.refresh_token.as_deref(), Some("r"));
        let at = tokens.expires_at.expect("an expiry");
        assert!(at >= now() + 59 && at <= now() + 60);
        let tokens = ok(r#"{"access_token":"a","expires_in":"30"}"#).expect("tokens");
        assert!(tokens.expires_at.is_some());
        assert!(ok(r#"{"token_type":"Bearer"}"#).is_err());
    }

    #[test]
    fn oauth_errors_are_read_from_bodies() {
        let e = unexpected(
            "token request",
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"revoked"}"#,
        );
        assert_eq!(e.oauth_error(), Some("invalid_grant"));
        assert_eq!(
            e.to_string(),
            "token request refused: invalid_grant (revoked)"
        );
        let e = unexpected(
            "token request",
            StatusCode::BAD_GATEWAY,
            b"<html>oops</html>",
        );
        assert_eq!(
            e.to_string(),
            "token request: HTTP 502 Bad Gateway: <html>oops</html>"
        );
        let e = unexpected(
            "token request",
            StatusCode::SERVICE_UNAVAILABLE,
            br#"{"error":"temporarily_unavailable"}"#,
        );
        assert_eq!(e.oauth_error(), None, "trouble, not a refusal");
    }

    #[test]
    fn device_polling_follows_rfc_8628() {
        let mut interval = Duration::from_secs(5);
        let refused = |code: &str| SignInError::Refused {
            what: "token request",
            error: code.to_owned(),
            description: None,
        };
        assert_eq!(
            device_poll(&refused("authorization_pending"), &mut interval),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            device_poll(&refused("slow_down"), &mut interval),
            Some(Duration::from_secs(10))
        );
        assert_eq!(device_poll(&refused("expired_token"), &mut interval), None);
    }
}
