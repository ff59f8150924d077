"""SSE and NDJSON decoding: `mcp_wrapper_rs` decoders against pure-Python peers.

Every decoder reads the same chunks from the same kind of response object, a `FeedResponse`
that hands out prepared chunks from `aiter_bytes()` (and, for httpx-sse and httpx's line
decoder, text from `aiter_text()` through an incremental UTF-8 decoder, as `httpx.Response`
does). Each decoded record's payload goes to the same sink (`list.append`), and every run's
records are checked against what the generator put in, so all decoders do equal work.

Decoders:

- SSE: ours (`SseDecoder.feed` on each chunk, `.data_bytes` or `.data` of each event, or
  `SseDecoder.feed_messages`, which returns the data of the chunk's `message` events as one
  list of `bytes`), `mcpgateway.wrapper.sse_events`, httpx-sse (`EventSource(resp).
  aiter_sse()`, `.data` of each event); plus ours in a plain loop over the chunk list with no
  response object (for reference).
- NDJSON: ours (`NdjsonDecoder.feed`), `mcpgateway.wrapper.ndjson_lines`, httpx's
  `LineDecoder` over `aiter_text()` (what `httpx.Response.aiter_lines()` runs).
"""

from __future__ import annotations

import asyncio
import codecs
import gc
import itertools
import os
import resource
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import common

# `mcpgateway` reads its settings when imported and insists on a strong JWT secret.
os.environ.setdefault("JWT_SECRET_KEY", secrets.token_urlsafe(48))
os.environ.setdefault("LOG_LEVEL", "ERROR")

import httpx_sse
from httpx._decoders import LineDecoder
from mcpgateway import wrapper as gateway

from mcp_wrapper_rs import NdjsonDecoder, SseDecoder

CHUNK = 16 * 1024
MAX_RECORD = 128 * 1024 * 1024


class BenchTimeout(Exception):
    """A decoder ran past its time budget."""


class FeedResponse:
    """Just enough of `httpx.Response` for the decoders: `headers`, `aiter_bytes`, `aiter_text`.

    Raises `BenchTimeout` from the chunk iterator once `deadline` (a `perf_counter` value) has
    passed, so a quadratic decoder is stopped at the next chunk it asks for.
    """

    def __init__(self, pieces: Sequence[bytes], content_type: str, deadline: float) -> None:
        self.headers = {"content-type": content_type}
        self._pieces = pieces
        self._deadline = deadline

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        deadline = self._deadline
        for piece in self._pieces:
            if time.perf_counter() > deadline:
                raise BenchTimeout
            yield piece

    async def aiter_text(self) -> AsyncIterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        async for piece in self.aiter_bytes():
            text = decoder.decode(piece)
            if text:
                yield text
        text = decoder.decode(b"", final=True)
        if text:
            yield text


Sink = Callable[[Any], None]
Decoder = Callable[[FeedResponse, Sink], Awaitable[None]]


# SSE decoders.


async def sse_ours_bytes(resp: FeedResponse, sink: Sink) -> None:
    decoder = SseDecoder(max_event_bytes=MAX_RECORD)
    async for chunk in resp.aiter_bytes():
        for event in decoder.feed(chunk):
            sink(event.data_bytes)
    for event in decoder.finish():
        sink(event.data_bytes)


async def sse_ours_str(resp: FeedResponse, sink: Sink) -> None:
    decoder = SseDecoder(max_event_bytes=MAX_RECORD)
    async for chunk in resp.aiter_bytes():
        for event in decoder.feed(chunk):
            sink(event.data)
    for event in decoder.finish():
        sink(event.data)


async def sse_ours_messages(resp: FeedResponse, sink: Sink) -> None:
    decoder = SseDecoder(max_event_bytes=MAX_RECORD)
    async for chunk in resp.aiter_bytes():
        for data in decoder.feed_messages(chunk):
            sink(data)
    for data in decoder.finish_messages():
        sink(data)


