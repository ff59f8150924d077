//! [`OAuthOptions`]: how the bridge signs in, as the `--oauth-*` options set it.

use std::path::PathBuf;
use std::time::Duration;

/// How long requests wait for a sign-in by default (the user is in a browser).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The choices a user can make about signing in. The defaults discover everything: dynamic
/// client registration, the challenge's scopes, a browser, the resource indicator on.
#[derive(Clone)]
#[non_exhaustive]
pub struct OAuthOptions {
    /// A client registered by hand (`--oauth-client-id`): no registration.
    pub client_id: Option<String>,
    /// Its secret (from `MCP_OAUTH_CLIENT_SECRET` or `--oauth-client-secret-file`).
    pub client_secret: Option<String>,
    /// A Client ID Metadata Document URL used as `client_id` when the authorization
    /// server accepts one (`--oauth-client-metadata-url`).
    pub client_metadata_url: Option<String>,
    /// Scopes to ask for, space-separated, instead of the server's (`--oauth-scope`).
    pub scope: Option<String>,
    /// Extra authorization request parameters (`--oauth-param k=v`).
    pub params: Vec<(String, String)>,
    /// Send the RFC 8707 `resource` parameter (on unless `--oauth-no-resource`).
    pub resource: bool,
    /// The callback port, exactly (`--oauth-callback-port`); else one derived from the
    /// server URL, with fallbacks.
    pub callback_port: Option<u16>,
    /// Open a browser (off with `--oauth-no-browser`: the device flow when the server has
    /// it, else the URL is only printed).
    pub browser: bool,
    /// Machine-to-machine: the client credentials grant, no user (`--oauth-client-credentials`).
    pub client_credentials: bool,
    /// How long requests wait for the user (`--oauth-timeout`).
    pub timeout: Duration,
    /// The credentials directory; `None` is the default one (see [`super::store`]).
    pub store_dir: Option<PathBuf>,
    /// The `client_name` registered.
    pub client_name: String,
}

impl Default for OAuthOptions {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            client_metadata_url: None,
            scope: None,
            params: Vec::new(),
            resource: true,
            callback_port: None,
            browser: true,
            client_credentials: false,
            timeout: DEFAULT_TIMEOUT,
            store_dir: None,
            client_name: "mcp-wrapper".to_owned(),
        }
    }
}

/// The client secret is never shown.
impl std::fmt::Debug for OAuthOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthOptions")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("client_metadata_url", &self.client_metadata_url)
            .field("scope", &self.scope)
            .field(
                "params",
                &self.params.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("resource", &self.resource)
            .field("callback_port", &self.callback_port)
            .field("browser", &self.browser)
            .field("client_credentials", &self.client_credentials)
            .field("timeout", &self.timeout)
            .field("store_dir", &self.store_dir)
            .finish()
    }
}
