//! A loopback MCP server (Streamable HTTP, JSON-RPC 2.0) with scripted faults, for the tests
//! and benchmarks of `mcp-wrapper-rs`, its README demo and its Python tests.
//!
//! [`TestServer::start`] binds `127.0.0.1:0` and serves on its own thread and tokio runtime
//! (hyper 1, HTTP/1.1 and HTTP/2, optional TLS and mutual TLS with certificates made at
//! start) until it is dropped. A [`Scenario`] fixes its behaviour (TLS, sessions, the GET
//! listen stream, a script of faults); a [`Fault`] in a request's
//! `params._meta["test-server/fault"]` ([`FAULT_META_KEY`]) bends one answer: body format,
//! chunking, line endings, gzip, status codes, `Retry-After`, resets, silences, invalid or
//! oversized messages. [`TestServer::hits`] counts every request id on arrival, before any
//! fault, so a test can prove that a tool never ran twice.
//!
//! # MCP behaviour
//!
//! POST `/mcp/` (or `/mcp`) takes one message or a batch. `initialize` echoes the client's
//! `protocolVersion` when it is one of [`PROTOCOL_VERSIONS`], else answers
//! [`LATEST_PROTOCOL_VERSION`]; `ping`, `tools/list` and `tools/call` work; other methods get
//! `-32601`. Tools: `echo` (its arguments as JSON text), `stream` (`{count, interval_ms,
//! event_bytes}`: an SSE answer with `count` `notifications/progress`, each padded to
//! `event_bytes` if given, then the result), `sleep` (`{ms}`),
//! `fault` (its arguments are a [`Fault`] for this answer). A 2026-07-28
//! `subscriptions/listen` request gets a scripted listen stream (see [`ListenEnd`] and
//! [`TestServer::listen_bump`]), whatever the session settings. [`Scenario::modern`] makes
//! the server dual-era: a POST with `MCP-Protocol-Version: 2026-07-28` is then served as
//! the 2026 era says (`server/discover` answered with a `DiscoverResult`, no session, the
//! headers checked against the body, retired methods such as `initialize` and `ping`
//! answered `404` `-32601`), one without it as before. Notifications and client
//! responses get 202 with an empty body; answers are `application/json` unless a stream is
//! needed. A body that is not JSON gets 400 with a `-32700` error.
//!
//! # Example
//!
//! ```
//! use std::io::{Read as _, Write as _};
//! use std::time::Duration;
//! use test_server::{Scenario, TestServer};
//!
//! let server = TestServer::start(Scenario::default())?;
//! let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
//! let mut stream = std::net::TcpStream::connect(server.addr())?;
//! stream.set_read_timeout(Some(Duration::from_secs(5)))?;
//! write!(
//!     stream,
//!     "POST /mcp/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
//!      Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
//!     body.len()
//! )?;
//! let mut response = String::new();
//! stream.read_to_string(&mut response)?;
//! assert!(response.starts_with("HTTP/1.1 200 OK"));
//! assert!(response.contains(r#""result":{}"#));
//! assert_eq!(server.hits("1"), 1);
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

mod body;
mod conn;
mod fault;
mod handler;
mod listen;
mod mcp;
mod modern;
mod record;
mod render;
mod scenario;
mod server;
mod tls;

use std::net::{Ipv4Addr, SocketAddr};

pub use fault::{BodyFormat, ErrorBody, FAULT_META_KEY, Fault, LineEnding, http_date};
pub use listen::ListenEnd;
pub use mcp::{LATEST_PROTOCOL_VERSION, PROTOCOL_VERSIONS};
pub use record::RecordedRequest;
pub use scenario::Scenario;
pub use server::TestServer;

/// A loopback address with nothing listening, for "connection refused" tests: a port is
/// bound, then released.
///
/// Another process could take the port in between; that is unlikely within a test.
///
/// # Panics
///
/// If no loopback port can be bound at all.
#[must_use]
pub fn refused_addr() -> SocketAddr {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("binding a loopback port")
}