async def sse_ours_plain(resp: FeedResponse, sink: Sink) -> None:
    decoder = SseDecoder(max_event_bytes=MAX_RECORD)
    deadline = resp._deadline
    for chunk in resp._pieces:
        if time.perf_counter() > deadline:
            raise BenchTimeout
        for event in decoder.feed(chunk):
            sink(event.data_bytes)
    for event in decoder.finish():
        sink(event.data_bytes)


async def sse_gateway(resp: FeedResponse, sink: Sink) -> None:
    async for data in gateway.sse_events(resp):  # type: ignore[arg-type]
        sink(data)


async def sse_httpx_sse(resp: FeedResponse, sink: Sink) -> None:
    async for event in httpx_sse.EventSource(resp).aiter_sse():  # type: ignore[arg-type]
        sink(event.data)


# NDJSON decoders.


async def ndjson_ours(resp: FeedResponse, sink: Sink) -> None:
    decoder = NdjsonDecoder(max_line_bytes=MAX_RECORD)
    async for chunk in resp.aiter_bytes():
        for line in decoder.feed(chunk):
            sink(line)
    for line in decoder.finish():
        sink(line)


async def ndjson_ours_plain(resp: FeedResponse, sink: Sink) -> None:
    decoder = NdjsonDecoder(max_line_bytes=MAX_RECORD)
    deadline = resp._deadline
    for chunk in resp._pieces:
        if time.perf_counter() > deadline:
            raise BenchTimeout
        for line in decoder.feed(chunk):
            sink(line)
    for line in decoder.finish():
        sink(line)


async def ndjson_gateway(resp: FeedResponse, sink: Sink) -> None:
    async for line in gateway.ndjson_lines(resp):  # type: ignore[arg-type]
        sink(line)


async def ndjson_httpx_lines(resp: FeedResponse, sink: Sink) -> None:
    decoder = LineDecoder()
    async for text in resp.aiter_text():
        for line in decoder.decode(text):
            sink(line)
    for line in decoder.flush():
        sink(line)


OURS = "ours"
OURS_BYTES = "ours → bytes"
OURS_STR = "ours → str"
OURS_MESSAGES = "ours → bytes, feed_messages"
OURS_PLAIN = "ours → bytes, plain loop"
GATEWAY = "mcpgateway.wrapper"
HTTPX_SSE = "httpx-sse"
HTTPX_LINES = "httpx LineDecoder"

SSE_DECODERS: dict[str, Decoder] = {
    OURS_BYTES: sse_ours_bytes,
    OURS_STR: sse_ours_str,
    OURS_MESSAGES: sse_ours_messages,
    GATEWAY: sse_gateway,
    HTTPX_SSE: sse_httpx_sse,
    OURS_PLAIN: sse_ours_plain,
}
NDJSON_DECODERS: dict[str, Decoder] = {
    OURS: ndjson_ours,
    GATEWAY: ndjson_gateway,
    HTTPX_LINES: ndjson_httpx_lines,
    OURS_PLAIN: ndjson_ours_plain,
}
# Each peer against the variants of ours that hand out the same type: mcpgateway yields
# `bytes` (the data of `message` events: ours per event, and ours in one list per chunk),
# httpx-sse and httpx's line decoder `str` (NdjsonDecoder only yields `bytes`).
BASELINE: dict[str, list[tuple[str, str]]] = {
    "sse": [(GATEWAY, OURS_BYTES), (GATEWAY, OURS_MESSAGES), (HTTPX_SSE, OURS_STR)],
    "ndjson": [(GATEWAY, OURS), (HTTPX_LINES, OURS)],
}


@dataclass
class Case:
    name: str
    format: str  # "sse" or "ndjson"
    corpus: common.Corpus
    passes: int  # decodes of the corpus per sample
    reps: int
    skip: frozenset[str] = frozenset()  # decoders not run on this case
    pieces: list[bytes] = field(default_factory=list)
    samples: dict[str, common.Samples] = field(default_factory=dict)
    faults: dict[str, list[int]] = field(default_factory=dict)  # minor page faults per sample

    @property
    def content_type(self) -> str:
        return "text/event-stream" if self.format == "sse" else "application/x-ndjson"

    @property
    def input_bytes(self) -> int:
        return len(self.corpus.data) * self.passes

    @property
    def decoders(self) -> dict[str, Decoder]:
        every = SSE_DECODERS if self.format == "sse" else NDJSON_DECODERS
        return {name: decoder for name, decoder in every.items() if name not in self.skip}

    @property
    def mib(self) -> float:
        return len(self.corpus.data) / 2**20


