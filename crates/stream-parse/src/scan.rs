//! Finding line ends: the one scanner under every decoder of this crate.
//!
//! It owns the two pieces of state that make decoding linear and chunking-invariant: where
//! the search for a line end resumes, and whether a CR just ended a line (so that an LF
//! arriving in the next chunk completes a CRLF instead of ending an empty line). What a line
//! means, and how long it may grow, is the decoders' business.

use bytes::{Buf, BytesMut};
use memchr::{memchr, memchr2};

/// Which bytes end a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnds {
    /// LF only. NDJSON: a CR is part of the record (trimmed there as whitespace), and a lone
    /// CR inside a record does not split it.
    Lf,
    /// CRLF, LF or a lone CR: the event-stream rules and Python's universal newlines.
    CrLf,
}

/// Splits a stream into lines as it arrives in a [`BytesMut`].
///
/// The caller consumes each line it is given (and its one-byte terminator) from the front of
/// the buffer, and otherwise only appends to the buffer or calls
/// [`discard_partial`](Self::discard_partial): tokio-util's `Decoder` contract.
#[derive(Debug)]
pub(crate) struct LineScanner {
    ends: LineEnds,
    /// Invariant: `buf[..scan_pos]` holds no line end: it is the start of the current line and
    /// is never scanned again.
    scan_pos: usize,
    /// The previous line ended with CR (at the end of the buffer, or not yet consumed): an LF
    /// that comes next belongs to it. Never set with [`LineEnds::Lf`].
    skip_lf: bool,
}

impl LineScanner {
    pub(crate) fn new(ends: LineEnds) -> Self {
        Self {
            ends,
            scan_pos: 0,
            skip_lf: false,
        }
    }

    /// Finds the next complete line: `Some(len)` when `buf[..len]` is a line and `buf[len]`
    /// its terminator (the caller consumes `len + 1` bytes before the next call), `None` when
    /// `buf` holds no line end: all of it is the start of the current line.
    ///
    /// The LF of a CRLF is dropped at the start of the next call, so every terminator is one
    /// byte and a line ended by CR is complete without waiting for the byte after it.
    pub(crate) fn next_line(&mut self, buf: &mut BytesMut) -> Option<usize> {
        if self.skip_lf {
            // `scan_pos` is 0 here: a line just ended.
            match buf.first() {
                None => return None,
                Some(b'\n') => buf.advance(1),
                Some(_) => {}
            }
            self.skip_lf = false;
        }
        let unscanned = &buf[self.scan_pos..];
        let found = match self.ends {
            LineEnds::Lf => memchr(b'\n', unscanned),
            LineEnds::CrLf => memchr2(b'\n', b'\r', unscanned),
        };
        if let Some(i) = found {
            let len = self.scan_pos + i;
            self.skip_lf = buf[len] == b'\r';
            self.scan_pos = 0;
            Some(len)
        } else {
            self.scan_pos = buf.len();
            None
        }
    }

    /// Drops the start of the current line from `buf` (after [`next_line`](Self::next_line)
    /// returned `None`): the line is over a limit and is skipped as it streams by.
    pub(crate) fn discard_partial(&mut self, buf: &mut BytesMut) {
        buf.clear();
        self.scan_pos = 0;
    }

    /// Forgets the current stream: the next byte starts a line, even an LF after a CR.
    pub(crate) fn reset(&mut self) {
        self.scan_pos = 0;
        self.skip_lf = false;
    }
}

#[cfg(test)]
mod tests {
    use bytes::{Buf, BytesMut};

    use super::{LineEnds, LineScanner};

    /// The lines of `chunks` and the bytes left over, consuming each line as a decoder does.
    fn scan(ends: LineEnds, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut scanner = LineScanner::new(ends);
        let mut buf = BytesMut::new();
        let mut lines = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(len) = scanner.next_line(&mut buf) {
                lines.push(buf[..len].to_vec());
                buf.advance(len + 1);
            }
        }
        (lines, buf.to_vec())
    }

    #[test]
    fn line_scanner_with_lf_ends_keeps_cr_in_the_line() {
        let (lines, rest) = scan(LineEnds::Lf, &[b"a\r", b"\nb\rc\n\r"]);
        assert_eq!(lines, [&b"a\r"[..], b"b\rc"]);
        assert_eq!(rest, b"\r");
    }

    #[test]
    fn line_scanner_with_crlf_ends_drops_the_lf_of_a_split_crlf() {
        let (lines, rest) = scan(LineEnds::CrLf, &[b"a\r", b"\n", b"\r", b"b\r\n\n", b"c"]);
        assert_eq!(lines, [&b"a"[..], b"", b"b", b""]);
        assert_eq!(rest, b"c");
    }

    #[test]
    fn line_scanner_resumes_where_it_stopped() {
        let mut scanner = LineScanner::new(LineEnds::CrLf);
        let mut buf = BytesMut::from(&b"abc"[..]);
        assert_eq!(scanner.next_line(&mut buf), None);
        assert_eq!(scanner.scan_pos, 3);
        buf.extend_from_slice(b"d\n");
        assert_eq!(scanner.next_line(&mut buf), Some(4));
        assert_eq!(scanner.scan_pos, 0);
    }

    #[test]
    fn line_scanner_reset_forgets_a_pending_crlf() {
        let mut scanner = LineScanner::new(LineEnds::CrLf);
        let mut buf = BytesMut::from(&b"a\r"[..]);
        assert_eq!(scanner.next_line(&mut buf), Some(1));
        buf.advance(2);
        scanner.reset();
        buf.extend_from_slice(b"\n");
        assert_eq!(scanner.next_line(&mut buf), Some(0));
    }
}
