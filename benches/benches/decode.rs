//! Decode throughput of `stream-parse` next to its peers, on the same bytes in the same run.
//!
//! - `sse`: 1 KiB MCP `tools/call` results as SSE events, fed whole and in 16 KiB, 1460 B,
//!   64 B and 1 B chunks to our `SseDecoder`, `eventsource-stream` and `sse-stream`.
//! - `ndjson`: the same messages one per line through our `NdjsonDecoder`, plus two floors
//!   over the whole buffer: `slice::split` and `memchr_iter`.
//! - `scaling`: one 1 MiB and one 16 MiB record fed in 1-byte chunks (linear ≈ 16× the time).
//!
//! Before timing, each case checks once that every decoder finds the same records and data
//! bytes, so they are compared on equal work. See `benches/README.md` for the results.

use std::convert::Infallible;
use std::hint::black_box;

use benches::{
    Corpus, MESSAGE_BYTES, ndjson_corpus, ndjson_single_line, sse_corpus, sse_single_event,
};
use bytes::{Bytes, BytesMut};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use eventsource_stream::Eventsource;
use futures_executor::block_on;
use futures_util::StreamExt;
use stream_parse::{NdjsonDecoder, SseDecoder};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// The main SSE and NDJSON inputs.
const STREAM_BYTES: usize = 4 * MIB;
/// The smaller input of the peers' cases that are too slow at 4 MiB (see [`sse_input_len`]).
const SMALL_STREAM_BYTES: usize = 256 * KIB;

/// Chunkings: a label and the chunk size (`usize::MAX` is the whole input at once).
const CHUNKINGS: [(&str, usize); 5] = [
    ("whole", usize::MAX),
    ("16KiB", 16 * KIB),
    ("1460B", 1460),
    ("64B", 64),
    ("1B", 1),
];

/// What a decoder found: compared across decoders before timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tally {
    records: usize,
    data_bytes: usize,
}

impl Tally {
    const ZERO: Tally = Tally {
        records: 0,
        data_bytes: 0,
    };

    fn add(&mut self, data_len: usize) {
        self.records += 1;
        self.data_bytes += data_len;
    }

    fn of(corpus: &Corpus) -> Tally {
        Tally {
            records: corpus.records,
            data_bytes: corpus.data_bytes,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SsePeer {
    Ours,
    EventsourceStream,
    SseStream,
}

impl SsePeer {
    const ALL: [SsePeer; 3] = [
        SsePeer::Ours,
        SsePeer::EventsourceStream,
        SsePeer::SseStream,
    ];

    fn name(self) -> &'static str {
        match self {
            SsePeer::Ours => "ours",
            SsePeer::EventsourceStream => "eventsource-stream",
            SsePeer::SseStream => "sse-stream",
        }
    }

    fn decode(self, input: &'static [u8], chunk: usize) -> Tally {
        match self {
            SsePeer::Ours => ours_sse(SseDecoder::new(), input, chunk),
            SsePeer::EventsourceStream => eventsource_stream_sse(input, chunk),
            SsePeer::SseStream => sse_stream_sse(input, chunk),
        }
    }
}

/// How many bytes of the SSE stream a peer decodes at a chunking. `eventsource-stream` is
/// quadratic in the bytes it holds (it copies the rest of its buffer after every line, and
/// re-parses an incomplete line from its start on every chunk), so it gets the small input
/// when fed whole and at 1 B. Everything else decodes the full 4 MiB.
fn sse_input_len(peer: SsePeer, chunk: usize) -> usize {
    match (peer, chunk) {
        (SsePeer::EventsourceStream, usize::MAX | 1) => SMALL_STREAM_BYTES,
        _ => STREAM_BYTES,
    }
}

/// Feeds `input` in `chunk`-byte pieces through `decoder`, as a reader of a body would.
fn ours_sse(mut decoder: SseDecoder, input: &[u8], chunk: usize) -> Tally {
    let mut tally = Tally::ZERO;
    let mut buf = BytesMut::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(event) = decoder.decode(&mut buf).expect("valid stream") {
            tally.add(event.data().len());
            black_box(event);
        }
    }
    while let Some(event) = decoder.decode_eof(&mut buf).expect("valid stream") {
        tally.add(event.data().len());
        black_box(event);
    }
    tally
}

/// The chunks as a stream of `Bytes`; `from_static` makes each chunk free to create.
fn byte_stream(
    input: &'static [u8],
    chunk: usize,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::iter(
        input
            .chunks(chunk)
            .map(|piece| Ok::<_, Infallible>(Bytes::from_static(piece))),
    )
}

fn eventsource_stream_sse(input: &'static [u8], chunk: usize) -> Tally {
    let mut events = byte_stream(input, chunk).eventsource();
    block_on(async {
        let mut tally = Tally::ZERO;
        while let Some(event) = events.next().await {
            let event = event.expect("valid stream");
            tally.add(event.data.len());
            black_box(event);
        }
        tally
    })
}

fn sse_stream_sse(input: &'static [u8], chunk: usize) -> Tally {
    let mut events = sse_stream::SseByteStream::new(byte_stream(input, chunk));
    block_on(async {
        let mut tally = Tally::ZERO;
        while let Some(event) = events.next().await {
            let event = event.expect("valid stream");
            if let Some(data) = &event.data {
                tally.add(data.len());
            }
            black_box(event);
        }
        tally
    })
}

fn ours_ndjson(mut decoder: NdjsonDecoder, input: &[u8], chunk: usize) -> Tally {
    let mut tally = Tally::ZERO;
    let mut buf = BytesMut::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(line) = decoder.decode(&mut buf).expect("valid stream") {
            tally.add(line.len());
            black_box(line);
        }
    }
    while let Some(line) = decoder.decode_eof(&mut buf).expect("valid stream") {
        tally.add(line.len());
        black_box(line);
    }
    tally
}

