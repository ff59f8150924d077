//! Sign-in with OAuth 2.1 as the MCP authorization spec describes (2025-06-18, 2025-11-25).
//!
//! A [`SignIn`] holds one MCP server's tokens; the [`Client`](crate::Client) asks it for a
//! token before each request and, on a 401 with a `Bearer` challenge, lets it renew them
//! (refresh, else a new sign-in) and sends the request once more: the host never sees the
//! 401. The parts, each tested on its own:
//!
//! - [`challenge`]: reading `WWW-Authenticate`;
//! - [`discovery`] and [`metadata`]: where metadata is, and its checks (issuer, PKCE S256,
//!   https endpoints), the scopes to ask for;
//! - `endpoints`: registration, the token endpoint, device authorization;
//! - [`pkce`], [`callback`] (the loopback redirect listener), [`browser`] (no shell, ever);
//! - [`store`]: the credentials directory and its cross-process lock;
//! - [`flow`]: the order of it all ([`SignIn`]).

pub mod browser;
pub mod callback;
pub mod challenge;
pub mod discovery;
mod endpoints;
mod error;
pub mod flow;
pub mod metadata;
mod options;
pub mod pkce;
pub mod store;

pub use error::SignInError;
pub use flow::{SignIn, Status};
pub use options::{DEFAULT_TIMEOUT, OAuthOptions};
