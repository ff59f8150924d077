//! Scripted faults: what a response should get wrong, and how.
//!
//! A [`Fault`] is selected for a POST in one of three ways, first match wins:
//! 1. the next entry of [`Scenario::script`](crate::Scenario::script) (or
//!    [`TestServer::push_script`](crate::TestServer::push_script)), whatever the POST holds;
//! 2. `params._meta["test-server/fault"]` ([`FAULT_META_KEY`]) of the first message of the
//!    POST that has one;
//! 3. the arguments of a `tools/call` of the `fault` tool.
//!
//! Faults chosen by 2 or 3 honour [`Fault::times`]; scripted faults are used once each.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The key, inside a request's `params._meta`, whose value is a [`Fault`] for that request.
///
/// ```
/// let params = serde_json::json!({
///     "_meta": { test_server::FAULT_META_KEY: { "status": 503, "times": 1 } }
/// });
/// assert!(params["_meta"]["test-server/fault"].is_object());
/// ```
pub const FAULT_META_KEY: &str = "test-server/fault";

/// What the server does wrong (or unusually) when answering one POST.
///
/// Every field defaults to "behave normally"; [`Fault::default()`] is a no-op. Byte counts and
/// offsets are in the response body as sent on the wire (after gzip when [`Fault::gzip`] is
/// set). Build one with struct update syntax:
///
/// ```
/// use test_server::{BodyFormat, Fault, LineEnding};
///
/// let fault = Fault {
///     format: Some(BodyFormat::Sse),
///     line_ending: LineEnding::Cr,
///     chunk_size: Some(1),
///     ..Fault::default()
/// };
/// let json = serde_json::to_value(&fault).expect("a fault serialises");
/// assert_eq!(json["chunk_size"], 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    /// Apply the fault only while the request id has arrived at most this many times
    /// (see [`TestServer::hits`](crate::TestServer::hits)): `Some(1)` is "fail once, then
    /// succeed". `None` applies it every time. Ignored for scripted faults and for POSTs that
    /// carry no request id (unless [`Fault::times_key`] is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,

    /// Count [`Fault::times`] per this key instead of per request id: each POST that carries
    /// a fault with this key counts once. For clients that send a retry under a new id (a
    /// bridge that renumbers requests, as SDK-based proxies do).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times_key: Option<String>,

    /// Silence before the response headers, in milliseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub delay_headers_ms: u64,

    /// The HTTP status. Anything other than 200 replaces the MCP answer with
    /// [`Fault::error_body`] (so `Some(202)` with the default body is "202, empty body").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,

    /// The body sent with a non-200 [`Fault::status`].
    #[serde(skip_serializing_if = "ErrorBody::is_empty")]
    pub error_body: ErrorBody,

    /// A `Retry-After` header, sent verbatim: seconds (`"2"`) or an HTTP date (see
    /// [`http_date`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,

    /// A `Location` header, sent verbatim: with a 3xx [`Fault::status`], where the client is
    /// redirected to (another server's URL, to test which redirects a client follows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,

    /// The body format and `Content-Type`. `None`: JSON for ordinary answers, SSE for the
    /// `stream` tool and whenever the fault itself streams ([`Fault::progress_every_ms`],
    /// [`Fault::end_without_response`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<BodyFormat>,

    /// `Some(true)`: send `Content-Length` (a streamed body is then built in memory first);
    /// `Some(false)`: no length (HTTP/1.1 chunked encoding). `None`: a length for JSON,
    /// none for streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_length: Option<bool>,

    /// Compress the body with gzip and send `Content-Encoding: gzip`. Streams are flushed
    /// per message, so they stay incremental.
    #[serde(skip_serializing_if = "is_false")]
    pub gzip: bool,

    /// How SSE lines end (also NDJSON records: `Cr` there makes a stream with no records).
    #[serde(skip_serializing_if = "LineEnding::is_lf")]
    pub line_ending: LineEnding,

    /// Pretty-print each message: in SSE it spans several `data:` lines, in a JSON body
    /// (an answer, or the JSON-RPC [`ErrorBody`] of a status) several lines. No effect on
    /// NDJSON.
    #[serde(skip_serializing_if = "is_false")]
    pub multiline_data: bool,

    /// SSE only: a `: ping` comment before the first event and after each event.
    #[serde(skip_serializing_if = "is_false")]
    pub sse_comments: bool,

    /// SSE only: give each event an `id:` (1, 2, ...).
    #[serde(skip_serializing_if = "is_false")]
    pub event_ids: bool,

    /// SSE only: put this text before each event id (`id: <prefix>1`), e.g. non-ASCII text
    /// to test that a client resumes with it in `Last-Event-ID`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub event_id_prefix: String,

    /// Cut the body into chunks of this many bytes (each sent as its own write).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<usize>,

    /// Cut the body at these byte offsets too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub split_at: Vec<usize>,

    /// Silence before each chunk made by [`Fault::chunk_size`] or [`Fault::split_at`], in
    /// milliseconds. Without a delay, adjacent chunks may still reach the client together.
    #[serde(skip_serializing_if = "is_zero")]
    pub chunk_delay_ms: u64,

    /// Pause for [`Fault::pause_ms`] after this many body bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_after_bytes: Option<usize>,

    /// Length of the pause at [`Fault::pause_after_bytes`], in milliseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub pause_ms: u64,

    /// Send this many body bytes, then drop the connection abruptly (TCP RST): the client
    /// sees a broken body, whatever the framing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_after_bytes: Option<usize>,

    /// Before the answer, send a `notifications/progress` every this many milliseconds for
    /// [`Fault::progress_total_ms`]: a slow but alive server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_every_ms: Option<u64>,

    /// How long the progress notifications of [`Fault::progress_every_ms`] go on, in
    /// milliseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub progress_total_ms: u64,

    /// Send each response (a message with an id) as truncated, invalid JSON.
    #[serde(skip_serializing_if = "is_false")]
    pub invalid_json: bool,

    /// Pad each response to exactly this many bytes of compact JSON (with a `padding` string
    /// inside `result`), to exceed a client's size limit. Smaller values leave it as is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_bytes: Option<usize>,

    /// Leave the responses out: the stream ends (cleanly) with no answer.
    #[serde(skip_serializing_if = "is_false")]
    pub end_without_response: bool,

    /// Before each answer, ask the client `elicitation/create` (id `"elicit-<request id>"`,
    /// on the response stream: SSE) and hold the answer until the client's response to it
    /// arrives in a later POST, sending a `: keep-alive` comment every 50 ms meanwhile (for
    /// 30 s at most, then it answers anyway).
    #[serde(skip_serializing_if = "is_false")]
    pub elicit: bool,

    /// Messages sent exactly as given before the answer (a response with another id, say).
    /// Implies a stream.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub before_answer: Vec<serde_json::Value>,

    /// Messages sent exactly as given after the answer (a duplicate answer, say). Streams
    /// only: a JSON body holds one message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after_answer: Vec<serde_json::Value>,

    /// After the answer, keep the stream open this long (milliseconds), with a `: ping`
    /// comment every 100 ms, as servers that ping their streams do. Implies a stream.
    #[serde(skip_serializing_if = "is_zero")]
    pub keep_open_ms: u64,

    /// SSE only: an event of another type (`event: ping`, `data: ping`) before each message.
    #[serde(skip_serializing_if = "is_false")]
    pub ping_events: bool,

    /// In a JSON body, answer a batch that holds one request with the bare response object
    /// instead of a one-element array.
    #[serde(skip_serializing_if = "is_false")]
    pub unwrap_batch: bool,

    /// Put `nested`, this many arrays deep (`[[[...]]]`), into each response's `result`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nest_depth: Option<usize>,

    /// SSE polling (protocol 2025-11-25): the response stream only sends a priming event (an
    /// `id` and `retry: 20`, empty data) and closes; each GET that resumes it with
    /// `Last-Event-ID` closes at once with no event, until the `poll_closes`-th, which
    /// sends the answer. Implies SSE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_closes: Option<u32>,

    /// `tools/list` answers one page of this many tools, from the offset its
    /// `params.cursor` names (a decimal string; none: the first page), with a `nextCursor`
    /// while more remain: a paginated list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools_page_size: Option<usize>,
}

