//! Whole-input reference decoders and the chunking oracle (feature `testing`).
//!
//! The proptests of this crate and the fuzz targets in `fuzz/` call the same checks:
//! decoding an input split at any cut points must give exactly what the reference gives for
//! the whole input. The references are written to be obviously right, not fast: they see the
//! whole input at once, split it into lines with a plain loop and apply the rules in order.
//!
//! Not a stable API: it exists for tests.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::{Error, LineDecoder, NdjsonDecoder, SseDecoder, SseEvent};

/// One thing a decoder produced: an item, or a recoverable over-limit error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A decoded item.
    Item(T),
    /// [`Error::TooLong`] was returned.
    TooLong,
}

/// Everything an SSE decoder produced for a stream, and its state at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseOutcome {
    /// Events and errors, in order.
    pub items: Vec<Decoded<SseEvent>>,
    /// The decoder's last event ID after the stream.
    pub last_event_id: String,
    /// The decoder's reconnection time after the stream.
    pub retry: Option<u64>,
}

/// The SSE rules applied to a whole input at once.
#[must_use]
pub fn reference_sse(input: &[u8], max_event_bytes: usize, lenient_eof: bool) -> SseOutcome {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);

    // Lines end at CRLF, LF or CR; whatever follows the last line end is the tail.
    let mut lines = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < input.len() {
        match input[i] {
            b'\n' => {
                lines.push(&input[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&input[start..i]);
                i += 1;
                if input.get(i) == Some(&b'\n') {
                    i += 1;
                }
                start = i;
            }
            _ => i += 1,
        }
    }
    let tail = &input[start..];

    let mut r = RefSse {
        max: max_event_bytes,
        out: Vec::new(),
        discarding: false,
        data: Vec::new(),
        event_type: String::new(),
        pending_id: None,
        pending_retry: None,
        last_event_id: String::new(),
        retry: None,
    };
    for line in lines {
        r.line(line);
    }
    if !tail.is_empty() && !r.discarding && r.data.len() + tail.len() > r.max {
        r.out.push(Decoded::TooLong);
    } else if lenient_eof && !r.discarding {
        if !tail.is_empty() {
            r.field(tail);
        }
        r.dispatch();
    }
    SseOutcome {
        items: r.out,
        last_event_id: r.last_event_id,
        retry: r.retry,
    }
}

struct RefSse {
    max: usize,
    out: Vec<Decoded<SseEvent>>,
    discarding: bool,
    data: Vec<u8>,
    event_type: String,
    pending_id: Option<String>,
    pending_retry: Option<u64>,
    last_event_id: String,
    retry: Option<u64>,
}

impl RefSse {
    fn line(&mut self, line: &[u8]) {
        if self.discarding {
            self.discarding = !line.is_empty();
        } else if self.data.len() + line.len() > self.max {
            self.out.push(Decoded::TooLong);
            self.discarding = true;
            self.data.clear();
            self.event_type.clear();
            self.pending_id = None;
            self.pending_retry = None;
        } else if line.is_empty() {
            self.dispatch();
        } else {
            self.field(line);
        }
    }

