//! Messages in both directions: outgoing ones peeked once, incoming ones checked and put on
//! one line, and the bridge's own JSON-RPC error responses.

use bytes::{Bytes, BytesMut};
use memchr::memchr2;
use serde::Serialize;
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::peek::{Peek, PeekError, Peeked, peek};

/// A request id compared as a JSON value, as JSON-RPC compares ids: `"a\/b"` and `"a/b"`
/// are the same id, whatever escapes the server chose when it echoed it.
///
/// ```
/// use jsonrpc_forward::message::IdKey;
///
/// assert_eq!(IdKey::new(r#""a\/b""#), IdKey::new(r#""a/b""#));
/// assert_eq!(IdKey::new(r#""\u00e9""#), IdKey::new(r#""é""#));
/// assert_ne!(IdKey::new("1"), IdKey::new(r#""1""#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdKey(Bytes);

impl IdKey {
    /// The key of an id given as its raw JSON text. Text that is not JSON is its own key.
    #[must_use]
    pub fn new(raw: &str) -> Self {
        Self::within(&Bytes::new(), raw)
    }

    /// The key of `raw`, a part of `message`: in the common case (already in canonical
    /// form) a slice of the message, with no copy.
    pub(crate) fn within(message: &Bytes, raw: &str) -> Self {
        let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        // Strings without escapes and plain integers are already in the one form serde_json
        // writes: no parse for the ids clients use.
        let canonical = match raw.as_bytes() {
            [b'"', inner @ .., b'"'] => !inner.contains(&b'\\'),
            [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
            b"0" => true,
            _ => false,
        };
        if canonical {
            return Self(slice_within(message, raw));
        }
        match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(value) => Self(Bytes::from(value.to_string())),
            Err(_) => Self(slice_within(message, raw)),
        }
    }

    /// The id in `serde_json`'s form, as JSON text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Made from a `&str` only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `part` as a slice of `whole` when it lies inside it (no copy), else a copy.
fn slice_within(whole: &Bytes, part: &str) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    if start <= whole.len() && part.len() <= whole.len() - start {
        whole.slice(start..start + part.len())
    } else {
        Bytes::copy_from_slice(part.as_bytes())
    }
}

/// A request that is owed exactly one answer: its id as a key, and as the raw text the
/// bridge's own error answers carry. Both are slices of the message (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwedId {
    key: IdKey,
    raw: Bytes,
}

impl OwedId {
    fn within(message: &Bytes, raw: &str) -> Self {
        Self {
            key: IdKey::within(message, raw),
            raw: slice_within(message, raw),
        }
    }

    /// The id compared as a JSON value.
    #[must_use]
    pub(crate) fn key(&self) -> &IdKey {
        &self.key
    }

    /// The id exactly as the client wrote it.
    #[must_use]
    pub(crate) fn raw(&self) -> &str {
        // A slice of a message that `peek` found to be UTF-8.
        std::str::from_utf8(&self.raw).unwrap_or("null")
    }
}

/// An outgoing message and its routing facts, read once by [`peek`]. Cheap to clone: the
/// bytes and the facts are shared.
///
/// The bytes are sent unchanged; the facts choose headers, retries and the answer check.
#[derive(Debug, Clone)]
pub struct Outgoing {
    bytes: Bytes,
    facts: Arc<Facts>,
}

/// What [`peek`] read of an [`Outgoing`] message.
#[derive(Debug)]
struct Facts {
    id: Option<Box<str>>,
    method: Option<Box<str>>,
    name: Option<Box<str>>,
    protocol_version: Option<Box<str>>,
    /// `params.requestId` of `notifications/cancelled`.
    cancels: Option<IdKey>,
    batch: bool,
    /// What answers this message is owed: its own id if it is a request, the requests' ids
    /// if it is a batch.
    owed: Vec<OwedId>,
    /// A batch's `initialize` request, as a message of its own.
    batch_initialize: Option<Outgoing>,
    /// The ids of a batch's `tools/list` requests (their answers may be filtered).
    batch_tools_list: Vec<IdKey>,
}

