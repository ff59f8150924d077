//! Server-Sent Events: the WHATWG "event stream interpretation", incrementally.
//!
//! The rules, as the HTML standard states them (§9.2.6 "Interpreting an event stream"):
//!
//! - "The stream must then be parsed by reading everything line by line, with a U+000D
//!   CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single U+000A LINE FEED (LF)
//!   character not preceded by a U+000D CARRIAGE RETURN (CR) character, and a single U+000D
//!   CARRIAGE RETURN (CR) character not followed by a U+000A LINE FEED (LF) character being
//!   the ways in which a line can end."
//! - "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are present."
//! - "If the line is empty (a blank line): Dispatch the event."
//! - "If the line starts with a U+003A COLON character (:): Ignore the line."
//! - "If the line contains a U+003A COLON character: collect the characters on the line before
//!   the first U+003A COLON character, and let field be that string. Collect the characters on
//!   the line after the first U+003A COLON character, and let value be that string. If value
//!   starts with a U+0020 SPACE character, remove it from value."
//! - "Otherwise, the string is not empty but does not contain a U+003A COLON character: process
//!   the field using the whole line as the field name, and the empty string as the field value."
//! - `event` sets the event type buffer; `data` appends the value and one LF to the data buffer;
//!   `id` sets the last event ID buffer "if the field value does not contain U+0000 NULL";
//!   `retry` sets the reconnection time "if the field value consists of only ASCII digits";
//!   "Otherwise: the field is ignored."
//! - Dispatch: set the last event ID; "If the data buffer is an empty string, set the data
//!   buffer and the event type buffer to the empty string and return"; "If the data buffer's
//!   last character is a U+000A LINE FEED (LF) character, then remove the last character".
//! - "Once the end of the file is reached, any pending data must be discarded. (If the file
//!   ends in the middle of an event, before the final empty line, the incomplete event is not
//!   dispatched.)" That is the default here; [`SseDecoder::lenient_eof`] dispatches it instead,
//!   as `mcpgateway.wrapper` did and as the bridge does.
//!
//! Two choices the standard leaves to us, written down:
//!
//! - A CR that ends a chunk ends its line at once; the decoder remembers it and drops an LF
//!   that starts the next chunk. This yields exactly the lines of waiting for the next byte,
//!   but an event ended by `\r\r` is dispatched without waiting for more input.
//! - A `retry` value too large for `u64` milliseconds is ignored like any other invalid value.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use memchr::memchr;

use crate::Error;
use crate::scan::{LineEnds, LineScanner};

/// The UTF-8 encoding of U+FEFF, dropped once at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The default limit on one event's buffered bytes: 16 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One dispatched event.
///
/// Cheap to clone: the data is a reference-counted [`Bytes`], usually a slice of the input
/// buffer itself (an event with a single `data:` line is never copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `None` when the `event` field was absent, empty or `message`.
    event_type: Option<Box<str>>,
    data: Bytes,
    last_event_id: Arc<str>,
    retry: Option<u64>,
}

impl SseEvent {
    pub(crate) fn new(
        event_type: Option<Box<str>>,
        data: Bytes,
        last_event_id: Arc<str>,
        retry: Option<u64>,
    ) -> Self {
        Self {
            event_type,
            data,
            last_event_id,
            retry,
        }
    }

    /// The event type: the last `event` field of the block, or `"message"` when it was unset
    /// or empty.
    #[must_use]
    pub fn event_type(&self) -> &str {
        self.event_type.as_deref().unwrap_or("message")
    }

    /// The data: the values of the block's `data` lines joined by LF, as raw bytes.
    #[must_use]
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The data as text. Invalid UTF-8 sequences become U+FFFD, as browsers decode them;
    /// borrowed when the data is valid UTF-8.
    #[must_use]
    pub fn data_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.data)
    }

    /// The decoder's last event ID when this event was dispatched (it persists across events,
    /// as in browsers), or `""` if no `id` field was ever seen.
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection time in milliseconds, if this block set one.
    #[must_use]
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }
}

/// The data buffer of the event being built.
///
/// A block with one `data` line (nearly every MCP message) keeps a zero-copy slice of that
/// line; only a second line makes us copy.
#[derive(Debug, Default)]
enum DataBuf {
    /// No `data` line yet: dispatching sends nothing.
    #[default]
    Empty,
    /// Exactly one `data` line, without its LF.
    One(Bytes),
    /// Several lines joined by LF, without the final LF.
    Many(BytesMut),
}

impl DataBuf {
    /// Length of the WHATWG data buffer: every value plus one LF each.
    fn len(&self) -> usize {
        match self {
            DataBuf::Empty => 0,
            DataBuf::One(b) => b.len() + 1,
            DataBuf::Many(b) => b.len() + 1,
        }
    }