/// The floor with no streaming at all: `slice::split` over the whole buffer.
fn split_ndjson(input: &[u8]) -> Tally {
    let mut tally = Tally::ZERO;
    for line in input.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
        tally.add(line.len());
        black_box(line);
    }
    tally
}

/// The floor with no streaming and the same SIMD search as ours: `memchr_iter`.
fn memchr_ndjson(input: &[u8]) -> Tally {
    let mut tally = Tally::ZERO;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', input) {
        let line = &input[start..end];
        if !line.is_empty() {
            tally.add(line.len());
            black_box(line);
        }
        start = end + 1;
    }
    tally
}

fn leak(corpus: &Corpus) -> &'static [u8] {
    corpus.bytes.clone().leak()
}

fn throughput(len: usize) -> Throughput {
    Throughput::Bytes(u64::try_from(len).expect("fits in u64"))
}

fn sse(c: &mut Criterion) {
    let large = sse_corpus(STREAM_BYTES, MESSAGE_BYTES);
    let small = sse_corpus(SMALL_STREAM_BYTES, MESSAGE_BYTES);
    let inputs = [
        (STREAM_BYTES, leak(&large), Tally::of(&large)),
        (SMALL_STREAM_BYTES, leak(&small), Tally::of(&small)),
    ];
    let mut group = c.benchmark_group("sse");
    for (label, chunk) in CHUNKINGS {
        for peer in SsePeer::ALL {
            let len = sse_input_len(peer, chunk);
            let &(_, input, expected) = inputs.iter().find(|(n, ..)| *n == len).expect("input");
            // Equal work: each decoder finds every event and all its data, once, untimed.
            assert_eq!(
                peer.decode(input, chunk),
                expected,
                "{} at {label}",
                peer.name()
            );
            group.throughput(throughput(input.len()));
            group.bench_with_input(BenchmarkId::new(peer.name(), label), &chunk, |b, &chunk| {
                b.iter(|| peer.decode(input, chunk));
            });
        }
    }
    group.finish();
}

fn ndjson(c: &mut Criterion) {
    let corpus = ndjson_corpus(STREAM_BYTES, MESSAGE_BYTES);
    let expected = Tally::of(&corpus);
    let input = leak(&corpus);
    let mut group = c.benchmark_group("ndjson");
    group.throughput(throughput(input.len()));
    for (label, chunk) in CHUNKINGS {
        assert_eq!(
            ours_ndjson(NdjsonDecoder::new(), input, chunk),
            expected,
            "ours at {label}"
        );
        group.bench_with_input(BenchmarkId::new("ours", label), &chunk, |b, &chunk| {
            b.iter(|| ours_ndjson(NdjsonDecoder::new(), input, chunk));
        });
    }
    assert_eq!(split_ndjson(input), expected, "slice::split");
    group.bench_function(BenchmarkId::new("slice-split", "whole"), |b| {
        b.iter(|| split_ndjson(input));
    });
    assert_eq!(memchr_ndjson(input), expected, "memchr_iter");
    group.bench_function(BenchmarkId::new("memchr-iter", "whole"), |b| {
        b.iter(|| memchr_ndjson(input));
    });
    group.finish();
}

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    for (label, len) in [("1MiB", MIB), ("16MiB", 16 * MIB)] {
        let event = sse_single_event(len);
        let input = leak(&event);
        let sse = || SseDecoder::new().with_max_event_bytes(32 * MIB);
        assert_eq!(ours_sse(sse(), input, 1), Tally::of(&event), "sse {label}");
        group.throughput(throughput(input.len()));
        group.bench_function(BenchmarkId::new("sse-1B", label), |b| {
            b.iter(|| ours_sse(sse(), input, 1));
        });

        let line = ndjson_single_line(len);
        let input = leak(&line);
        let ndjson = || NdjsonDecoder::new().with_max_line_bytes(32 * MIB);
        assert_eq!(
            ours_ndjson(ndjson(), input, 1),
            Tally::of(&line),
            "ndjson {label}"
        );
        group.throughput(throughput(input.len()));
        group.bench_function(BenchmarkId::new("ndjson-1B", label), |b| {
            b.iter(|| ours_ndjson(ndjson(), input, 1));
        });
    }
    group.finish();
}

criterion_group!(decode, sse, ndjson, scaling);
criterion_main!(decode);