def check(name: str, case: Case, got: list[Any]) -> None:
    """Every decoder must find exactly the payloads the generator put in."""
    expected = case.corpus.payloads
    if len(got) != len(expected):
        raise AssertionError(f"{name} on {case.name}: {len(got)} records, not {len(expected)}")
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if (g.encode() if isinstance(g, str) else g) != e:
            raise AssertionError(f"{name} on {case.name}: record {i} differs")


async def sample(
    name: str, decoder: Decoder, case: Case, timeout: float
) -> tuple[float | None, int]:
    """CPU seconds of this thread for `case.passes` decodes of the corpus (None once
    `timeout` wall-clock seconds have passed), and the minor page faults meanwhile.

    CPU time of the thread, not wall time: the machine is shared, and time spent
    descheduled is not the decoder's. Every decoder here runs on this thread only (ours
    detaches from the interpreter only for inputs of 64 KiB and more; chunks are 16 KiB).
    """
    gc.collect()
    deadline = time.perf_counter() + timeout
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.thread_time()
    got: list[Any] = []
    try:
        for _ in range(case.passes):
            got = []
            await decoder(FeedResponse(case.pieces, case.content_type, deadline), got.append)
    except BenchTimeout:
        return None, 0
    elapsed = time.thread_time() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    check(name, case, got)
    return elapsed, faults


async def run_case(case: Case, timeout: float, log: Callable[[str], None]) -> None:
    decoders = case.decoders
    case.pieces = common.chunks(case.corpus.data, CHUNK)
    case.samples = {name: common.Samples() for name in decoders}
    case.faults = {name: [] for name in decoders}
    names = list(decoders)
    for rep in range(case.reps):
        # Interleaved, and rotated so that no decoder always runs first or last.
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            samples = case.samples[name]
            if samples.timed_out:
                samples.add(None)  # past the budget once: not worth another minute
                continue
            seconds, faults = await sample(name, decoders[name], case, timeout)
            samples.add(seconds)
            case.faults[name].append(faults)
        log(
            f"  {case.name} rep {rep + 1}/{case.reps}: "
            + ", ".join(
                f"{n} {common.fmt_seconds(case.samples[n].values[-1], timeout)}" for n in names
            )
        )


def make_cases(quick: bool, only: frozenset[str] | None = None) -> list[Case]:
    """Per format: 1 KiB records, then one record of 8, 32 and 64 MiB (2, 8, 16 if quick);
    only the cases named in `only`, if given (the others' inputs are not even generated).

    mcpgateway.wrapper is quadratic (≈ 18 s at 32 MiB here), so it skips the largest size,
    which is there to check the others' scaling where the allocator behaves alike (see
    README.md: glibc serves 8 MiB from reused memory, 32 MiB from fresh pages).
    """
    stream_bytes = 4 * 1024 * 1024
    sizes = (2, 8, 16) if quick else (8, 32, 64)
    reps_stream, reps_big = (3, 2) if quick else (11, 5)
    no_gateway = frozenset({GATEWAY})
    cases: list[Case] = []
    for fmt, stream, single in (
        ("sse", common.sse_corpus, common.sse_single_event),
        ("ndjson", common.ndjson_corpus, common.ndjson_single_line),
    ):
        if only is None or f"{fmt}-1k" in only:
            cases.append(Case(f"{fmt}-1k", fmt, stream(stream_bytes), 8, reps_stream))
        for i, size in enumerate(sizes):
            if only is not None and f"{fmt}-{size}m" not in only:
                continue
            skip = no_gateway if i == 2 else frozenset()
            corpus = single(size * 2**20)
            cases.append(Case(f"{fmt}-{size}m", fmt, corpus, 1, reps_big, skip))
    return cases