    /// Appends a second or later `data` value (the first is stored as a slice).
    fn extend(&mut self, value: &[u8]) {
        match self {
            DataBuf::Empty => *self = DataBuf::One(Bytes::copy_from_slice(value)),
            DataBuf::One(first) => {
                let mut joined = BytesMut::with_capacity(first.len() + 1 + value.len());
                joined.extend_from_slice(first);
                joined.put_u8(b'\n');
                joined.extend_from_slice(value);
                *self = DataBuf::Many(joined);
            }
            DataBuf::Many(joined) => {
                joined.put_u8(b'\n');
                joined.extend_from_slice(value);
            }
        }
    }

    /// The dispatched data (the final LF already removed), or `None` for an empty buffer.
    fn take(&mut self) -> Option<Bytes> {
        match std::mem::take(self) {
            DataBuf::Empty => None,
            DataBuf::One(b) => Some(b),
            DataBuf::Many(b) => Some(b.freeze()),
        }
    }
}

/// Incremental decoder of a `text/event-stream` body.
///
/// It has the shape of a tokio-util `Decoder` without depending on tokio: append input to a
/// [`BytesMut`], call [`decode`](Self::decode) until it returns `Ok(None)`, and at the end of
/// the stream call [`decode_eof`](Self::decode_eof) until it returns `Ok(None)`. Consumed bytes
/// are split off the front of the buffer.
///
/// Total work is linear in the input for any chunking: the scan for a line end resumes where
/// the previous call stopped, and buffered bytes are never copied or re-scanned.
///
/// Memory is bounded by [`with_max_event_bytes`](Self::with_max_event_bytes): an event whose
/// data plus the line being read would pass the limit is reported once as
/// [`Error::TooLong`] and skipped up to the next blank line without being buffered.
/// Fields of a skipped event (`id` and `retry` included) are ignored.
#[derive(Debug)]
pub struct SseDecoder {
    max_event_bytes: usize,
    lenient_eof: bool,

    /// Line ends: CRLF, LF or CR.
    lines: LineScanner,
    /// No byte of the stream has been looked at yet: a BOM may still come.
    at_stream_start: bool,
    /// Skipping an over-long event up to the next blank line.
    discarding: bool,
    /// While discarding: bytes of the current line were dropped, so it is not blank.
    discarded_partial_line: bool,

    // The event being built.
    data: DataBuf,
    event_type: Option<Box<str>>,
    pending_id: Option<Arc<str>>,
    pending_retry: Option<u64>,

    // Per connection: they outlive events and `decode_eof`, for reconnection.
    last_event_id: Arc<str>,
    retry: Option<u64>,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// A decoder with the default limit (16 MiB per event) and strict end-of-stream rules.
    #[must_use]
    pub fn new() -> Self {
        Self {
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            lenient_eof: false,
            lines: LineScanner::new(LineEnds::CrLf),
            at_stream_start: true,
            discarding: false,
            discarded_partial_line: false,
            data: DataBuf::Empty,
            event_type: None,
            pending_id: None,
            pending_retry: None,
            last_event_id: Arc::from(""),
            retry: None,
        }
    }

    /// Sets the most bytes one event may buffer: its data so far plus the line being read.
    #[must_use]
    pub fn with_max_event_bytes(mut self, limit: usize) -> Self {
        self.max_event_bytes = limit;
        self
    }

    /// When `true`, an event still open at the end of the stream (no final blank line) is
    /// dispatched instead of dropped. The standard drops it; the default is `false`.
    #[must_use]
    pub fn lenient_eof(mut self, lenient: bool) -> Self {
        self.lenient_eof = lenient;
        self
    }

