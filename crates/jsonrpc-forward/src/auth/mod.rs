//! Sign-in with OAuth 2.1 as the MCP authorization spec describes (issue 14), in parts.
//!
//! Built so far (pure, tested): reading a 401's `WWW-Authenticate` challenges
//! ([`challenge`]) and the order of the metadata URLs to look at ([`discovery`]). The flow
//! itself (metadata fetching and validation, client registration, PKCE, the loopback
//! callback, the token store, refresh) is not built yet: nothing here is wired into the
//! client or the bridge.

pub mod challenge;
pub mod discovery;