async def run_all(
    quick: bool,
    timeout: float,
    log: Callable[[str], None],
    only: frozenset[str] | None = None,
) -> list[Case]:
    cases = make_cases(quick, only)
    for case in cases:
        log(
            f"decode {case.name}: {len(case.corpus.data)} B, {len(case.corpus.payloads)} "
            f"records, {CHUNK} B chunks, {case.passes} pass(es) per sample, {case.reps} reps"
        )
        await run_case(case, timeout, log)
    return cases


# Where ours spends its time per event: synchronous loops over the 1 KiB-event corpus.


def breakdown(reps: int, log: Callable[[str], None]) -> list[tuple[str, float]]:
    """Median CPU nanoseconds per 1 KiB record for ours in steps, and CPython floors."""
    sse = common.sse_corpus(4 * 1024 * 1024)
    ndjson = common.ndjson_corpus(4 * 1024 * 1024)
    sse_pieces = common.chunks(sse.data, CHUNK)
    nd_pieces = common.chunks(ndjson.data, CHUNK)
    passes = 8

    def sse_feed_only() -> None:
        for _ in range(passes):
            decoder = SseDecoder()
            for piece in sse_pieces:
                decoder.feed(piece)

    def sse_feed_bytes() -> None:
        for _ in range(passes):
            decoder = SseDecoder()
            out: list[bytes] = []
            for piece in sse_pieces:
                for event in decoder.feed(piece):
                    out.append(event.data_bytes)

    def sse_feed_messages() -> None:
        for _ in range(passes):
            decoder = SseDecoder()
            out: list[bytes] = []
            for piece in sse_pieces:
                out.extend(decoder.feed_messages(piece))

    def sse_feed_str() -> None:
        for _ in range(passes):
            decoder = SseDecoder()
            out: list[str] = []
            for piece in sse_pieces:
                for event in decoder.feed(piece):
                    out.append(event.data)

    def python_decode_only() -> None:
        for _ in range(passes):
            out: list[str] = []
            for payload in sse.payloads:
                out.append(payload.decode())

    def python_split_only() -> None:
        for _ in range(passes):
            out: list[bytes] = []
            for piece in nd_pieces:
                out.extend(piece.split(b"\n"))

    def ndjson_feed() -> None:
        for _ in range(passes):
            decoder = NdjsonDecoder()
            out: list[bytes] = []
            for piece in nd_pieces:
                out.extend(decoder.feed(piece))

    steps: list[tuple[str, Callable[[], None], int]] = [
        (
            "SSE: `SseDecoder.feed` only (events made, not touched)",
            sse_feed_only,
            len(sse.payloads),
        ),
        ("SSE: `feed` + `.data_bytes` of each event", sse_feed_bytes, len(sse.payloads)),
        ("SSE: `feed` + `.data` (str) of each event", sse_feed_str, len(sse.payloads)),
        ("SSE: `feed_messages`, data collected", sse_feed_messages, len(sse.payloads)),
        (
            "CPython floor: `payload.decode()` of each 1 KiB payload",
            python_decode_only,
            len(sse.payloads),
        ),
        ("NDJSON: `NdjsonDecoder.feed`, lines collected", ndjson_feed, len(ndjson.payloads)),
        (
            'CPython floor: `chunk.split(b"\\n")` of each chunk, collected',
            python_split_only,
            len(ndjson.payloads),
        ),
    ]
    values: dict[str, list[float | None]] = {name: [] for name, _, _ in steps}
    for rep in range(reps):
        for name, fn, records in steps[rep % len(steps) :] + steps[: rep % len(steps)]:
            gc.collect()
            start = time.thread_time()
            fn()
            values[name].append((time.thread_time() - start) / (passes * records) * 1e9)
    out = [(name, common.Samples(values[name]).median() or 0.0) for name, _, _ in steps]
    for name, ns in out:
        log(f"  breakdown: {name}: {ns:.0f} ns/record")
    return out


def per_record_ns(case: Case, name: str) -> float | None:
    med = case.samples[name].median()
    if med is None:
        return None
    return med / (case.passes * len(case.corpus.payloads)) * 1e9


def median_faults_per_mib(case: Case, name: str) -> str:
    faults = case.faults.get(name)
    if not faults or case.samples[name].timed_out:
        return "-"
    return f"{statistics.median(faults) / case.mib:.0f}"


