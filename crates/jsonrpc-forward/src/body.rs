//! Turning a response body into messages, by its content type.
//!
//! `text/event-stream` is SSE (an unterminated last event is still delivered, as
//! `mcpgateway.wrapper` did), each non-empty `data` of an event with no type or type
//! `message` one message; a type containing `ndjson`
//! is NDJSON; `application/json` (and `+json`) is one message, the whole body (empty: none);
//! anything else, or no type, is read as NDJSON, which also covers a plain single JSON body.

use bytes::{Bytes, BytesMut};
use stream_parse::{NdjsonDecoder, SseDecoder};

use crate::Error;

/// How a body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `text/event-stream`.
    Sse,
    /// `application/x-ndjson`, anything with `ndjson`, or an unknown type.
    Ndjson,
    /// `application/json`: the whole body is one message.
    Json,
}

impl BodyFormat {
    /// The framing for a `Content-Type` header value.
    #[must_use]
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        let Some(value) = content_type else {
            return BodyFormat::Ndjson;
        };
        let essence = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence == "text/event-stream" {
            BodyFormat::Sse
        } else if essence.contains("ndjson") {
            BodyFormat::Ndjson
        } else if essence == "application/json" || essence.ends_with("+json") {
            BodyFormat::Json
        } else {
            BodyFormat::Ndjson
        }
    }
}

/// Splits a response body into messages by its [`BodyFormat`]: `push` each chunk, pull
/// messages with `decode` until `Ok(None)`, and at the end call `decode_eof` until `Ok(None)`.
///
/// Messages are raw (check them with [`inbound`](crate::message::inbound)); SSE events with
/// empty data are skipped. A message over the limit is reported once as
/// [`Error::TooLarge`] and skipped; decoding goes on with the next one.
#[derive(Debug)]
pub struct BodyDecoder {
    buf: BytesMut,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Sse(SseDecoder),
    Ndjson(NdjsonDecoder),
    /// `failed` once the body passed the limit: the rest is dropped.
    Json {
        limit: usize,
        done: bool,
        failed: bool,
    },
}

impl BodyDecoder {
    /// A decoder for one body with messages of at most `limit` bytes. `content_length` sizes
    /// the buffer of a JSON body at once, so a large one is not copied while it grows.
    #[must_use]
    pub fn new(format: BodyFormat, limit: usize, content_length: Option<u64>) -> Self {
        let kind = match format {
            BodyFormat::Sse => Kind::Sse(
                SseDecoder::new()
                    .with_max_event_bytes(limit)
                    .lenient_eof(true),
            ),
            BodyFormat::Ndjson => Kind::Ndjson(NdjsonDecoder::new().with_max_line_bytes(limit)),
            BodyFormat::Json => Kind::Json {
                limit,
                done: false,
                failed: false,
            },
        };
        let capacity = match (&kind, content_length) {
            (Kind::Json { .. }, Some(n)) => usize::try_from(n).unwrap_or(0).min(limit),
            _ => 0,
        };
        Self {
            buf: BytesMut::with_capacity(capacity),
            kind,
        }
    }

    /// The last SSE event id seen, for resuming a broken stream; `None` for other formats.
    pub(crate) fn last_event_id(&self) -> Option<&str> {
        match &self.kind {
            Kind::Sse(d) => Some(d.last_event_id()).filter(|id| !id.is_empty()),
            _ => None,
        }
    }

    /// The SSE reconnection time the server asked for, if any.
    pub(crate) fn retry(&self) -> Option<std::time::Duration> {
        match &self.kind {
            Kind::Sse(d) => d.retry().map(std::time::Duration::from_millis),
            _ => None,
        }
    }