    fn field(&mut self, line: &[u8]) {
        if line.starts_with(b":") {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => {
                let value = &line[c + 1..];
                (&line[..c], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => self.event_type = String::from_utf8_lossy(value).into_owned(),
            b"id" if !value.contains(&0) => {
                self.pending_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(ms) = std::str::from_utf8(value).unwrap_or("x").parse::<u64>() {
                    self.retry = Some(ms);
                    self.pending_retry = Some(ms);
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        if let Some(id) = self.pending_id.take() {
            self.last_event_id = id;
        }
        let retry = self.pending_retry.take();
        let event_type = std::mem::take(&mut self.event_type);
        if self.data.is_empty() {
            return;
        }
        self.data.pop(); // The last LF.
        let event_type = match event_type.as_str() {
            "" | "message" => None,
            _ => Some(event_type.into_boxed_str()),
        };
        self.out.push(Decoded::Item(SseEvent::new(
            event_type,
            Bytes::from(std::mem::take(&mut self.data)),
            Arc::from(self.last_event_id.as_str()),
            retry,
        )));
    }
}

/// Everything an NDJSON decoder produced for a stream.
pub type NdjsonOutcome = Vec<Decoded<Bytes>>;

/// The NDJSON rules applied to a whole input at once.
#[must_use]
pub fn reference_ndjson(input: &[u8], max_line_bytes: usize) -> NdjsonOutcome {
    // `split` yields the unterminated tail last (empty when the input ends with LF).
    input
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            if line.len() > max_line_bytes {
                Some(Decoded::TooLong)
            } else {
                let trimmed = line.trim_ascii();
                (!trimmed.is_empty()).then(|| Decoded::Item(Bytes::copy_from_slice(trimmed)))
            }
        })
        .collect()
}

/// Everything a [`LineDecoder`] produced for a stream.
pub type LinesOutcome = Vec<Decoded<Bytes>>;

/// The text-line rules applied to a whole input at once: the lines of Python's
/// `bytes.splitlines()`, each over `max_line_bytes` replaced by [`Decoded::TooLong`].
#[must_use]
pub fn reference_lines(input: &[u8], max_line_bytes: usize) -> LinesOutcome {
    // Every line end made one LF (a CR swallows the LF after it), then split at LF. This is
    // a different route from `reference_sse`'s loop on purpose: the two check each other
    // through the decoders, which share one scanner.
    let mut lf_only = Vec::with_capacity(input.len());
    let mut bytes = input.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\r' {
            bytes.next_if_eq(&&b'\n');
            lf_only.push(b'\n');
        } else {
            lf_only.push(b);
        }
    }
    let mut lines: Vec<&[u8]> = lf_only.split(|&b| b == b'\n').collect();
    // `split` also yields what follows the last LF: a line only if it is not empty.
    if lines.last().is_some_and(|tail| tail.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|line| {
            if line.len() > max_line_bytes {
                Decoded::TooLong
            } else {
                Decoded::Item(Bytes::copy_from_slice(line))
            }
        })
        .collect()
}

/// Splits `input` at `cuts` (taken modulo `input.len() + 1`, in any order, repeats allowed).
#[must_use]
pub fn chunks<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(0);
    points.push(input.len());
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| &input[w[0]..w[1]]).collect()
}

/// A decoder's `decode` or `decode_eof`.
type DecodeFn<D, T> = fn(&mut D, &mut BytesMut) -> Result<Option<T>, Error>;

/// Feeds `chunks` one by one to `decode`, then calls `decode_eof`, each until `Ok(None)`.
fn drive<D, T>(
    chunks: &[&[u8]],
    decoder: &mut D,
    decode: DecodeFn<D, T>,
    decode_eof: DecodeFn<D, T>,
) -> Vec<Decoded<T>> {
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let mut pull = |buf: &mut BytesMut, step: DecodeFn<D, T>, out: &mut Vec<Decoded<T>>| {
        loop {
            match step(decoder, buf) {
                Ok(Some(item)) => out.push(Decoded::Item(item)),
                Ok(None) => break,
                Err(Error::TooLong { .. }) => out.push(Decoded::TooLong),
            }
        }
    };
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        pull(&mut buf, decode, &mut out);
    }
    pull(&mut buf, decode_eof, &mut out);
    out
}

/// Decodes `chunks` with a fresh [`SseDecoder`].
#[must_use]
pub fn incremental_sse(chunks: &[&[u8]], max_event_bytes: usize, lenient_eof: bool) -> SseOutcome {
    let mut decoder = SseDecoder::new()
        .with_max_event_bytes(max_event_bytes)
        .lenient_eof(lenient_eof);
    let items = drive(
        chunks,
        &mut decoder,
        SseDecoder::decode,
        SseDecoder::decode_eof,
    );
    SseOutcome {
        items,
        last_event_id: decoder.last_event_id().to_owned(),
        retry: decoder.retry(),
    }
}

/// Decodes `chunks` with a fresh [`NdjsonDecoder`].
#[must_use]
pub fn incremental_ndjson(chunks: &[&[u8]], max_line_bytes: usize) -> NdjsonOutcome {
    let mut decoder = NdjsonDecoder::new().with_max_line_bytes(max_line_bytes);
    drive(
        chunks,
        &mut decoder,
        NdjsonDecoder::decode,
        NdjsonDecoder::decode_eof,
    )
}

/// Decodes `chunks` with a fresh [`LineDecoder`].
#[must_use]
pub fn incremental_lines(chunks: &[&[u8]], max_line_bytes: usize) -> LinesOutcome {
    let mut decoder = LineDecoder::new().with_max_line_bytes(max_line_bytes);
    drive(
        chunks,
        &mut decoder,
        LineDecoder::decode,
        LineDecoder::decode_eof,
    )
}

