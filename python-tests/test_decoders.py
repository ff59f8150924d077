"""SseDecoder, SseEvent and NdjsonDecoder: the WHATWG rules, chunking, limits, recovery."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_wrapper_rs import DecodingError, NdjsonDecoder, SseDecoder, SseEvent

Event = tuple[str, str, str, int | None]  # event, data, id, retry


def decode_sse(chunks: list[bytes], **options: object) -> list[Event]:
    decoder = SseDecoder(**options)  # type: ignore[arg-type]
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    events += decoder.finish()
    return [(e.event, e.data, e.id, e.retry) for e in events]


def splits(data: bytes) -> list[list[bytes]]:
    """The input whole, cut in two at every offset, and in 1-byte chunks."""
    cuts = [[data]] + [[data[:i], data[i:]] for i in range(1, len(data))]
    return [*cuts, [data[i : i + 1] for i in range(len(data))]]


# The example streams of the HTML standard, §9.2.6, and the rules around them.
SSE_VECTORS: list[tuple[str, bytes, list[Event]]] = [
    (
        "whatwg stock ticker: data lines join with LF",
        b"data: YHOO\ndata: +2\ndata: 10\n\n",
        [("message", "YHOO\n+2\n10", "", None)],
    ),
    (
        "whatwg comments, ids, and one space removed",
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
        b"data:  third event\n\n",
        [
            ("message", "first event", "1", None),
            ("message", "second event", "", None),
            ("message", " third event", "", None),
        ],
    ),
    (
        "whatwg empty data lines; the unterminated last event is dropped",
        b"data\n\ndata\ndata\n\ndata:",
        [("message", "", "", None), ("message", "\n", "", None)],
    ),
    (
        "whatwg with and without the space",
        b"data:test\n\ndata: test\n\n",
        [("message", "test", "", None), ("message", "test", "", None)],
    ),
    (
        "event type, reset after dispatch",
        b"event: add\ndata: 1\n\ndata: 2\n\n",
        [("add", "1", "", None), ("message", "2", "", None)],
    ),
    ("CR line ends", b"data: a\rdata: b\r\r", [("message", "a\nb", "", None)]),
    ("CRLF line ends", b"data: a\r\n\r\n", [("message", "a", "", None)]),
    ("one leading BOM is dropped", b"\xef\xbb\xbfdata: a\n\n", [("message", "a", "", None)]),
    (
        "a second BOM is part of a field name, ignored",
        b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n",
        [("message", "b", "", None)],
    ),
    (
        "an id holding NUL is ignored; ids persist across events",
        b"id: 7\ndata: a\n\nid: 8\x009\ndata: b\n\n",
        [("message", "a", "7", None), ("message", "b", "7", None)],
    ),
    (
        "retry only with ASCII digits",
        b"retry: 1500\ndata: a\n\nretry: 2s\ndata: b\n\n",
        [("message", "a", "", 1500), ("message", "b", "", None)],
    ),
    ("a block with no data dispatches nothing", b"event: x\nid: 3\n\n", []),
    ("unknown fields are ignored", b"foo: bar\ndata: a\n\n", [("message", "a", "", None)]),
    (
        "a line without colon is a field with an empty value",
        b"data\ndata: x\n\n",
        [("message", "\nx", "", None)],
    ),
    (
        "invalid UTF-8 becomes U+FFFD",
        b"data: a\xffb\n\n",
        [("message", "a\ufffdb", "", None)],
    ),
]


@pytest.mark.parametrize(
    ("name", "stream", "expected"), SSE_VECTORS, ids=[v[0] for v in SSE_VECTORS]
)
def test_sse_decoder_follows_the_standard_for_any_chunking(
    name: str, stream: bytes, expected: list[Event]
) -> None:
    for chunks in splits(stream):
        assert decode_sse(chunks) == expected, (name, chunks)


def test_sse_decoder_joins_a_character_split_across_chunks() -> None:
    data = "data: é€😀\n\n".encode()
    for chunks in splits(data):
        assert decode_sse(chunks) == [("message", "é€😀", "", None)]


def test_sse_decoder_waits_for_the_byte_after_a_final_cr() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\r") == []
    [event] = decoder.feed(b"\n\r\n")
    assert event.data == "a"
    assert decoder.feed(b"data: b\n\n")[0].data == "b"


def test_sse_decoder_strict_eof_drops_and_lenient_eof_dispatches_the_open_event() -> None:
    assert decode_sse([b"data: a\n\ndata: b"]) == [("message", "a", "", None)]
    assert decode_sse([b"data: a\n\ndata: b"], lenient_eof=True) == [
        ("message", "a", "", None),
        ("message", "b", "", None),
    ]
    assert decode_sse([b"data: b\n"], lenient_eof=True) == [("message", "b", "", None)]


def test_sse_decoder_keeps_last_event_id_and_retry_across_finish() -> None:
    decoder = SseDecoder()
    decoder.feed(b"id: 41\nretry: 3000\ndata: x\n\n")
    assert decoder.finish() == []
    assert decoder.last_event_id == "41"
    assert decoder.retry == 3000
    # A new stream (a reconnection) starts clean but remembers the id.
    [event] = decoder.feed(b"\xef\xbb\xbfdata: y\n\n")
    assert (event.data, event.id) == ("y", "41")


def test_sse_decoder_exposes_its_settings() -> None:
    decoder = SseDecoder()
    assert decoder.max_event_bytes == 16 * 1024 * 1024
    assert decoder.lenient_eof is False
    assert repr(SseDecoder(10, True)) == "SseDecoder(max_event_bytes=10, lenient_eof=True)"


def test_sse_decoder_accepts_bytes_like_and_rejects_str() -> None:
    decoder = SseDecoder()
    assert decoder.feed(bytearray(b"data: a\n")) == []
    assert decoder.feed(memoryview(b"\n"))[0].data == "a"
    with pytest.raises(TypeError, match="not str"):
        decoder.feed("data: a\n\n")  # type: ignore[arg-type]


def test_sse_decoder_decodes_large_inputs_in_one_feed() -> None:
    payload = "x" * (4 * 1024 * 1024)
    events = SseDecoder().feed(f"data: {payload}\n\n".encode() * 3)
    assert [len(e.data) for e in events] == [len(payload)] * 3


class TestOverLongRecords:
    def test_a_lone_over_long_event_raises_and_is_skipped(self) -> None:
        decoder = SseDecoder(max_event_bytes=8)
        with pytest.raises(DecodingError, match="exceeds the limit of 8 bytes"):
            decoder.feed(b"data: 0123456789\n\n")
        assert [e.data for e in decoder.feed(b"data: ok\n\n")] == ["ok"]

    def test_items_before_the_error_come_first_then_the_error_then_the_rest(self) -> None:
        decoder = SseDecoder(max_event_bytes=8)
        stream = b"data: a\n\ndata: 0123456789\n\ndata: b\n\n"
        assert [e.data for e in decoder.feed(stream)] == ["a"]
        # The next call raises for the skipped event, and still takes its data ...
        with pytest.raises(DecodingError):
            decoder.feed(b"data: c\n\n")
        # ... which comes out, in stream order, with the call after.
        assert [e.data for e in decoder.feed(b"")] == ["b", "c"]

    def test_an_event_over_the_limit_across_many_chunks_is_not_buffered(self) -> None:
        decoder = SseDecoder(max_event_bytes=1024)
        decoder.feed(b"data: ")
        with pytest.raises(DecodingError):
            decoder.feed(b"x" * 2048)
        for _ in range(100):
            assert decoder.feed(b"x" * 2048) == []
        assert [e.data for e in decoder.feed(b"\n\ndata: after\n\n")] == ["after"]

    def test_an_open_event_over_the_limit_is_reported_at_once_and_not_dispatched(self) -> None:
        decoder = SseDecoder(max_event_bytes=12, lenient_eof=True)
        with pytest.raises(DecodingError):
            decoder.feed(b"data: ab\ndata: 0123")
        assert decoder.finish() == []
        assert [e.data for e in decoder.feed(b"data: ok\n\n")] == ["ok"]

    def test_decoding_error_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="exceeds"):
            NdjsonDecoder(max_line_bytes=2).feed(b"12345\n")


def records_as_text(items: list[SseEvent] | list[bytes]) -> list[str]:
    return [i.data if isinstance(i, SseEvent) else i.decode() for i in items]


class TestSharedBetweenThreads:
    """One decoder fed by several threads: every `feed` is atomic (its records come out of
    that call, none lost or repeated), instead of `RuntimeError: Already borrowed`."""

    @staticmethod
    def chunk(kind: str, tag: str, round: int, records: int) -> tuple[bytes, list[str]]:
        """Whole records only, so that any order of the feeds is a valid stream."""
        texts = [f"{tag}-{round}-{i}-" + "x" * 1024 for i in range(records)]
        if kind == "sse":
            return b"".join(f"id: {t[:12]}\ndata: {t}\n\n".encode() for t in texts), texts
        return b"".join(f"{t}\r\n".encode() for t in texts), texts

    @pytest.mark.parametrize("kind", ["sse", "ndjson"])
    def test_concurrent_feeds_lose_and_repeat_nothing(self, kind: str) -> None:
        # Each chunk is over 64 KiB, so a feed decodes with the interpreter released and
        # another thread's feed comes in meanwhile.
        rounds, records, threads = 40, 80, 3
        assert len(self.chunk(kind, "t", 0, records)[0]) > 64 * 1024
        decoder = SseDecoder() if kind == "sse" else NdjsonDecoder()
        start = threading.Barrier(threads)

        def worker(tag: str) -> list[str]:
            start.wait()
            got: list[str] = []
            for round in range(rounds):
                data, expected = self.chunk(kind, tag, round, records)
                out = records_as_text(decoder.feed(data))
                assert out == expected
                got += out
            return got

        with ThreadPoolExecutor(threads) as pool:
            results = [pool.submit(worker, f"t{n}") for n in range(threads)]
            got = [text for result in results for text in result.result(timeout=120)]
        expected = [
            text
            for n in range(threads)
            for r in range(rounds)
            for text in self.chunk(kind, f"t{n}", r, records)[1]
        ]
        assert Counter(got) == Counter(expected)
        assert len(got) == len(expected)
        assert records_as_text(decoder.finish()) == []

    @pytest.mark.parametrize("kind", ["sse", "ndjson"])
    def test_a_feed_meanwhile_another_converts_its_input(self, kind: str) -> None:
        """Deterministic: the first feed runs Python code (its input's `__bytes__`), which
        lets the second thread in while the first call is under way."""
        converting, fed = threading.Event(), threading.Event()
        first_data, _ = self.chunk(kind, "first", 0, 1)
        second_data, second_texts = self.chunk(kind, "second", 0, 1)

        class Input:
            def __bytes__(self) -> bytes:
                converting.set()
                assert fed.wait(timeout=60), "the other thread's feed never returned"
                return first_data

        decoder = SseDecoder() if kind == "sse" else NdjsonDecoder()

        def feed_input() -> list[SseEvent] | list[bytes]:
            return decoder.feed(Input())  # type: ignore[arg-type]

        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(feed_input)
            assert converting.wait(timeout=60)
            try:
                second = records_as_text(decoder.feed(second_data))
            finally:
                fed.set()
            assert second == second_texts
            assert records_as_text(first.result(timeout=60)) == self.chunk(kind, "first", 0, 1)[1]


# Random streams built from the tokens that matter, cut at random points: chunked decoding
# must equal one-shot decoding.
SSE_TOKENS = st.sampled_from(
    [
        b"data:",
        b"data: ",
        b"event: e",
        b"id: 1",
        b"id",
        b"retry: 5",
        b":c",
        b"\r",
        b"\n",
        b"\r\n",
        b"x",
        b"\xc3\xa9",
        b"\xef\xbb\xbf",
        b"\x00",
        b" ",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    tokens=st.lists(SSE_TOKENS, max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    lenient=st.booleans(),
)
def test_sse_decoder_chunked_equals_one_shot(
    tokens: list[bytes], cuts: list[int], lenient: bool
) -> None:
    data = b"".join(tokens)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert decode_sse(chunks, lenient_eof=lenient) == decode_sse([data], lenient_eof=lenient)


class TestSseEvent:
    def test_fields_repr_eq_hash_and_json(self) -> None:
        event = SseEvent('{"a": [1]}', event="update", id="9", retry=10)
        assert (event.event, event.data, event.id, event.retry) == ("update", '{"a": [1]}', "9", 10)
        assert event.data_bytes == b'{"a": [1]}'
        assert event.json() == {"a": [1]}
        assert repr(event) == "SseEvent(event='update', data='{\"a\": [1]}', id='9', retry=10)"
        assert event == SseEvent(b'{"a": [1]}', event="update", id="9", retry=10)
        assert event != SseEvent("other")
        assert hash(event) == hash(SseEvent('{"a": [1]}', event="update", id="9", retry=10))
        assert len({event, SseEvent('{"a": [1]}', event="update", id="9", retry=10)}) == 1

    def test_defaults_and_a_long_repr_is_cut(self) -> None:
        event = SseEvent()
        assert (event.event, event.data, event.id, event.retry) == ("message", "", "", None)
        assert "…" in repr(SseEvent("y" * 1000))
        assert len(repr(SseEvent("y" * 1000))) < 300

    def test_json_raises_value_error_for_non_json(self) -> None:
        with pytest.raises(ValueError, match="Expecting value"):
            SseEvent("not json").json()

    def test_events_are_immutable(self) -> None:
        event = SseEvent("a")
        with pytest.raises(AttributeError):
            event.data = "b"  # type: ignore[misc]

    def test_events_from_the_decoder_keep_raw_bytes(self) -> None:
        [event] = SseDecoder().feed(b"data: \xff\n\n")
        assert event.data == "\ufffd"
        assert event.data_bytes == b"\xff"


NDJSON_VECTORS: list[tuple[str, bytes, list[bytes]]] = [
    ("records end at LF", b'{"a":1}\n{"b":2}\n', [b'{"a":1}', b'{"b":2}']),
    (
        "CRLF and surrounding whitespace are trimmed",
        b'  {"a":1} \r\n\t{"b":2}\r\n',
        [b'{"a":1}', b'{"b":2}'],
    ),
    ("blank records are skipped", b'\n\n  \r\n{"a":1}\n\n', [b'{"a":1}']),
    ("an unterminated last record comes at finish", b'{"a":1}\n{"b":2}', [b'{"a":1}', b'{"b":2}']),
    ("bytes are not validated", b"not json\n\xff\n", [b"not json", b"\xff"]),
]


@pytest.mark.parametrize(
    ("name", "stream", "expected"), NDJSON_VECTORS, ids=[v[0] for v in NDJSON_VECTORS]
)
def test_ndjson_decoder_frames_records_for_any_chunking(
    name: str, stream: bytes, expected: list[bytes]
) -> None:
    for chunks in splits(stream):
        decoder = NdjsonDecoder()
        records = [r for chunk in chunks for r in decoder.feed(chunk)] + decoder.finish()
        assert records == expected, (name, chunks)


def test_ndjson_decoder_yields_records_as_soon_as_their_lf_arrives() -> None:
    decoder = NdjsonDecoder()
    assert decoder.feed(b'{"a":') == []
    assert decoder.feed(b'1}\n{"b"') == [b'{"a":1}']
    assert decoder.finish() == [b'{"b"']


def test_ndjson_decoder_skips_an_over_long_record_and_recovers() -> None:
    decoder = NdjsonDecoder(max_line_bytes=5)
    assert decoder.max_line_bytes == 5
    assert decoder.feed(b"ok\n0123456789\nfine\n") == [b"ok"]
    with pytest.raises(DecodingError, match="limit of 5 bytes"):
        decoder.feed(b"")
    assert decoder.feed(b"") == [b"fine"]
    # Over the limit before its LF arrives: reported once, dropped as it streams by.
    with pytest.raises(DecodingError):
        decoder.feed(b"x" * 100)
    assert decoder.feed(b"x" * 100) == []
    assert decoder.feed(b"\nlast") == []
    assert decoder.finish() == [b"last"]
    assert repr(decoder) == "NdjsonDecoder(max_line_bytes=5)"


@settings(max_examples=200, deadline=None)
@given(
    tokens=st.lists(st.sampled_from([b"{}", b"\n", b"\r\n", b" ", b"a", b"\xc3\xa9"]), max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_ndjson_decoder_chunked_equals_one_shot(tokens: list[bytes], cuts: list[int]) -> None:
    data = b"".join(tokens)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    chunked = NdjsonDecoder()
    got = [r for c in chunks for r in chunked.feed(c)] + chunked.finish()
    whole = NdjsonDecoder()
    assert got == whole.feed(data) + whole.finish()
