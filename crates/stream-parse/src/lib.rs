//! Incremental decoders for the bodies MCP servers stream: Server-Sent Events
//! (`text/event-stream`, [`SseDecoder`]), newline-delimited JSON (`application/x-ndjson`,
//! [`NdjsonDecoder`]) and plain text lines ended by LF, CR or CRLF ([`LineDecoder`], what
//! httpx's `aiter_lines` yields).
//!
//! No IO: the decoders work on a [`bytes::BytesMut`] that the caller fills, with the contract
//! of tokio-util's `Decoder`: call `decode` until it returns `Ok(None)` ("need more bytes"),
//! append the next chunk, repeat; at the end of the stream call `decode_eof` until `Ok(None)`.
//!
//! - **Linear for any chunking.** The scan for a line end resumes where the last call stopped,
//!   so 1-byte chunks of a 100 MB line cost O(n), not O(n²).
//! - **Bounded.** Every record has a size limit; an over-long record is reported once as
//!   [`Error::TooLong`] and skipped as it streams by, without being buffered.
//! - **Zero copy.** Items are [`bytes::Bytes`] slices of the input where the record is
//!   contiguous (every line, every NDJSON record, every SSE event with one `data` line).
//! - **Text is decoded per record**, never per chunk, so a UTF-8 character split across chunks
//!   needs no special case.
//!
//! All three decoders find line ends with one scanner, a hand-written `memchr` loop; a
//! parser-combinator library would only add a dependency to split a complete line at its
//! first colon.
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use stream_parse::{LineDecoder, NdjsonDecoder, SseDecoder};
//!
//! let mut sse = SseDecoder::new();
//! let mut buf = BytesMut::new();
//! let mut events = Vec::new();
//! // The body arrives in pieces that cut a line and a CRLF in two.
//! for chunk in [&b"id: 7\r"[..], b"\ndata: {\"jsonrpc\":", b"\"2.0\"}\r\n\r\n"] {
//!     buf.extend_from_slice(chunk);
//!     while let Some(event) = sse.decode(&mut buf)? {
//!         events.push(event);
//!     }
//! }
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].event_type(), "message");
//! assert_eq!(events[0].data_str(), r#"{"jsonrpc":"2.0"}"#);
//! assert_eq!(sse.last_event_id(), "7");
//!
//! let mut ndjson = NdjsonDecoder::new().with_max_line_bytes(1024);
//! let mut buf = BytesMut::from(&b"{\"a\":1}\r\n\n  {\"b\":2}"[..]);
//! assert_eq!(ndjson.decode(&mut buf)?.as_deref(), Some(&b"{\"a\":1}"[..]));
//! assert_eq!(ndjson.decode(&mut buf)?, None); // The last record has no LF yet.
//! assert_eq!(ndjson.decode_eof(&mut buf)?.as_deref(), Some(&b"{\"b\":2}"[..]));
//!
//! // Text lines keep their blanks and whitespace; the caller decodes each one.
//! let mut lines = LineDecoder::new();
//! let mut buf = BytesMut::from(&b"first\r\n\n  second\rthird"[..]);
//! let mut out = Vec::new();
//! while let Some(line) = lines.decode_eof(&mut buf)? {
//!     out.push(String::from_utf8_lossy(&line).into_owned());
//! }
//! assert_eq!(out, ["first", "", "  second", "third"]);
//! # Ok::<(), stream_parse::Error>(())
//! ```
//!
//! # Features
//!
//! - `tokio-codec`: `tokio_util::codec::Decoder` impls for the three decoders (module `codec`).
//! - `testing`: whole-input reference decoders and the chunking oracle shared with the fuzz
//!   targets (module `testing`); not a stable API.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod lines;
mod ndjson;
mod scan;
mod sse;

#[cfg(feature = "tokio-codec")]
pub mod codec;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::Error;
pub use lines::{DEFAULT_MAX_LINE_BYTES, LineDecoder};
pub use ndjson::NdjsonDecoder;
pub use sse::{DEFAULT_MAX_EVENT_BYTES, SseDecoder, SseEvent};
