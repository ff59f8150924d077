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

/// The longest `Mcp-Name` sent, in bytes. A `resources/read` URI can be far longer than
/// servers accept in one header (they answer 431); above this the header is left out (the
/// body still names the resource).
pub(crate) const MAX_MCP_NAME_BYTES: usize = 1024;

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
/// rather than failing the request, with a warning (see [`insert_str`]); so does an
/// `Mcp-Name` over [`MAX_MCP_NAME_BYTES`], with a debug line. The body still carries both.
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
        // An `initialize` starts a new session: it carries none of the old one's.
        None if message.initialize().is_some() => None,
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
        match message.name() {
            Some(name) if name.len() > MAX_MCP_NAME_BYTES => tracing::debug!(
                header = %MCP_NAME,
                bytes = name.len(),
                limit = MAX_MCP_NAME_BYTES,
                "header left out: longer than servers accept"
            ),
            name => insert_str(&mut headers, MCP_NAME, name),
        }
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

/// Sets header `name` to `value`'s bytes. Any text without control characters is a legal
/// value: bytes from 0x80 are obs-text (RFC 9110 §5.5), so a non-ASCII SSE event id or tool
/// name goes as its UTF-8. A value with a control character (a line break, NUL, DEL) cannot
/// be sent: the header is left out with a warning that names the header, never the value,
/// which may be a secret. The session id is marked sensitive (kept out of HPACK tables and
/// `Debug` output).
fn insert_str(headers: &mut HeaderMap, name: HeaderName, value: Option<&str>) {
    let Some(value) = value else {
        return;
    };
    match HeaderValue::from_bytes(value.as_bytes()) {
        Ok(mut value) => {
            value.set_sensitive(name == MCP_SESSION_ID);
            headers.insert(name, value);
        }
        Err(_) => tracing::warn!(
            header = %name,
            "header left out: its value holds a control character"
        ),
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
    fn post_headers_of_initialize_carry_no_old_session() {
        let m = outgoing(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#);
        let h = post_headers(&HeaderMap::new(), &m, &ctx());
        assert!(h.get(MCP_SESSION_ID).is_none());
        assert!(h.get(MCP_PROTOCOL_VERSION).is_none());
        let batch = outgoing(r#"[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}]"#);
        assert!(
            post_headers(&HeaderMap::new(), &batch, &ctx())
                .get(MCP_SESSION_ID)
                .is_none()
        );
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

    fn resource_read(uri: &str) -> Outgoing {
        let json = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read",
            "params": {"uri": uri}});
        Outgoing::new(Bytes::from(json.to_string())).expect("valid message")
    }

    // Issue 12 item 18: a long `resources/read` URI in `Mcp-Name` draws a 431 from servers.
    #[test]
    fn post_headers_leave_out_an_mcp_name_over_the_limit() {
        let at_limit = format!("file:///{}", "a".repeat(MAX_MCP_NAME_BYTES - 8));
        let h = post_headers(&HeaderMap::new(), &resource_read(&at_limit), &ctx());
        assert_eq!(h[MCP_NAME], at_limit.as_str());
        let over = format!("{at_limit}b");
        let h = post_headers(&HeaderMap::new(), &resource_read(&over), &ctx());
        assert!(h.get(MCP_NAME).is_none());
        assert_eq!(h[MCP_METHOD], "resources/read", "the other headers stay");
    }

    // Issue 12 item 18: a resume after a non-ASCII event id must carry `Last-Event-ID`.
    #[test]
    fn non_ascii_values_are_sent_as_their_utf8_bytes() {
        let h = get_headers(&HeaderMap::new(), &ctx(), Some("événement-7"));
        assert_eq!(h[LAST_EVENT_ID].as_bytes(), "événement-7".as_bytes());
        let m = outgoing(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"h\u00e9llo"}}"#,
        );
        let h = post_headers(&HeaderMap::new(), &m, &ctx());
        assert_eq!(h[MCP_NAME].as_bytes(), "héllo".as_bytes());
    }

    #[test]
    fn control_characters_leave_the_header_out() {
        for bad in ["a\rb", "a\0b", "a\u{7f}b"] {
            let h = get_headers(&HeaderMap::new(), &ctx(), Some(bad));
            assert!(h.get(LAST_EVENT_ID).is_none(), "{bad:?}");
        }
        let h = get_headers(&HeaderMap::new(), &ctx(), Some("tab\tok"));
        assert_eq!(h[LAST_EVENT_ID], "tab\tok", "a tab is legal in a value");
    }
}
