//! Text lines, as httpx's `Response.aiter_lines` yields them.
//!
//! Lines end at CRLF, LF or a lone CR, Python's universal newlines for bytes: the lines of
//! `body.splitlines()` however the body is chunked. A CR at the end of one chunk and an LF at
//! the start of the next are one line end (httpx holds such a CR back for that reason).
//!
//! Choices written down:
//!
//! - Only CR and LF end lines. `str.splitlines`, which httpx applies to decoded text, also
//!   splits at VT, FF, FS, GS, RS, NEL, U+2028 and U+2029; line-oriented protocols do not,
//!   and splitting before decoding keeps multi-byte characters whole.
//! - A line ended by CR is yielded at once, not when the next byte shows whether an LF
//!   follows; the LF is dropped when it arrives. The lines are the same as waiting would
//!   give, and a stream that pauses after a CR does not hold its last line back.
//! - At the end of the stream, an unterminated last line is yielded; a final line end does
//!   not add an empty line after it (a trailing CR ends the last line, as a trailing LF does).

use bytes::{Buf, Bytes, BytesMut};

use crate::Error;
use crate::scan::{LineEnds, LineScanner};

/// The default limit on one line (an NDJSON record, a text line): 64 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Incremental splitter of a byte stream into lines ended by LF, CR or CRLF, with the
/// contract of the other decoders: call [`decode`](Self::decode) until `Ok(None)`, and
/// [`decode_eof`](Self::decode_eof) at the end.
///
/// Lines are zero-copy [`Bytes`] slices of the input buffer, without their line end, and
/// empty lines are items. Bytes are not decoded: a UTF-8 character is never split, since
/// neither CR nor LF occurs inside one, so each line can be decoded on its own.
///
/// A line longer than [`with_max_line_bytes`](Self::with_max_line_bytes) (its line end not
/// counted) is reported once as [`Error::TooLong`]; the rest of it is dropped as it arrives,
/// never buffered, and decoding resumes with the next line.
///
/// ```
/// use bytes::BytesMut;
/// use stream_parse::LineDecoder;
///
/// let mut lines = LineDecoder::new().with_max_line_bytes(1024);
/// let mut buf = BytesMut::new();
/// let mut out = Vec::new();
/// // A CRLF cut in two by the chunking is one line end; a lone CR is one too.
/// for chunk in [&b"event one\r"[..], b"\n\nevent two\rlast"] {
///     buf.extend_from_slice(chunk);
///     while let Some(line) = lines.decode(&mut buf)? {
///         out.push(line);
///     }
/// }
/// while let Some(line) = lines.decode_eof(&mut buf)? {
///     out.push(line);
/// }
/// assert_eq!(out, ["event one", "", "event two", "last"]);
/// # Ok::<(), stream_parse::Error>(())
/// ```
#[derive(Debug)]
pub struct LineDecoder {
    max_line_bytes: usize,
    lines: LineScanner,
    /// Dropping the rest of an over-long line up to its line end.
    discarding: bool,
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDecoder {
    /// A decoder with the default limit of 64 MiB per line.
    #[must_use]
    pub fn new() -> Self {
        Self::with_line_ends(LineEnds::CrLf)
    }

    /// The same framing with other line ends: [`NdjsonDecoder`](crate::NdjsonDecoder) is
    /// this with [`LineEnds::Lf`], plus trimming.
    pub(crate) fn with_line_ends(ends: LineEnds) -> Self {
        Self {
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            lines: LineScanner::new(ends),
            discarding: false,
        }
    }

    /// Sets the most bytes one line may have, not counting its line end.
    #[must_use]
    pub fn with_max_line_bytes(mut self, limit: usize) -> Self {
        self.max_line_bytes = limit;
        self
    }

    /// Decodes the next line from `buf`, or returns `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    ///
    /// [`Error::TooLong`] once for a line over the limit; later calls skip the rest of it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        while let Some(len) = self.lines.next_line(buf) {
            if std::mem::take(&mut self.discarding) {
                // The end of a line already reported: drop it and go on with the next.
                buf.advance(len + 1);
                continue;
            }
            if len > self.max_line_bytes {
                buf.advance(len + 1);
                return Err(self.too_long());
            }
            let line = buf.split_to(len).freeze();
            buf.advance(1);
            return Ok(Some(line));
        }
        // `buf` is the start of one line. It only grows, so once it is over the limit the
        // line is too: say so now, while it can still be dropped instead of buffered.
        if self.discarding {
            self.lines.discard_partial(buf);
        } else if buf.len() > self.max_line_bytes {
            self.lines.discard_partial(buf);
            self.discarding = true;
            return Err(self.too_long());
        }
        Ok(None)
    }

    /// Like [`decode`](Self::decode), with `buf` holding the last bytes of the stream: an
    /// unterminated last line is yielded too. The decoder is then ready for a new stream.
    ///
    /// # Errors
    ///
    /// [`Error::TooLong`] as for [`decode`](Self::decode), including for an over-long
    /// unterminated last line.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        // What is left is an unterminated line within the limit (`decode` checked it), or
        // nothing when the stream ended with a line end or inside a skipped line.
        let tail = buf.split().freeze();
        self.discarding = false;
        self.lines.reset();
        Ok((!tail.is_empty()).then_some(tail))
    }

    fn too_long(&self) -> Error {
        Error::TooLong {
            limit: self.max_line_bytes,
        }
    }
}