/// The oracle: `input` split at `cuts` decodes exactly as the reference decodes it whole.
///
/// # Panics
///
/// When the two differ, with both outcomes in the message.
pub fn check_sse(input: &[u8], cuts: &[usize], max_event_bytes: usize, lenient_eof: bool) {
    let expected = reference_sse(input, max_event_bytes, lenient_eof);
    let actual = incremental_sse(&chunks(input, cuts), max_event_bytes, lenient_eof);
    assert_eq!(
        actual, expected,
        "SSE decoding of {input:?} cut at {cuts:?} (max {max_event_bytes}, lenient {lenient_eof})"
    );
}

/// The oracle for NDJSON, as [`check_sse`].
///
/// # Panics
///
/// When the two differ, with both outcomes in the message.
pub fn check_ndjson(input: &[u8], cuts: &[usize], max_line_bytes: usize) {
    check_framing(
        "NDJSON",
        (input, cuts, max_line_bytes),
        reference_ndjson,
        incremental_ndjson,
    );
}

/// The oracle for text lines, as [`check_sse`].
///
/// # Panics
///
/// When the two differ, with both outcomes in the message.
pub fn check_lines(input: &[u8], cuts: &[usize], max_line_bytes: usize) {
    check_framing(
        "Line",
        (input, cuts, max_line_bytes),
        reference_lines,
        incremental_lines,
    );
}

/// What a line framing ([`NdjsonOutcome`], [`LinesOutcome`]) produced.
type Framed = Vec<Decoded<Bytes>>;

/// The oracle of a line framing (NDJSON, text lines): a case `(input, cuts, max)` decodes
/// the same by `reference` whole as by `incremental` in chunks.
fn check_framing(
    name: &str,
    (input, cuts, max): (&[u8], &[usize], usize),
    reference: fn(&[u8], usize) -> Framed,
    incremental: fn(&[&[u8]], usize) -> Framed,
) {
    let expected = reference(input, max);
    let actual = incremental(&chunks(input, cuts), max);
    assert_eq!(
        actual, expected,
        "{name} decoding of {input:?} cut at {cuts:?} (max {max})"
    );
}

/// A fuzzer's input read as a test case: a settings byte, a cut count, the cuts, the stream.
///
/// Layout: byte 0 bit 0 = `lenient_eof`, bits 1..8 = the limit (0 = no limit, else that many
/// bytes times 4); byte 1 = how many cuts (mod 16); then two little-endian bytes per cut; the
/// rest is the stream. Missing bytes read as zero, so every input is a valid case.
#[derive(Debug)]
pub struct FuzzCase<'a> {
    /// The stream to decode.
    pub input: &'a [u8],
    /// Where to split it (see [`chunks`]).
    pub cuts: Vec<usize>,
    /// The decoder's limit.
    pub max: usize,
    /// For SSE: dispatch an unterminated event at the end.
    pub lenient_eof: bool,
}

impl<'a> FuzzCase<'a> {
    /// Reads a case from the fuzzer's bytes.
    #[must_use]
    pub fn new(data: &'a [u8]) -> Self {
        let settings = data.first().copied().unwrap_or(0);
        let cut_count = usize::from(data.get(1).copied().unwrap_or(0) % 16);
        let cut_bytes = data.get(2..).unwrap_or_default();
        let cut_end = (2 * cut_count).min(cut_bytes.len());
        let cuts = cut_bytes[..cut_end]
            .chunks(2)
            .map(|c| usize::from(u16::from_le_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
            .collect();
        let max = match settings >> 1 {
            0 => usize::MAX,
            n => usize::from(n) * 4,
        };
        Self {
            input: &cut_bytes[cut_end..],
            cuts,
            max,
            lenient_eof: settings & 1 == 1,
        }
    }
}

/// The `sse_decode` fuzz target: [`check_sse`] on a [`FuzzCase`].
pub fn fuzz_sse(data: &[u8]) {
    let case = FuzzCase::new(data);
    check_sse(case.input, &case.cuts, case.max, case.lenient_eof);
}

/// The `ndjson_decode` fuzz target: [`check_ndjson`] on a [`FuzzCase`].
pub fn fuzz_ndjson(data: &[u8]) {
    let case = FuzzCase::new(data);
    check_ndjson(case.input, &case.cuts, case.max);
}

/// The `line_decode` fuzz target: [`check_lines`] on a [`FuzzCase`] (its `lenient_eof` bit
/// is unused).
pub fn fuzz_lines(data: &[u8]) {
    let case = FuzzCase::new(data);
    check_lines(case.input, &case.cuts, case.max);
}
