//! Sign-in with OAuth 2.1 as the MCP authorization spec describes (issue 14), in parts.
//!
//! Built so far (pure, tested): reading a 401's `WWW-Authenticate` challenges
//! ([`challenge`]), the order of the metadata URLs to look at ([`discovery`]), the checks
//! of Protected Resource and Authorization Server metadata and the choice of scopes
//! ([`metadata`]), PKCE S256 and random `state` ([`pkce`]), the credentials directory
//! with its per-key cross-process lock ([`store`]), opening the browser without a shell
//! ([`browser`]), the loopback redirect listener
//! ([`callback`]). The flow itself (fetching metadata, client registration, the browser,
//! token requests, refresh, the 401 trigger) is not built yet: nothing here is wired into
//! the client or the bridge.

pub mod browser;
pub mod callback;
pub mod challenge;
pub mod discovery;
pub mod metadata;
pub mod pkce;
pub mod store;