def report(cases: list[Case], timeout: float, steps: list[tuple[str, float]] | None) -> str:
    """Markdown tables: time per decoder, peer / ours, and the scaling ratios."""
    out: list[str] = []
    for fmt, title in (("sse", "SSE"), ("ndjson", "NDJSON")):
        fcases = [c for c in cases if c.format == fmt]
        if not fcases:
            continue
        names = list(fcases[0].decoders)
        baselines = BASELINE[fmt]
        header = ["case", *names, *(f"{p} / {b}" for p, b in baselines)]
        rows: list[list[str]] = []
        for case in fcases:
            row = [f"{case.name} ({case.mib:.1f} MiB × {case.passes})"]
            for name in names:
                if name in case.skip:
                    row.append("not run")
                    continue
                med = case.samples[name].median()
                row.append(
                    f"{common.fmt_seconds(med, timeout)}"
                    + (f" ({common.fmt_rate(case.input_bytes, med)})" if med else "")
                )
            for peer, base in baselines:
                if peer in case.skip:
                    row.append("not run")
                    continue
                ratio = common.median_ratio(case.samples[peer].values, case.samples[base].values)
                if ratio is None and case.samples[peer].timed_out:
                    spread = case.samples[base].spread()
                    row.append(f"**> {timeout / spread[1]:.0f}×**" if spread else "n/a")
                else:
                    row.append(f"**{common.fmt_ratio(ratio)}**")
            rows.append(row)
        out.append(
            f"{title}, {CHUNK // 1024} KiB chunks: median CPU time per sample (input "
            "throughput); the ratio columns are the median of per-repetition ratios, > 1 = "
            "ours is faster:\n"
        )
        out.append(common.markdown_table(header, rows))
        out.append("")
        stream = fcases[0]
        if stream.passes > 1:
            cells = [
                f"{name} {ns:.0f}"
                for name in names
                if (ns := per_record_ns(stream, name)) is not None
            ]
            out.append(f"Per 1 KiB record ({stream.name}), ns: " + ", ".join(cells) + ".\n")
        singles = [c for c in fcases if c.passes == 1]
        if len(singles) < 2:
            continue
        pairs = list(itertools.pairwise(singles))
        sheader = ["decoder", *(c.name for c in singles)]
        for small, big in pairs:
            k = big.mib / small.mib
            sheader.append(f"{big.name} / {small.name} (linear {k:.0f}×, quadratic {k * k:.0f}×)")
        sheader.append("page faults per MiB (" + " / ".join(c.name for c in singles) + ")")
        srows: list[list[str]] = []
        for name in names:
            srow = [name]
            for case in singles:
                srow.append(
                    "not run"
                    if name in case.skip
                    else common.fmt_seconds(case.samples[name].median(), timeout)
                )
            for small, big in pairs:
                if name in small.skip or name in big.skip:
                    srow.append("-")
                    continue
                ratio = common.median_ratio(big.samples[name].values, small.samples[name].values)
                srow.append(f"**{common.fmt_ratio(ratio)}**" if ratio else "n/a")
            srow.append(" / ".join(median_faults_per_mib(c, name) for c in singles))
            srows.append(srow)
        out.append(f"{title} scaling, one record of growing size (median CPU time):\n")
        out.append(common.markdown_table(sheader, srows))
        out.append("")
    if steps:
        out.append("Per-record CPU cost of ours in steps, and CPython floors (1 KiB records):\n")
        out.append(
            common.markdown_table(["step", "ns per record"], [[n, f"{v:.0f}"] for n, v in steps])
        )
        out.append("")
    return "\n".join(out)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few reps (a smoke test)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per decoder run")
    parser.add_argument(
        "--cases", help="only these cases, comma-separated (e.g. sse-1k,ndjson-8m); default all"
    )
    args = parser.parse_args()
    only = frozenset(args.cases.split(",")) if args.cases else None
    cases = asyncio.run(run_all(args.quick, args.timeout, print, only))
    steps = breakdown(3 if args.quick else 11, print)
    print()
    print(report(cases, args.timeout, steps))


if __name__ == "__main__":
    main()
