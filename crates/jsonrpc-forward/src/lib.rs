//! Forwards JSON-RPC messages to a Streamable HTTP MCP server and streams the answers back.
//!
//! [`Client::forward`] POSTs one message exactly as it was read, over a pooled keep-alive
//! `reqwest` client (HTTP/2 by ALPN, rustls), and returns once the response headers arrive.
//! The response's messages then stream in as the server sends them, whatever the body's
//! framing (JSON, SSE, NDJSON, chunked or not, gzip or brotli): each is checked to be JSON and
//! put on one line, ready for stdout.
//!
//! - Every failure is an [`Error`], and [`Error::to_response`] turns it into the JSON-RPC
//!   error that answers the request in its place (the error table of the design).
//! - [`retry`]: **a request is resent only when the server cannot have acted on it**, or for
//!   read-only methods and notifications; a `tools/call` never runs twice.
//! - [`peek`] reads `id`, `method` and the names used for headers in one pass, without
//!   building a tree.
//! - The idle timeout is the longest silence on a pending request: every byte restarts it,
//!   so a slow tool that streams progress never times out.
//! - [`HttpClient`] is the pool underneath: any request, any URL, its body as a
//!   [`StreamedResponse`]; several [`Client`]s may share one ([`Client::with_http`]).
//!
//! # Features
//!
//! - `cli` (default): the `mcp-wrapper` binary and [`cli`], its arguments and set-up
//!   (clap, tracing-subscriber).
//!
//! # Example
//!
//! ```no_run
//! use bytes::Bytes;
//! use jsonrpc_forward::{Client, ClientConfig, RequestHeaders};
//!
//! # async fn run() -> Result<(), jsonrpc_forward::Error> {
//! let client = Client::new(ClientConfig::new("http://127.0.0.1:4444/mcp/"))?;
//! let message = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
//! let mut response = client.forward(message, &RequestHeaders::default()).await?;
//! println!("session: {:?}", response.session_id());
//! while let Some(message) = response.messages().next().await {
//!     match message {
//!         Ok(line) => println!("{}", String::from_utf8_lossy(&line)),
//!         // The error that answers request 1 in place of the server's response.
//!         Err(e) => println!("{}", String::from_utf8_lossy(&e.to_response(Some("1")))),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod auth;
mod body;
pub mod bridge;
mod budget;
#[cfg(feature = "cli")]
pub mod cli;
mod client;
mod config;
mod cookies;
// Case B (legacy host, modern server; §4.2) building blocks, not wired into the bridge yet.
pub(crate) mod envelope;
pub mod era;
mod era_cache;
mod error;
mod forwarded;
mod headers;
mod http;
mod json_object;
mod keepalive;
mod legacy;
pub mod message;
mod modern;
pub mod modern_headers;
mod modern_listen;
pub(crate) mod mrtr;
pub mod peek;
mod probe;
mod proxy;
mod redact;
mod response;
pub mod retry;
mod session;
mod stdio;
pub(crate) mod tool_schemas;
mod tools;

pub use body::{BodyDecoder, BodyFormat};
pub use bridge::{Bridge, Exit};
pub use client::Client;
pub use config::{
    ClientConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_MESSAGE_BYTES,
};
pub use error::{Error, ProxyError, StatusError, display_chain};
pub use forwarded::{Forwarded, Messages};
pub use headers::{
    LAST_EVENT_ID, MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, MCP_SESSION_ID, RequestHeaders,
};
pub use http::{HttpClient, HttpRequest, Redirects};
pub use legacy::{Transport, UnknownTransport};
pub use message::{Outgoing, error_response};
pub use redact::{redact_url, redacted};
pub use response::StreamedResponse;
pub use tools::{ToolFilter, ToolFilterError};