    /// The last event ID of the stream: the value of the last `id` field of a dispatched
    /// block, or `""`. A `Last-Event-ID` header for reconnecting.
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection time in milliseconds from the last valid `retry` field, if any.
    #[must_use]
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Decodes the next event from `buf`, or returns `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    ///
    /// [`Error::TooLong`] once for an event over the limit; later calls skip the rest of it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<SseEvent>, Error> {
        while let Some(len) = self.next_line(buf)? {
            if self.discarding {
                if len == 0 && !self.discarded_partial_line {
                    self.discarding = false;
                }
                self.discarded_partial_line = false;
                buf.advance(len + 1);
                continue;
            }
            if self.data.len() + len > self.max_event_bytes {
                buf.advance(len + 1);
                return Err(self.start_discarding());
            }
            if len == 0 {
                buf.advance(1);
                if let Some(event) = self.dispatch() {
                    return Ok(Some(event));
                }
            } else {
                self.process_field(buf, len);
            }
        }
        Ok(None)
    }

    /// Like [`decode`](Self::decode), with `buf` holding the last bytes of the stream.
    ///
    /// What remains after the last complete event is an unterminated event: it is dropped, or
    /// dispatched under [`lenient_eof`](Self::lenient_eof). Afterwards the decoder is ready for
    /// a new stream; its [`last_event_id`](Self::last_event_id) and [`retry`](Self::retry) are
    /// kept for reconnecting.
    ///
    /// # Errors
    ///
    /// [`Error::TooLong`] as for [`decode`](Self::decode), including for an over-long
    /// unterminated last line.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<SseEvent>, Error> {
        if let Some(event) = self.decode(buf)? {
            return Ok(Some(event));
        }
        // All that is left is one unterminated line (or part of a BOM, which is then content).
        let tail = buf.len();
        let result = if self.discarding {
            Ok(None)
        } else if tail > 0 && self.data.len() + tail > self.max_event_bytes {
            Err(Error::TooLong {
                limit: self.max_event_bytes,
            })
        } else if self.lenient_eof {
            // The end of the stream acts as the line end and the blank line the event lacked.
            if tail > 0 {
                buf.put_u8(b'\n');
                self.process_field(buf, tail);
            }
            Ok(self.dispatch())
        } else {
            Ok(None)
        };
        buf.clear();
        self.reset_stream();
        result
    }

    /// Forgets everything of the current stream but the last event ID and retry.
    fn reset_stream(&mut self) {
        self.lines.reset();
        self.at_stream_start = true;
        self.discarding = false;
        self.discarded_partial_line = false;
        self.reset_event();
    }

    fn reset_event(&mut self) {
        self.data = DataBuf::Empty;
        self.event_type = None;
        self.pending_id = None;
        self.pending_retry = None;
    }

    fn start_discarding(&mut self) -> Error {
        self.discarding = true;
        self.reset_event();
        Error::TooLong {
            limit: self.max_event_bytes,
        }
    }

    /// Finds the next complete line: `Some(len)` when `buf[..len]` is a line and `buf[len]` its
    /// terminator (the caller consumes `len + 1` bytes), `None` when more bytes are needed.
    fn next_line(&mut self, buf: &mut BytesMut) -> Result<Option<usize>, Error> {
        if self.at_stream_start {
            let n = buf.len().min(BOM.len());
            if buf[..n] != BOM[..n] {
                self.at_stream_start = false;
            } else if n < BOM.len() {
                return Ok(None); // Could still be a BOM.
            } else {
                buf.advance(BOM.len());
                self.at_stream_start = false;
            }
        }
        if let Some(len) = self.lines.next_line(buf) {
            return Ok(Some(len));
        }
        // `buf` is the start of one line: drop it if its event is being skipped or has just
        // grown past the limit.
        if self.discarding {
            self.discarded_partial_line |= !buf.is_empty();
            self.lines.discard_partial(buf);
        } else if self.data.len() + buf.len() > self.max_event_bytes {
            self.lines.discard_partial(buf);
            let err = self.start_discarding();
            self.discarded_partial_line = true;
            return Err(err);
        }
        Ok(None)
    }

    /// Applies the non-empty line `buf[..len]` (a comment or a field) and consumes it with its
    /// terminator. Only a first `data` value becomes a `Bytes` (a zero-copy slice); other
    /// fields are read in place.
    fn process_field(&mut self, buf: &mut BytesMut, len: usize) {
        let line = &buf[..len];
        if line[0] == b':' {
            buf.advance(len + 1); // A comment, e.g. a keep-alive `: ping`.
            return;
        }
        let (name_end, value_start) = match memchr(b':', line) {
            Some(colon) if line.get(colon + 1) == Some(&b' ') => (colon, colon + 2),
            Some(colon) => (colon, colon + 1),
            None => (len, len),
        };
        let value = &line[value_start..];
        match &line[..name_end] {
            b"data" => {
                if matches!(self.data, DataBuf::Empty) {
                    buf.advance(value_start);
                    let value = buf.split_to(len - value_start).freeze();
                    self.data = DataBuf::One(value);
                    buf.advance(1);
                    return;
                }
                self.data.extend(value);
            }
            b"event" => {
                self.event_type = match value {
                    b"" | b"message" => None,
                    other => Some(String::from_utf8_lossy(other).into()),
                };
            }
            b"id" if memchr(0, value).is_none() => {
                // Servers often repeat the id they sent last: share it instead of copying.
                self.pending_id = Some(if value == self.last_event_id.as_bytes() {
                    Arc::clone(&self.last_event_id)
                } else {
                    String::from_utf8_lossy(value).into()
                });
            }
            b"retry" => {
                if let Some(ms) = parse_retry(value) {
                    self.retry = Some(ms);
                    self.pending_retry = Some(ms);
                }
            }
            _ => {}
        }
        buf.advance(len + 1);
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if let Some(id) = self.pending_id.take() {
            self.last_event_id = id;
        }
        let retry = self.pending_retry.take();
        let event_type = self.event_type.take();
        let data = self.data.take()?;
        Some(SseEvent::new(
            event_type,
            data,
            Arc::clone(&self.last_event_id),
            retry,
        ))
    }
}

/// A `retry` value: one or more ASCII digits that fit in a `u64`.
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::parse_retry;

    #[test]
    fn parse_retry_accepts_only_digits_that_fit() {
        assert_eq!(parse_retry(b"0"), Some(0));
        assert_eq!(parse_retry(b"1500"), Some(1500));
        assert_eq!(parse_retry(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_retry(b"18446744073709551616"), None);
        assert_eq!(parse_retry(b""), None);
        assert_eq!(parse_retry(b" 1"), None);
        assert_eq!(parse_retry(b"1.5"), None);
        assert_eq!(parse_retry(b"-1"), None);
    }
}