impl Outgoing {
    /// Peeks `bytes`, which must be one JSON-RPC message or batch.
    ///
    /// # Errors
    ///
    /// [`PeekError`] when the bytes are not UTF-8 JSON objects.
    pub fn new(bytes: Bytes) -> Result<Self, PeekError> {
        let mut batch_tools_list = Vec::new();
        let (head, batch, owed, batch_initialize) = match peek(&bytes)? {
            Peeked::Single(head) => {
                let owed = head
                    .id
                    .filter(|_| head.is_request())
                    .map(|id| OwedId::within(&bytes, id))
                    .into_iter()
                    .collect();
                (head, false, owed, None)
            }
            Peeked::Batch(items) => {
                let owed = items
                    .iter()
                    .filter(|item| item.is_request())
                    .filter_map(|item| item.id.map(|id| OwedId::within(&bytes, id)))
                    .collect();
                let initialize = items
                    .iter()
                    .any(|item| item.is_request() && item.method.as_deref() == Some("initialize"))
                    .then(|| batch_initialize(&bytes))
                    .flatten();
                batch_tools_list = items
                    .iter()
                    .filter(|item| {
                        item.is_request() && item.method.as_deref() == Some("tools/list")
                    })
                    .filter_map(|item| item.id.map(|id| IdKey::within(&bytes, id)))
                    .collect();
                (Peek::default(), true, owed, initialize)
            }
        };
        let cancels = head
            .request_id
            .filter(|_| head.method.as_deref() == Some("notifications/cancelled"))
            .map(|id| IdKey::within(&bytes, id));
        let facts = Facts {
            id: head.id.map(Box::from),
            method: head.method.map(|m| m.into_owned().into_boxed_str()),
            name: head.name.map(|n| n.into_owned().into_boxed_str()),
            protocol_version: head
                .protocol_version
                .map(|v| v.into_owned().into_boxed_str()),
            cancels,
            batch,
            owed,
            batch_initialize,
            batch_tools_list,
        };
        Ok(Self {
            bytes,
            facts: Arc::new(facts),
        })
    }

    /// The answers this message is owed: one for a request, one per request of a batch,
    /// none for notifications and responses.
    #[must_use]
    pub(crate) fn owed(&self) -> &[OwedId] {
        &self.facts.owed
    }

    /// The `initialize` request of this message: itself, or the one inside a batch.
    #[must_use]
    pub(crate) fn initialize(&self) -> Option<&Outgoing> {
        if self.method() == Some("initialize") && self.is_request() {
            return Some(self);
        }
        self.facts.batch_initialize.as_ref()
    }

    /// Whether `id` is the id of a `tools/list` request of this message (itself, or one in
    /// a batch): its answer is the one a tool filter rewrites.
    #[must_use]
    pub(crate) fn lists_tools(&self, id: &IdKey) -> bool {
        if self.facts.batch {
            return self.facts.batch_tools_list.contains(id);
        }
        self.is_request()
            && self.method() == Some("tools/list")
            && self.owed().first().is_some_and(|owed| owed.key() == id)
    }

    /// For `notifications/cancelled`, the request it cancels (`params.requestId`).
    #[must_use]
    pub(crate) fn cancels(&self) -> Option<&IdKey> {
        self.facts.cancels.as_ref()
    }

    /// The message exactly as read.
    #[must_use]
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The `id` as raw JSON text, if present.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.facts.id.as_deref()
    }

    /// The `method`, if present.
    #[must_use]
    pub fn method(&self) -> Option<&str> {
        self.facts.method.as_deref()
    }

    /// `params.name`, else `params.uri`.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.facts.name.as_deref()
    }

    /// The per-request protocol version of the 2026 era
    /// (`params._meta["io.modelcontextprotocol/protocolVersion"]`).
    #[must_use]
    pub fn protocol_version(&self) -> Option<&str> {
        self.facts.protocol_version.as_deref()
    }

    /// A JSON array of messages.
    #[must_use]
    pub fn is_batch(&self) -> bool {
        self.facts.batch
    }

    /// A single request (`id` and `method`): it must get exactly one answer.
    #[must_use]
    pub fn is_request(&self) -> bool {
        self.facts.id.is_some() && self.facts.method.is_some()
    }
}

