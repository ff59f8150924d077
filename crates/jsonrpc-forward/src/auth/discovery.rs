//! Where the metadata of sign-in is looked for, in the order the MCP authorization spec
//! (2025-06-18, 2025-11-25) gives.
//!
//! - Protected Resource Metadata (RFC 9728): the `resource_metadata` URL of the server's
//!   challenge when there is one; else the well-known URI with the server URL's path
//!   (`/.well-known/oauth-protected-resource/mcp`), then at the root.
//! - Authorization Server Metadata of an issuer: for an issuer with a path (`/tenant1`),
//!   OAuth 2.0 metadata with the path inserted (RFC 8414 §3.1), OIDC discovery
//!   with the path inserted, then with it appended (OIDC Discovery §4); for an issuer
//!   without a path, OAuth 2.0 then OIDC at the root.

use reqwest::Url;

const PROTECTED_RESOURCE: &str = "/.well-known/oauth-protected-resource";
const AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";
const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";

/// The URLs to try for the server's Protected Resource Metadata, in order.
///
/// `from_challenge` is the `resource_metadata` parameter of the 401's challenge: tried
/// first, and alone, when it is an absolute http(s) URL (the server said where it is).
#[must_use]
pub fn protected_resource_metadata_urls(server: &Url, from_challenge: Option<&str>) -> Vec<Url> {
    if let Some(url) = from_challenge
        .and_then(|u| Url::parse(u).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
    {
        return vec![url];
    }
    let path = server.path().trim_end_matches('/');
    let mut urls = Vec::with_capacity(2);
    if !path.is_empty() {
        urls.push(at(server, &format!("{PROTECTED_RESOURCE}{path}")));
    }
    urls.push(at(server, PROTECTED_RESOURCE));
    urls
}

/// The URLs to try for the metadata of the authorization server `issuer`, in order.
#[must_use]
pub fn authorization_server_metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    if path.is_empty() {
        return vec![
            at(issuer, AUTHORIZATION_SERVER),
            at(issuer, OPENID_CONFIGURATION),
        ];
    }
    vec![
        at(issuer, &format!("{AUTHORIZATION_SERVER}{path}")),
        at(issuer, &format!("{OPENID_CONFIGURATION}{path}")),
        at(issuer, &format!("{path}{OPENID_CONFIGURATION}")),
    ]
}

/// `base`'s origin with `path`, no query or fragment.
fn at(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(path);
    url.set_query(None);
    url.set_fragment(None);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[Url]) -> Vec<&str> {
        list.iter().map(Url::as_str).collect()
    }

    #[test]
    fn resource_metadata_path_aware_then_root() {
        let server = Url::parse("https://mcp.example.com/public/mcp?x=1").expect("a URL");
        assert_eq!(
            urls(&protected_resource_metadata_urls(&server, None)),
            [
                "https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ]
        );
        let root = Url::parse("https://mcp.example.com/").expect("a URL");
        assert_eq!(
            urls(&protected_resource_metadata_urls(&root, None)),
            ["https://mcp.example.com/.well-known/oauth-protected-resource"]
        );
    }

    #[test]
    fn the_challenges_url_wins_when_it_is_one() {
        let server = Url::parse("https://mcp.example.com/mcp").expect("a URL");
        let given = "https://meta.example.com/prm";
        assert_eq!(
            urls(&protected_resource_metadata_urls(&server, Some(given))),
            [given]
        );
        for bad in ["not a url", "file:///etc/passwd", "/relative"] {
            assert_eq!(
                protected_resource_metadata_urls(&server, Some(bad)).len(),
                2,
                "{bad}"
            );
        }
    }

    #[test]
    fn authorization_server_with_a_path_as_the_spec_orders_them() {
        let issuer = Url::parse("https://auth.example.com/tenant1").expect("a URL");
        assert_eq!(
            urls(&authorization_server_metadata_urls(&issuer)),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn authorization_server_without_a_path() {
        let issuer = Url::parse("https://auth.example.com").expect("a URL");
        assert_eq!(
            urls(&authorization_server_metadata_urls(&issuer)),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration",
            ]
        );
    }
}