    /// Adds a chunk of the body.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] once when a JSON body passes the limit; the rest of it is dropped.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if let Kind::Json { limit, failed, .. } = &mut self.kind {
            if *failed {
                return Ok(());
            }
            if self.buf.len() + chunk.len() > *limit {
                *failed = true;
                self.buf = BytesMut::new();
                return Err(Error::TooLarge { limit: *limit });
            }
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The next complete message, or `None` until more of the body arrives.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] once for an SSE event or NDJSON record over the limit.
    pub fn decode(&mut self) -> Result<Option<Bytes>, Error> {
        match &mut self.kind {
            Kind::Sse(d) => next_sse_data(d.decode(&mut self.buf)?, d, &mut self.buf, false),
            Kind::Ndjson(d) => Ok(d.decode(&mut self.buf)?),
            Kind::Json { .. } => Ok(None),
        }
    }

    /// The body has ended: the remaining messages, one per call, then `None`.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode).
    pub fn decode_eof(&mut self) -> Result<Option<Bytes>, Error> {
        match &mut self.kind {
            Kind::Sse(d) => next_sse_data(d.decode_eof(&mut self.buf)?, d, &mut self.buf, true),
            Kind::Ndjson(d) => Ok(d.decode_eof(&mut self.buf)?),
            Kind::Json { done, failed, .. } => {
                if std::mem::replace(done, true) || *failed {
                    return Ok(None);
                }
                Ok(Some(self.buf.split().freeze()))
            }
        }
    }
}

/// Whether an SSE event carries a JSON-RPC message: no `event` field, or `event: message`
/// (what the official TypeScript and Python SDK clients accept). A non-empty `data` is
/// needed too: priming events carry only an id. Other events (`event: ping`, `data: ping`)
/// are skipped.
fn carries_message(event: &stream_parse::SseEvent) -> bool {
    if !matches!(event.event_type(), "" | "message") {
        tracing::debug!(
            event = event.event_type(),
            "skipping an SSE event of another type"
        );
        return false;
    }
    !event.data().trim_ascii().is_empty()
}

/// The data of the next event that carries a message (see [`carries_message`]).
fn next_sse_data(
    mut event: Option<stream_parse::SseEvent>,
    decoder: &mut SseDecoder,
    buf: &mut BytesMut,
    eof: bool,
) -> Result<Option<Bytes>, Error> {
    loop {
        match event {
            None => return Ok(None),
            Some(e) if carries_message(&e) => return Ok(Some(e.data().clone())),
            Some(_) => {
                event = if eof {
                    decoder.decode_eof(buf)?
                } else {
                    decoder.decode(buf)?
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_format_follows_the_content_type() {
        let f = |ct| BodyFormat::from_content_type(ct);
        assert_eq!(f(Some("text/event-stream")), BodyFormat::Sse);
        assert_eq!(f(Some("Text/Event-Stream; charset=utf-8")), BodyFormat::Sse);
        assert_eq!(f(Some("application/x-ndjson")), BodyFormat::Ndjson);
        assert_eq!(f(Some("application/ndjson")), BodyFormat::Ndjson);
        assert_eq!(f(Some("application/json; charset=utf-8")), BodyFormat::Json);
        assert_eq!(f(Some("application/vnd.api+json")), BodyFormat::Json);
        assert_eq!(f(Some("text/plain")), BodyFormat::Ndjson);
        assert_eq!(f(None), BodyFormat::Ndjson);
    }

    #[test]
    fn body_decoder_skips_sse_events_with_empty_data() {
        let mut d = BodyDecoder::new(BodyFormat::Sse, 1024, None);
        d.push(b"id: 1\ndata:\n\nid: 2\ndata: {}\n\n")
            .expect("fits");
        assert_eq!(d.decode().expect("ok").as_deref(), Some(&b"{}"[..]));
        assert_eq!(d.decode().expect("ok"), None);
    }

    #[test]
    fn body_decoder_skips_sse_events_of_other_types() {
        let mut d = BodyDecoder::new(BodyFormat::Sse, 1024, None);
        d.push(b"event: ping\ndata: ping\n\nevent: message\ndata: {}\n\ndata: []\n\n")
            .expect("fits");
        assert_eq!(d.decode().expect("ok").as_deref(), Some(&b"{}"[..]));
        assert_eq!(d.decode().expect("ok").as_deref(), Some(&b"[]"[..]));
        assert_eq!(d.decode().expect("ok"), None);
    }

    #[test]
    fn body_decoder_limits_a_json_body_once_and_drops_the_rest() {
        let mut d = BodyDecoder::new(BodyFormat::Json, 4, Some(100));
        assert!(d.push(b"{}").is_ok());
        assert!(matches!(d.push(b"   "), Err(Error::TooLarge { limit: 4 })));
        assert!(d.push(b"more").is_ok(), "reported once");
        assert_eq!(d.decode_eof().expect("ok"), None);
    }
}