/// The `initialize` request inside a batch, copied out as a message of its own (batches are
/// rare, and a replay needs it alone).
fn batch_initialize(bytes: &[u8]) -> Option<Outgoing> {
    let elements: Vec<&RawValue> = serde_json::from_slice(bytes).ok()?;
    elements.into_iter().find_map(|element| {
        let message = Outgoing::new(Bytes::copy_from_slice(element.get().as_bytes())).ok()?;
        (message.is_request() && message.method() == Some("initialize")).then_some(message)
    })
}

/// Whether a message with this method may be sent again even if the server may have seen
/// it: a request that reads and never changes server state (`initialize`, `ping`, `*/list`,
/// `resources/read`, `prompts/get`, `completion/complete`) or a notification (it runs
/// nothing, and losing `notifications/initialized` to a connection the server was closing
/// would break the session).
#[must_use]
pub(crate) fn is_safe_to_resend(method: &str) -> bool {
    matches!(
        method,
        "initialize" | "ping" | "resources/read" | "prompts/get" | "completion/complete"
    ) || method.ends_with("/list")
        || method.starts_with("notifications/")
}

/// A message from the server, checked and ready for stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// Valid JSON on exactly one line, without surrounding whitespace.
    pub bytes: Bytes,
    /// The ids this message answers: a response's id, or each response's in a batch
    /// answer (an array). Empty for the server's requests and notifications.
    pub answers: Vec<IdKey>,
}

