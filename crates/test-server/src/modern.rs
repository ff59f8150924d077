//! The 2026-07-28 side of a dual-era server ([`Scenario::modern`], research notes
//! `protocol-2026.md` §1): a POST whose `MCP-Protocol-Version` header is `2026-07-28` is a
//! modern request. It has no session. Its header and body must agree, checked before
//! anything runs as mcp 2.3 does (§1.8): a `_meta` without the protocol version is `400`
//! `-32602`; a `_meta` version other than the header's, an `Mcp-Method` that is missing or
//! names another method, or an `Mcp-Name` that is missing or names another tool on a
//! `tools/call` is `400` `-32020`. A method the era retired (`initialize`, `ping`,
//! `logging/setLevel`, `resources/(un)subscribe`) is `404` `-32601` whatever else it
//! carries (§1.3: what a bridge that forwards them must see fail); `server/discover` gets a
//! `DiscoverResult` (§1.10); any other request is served as a 2025-era one would be.
//! Without the header nothing changes: the server is then the 2025-era one it always was.
//!
//! [`Scenario::modern`]: crate::Scenario::modern

use http::request::Parts;
use serde_json::{Value, json};

use crate::mcp::{error, is_request};

/// The protocol version of the 2026 era.
pub(crate) const MODERN_VERSION: &str = "2026-07-28";
const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
const SERVER_INFO_KEY: &str = "io.modelcontextprotocol/serverInfo";
/// Methods with no place in the 2026 era (§1.3): mcp 2.3 answers them `404` `-32601`.
const RETIRED: [&str; 5] = [
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];
/// The base64 form of a header value that is not header-safe (§1.9): accepted unread.
const BASE64_SENTINEL: &str = "=?base64?";

/// What the modern side makes of a POST.
#[derive(Debug)]
pub(crate) enum Modern {
    /// No `MCP-Protocol-Version: 2026-07-28`: a 2025-era request.
    No,
    /// A modern request to serve as usual, without a session.
    Serve,
    /// A modern request answered here: the status and the JSON-RPC message.
    Answer(u16, Value),
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Routes one POST (see the module docs).
pub(crate) fn route(parts: &Parts, messages: &[Value], batch: bool) -> Modern {
    if header(parts, "mcp-protocol-version") != Some(MODERN_VERSION) {
        return Modern::No;
    }
    let request = match messages {
        [message] if !batch && is_request(message) => message,
        // A notification is accepted and dropped (202), as mcp 2.3 does (§1.1).
        [message] if !batch && message.get("method").is_some() => return Modern::Serve,
        _ => {
            let text = "Invalid Request: a 2026-07-28 POST carries one request";
            return Modern::Answer(400, error(Value::Null, -32600, text));
        }
    };
    let id = request["id"].clone();
    let method = request["method"].as_str().unwrap_or_default();
    if RETIRED.contains(&method) {
        let mut answer = error(id, -32601, "Method not found");
        answer["error"]["data"] = Value::String(method.to_owned());
        return Modern::Answer(404, answer);
    }
    match request
        .pointer("/params/_meta")
        .and_then(|meta| meta.get(VERSION_KEY))
    {
        None => {
            let text = format!("params._meta must be an object carrying {VERSION_KEY}");
            return Modern::Answer(400, error(id, -32602, &text));
        }
        Some(version) if version != MODERN_VERSION => {
            let text = "mcp-protocol-version header does not match the request body's _meta";
            return Modern::Answer(400, error(id, -32020, text));
        }
        Some(_) => {}
    }
    if header(parts, "mcp-method") != Some(method) {
        let text = "mcp-method header does not match the request body's method";
        return Modern::Answer(400, error(id, -32020, text));
    }
    if method == "tools/call" {
        let name = request.pointer("/params/name").and_then(Value::as_str);
        let sent = header(parts, "mcp-name");
        let agrees = sent.is_some_and(|s| Some(s) == name || s.starts_with(BASE64_SENTINEL));
        if !agrees {
            let text = "mcp-name header does not match the request body's params.name";
            return Modern::Answer(400, error(id, -32020, text));
        }
    }
    if method == "server/discover" {
        return Modern::Answer(
            200,
            json!({"jsonrpc": "2.0", "id": id, "result": discover_result()}),
        );
    }
    Modern::Serve
}

/// The `DiscoverResult` (§1.10): the one version, the tools capability of the 2025 side,
/// the server's name in `_meta`.
fn discover_result() -> Value {
    json!({
        "supportedVersions": [MODERN_VERSION],
        "capabilities": { "tools": { "listChanged": false } },
        "resultType": "complete",
        "ttlMs": 0,
        "cacheScope": "private",
        "_meta": {
            SERVER_INFO_KEY: { "name": "test-server", "version": env!("CARGO_PKG_VERSION") },
        },
    })
}
