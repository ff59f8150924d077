//! The metadata a sign-in reads, and the checks the MCP authorization spec asks of it:
//! Protected Resource Metadata (RFC 9728) and Authorization Server Metadata (RFC 8414,
//! or OIDC discovery), and which scopes to ask for.

use reqwest::Url;
use serde::Deserialize;

/// Why metadata cannot be used. Each names what is wrong, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The document is not the JSON object its RFC describes.
    #[error("{what} is not valid metadata: {reason}")]
    Invalid {
        /// Which document.
        what: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// The protected resource's metadata is about another resource (RFC 9728 §3.3).
    #[error("the protected resource metadata is for {found:?}, not for {expected:?}")]
    ResourceMismatch {
        /// The server URL the metadata was fetched for.
        expected: String,
        /// Its `resource`.
        found: String,
    },
    /// The metadata names no authorization server.
    #[error("the protected resource metadata names no authorization server")]
    NoAuthorizationServer,
    /// The authorization server's metadata has another issuer (RFC 8414 §3.3): a mix-up.
    #[error("the authorization server metadata has issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// The issuer the metadata was fetched for.
        expected: String,
        /// Its `issuer`.
        found: String,
    },
    /// The authorization server does not say it supports PKCE with S256: the MCP spec
    /// forbids going on.
    #[error(
        "the authorization server does not advertise PKCE S256 (code_challenge_methods_supported)"
    )]
    NoPkce,
    /// An endpoint is missing or not an https URL (http only on a loopback host).
    #[error("the authorization server's {name} is missing or not an https URL")]
    BadEndpoint {
        /// The metadata field.
        name: &'static str,
    },
}

/// Protected Resource Metadata (RFC 9728 §2), the fields a client uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProtectedResource {
    /// The resource's identifier: the server URL.
    pub resource: String,
    /// Issuers of the authorization servers that can be used.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// The scopes the resource knows.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

impl ProtectedResource {
    /// Reads and checks the metadata fetched for the MCP server at `server`.
    ///
    /// # Errors
    ///
    /// [`MetadataError`] when it is not JSON of this shape, is about another resource, or
    /// names no authorization server.
    pub fn parse(json: &[u8], server: &Url) -> Result<Self, MetadataError> {
        let metadata: Self = serde_json::from_slice(json).map_err(|e| MetadataError::Invalid {
            what: "protected resource metadata",
            reason: e.to_string(),
        })?;
        if !same_resource(&metadata.resource, server) {
            return Err(MetadataError::ResourceMismatch {
                expected: canonical_resource(server),
                found: metadata.resource,
            });
        }
        if metadata.authorization_servers.is_empty() {
            return Err(MetadataError::NoAuthorizationServer);
        }
        Ok(metadata)
    }
}

/// Authorization Server Metadata (RFC 8414 §2), the fields a client uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuthorizationServer {
    /// The issuer identifier.
    pub issuer: String,
    /// Where the user is sent to approve.
    pub authorization_endpoint: Option<String>,
    /// Where codes and refresh tokens are exchanged.
    pub token_endpoint: String,
    /// Dynamic Client Registration (RFC 7591).
    pub registration_endpoint: Option<String>,
    /// Device Authorization Grant (RFC 8628).
    pub device_authorization_endpoint: Option<String>,
    /// Token revocation (RFC 7009).
    pub revocation_endpoint: Option<String>,
    /// PKCE methods; must hold `S256`.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// How a client may authenticate at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Grant types; RFC 8414's default is code and implicit.
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    /// The AS sends `iss` with its redirects (RFC 9207): the client must check it.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// The AS accepts a Client ID Metadata Document URL as `client_id`.
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
}

impl AuthorizationServer {
    /// Reads and checks the metadata fetched for `issuer`.
    ///
    /// # Errors
    ///
    /// [`MetadataError`] when it is not JSON of this shape, its `issuer` is another, it
    /// offers no PKCE S256, or an endpoint is not https (http only on loopback).
    pub fn parse(json: &[u8], issuer: &str) -> Result<Self, MetadataError> {
        let metadata: Self = serde_json::from_slice(json).map_err(|e| MetadataError::Invalid {
            what: "authorization server metadata",
            reason: e.to_string(),
        })?;
        if metadata.issuer != issuer {
            return Err(MetadataError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: metadata.issuer,
            });
        }
        if !metadata
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == super::pkce::METHOD)
        {
            return Err(MetadataError::NoPkce);
        }
        check_endpoint("token_endpoint", Some(&metadata.token_endpoint))?;
        for (name, value) in [
            ("authorization_endpoint", &metadata.authorization_endpoint),
            ("registration_endpoint", &metadata.registration_endpoint),
            (
                "device_authorization_endpoint",
                &metadata.device_authorization_endpoint,
            ),
            ("revocation_endpoint", &metadata.revocation_endpoint),
        ] {
            if value.is_some() {
                check_endpoint(name, value.as_ref())?;
            }
        }
        Ok(metadata)
    }
}