/// Why a server message cannot go to stdout.
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON from server")]
pub struct InvalidJson(#[source] pub PeekError);

/// Checks one message from the server, puts it on one line, and tells which ids it answers.
///
/// Returns `Ok(None)` for a blank message (nothing to write). Raw CR and LF can only stand
/// between JSON tokens (a string cannot hold them), so they become spaces; a message already
/// on one line is handed on untouched, without a copy.
///
/// # Errors
///
/// [`InvalidJson`] when the message is not UTF-8 JSON objects.
pub fn inbound(message: Bytes) -> Result<Option<Inbound>, InvalidJson> {
    let message = trim_ascii(message);
    if message.is_empty() {
        return Ok(None);
    }
    let key = |id: &str| IdKey::within(&message, id);
    let answers = match peek(&message).map_err(InvalidJson)? {
        Peeked::Single(head) if head.is_response() => head.id.map(key).into_iter().collect(),
        Peeked::Single(_) => Vec::new(),
        Peeked::Batch(items) => items
            .iter()
            .filter(|item| item.is_response())
            .filter_map(|item| item.id.map(key))
            .collect(),
    };
    Ok(Some(Inbound {
        bytes: one_line(message),
        answers,
    }))
}

/// A batch answer (a JSON array on one line) cut down to the responses whose ids `keep`
/// accepts; the elements are kept byte for byte. `None` when none is kept.
pub(crate) fn retain_responses(
    batch: &[u8],
    mut keep: impl FnMut(&IdKey) -> bool,
) -> Option<Bytes> {
    let elements: Vec<&RawValue> = serde_json::from_slice(batch).ok()?;
    let mut out = Vec::with_capacity(batch.len());
    out.push(b'[');
    for element in elements {
        let Ok(Peeked::Single(head)) = peek(element.get().as_bytes()) else {
            continue;
        };
        if !head.is_response() || !head.id.map(IdKey::new).as_ref().is_some_and(&mut keep) {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(element.get().as_bytes());
    }
    out.push(b']');
    (out.len() > 2).then(|| Bytes::from(out))
}

/// One message ready for stdout: valid JSON on exactly one line. Everything the bridge
/// writes is one of these, and each way to make one applies the one-line rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonLine(Bytes);

impl JsonLine {
    /// A checked server message ([`inbound`] already put it on one line).
    pub(crate) fn from_inbound(message: Inbound) -> Self {
        Self(message.bytes)
    }

    /// JSON text made or re-addressed by the bridge, put on one line.
    pub(crate) fn new(json: Bytes) -> Self {
        Self(one_line(trim_ascii(json)))
    }

    /// The bridge's answer to the request `id` that `error` ended.
    pub(crate) fn error(error: &crate::Error, id: Option<&str>) -> Self {
        Self::new(error.to_response(id))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn bytes(&self) -> &Bytes {
        &self.0
    }
}

fn trim_ascii(message: Bytes) -> Bytes {
    let trimmed = message.trim_ascii();
    if trimmed.len() == message.len() {
        return message;
    }
    message.slice_ref(trimmed)
}

/// Replaces raw CR and LF by spaces, in place when the buffer is not shared.
fn one_line(message: Bytes) -> Bytes {
    let Some(first) = memchr2(b'\r', b'\n', &message) else {
        return message;
    };
    let mut owned = message
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
    for b in &mut owned[first..] {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    owned.freeze()
}

#[derive(Serialize)]
struct ErrorResponse<'a> {
    jsonrpc: &'static str,
    id: &'a RawValue,
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    code: i64,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a serde_json::Value>,
}

/// A JSON-RPC error response on one line, without a trailing newline.
///
/// `id` is the request's id as raw JSON text (`None` writes `null`); an id that is not valid
/// JSON text also writes `null`.
#[must_use]
pub fn error_response(
    id: Option<&str>,
    code: i64,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Bytes {
    let id = id
        .and_then(|raw| serde_json::from_str::<&RawValue>(raw).ok())
        .unwrap_or(RawValue::NULL);
    let response = ErrorResponse {
        jsonrpc: "2.0",
        id,
        error: ErrorObject {
            code,
            message,
            data,
        },
    };
    // Serialising borrowed strings and a `Value` into a Vec cannot fail.
    Bytes::from(serde_json::to_vec(&response).unwrap_or_default())
}

/// The server's own JSON-RPC error object from an error body, re-addressed to `id`.
///
/// Returns `None` unless `body` is a JSON object with an `error` member that is an object
/// with an integer `code` and a string `message`.
#[must_use]
pub(crate) fn readdress_error(body: &[u8], id: Option<&str>) -> Option<Bytes> {
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        error: &'a RawValue,
    }
    #[derive(serde::Deserialize)]
    struct Object {
        #[allow(dead_code)] // Only checked for presence and type.
        code: i64,
        #[allow(dead_code)]
        message: String,
    }
    let body: Body<'_> = serde_json::from_slice(body).ok()?;
    serde_json::from_str::<Object>(body.error.get()).ok()?;
    let id = id
        .and_then(|raw| serde_json::from_str::<&RawValue>(raw).ok())
        .unwrap_or(RawValue::NULL);
    #[derive(Serialize)]
    struct Readdressed<'a> {
        jsonrpc: &'static str,
        id: &'a RawValue,
        error: &'a RawValue,
    }
    // The server's error object is kept as it was written, raw line breaks and all: put it
    // on one line, or a pretty-printed body would break the client's framing.
    serde_json::to_vec(&Readdressed {
        jsonrpc: "2.0",
        id,
        error: body.error,
    })
    .ok()
    .map(|text| one_line(Bytes::from(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_replaces_raw_line_breaks_between_tokens() {
        let out = one_line(Bytes::from_static(b"{\r\n  \"a\": 1\n}"));
        assert_eq!(&out[..], b"{    \"a\": 1 }");
    }

    #[test]
    fn one_line_returns_the_same_buffer_when_nothing_to_change() {
        let input = Bytes::from_static(b"{\"a\":1}");
        let ptr = input.as_ptr();
        assert_eq!(one_line(input).as_ptr(), ptr);
    }

    #[test]
    fn trim_ascii_slices_without_copying() {
        let input = Bytes::from_static(b"  {}\r\n");
        let out = trim_ascii(input.clone());
        assert_eq!(&out[..], b"{}");
        assert_eq!(out.as_ptr(), input[2..].as_ptr());
    }
}
