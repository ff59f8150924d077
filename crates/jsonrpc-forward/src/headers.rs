//! Every request header, built in one place from the message being sent.
//!
//! The 2025 protocol era identifies a conversation by `Mcp-Session-Id` and the version
//! negotiated at `initialize`; the 2026-07-28 era has no session and carries the version in
//! each request's `params._meta`. When a message carries that `_meta` version, it is the
//! `MCP-Protocol-Version` header and no session id is sent, so header and body never disagree.

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::message::Outgoing;

/// `Mcp-Session-Id`.
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `MCP-Protocol-Version`.
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Mcp-Method`: the JSON-RPC method, for gateways that route without reading the body.
pub const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// `Mcp-Name`: the tool, prompt or resource a request names.
pub const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

const ACCEPT_VALUE: HeaderValue =
    HeaderValue::from_static("application/json, text/event-stream, application/x-ndjson");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The per-conversation facts a request carries: known after `initialize`.
///
/// Its `Debug` output shows the session id as `<redacted>`: whoever holds it can act in
/// the session.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RequestHeaders {
    /// The `Mcp-Session-Id` the server gave at `initialize`.
    pub session_id: Option<String>,
    /// The `protocolVersion` negotiated at `initialize`.
    pub protocol_version: Option<String>,
}

impl std::fmt::Debug for RequestHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestHeaders")
            .field(
                "session_id",
                &self.session_id.as_ref().map(|_| "<redacted>"),
            )
            .field("protocol_version", &self.protocol_version)
            .finish()
    }
}

/// The headers of one POST: `base` (authorization and extra headers), then ours.
///
/// A value that cannot be a header (a tool name with a line break, say) leaves its header out
/// rather than failing the request; the body still carries it.
pub(crate) fn post_headers(
    base: &HeaderMap,
    message: &Outgoing,
    ctx: &RequestHeaders,
) -> HeaderMap {
    let mut headers = base.clone();
    headers.insert(CONTENT_TYPE, JSON);
    headers.insert(ACCEPT, ACCEPT_VALUE);
    let version = match message.protocol_version() {
        Some(per_request) => Some(per_request),
        None => {
            insert_str(&mut headers, MCP_SESSION_ID, ctx.session_id.as_deref());
            ctx.protocol_version.as_deref()
        }
    };
    insert_str(&mut headers, MCP_PROTOCOL_VERSION, version);
    insert_str(&mut headers, MCP_METHOD, message.method());
    if matches!(
        message.method(),
        Some("tools/call" | "resources/read" | "prompts/get")
    ) {
        insert_str(&mut headers, MCP_NAME, message.name());
    }
    headers
}

/// `Last-Event-ID`: where a resumed SSE stream picks up.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");

/// The headers of the GET that opens (or resumes) an SSE stream.
pub(crate) fn get_headers(
    base: &HeaderMap,
    ctx: &RequestHeaders,
    last_event_id: Option<&str>,
) -> HeaderMap {
    let mut headers = session_headers(base, ctx);
    headers.insert(ACCEPT, EVENT_STREAM);
    insert_str(&mut headers, LAST_EVENT_ID, last_event_id);
    headers
}

/// The headers of a request that names only the session (DELETE).
pub(crate) fn session_headers(base: &HeaderMap, ctx: &RequestHeaders) -> HeaderMap {
    let mut headers = base.clone();
    insert_str(&mut headers, MCP_SESSION_ID, ctx.session_id.as_deref());
    insert_str(
        &mut headers,
        MCP_PROTOCOL_VERSION,
        ctx.protocol_version.as_deref(),
    );
    headers
}

fn insert_str(headers: &mut HeaderMap, name: HeaderName, value: Option<&str>) {
    if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn outgoing(json: &'static str) -> Outgoing {
        Outgoing::new(Bytes::from_static(json.as_bytes())).expect("valid message")
    }

    fn ctx() -> RequestHeaders {
        RequestHeaders {
            session_id: Some("s-1".into()),
            protocol_version: Some("2025-11-25".into()),
        }
    }

    #[test]
    fn post_headers_carry_session_version_method_and_name() {
        let m =
            outgoing(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#);
        let h = post_headers(&HeaderMap::new(), &m, &ctx());
        assert_eq!(h[MCP_SESSION_ID], "s-1");
        assert_eq!(h[MCP_PROTOCOL_VERSION], "2025-11-25");
        assert_eq!(h[MCP_METHOD], "tools/call");
        assert_eq!(h[MCP_NAME], "echo");
        assert_eq!(h[CONTENT_TYPE], "application/json");
    }

    #[test]
    fn post_headers_use_the_per_request_version_and_no_session_in_the_2026_era() {
        let m = outgoing(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        );
        let h = post_headers(&HeaderMap::new(), &m, &ctx());
        assert_eq!(h[MCP_PROTOCOL_VERSION], "2026-07-28");
        assert!(h.get(MCP_SESSION_ID).is_none());
        assert!(h.get(MCP_NAME).is_none(), "tools/list names nothing");
    }

    #[test]
    fn post_headers_name_a_resource_by_uri_and_skip_values_that_cannot_be_headers() {
        let m = outgoing(
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}}"#,
        );
        assert_eq!(
            post_headers(&HeaderMap::new(), &m, &ctx())[MCP_NAME],
            "file:///a"
        );
        let m =
            outgoing(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\nb"}}"#);
        assert!(
            post_headers(&HeaderMap::new(), &m, &ctx())
                .get(MCP_NAME)
                .is_none()
        );
    }
}
