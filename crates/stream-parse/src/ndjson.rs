//! Newline-delimited JSON framing: one record per LF-terminated line.
//!
//! Records end at LF. ASCII whitespace around a record (so the CR of a CRLF too) is trimmed,
//! and records that are blank after trimming are skipped. At the end of the stream an
//! unterminated last record is yielded. The decoder frames records; it does not validate
//! JSON (the bridge does, once per message).

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;

use crate::Error;

/// The default limit on one record: 64 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Incremental NDJSON framer with the same contract as [`SseDecoder`](crate::SseDecoder):
/// call [`decode`](Self::decode) until `Ok(None)`, and [`decode_eof`](Self::decode_eof) at the
/// end. Records are zero-copy [`Bytes`] slices of the input buffer.
///
/// A record longer than [`with_max_line_bytes`](Self::with_max_line_bytes) (counted before
/// trimming, without its LF) is reported once as [`Error::TooLong`]; the rest of it is
/// dropped as it arrives, never buffered, and decoding resumes after its LF.
#[derive(Debug)]
pub struct NdjsonDecoder {
    max_line_bytes: usize,
    /// Invariant: `buf[..scan_pos]` holds no LF: it is the start of the current record.
    scan_pos: usize,
    /// Dropping the rest of an over-long record up to its LF.
    discarding: bool,
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
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            scan_pos: 0,
            discarding: false,
        }
    }

    /// Sets the most bytes one record may have, not counting its LF.
    #[must_use]
    pub fn with_max_line_bytes(mut self, limit: usize) -> Self {
        self.max_line_bytes = limit;
        self
    }

    /// Decodes the next non-blank record from `buf`, or returns `Ok(None)` when more bytes
    /// are needed.
    ///
    /// # Errors
    ///
    /// [`Error::TooLong`] once for a record over the limit; later calls skip the rest of it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        loop {
            let Some(i) = memchr(b'\n', &buf[self.scan_pos..]) else {
                return self.wait_for_more(buf);
            };
            let line = buf.split_to(self.scan_pos + i).freeze();
            buf.advance(1);
            self.scan_pos = 0;
            if std::mem::take(&mut self.discarding) {
                continue;
            }
            if let Some(record) = self.finish_record(&line)? {
                return Ok(Some(record));
            }
        }
    }

    /// Like [`decode`](Self::decode), with `buf` holding the last bytes of the stream: an
    /// unterminated last record is yielded too. The decoder is then ready for a new stream.
    ///
    /// # Errors
    ///
    /// [`Error::TooLong`] as for [`decode`](Self::decode).
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        if let Some(record) = self.decode(buf)? {
            return Ok(Some(record));
        }
        let tail = buf.split().freeze();
        self.scan_pos = 0;
        if std::mem::take(&mut self.discarding) {
            return Ok(None);
        }
        self.finish_record(&tail)
    }

    /// No LF in `buf`: remember how far we looked, or drop what an over-long record left.
    fn wait_for_more(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        if self.discarding {
            buf.clear();
            self.scan_pos = 0;
        } else if buf.len() > self.max_line_bytes {
            buf.clear();
            self.scan_pos = 0;
            self.discarding = true;
            return Err(self.too_long());
        } else {
            self.scan_pos = buf.len();
        }
        Ok(None)
    }

    /// Checks the limit and trims a complete record; `None` for a blank one.
    fn finish_record(&self, line: &Bytes) -> Result<Option<Bytes>, Error> {
        if line.len() > self.max_line_bytes {
            return Err(self.too_long());
        }
        let Some(start) = line.iter().position(|b| !b.is_ascii_whitespace()) else {
            return Ok(None);
        };
        let end = line
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(line.len(), |last| last + 1);
        Ok(Some(line.slice(start..end)))
    }

    fn too_long(&self) -> Error {
        Error::TooLong {
            limit: self.max_line_bytes,
        }
    }
}
