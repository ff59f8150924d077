//! Newline-delimited JSON framing: one record per LF-terminated line.
//!
//! Records end at LF. ASCII whitespace around a record (so the CR of a CRLF too) is trimmed,
//! and records that are blank after trimming are skipped. At the end of the stream an
//! unterminated last record is yielded. The decoder frames records; it does not validate
//! JSON (the bridge does, once per message).

use bytes::{Bytes, BytesMut};

use crate::scan::LineEnds;
use crate::{Error, LineDecoder};

/// Incremental NDJSON framer with the same contract as [`SseDecoder`](crate::SseDecoder):
/// call [`decode`](Self::decode) until `Ok(None)`, and [`decode_eof`](Self::decode_eof) at the
/// end. Records are zero-copy [`Bytes`] slices of the input buffer.
///
/// A record longer than [`with_max_line_bytes`](Self::with_max_line_bytes) (counted before
/// trimming, without its LF) is reported once as [`Error::TooLong`]; the rest of it is
/// dropped as it arrives, never buffered, and decoding resumes after its LF.
#[derive(Debug)]
pub struct NdjsonDecoder {
    /// A [`LineDecoder`] whose lines end at LF only: a lone CR inside a record is content.
    lines: LineDecoder,
}

impl Default for NdjsonDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl NdjsonDecoder {
    /// A decoder with the default limit of 64 MiB per record.
    #[must_use]
    pub fn new() -> Self {
        Self {
            lines: LineDecoder::with_line_ends(LineEnds::Lf),
        }
    }

    /// Sets the most bytes one record may have, not counting its LF.
    #[must_use]
    pub fn with_max_line_bytes(mut self, limit: usize) -> Self {
        self.lines = self.lines.with_max_line_bytes(limit);
        self
    }

    /// Decodes the next non-blank record from `buf`, or returns `Ok(None)` when more bytes
    /// are needed.
    ///
    /// # Errors
    ///
    /// [`Error::TooLong`] once for a record over the limit; later calls skip the rest of it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        while let Some(line) = self.lines.decode(buf)? {
            if let Some(record) = trim(&line) {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Like [`decode`](Self::decode), with `buf` holding the last bytes of the stream: an
    /// unterminated last record is yielded too. The decoder is then ready for a new stream.
    ///
    /// # Errors
    ///
    /// [`Error::TooLong`] as for [`decode`](Self::decode).
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        while let Some(line) = self.lines.decode_eof(buf)? {
            if let Some(record) = trim(&line) {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }
}

/// The record in `line` without the ASCII whitespace around it (a zero-copy slice), or
/// `None` for a blank line.
fn trim(line: &Bytes) -> Option<Bytes> {
    let record = line.trim_ascii();
    (!record.is_empty()).then(|| line.slice_ref(record))
}