/// https, or http on a loopback host (local test servers).
fn check_endpoint(name: &'static str, value: Option<&String>) -> Result<(), MetadataError> {
    let ok = value.and_then(|v| Url::parse(v).ok()).is_some_and(|url| {
        url.scheme() == "https"
            || (url.scheme() == "http"
                && matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")))
    });
    if ok {
        Ok(())
    } else {
        Err(MetadataError::BadEndpoint { name })
    }
}

/// The canonical URI of the MCP server (RFC 8707 `resource`, MCP spec): scheme and host
/// lower-case, no fragment; the path as given, without a trailing `/` unless it is the
/// root.
#[must_use]
pub fn canonical_resource(server: &Url) -> String {
    let mut url = server.clone();
    url.set_fragment(None);
    let text = url.to_string();
    match text.strip_suffix('/') {
        Some(trimmed) if url.path() != "/" => trimmed.to_owned(),
        _ => text,
    }
}

/// Whether metadata's `resource` names `server` (trailing `/` and case of scheme and host
/// aside).
fn same_resource(resource: &str, server: &Url) -> bool {
    Url::parse(resource).is_ok_and(|r| canonical_resource(&r) == canonical_resource(server))
}

/// The scopes to ask for: the user's `--oauth-scope`, else the challenge's `scope`, else
/// the resource's `scopes_supported`, else none (no made-up default: some servers reject
/// scopes they do not know).
#[must_use]
pub fn scopes(
    configured: Option<&str>,
    challenge: Option<&str>,
    resource: Option<&ProtectedResource>,
) -> Option<String> {
    let given = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    given(configured).or_else(|| given(challenge)).or_else(|| {
        resource
            .filter(|r| !r.scopes_supported.is_empty())
            .map(|r| r.scopes_supported.join(" "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("a URL")
    }

    const AS: &str = r#"{
        "issuer": "https://auth.example.com",
        "authorization_endpoint": "https://auth.example.com/authorize",
        "token_endpoint": "https://auth.example.com/token",
        "registration_endpoint": "https://auth.example.com/register",
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post"]
    }"#;

    #[test]
    fn protected_resource_for_this_server() {
        let server = url("https://mcp.example.com/mcp/");
        let prm = ProtectedResource::parse(
            br#"{"resource":"https://MCP.example.com/mcp","authorization_servers":["https://auth.example.com"],"scopes_supported":["read","write"]}"#,
            &server,
        )
        .expect("valid");
        assert_eq!(prm.authorization_servers, ["https://auth.example.com"]);
        assert_eq!(
            scopes(None, None, Some(&prm)).as_deref(),
            Some("read write")
        );
    }

    #[test]
    fn protected_resource_for_another_server_or_without_as_is_refused() {
        let server = url("https://mcp.example.com/mcp");
        let other =
            br#"{"resource":"https://evil.example.com/mcp","authorization_servers":["https://a"]}"#;
        assert!(matches!(
            ProtectedResource::parse(other, &server),
            Err(MetadataError::ResourceMismatch { .. })
        ));
        let none = br#"{"resource":"https://mcp.example.com/mcp"}"#;
        assert_eq!(
            ProtectedResource::parse(none, &server),
            Err(MetadataError::NoAuthorizationServer)
        );
        assert!(matches!(
            ProtectedResource::parse(b"[]", &server),
            Err(MetadataError::Invalid { .. })
        ));
    }

    #[test]
    fn authorization_server_checks() {
        let ok =
            AuthorizationServer::parse(AS.as_bytes(), "https://auth.example.com").expect("valid");
        assert_eq!(ok.token_endpoint, "https://auth.example.com/token");
        assert!(matches!(
            AuthorizationServer::parse(AS.as_bytes(), "https://other.example.com"),
            Err(MetadataError::IssuerMismatch { .. })
        ));
        let no_pkce = AS.replace(r#""code_challenge_methods_supported": ["S256"],"#, "");
        assert_eq!(
            AuthorizationServer::parse(no_pkce.as_bytes(), "https://auth.example.com"),
            Err(MetadataError::NoPkce)
        );
        let plain_http = AS.replace(
            "https://auth.example.com/token",
            "http://auth.example.com/token",
        );
        assert_eq!(
            AuthorizationServer::parse(plain_http.as_bytes(), "https://auth.example.com"),
            Err(MetadataError::BadEndpoint {
                name: "token_endpoint"
            })
        );
        let loopback = AS.replace("https://auth.example.com", "http://127.0.0.1:9000");
        assert!(AuthorizationServer::parse(loopback.as_bytes(), "http://127.0.0.1:9000").is_ok());
    }

    #[test]
    fn canonical_resource_forms() {
        for (given, canonical) in [
            (
                "https://MCP.Example.com/mcp/",
                "https://mcp.example.com/mcp",
            ),
            (
                "https://mcp.example.com/mcp#x",
                "https://mcp.example.com/mcp",
            ),
            ("https://mcp.example.com", "https://mcp.example.com/"),
            (
                "https://mcp.example.com:8443/a/b",
                "https://mcp.example.com:8443/a/b",
            ),
        ] {
            assert_eq!(canonical_resource(&url(given)), canonical, "{given}");
        }
    }

    #[test]
    fn scope_choice_order() {
        let prm = ProtectedResource {
            resource: "https://r".to_owned(),
            authorization_servers: vec!["https://a".to_owned()],
            scopes_supported: vec!["x".to_owned()],
        };
        assert_eq!(
            scopes(Some("mine"), Some("c"), Some(&prm)).as_deref(),
            Some("mine")
        );
        assert_eq!(
            scopes(None, Some("c d"), Some(&prm)).as_deref(),
            Some("c d")
        );
        assert_eq!(scopes(Some("  "), None, Some(&prm)).as_deref(), Some("x"));
        assert_eq!(scopes(None, None, None), None);
    }
}