impl Fault {
    /// A fault with only [`Fault::status`] set: `Fault::status(503)`.
    #[must_use]
    pub fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    /// This fault as a `_meta` object, ready to go into a request's `params`:
    /// `{"test-server/fault": <fault>}`.
    ///
    /// ```
    /// let meta = test_server::Fault::status(429).to_meta();
    /// assert_eq!(meta["test-server/fault"]["status"], 429);
    /// ```
    #[must_use]
    pub fn to_meta(&self) -> serde_json::Value {
        serde_json::json!({ FAULT_META_KEY: self })
    }

    /// Whether the fault streams by itself, so that its default format is SSE.
    pub(crate) fn streams(&self) -> bool {
        self.progress_every_ms.is_some()
            || self.end_without_response
            || self.elicit
            || self.keep_open_ms > 0
            || self.poll_closes.is_some()
            || !self.before_answer.is_empty()
            || !self.after_answer.is_empty()
    }

    pub(crate) fn delay_headers(&self) -> Duration {
        Duration::from_millis(self.delay_headers_ms)
    }
}

/// The body of a non-200 [`Fault::status`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErrorBody {
    /// No body at all.
    #[default]
    Empty,
    /// A JSON-RPC error response with the request's id (`null` when it has none), as
    /// `application/json`.
    #[serde(rename = "jsonrpc")]
    JsonRpc {
        /// The JSON-RPC error code.
        code: i64,
        /// The JSON-RPC error message.
        message: String,
    },
    /// Any text, as `text/plain`.
    Text {
        /// The body.
        text: String,
    },
}

impl ErrorBody {
    fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }
}

/// Response body format, which also sets the `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `application/json`: one message, or an array for a batch (notifications left out).
    Json,
    /// `text/event-stream`: one event per message.
    Sse,
    /// `application/x-ndjson`: one message per line.
    Ndjson,
    /// NDJSON records sent as `text/plain`.
    TextPlain,
    /// NDJSON records with no `Content-Type` header.
    NoContentType,
}

/// How lines end in an SSE (or NDJSON) body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineEnding {
    /// `\n`.
    #[default]
    Lf,
    /// `\r\n`.
    CrLf,
    /// `\r` alone.
    Cr,
}

impl LineEnding {
    pub(crate) fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::Lf => b"\n",
            Self::CrLf => b"\r\n",
            Self::Cr => b"\r",
        }
    }

    fn is_lf(&self) -> bool {
        *self == Self::Lf
    }
}

/// Formats a time as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), for
/// [`Fault::retry_after`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// let date = test_server::http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777));
/// assert_eq!(date, "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
#[must_use]
pub fn http_date(time: SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

// serde's `skip_serializing_if` passes a reference.
fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn is_false(value: &bool) -> bool {
    !*value
}
