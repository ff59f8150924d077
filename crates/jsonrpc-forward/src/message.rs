//! Messages in both directions: outgoing ones peeked once, incoming ones checked and put on
//! one line, and the bridge's own JSON-RPC error responses.

use bytes::{Bytes, BytesMut};
use memchr::memchr2;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::peek::{Peek, PeekError, Peeked, peek};

/// An outgoing message and its routing facts, read once by [`peek`].
///
/// The bytes are sent unchanged; the facts choose headers, retries and the answer check.
#[derive(Debug, Clone)]
pub struct Outgoing {
    bytes: Bytes,
    id: Option<Box<str>>,
    method: Option<Box<str>>,
    name: Option<Box<str>>,
    protocol_version: Option<Box<str>>,
    batch: bool,
    /// The ids of the requests inside a batch (each must get an answer).
    batch_request_ids: Vec<Box<str>>,
}

impl Outgoing {
    /// Peeks `bytes`, which must be one JSON-RPC message or batch.
    ///
    /// # Errors
    ///
    /// [`PeekError`] when the bytes are not UTF-8 JSON objects.
    pub fn new(bytes: Bytes) -> Result<Self, PeekError> {
        let (head, batch, batch_request_ids) = match peek(&bytes)? {
            Peeked::Single(head) => (head, false, Vec::new()),
            Peeked::Batch(items) => {
                let ids = items
                    .iter()
                    .filter(|item| item.is_request())
                    .filter_map(|item| item.id.map(Box::from))
                    .collect();
                (Peek::default(), true, ids)
            }
        };
        Ok(Self {
            id: head.id.map(Box::from),
            method: head.method.map(|m| m.into_owned().into_boxed_str()),
            name: head.name.map(|n| n.into_owned().into_boxed_str()),
            protocol_version: head
                .protocol_version
                .map(|v| v.into_owned().into_boxed_str()),
            batch,
            batch_request_ids,
            bytes,
        })
    }

    /// The message exactly as read.
    #[must_use]
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The `id` as raw JSON text, if present.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The `method`, if present.
    #[must_use]
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// `params.name`, else `params.uri`.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The per-request protocol version of the 2026 era
    /// (`params._meta["io.modelcontextprotocol/protocolVersion"]`).
    #[must_use]
    pub fn protocol_version(&self) -> Option<&str> {
        self.protocol_version.as_deref()
    }

    /// A JSON array of messages.
    #[must_use]
    pub fn is_batch(&self) -> bool {
        self.batch
    }

    /// The raw ids of the requests inside a batch.
    #[must_use]
    pub fn batch_request_ids(&self) -> &[Box<str>] {
        &self.batch_request_ids
    }

    /// A single request (`id` and `method`): it must get exactly one answer.
    #[must_use]
    pub fn is_request(&self) -> bool {
        self.id.is_some() && self.method.is_some()
    }

    /// A message that may be sent again even if the server may have seen it: a request that
    /// reads and never changes server state (`initialize`, `ping`, `*/list`,
    /// `resources/read`, `prompts/get`, `completion/complete`) or a notification (it runs
    /// nothing, and losing `notifications/initialized` to a connection the server was closing
    /// would break the session).
    #[must_use]
    pub fn is_safe_to_resend(&self) -> bool {
        self.method().is_some_and(is_safe_to_resend)
    }
}

/// See [`Outgoing::is_safe_to_resend`].
#[must_use]
pub fn is_safe_to_resend(method: &str) -> bool {
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
    /// It is the response whose `id` the caller asked about.
    pub answers: bool,
}

/// Why a server message cannot go to stdout.
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON from server")]
pub struct InvalidJson(#[source] pub PeekError);

/// Checks one message from the server and puts it on one line.
///
/// Returns `Ok(None)` for a blank message (nothing to write). Raw CR and LF can only stand
/// between JSON tokens (a string cannot hold them), so they become spaces; a message already
/// on one line is handed on untouched, without a copy.
///
/// # Errors
///
/// [`InvalidJson`] when the message is not UTF-8 JSON objects.
pub fn inbound(message: Bytes, request_id: Option<&str>) -> Result<Option<Inbound>, InvalidJson> {
    let message = trim_ascii(message);
    if message.is_empty() {
        return Ok(None);
    }
    let answers = match peek(&message).map_err(InvalidJson)? {
        Peeked::Single(head) => head.is_response() && head.id == request_id,
        // A batch answer is an array of responses: it answers a batch, never one id.
        Peeked::Batch(_) => false,
    };
    Ok(Some(Inbound {
        bytes: one_line(message),
        answers,
    }))
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
pub fn readdress_error(body: &[u8], id: Option<&str>) -> Option<Bytes> {
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
    serde_json::to_vec(&Readdressed {
        jsonrpc: "2.0",
        id,
        error: body.error,
    })
    .ok()
    .map(Bytes::from)
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
