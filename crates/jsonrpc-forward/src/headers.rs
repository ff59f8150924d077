//! Every request header, built in one place from the message being sent.
//!
//! The 2025 protocol era identifies a conversation by `Mcp-Session-Id` and the version
//! negotiated at `initialize`; the 2026-07-28 era has no session and carries the version in
//! each request's `params._meta`. When a message carries that `_meta` version, it is the
//! `MCP-Protocol-Version` header and no session id is sent, so header and body never disagree.

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::message::Outgoing;
use crate::modern_headers::header_safe;

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

/// What one request carries besides the client's base headers: the conversation's facts,
/// known after `initialize`, and headers of its own.
///
/// Build it with [`RequestHeaders::new`] (or `default()`) and set the fields. Its `Debug`
/// output shows the session id as `<redacted>` (whoever holds it can act in the session) and
/// only the names of the extra headers.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestHeaders {
    /// The `Mcp-Session-Id` the server gave at `initialize`.
    pub session_id: Option<String>,
    /// The `protocolVersion` negotiated at `initialize`.
    pub protocol_version: Option<String>,
    /// Headers for this request only (a token that rotates, say): each name replaces the
    /// client's base headers of that name. The headers the MCP transport sets itself
    /// (`Content-Type`, `Accept`, `Mcp-Session-Id`, `MCP-Protocol-Version`, `Mcp-Method`,
    /// `Mcp-Name`, `Last-Event-ID`) are set after these and win wherever the transport sets
    /// them (an `initialize` carries no session id of its own, so one given here goes).
    pub extra: HeaderMap,
}

impl std::fmt::Debug for RequestHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestHeaders")
            .field(
                "session_id",
                &self.session_id.as_ref().map(|_| "<redacted>"),
            )
            .field("protocol_version", &self.protocol_version)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl RequestHeaders {
    /// The conversation's session id and protocol version, and no extra headers.
    #[must_use]
    pub fn new(session_id: Option<String>, protocol_version: Option<String>) -> Self {
        Self {
            session_id,
            protocol_version,
            extra: HeaderMap::new(),
        }
    }

    /// Sets the extra headers of this request (see [`RequestHeaders::extra`]).
    #[must_use]
    pub fn with_extra(mut self, extra: HeaderMap) -> Self {
        self.extra = extra;
        self
    }
}

/// `base` with every name in `overrides` replaced by the values given there (all of them,
/// if a name repeats): the headers of one request over a client's base headers.
pub(crate) fn with_overrides(base: &HeaderMap, overrides: &HeaderMap) -> HeaderMap {
    let mut headers = base.clone();
    for name in overrides.keys() {
        headers.remove(name);
    }
    for (name, value) in overrides {
        headers.append(name, value.clone());
    }
    headers
}

/// The headers of one POST: `base` (authorization and extra headers), the request's own
/// (`ctx.extra`), then ours.
///
/// A value that cannot be a header (a tool name with a line break, say) leaves its header out
/// rather than failing the request, with a warning (see [`insert_str`]); so does an
/// `Mcp-Name` over [`MAX_MCP_NAME_BYTES`], with a debug line. The body still carries both.
pub(crate) fn post_headers(
    base: &HeaderMap,
    message: &Outgoing,
    ctx: &RequestHeaders,
) -> HeaderMap {
    let mut headers = with_overrides(base, &ctx.extra);
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
    if message.protocol_version().is_some() {
        // The 2026 era checks these against the body and requires them: a value that is not
        // header-safe goes base64-encoded between the sentinels, and a long name is sent.
        for (name, value) in [
            (MCP_METHOD, message.method()),
            (MCP_NAME, mcp_name(message)),
        ] {
            if let Some(value) = value {
                insert_str(&mut headers, name, Some(&header_safe(value)));
            }
        }
        return headers;
    }
    insert_str(&mut headers, MCP_METHOD, message.method());
    match mcp_name(message) {
        Some(name) if name.len() > MAX_MCP_NAME_BYTES => tracing::debug!(
            header = %MCP_NAME,
            bytes = name.len(),
            limit = MAX_MCP_NAME_BYTES,
            "header left out: longer than servers accept"
        ),
        name => insert_str(&mut headers, MCP_NAME, name),
    }
    headers
}

/// What `Mcp-Name` names: `params.name` of `tools/call` and `prompts/get`, `params.uri` of
/// `resources/read`; nothing for other methods. Shared by both eras, which name the same
/// thing and differ only in how a value that is not header-safe goes out.
pub(crate) fn mcp_name(message: &Outgoing) -> Option<&str> {
    match message.method() {
        Some("tools/call" | "resources/read" | "prompts/get") => message.name(),
        _ => None,
    }
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
    let mut headers = with_overrides(base, &ctx.extra);
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
        RequestHeaders::new(Some("s-1".into()), Some("2025-11-25".into()))
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
    fn enveloped_names_go_base64_and_long_ones_are_sent() {
        let long = "a".repeat(MAX_MCP_NAME_BYTES + 10);
        let m = Outgoing::new(Bytes::from(format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{long}","_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}}}}"#
        )))
        .expect("valid message");
        let h = post_headers(&HeaderMap::new(), &m, &ctx());
        assert_eq!(h[MCP_NAME], long.as_str());
        assert_eq!(h[MCP_METHOD], "tools/call");
        let m = outgoing(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"Hello, 世界","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        );
        let h = post_headers(&HeaderMap::new(), &m, &ctx());
        assert_eq!(h[MCP_NAME], "=?base64?SGVsbG8sIOS4lueVjA==?=");
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

    #[test]
    fn extra_headers_replace_base_headers_and_ours_win() {
        let mut base = HeaderMap::new();
        base.insert("authorization", HeaderValue::from_static("Bearer old"));
        base.append("x-tag", HeaderValue::from_static("a"));
        base.append("x-tag", HeaderValue::from_static("b"));
        base.insert("x-keep", HeaderValue::from_static("k"));
        let mut extra = HeaderMap::new();
        extra.insert("authorization", HeaderValue::from_static("Bearer new"));
        extra.append("x-tag", HeaderValue::from_static("c"));
        extra.insert("content-type", HeaderValue::from_static("text/plain"));
        extra.insert("mcp-session-id", HeaderValue::from_static("forged"));
        let ctx = ctx().with_extra(extra);
        let m = outgoing(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        let h = post_headers(&base, &m, &ctx);
        assert_eq!(h["authorization"], "Bearer new");
        assert_eq!(h.get_all("x-tag").iter().collect::<Vec<_>>(), ["c"]);
        assert_eq!(h["x-keep"], "k");
        assert_eq!(h[CONTENT_TYPE], "application/json", "ours win");
        assert_eq!(h[MCP_SESSION_ID], "s-1", "ours win");
        let h = get_headers(&base, &ctx, None);
        assert_eq!(h["authorization"], "Bearer new");
        assert_eq!(h[ACCEPT], "text/event-stream");
    }
}
