"""`mcp_wrapper_rs.wrapper`, the drop-in for `mcpgateway.wrapper`: its utilities, stdio, body
decoders, retry loop, main loop, signals and command line. HTTP against real servers is in
`test_wrapper_http.py`."""

from __future__ import annotations

import asyncio
import doctest
import errno
import itertools
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_wrapper_rs import wrapper
from wrapper_support import (
    FakeStdin,
    FakeStdout,
    TextOnlyStdin,
    TextOnlyStdout,
    collect_ndjson,
    collect_sse,
    install_stdout,
)


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    """Every test starts (and leaves) with no shutdown and the logger off."""
    wrapper._shutdown.clear()
    yield
    wrapper._shutdown.clear()
    wrapper.logger.disabled = True
    wrapper.logger.setLevel(logging.NOTSET)


# --------------------------------------------------------------------------------------------
# The module's surface
# --------------------------------------------------------------------------------------------

UPSTREAM_NAMES = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_RESPONSE_TIMEOUT",
    "JSONRPC_PARSE_ERROR",
    "JSONRPC_INTERNAL_ERROR",
    "JSONRPC_SERVER_ERROR",
    "CONTENT_TYPE",
    "logger",
    "_shutdown",
    "_mark_shutdown",
    "shutting_down",
    "setup_logging",
    "convert_url",
    "send_to_stdout",
    "make_error",
    "stdin_reader",
    "ndjson_lines",
    "sse_events",
    "forward_once",
    "make_request",
    "Settings",
    "main_async",
    "parse_args",
    "_install_signal_handlers",
    "main",
    "ResilientHttpClient",
    # Modules that code written for the original patches through the wrapper module.
    "asyncio",
    "signal",
    "orjson",
]


@pytest.mark.parametrize("name", UPSTREAM_NAMES)
def test_module_has_every_name_of_the_original(name: str) -> None:
    assert hasattr(wrapper, name)


def test_module_constants() -> None:
    assert wrapper.JSONRPC_PARSE_ERROR == -32700
    assert wrapper.JSONRPC_INTERNAL_ERROR == -32603
    assert wrapper.JSONRPC_SERVER_ERROR == -32000
    assert wrapper.DEFAULT_CONNECT_TIMEOUT == 15
    assert isinstance(wrapper._shutdown, asyncio.Event)
    assert wrapper.logger.propagate is False


def test_module_constants_come_from_the_environment_at_import() -> None:
    code = (
        "from mcp_wrapper_rs import wrapper as w;"
        "print(w.DEFAULT_CONCURRENCY, w.DEFAULT_RESPONSE_TIMEOUT, w.CONTENT_TYPE)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CONCURRENCY", "FORGE_CONTENT_TYPE")}
    env.pop("MCP_TOOL_CALL_TIMEOUT", None)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
    assert run.stdout.split() == [b"10", b"60.0", b"application/json"]
    env.update(CONCURRENCY="3", MCP_TOOL_CALL_TIMEOUT="7.5", FORGE_CONTENT_TYPE="text/x")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
    assert run.stdout.split() == [b"3", b"7.5", b"text/x"]


def test_module_does_not_need_mcpgateway_or_httpx() -> None:
    code = (
        "import sys; from mcp_wrapper_rs import wrapper;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcpgateway', 'httpx')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert run.stdout.strip() == b"[]"


def test_module_docstring_examples_run() -> None:
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for t in finder.find(wrapper, globs=vars(wrapper).copy()) if t.examples]
    assert len(tests) >= 6
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    wrapper._shutdown.clear()


# --------------------------------------------------------------------------------------------
# convert_url, make_error, setup_logging, the shutdown flag
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://gw:4444/servers/abc", "http://gw:4444/servers/abc/mcp/"),
        ("http://gw:4444/servers/abc/", "http://gw:4444/servers/abc//mcp/"),
        ("http://gw:4444/servers/abc/mcp", "http://gw:4444/servers/abc/mcp/"),
        ("http://gw:4444/servers/abc/mcp/", "http://gw:4444/servers/abc/mcp/"),
        ("http://gw:4444/servers/abc/sse", "http://gw:4444/servers/abc/mcp/"),
        ("https://gw/sse/servers/x/sse", "https://gw/mcp//servers/x/mcp/"),
        ("http://gw", "http://gw/mcp/"),
        ("http://gw/sse/", "http://gw/sse//mcp/"),
        ("http://gw/mcpx", "http://gw/mcpx/mcp/"),
    ],
)
def test_convert_url(given: str, expected: str) -> None:
    assert wrapper.convert_url(given) == expected


def test_make_error_shape() -> None:
    assert wrapper.make_error("broken") == {
        "jsonrpc": "2.0",
        "id": "bridge",
        "error": {"code": -32603, "message": "broken"},
    }
    with_data = wrapper.make_error("bad input", code=-32602, data={"field": "x"})
    assert with_data["error"] == {"code": -32602, "message": "bad input", "data": {"field": "x"}}
    # Only None leaves `data` out; other falsy values are kept.
    assert wrapper.make_error("m", data=0)["error"]["data"] == 0
    assert wrapper.make_error("m", data="")["error"]["data"] == ""
    assert "data" not in wrapper.make_error("m", data=None)["error"]


def test_setup_logging_levels_and_off_words(capsys: pytest.CaptureFixture[str]) -> None:
    wrapper.setup_logging(" warning ")
    assert not wrapper.logger.disabled
    assert wrapper.logger.level == logging.WARNING
    wrapper.logger.info("quiet")
    wrapper.logger.warning("loud %s", 1)
    err = capsys.readouterr().err
    assert "quiet" not in err
    assert " - mcp_wrapper_rs.wrapper - WARNING - loud 1" in err

    wrapper.setup_logging("no-such-level")
    assert wrapper.logger.level == logging.INFO

    for off in ["off", "None", "DISABLE", "false", "0", "", None]:
        wrapper.setup_logging("DEBUG")
        wrapper.setup_logging(off)
        assert wrapper.logger.disabled, off
    wrapper.logger.error("not shown")
    assert capsys.readouterr().err == ""


def test_logger_writes_to_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = TextOnlyStdout()
    monkeypatch.setattr(sys, "stderr", sink)
    wrapper.setup_logging("INFO")
    wrapper.logger.info("to the new stderr")
    assert any("to the new stderr" in text for text in sink.written)


def test_shutdown_flag_is_idempotent() -> None:
    assert wrapper.shutting_down() is False
    wrapper._mark_shutdown()
    wrapper._mark_shutdown()
    assert wrapper.shutting_down() is True
    wrapper._shutdown.clear()
    assert wrapper.shutting_down() is False


# --------------------------------------------------------------------------------------------
# send_to_stdout
# --------------------------------------------------------------------------------------------


def test_send_to_stdout_writes_compact_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = install_stdout(monkeypatch)
    wrapper.send_to_stdout({"jsonrpc": "2.0", "id": 1, "result": {"text": "é ✓"}})
    wrapper.send_to_stdout([1, 2])
    wrapper.send_to_stdout("just text")
    assert stdout.raw_lines() == [
        '{"jsonrpc":"2.0","id":1,"result":{"text":"é ✓"}}'.encode(),
        b"[1,2]",
        b'"just text"',
    ]


def test_send_to_stdout_falls_back_to_raw_text_for_non_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stdout = install_stdout(monkeypatch)
    wrapper.send_to_stdout(b'{"already":"encoded"}')
    wrapper.send_to_stdout({1, 2})  # type: ignore[arg-type]
    lines = stdout.raw_lines()
    assert lines[0] == b'{"already":"encoded"}'
    assert lines[1] in (b"{1, 2}", b"{2, 1}")


def test_send_to_stdout_without_a_binary_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    text_only = TextOnlyStdout()
    monkeypatch.setattr(sys, "stdout", text_only)
    wrapper.send_to_stdout({"a": [1]})
    wrapper.send_to_stdout(b"raw")
    assert text_only.written == ['{"a":[1]}\n', "raw\n"]
    assert text_only.flushes == 2


@pytest.mark.parametrize("code", [errno.EPIPE, errno.EIO, errno.ENOSPC])
def test_send_to_stdout_write_failure_starts_shutdown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], code: int
) -> None:
    class BrokenBuffer:
        def write(self, _data: bytes) -> int:
            raise OSError(code, os.strerror(code))

        def flush(self) -> None:
            raise AssertionError("no flush after a failed write")

    broken = FakeStdout()
    broken.buffer = BrokenBuffer()  # type: ignore[assignment]
    monkeypatch.setattr(sys, "stdout", broken)
    wrapper.setup_logging("ERROR")
    wrapper.send_to_stdout({"id": 1})  # does not raise
    assert wrapper.shutting_down()
    assert "OS error:" in capsys.readouterr().err


def test_send_to_stdout_looks_up_orjson_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = install_stdout(monkeypatch)

    class Encoder:
        @staticmethod
        def dumps(_obj: object) -> bytes:
            return b"<encoded>"

    monkeypatch.setattr(wrapper, "orjson", Encoder)
    wrapper.send_to_stdout({"x": 1})
    assert stdout.raw_lines() == [b"<encoded>"]


# --------------------------------------------------------------------------------------------
# stdin_reader
# --------------------------------------------------------------------------------------------


async def drain(queue: asyncio.Queue[Any]) -> list[Any]:
    items = []
    while True:
        item = await asyncio.wait_for(queue.get(), timeout=10)
        items.append(item)
        if item is None:
            return items


async def test_stdin_reader_parses_skips_blanks_and_ends_with_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n\n   \r\n  [1, 2]  \r\n"text"\n{"last":true}'
    monkeypatch.setattr(sys, "stdin", FakeStdin(data))
    queue: asyncio.Queue[Any] = asyncio.Queue()
    await wrapper.stdin_reader(queue)  # returns at EOF
    assert await drain(queue) == [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        [1, 2],
        "text",
        {"last": True},
        None,
    ]
    assert wrapper.shutting_down()


async def test_stdin_reader_queues_a_parse_error_for_bad_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin(b"{not json}\n\xff\xfe broken\n{}\n"))
    queue: asyncio.Queue[Any] = asyncio.Queue()
    await wrapper.stdin_reader(queue)
    first, second, third, end = await drain(queue)
    assert first == wrapper.make_error("Invalid JSON from stdin", -32700, "{not json}")
    assert second["error"]["data"] == "\ufffd\ufffd broken"
    assert third == {}
    assert end is None


async def test_stdin_reader_with_a_text_only_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", TextOnlyStdin('{"a":"é"}\nnope\n'))
    queue: asyncio.Queue[Any] = asyncio.Queue()
    await wrapper.stdin_reader(queue)
    items = await drain(queue)
    assert items[0] == {"a": "é"}
    assert items[1]["error"]["code"] == wrapper.JSONRPC_PARSE_ERROR
    assert items[2] is None


async def test_stdin_reader_reads_through_asyncio_to_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    async def inline(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(func, "__name__", "?"))
        return func(*args, **kwargs)

    monkeypatch.setattr(sys, "stdin", FakeStdin(b"1\n"))
    monkeypatch.setattr(asyncio, "to_thread", inline)
    queue: asyncio.Queue[Any] = asyncio.Queue()
    await wrapper.stdin_reader(queue)
    assert await drain(queue) == [1, None]
    assert calls == ["readline", "readline"]


# --------------------------------------------------------------------------------------------
# ndjson_lines and sse_events
# --------------------------------------------------------------------------------------------


async def test_ndjson_lines_trims_skips_blanks_and_keeps_the_tail() -> None:
    lines = await collect_ndjson(b'{"a":1}\n\n  {"b"', b"", b':2}  \r\n\t\n{"c":3}')
    assert lines == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


async def test_ndjson_lines_cr_alone_does_not_end_a_line() -> None:
    assert await collect_ndjson(b"1\r2\n") == [b"1\r2"]


async def test_ndjson_lines_stops_at_shutdown() -> None:
    class Body:
        async def aiter_bytes(self) -> Any:
            yield b"1\n2"
            wrapper._mark_shutdown()
            yield b"\n3\n"

    lines = [line async for line in wrapper.ndjson_lines(Body())]
    # The chunk after shutdown is not read; what was already buffered still comes out.
    assert lines == [b"1", b"2"]


async def test_ndjson_lines_over_the_limit_yields_an_empty_line_in_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wrapper, "_MAX_MESSAGE_BYTES", 16)
    body = b'{"ok":1}\n' + b"x" * 40 + b'\n{"ok":2}\n' + b"y" * 40
    # One chunk, and every byte its own chunk: the same lines, the same place.
    for chunks in ([body], [body[i : i + 1] for i in range(len(body))]):
        lines = await collect_ndjson(*chunks)
        assert lines == [b'{"ok":1}', b"", b'{"ok":2}', b""]
        assert "16 bytes" in lines[1].reason  # type: ignore[attr-defined]


async def test_sse_events_data_comments_and_fields() -> None:
    body = (
        b": keep-alive\n\n"
        b'event: message\nid: 7\nretry: 100\ndata: {"a":1}\n\n'
        b"data: line one\ndata: line two\n\n"
        b"event: ping\n\n"  # no data: nothing
        b"data\n\n"  # a data field with no value: an empty payload
        b"data:no-space\r\n\r\n"
        b"data: cr\rdata: only\r\r"
    )
    assert await collect_sse(body) == [
        b'{"a":1}',
        b"line one\nline two",
        b"",
        b"no-space",
        b"cr\nonly",
    ]


async def test_sse_events_unterminated_tail_is_still_yielded() -> None:
    assert await collect_sse(b"data: one\n\n", b"data: tail") == [b"one", b"tail"]
    assert await collect_sse(b"data: one\n\n", b"data") == [b"one", b""]
    # A tail with no data field yields nothing.
    assert await collect_sse(b"data: one\n\n", b": comment") == [b"one"]
    assert await collect_sse(b"data: one\n\n", b"event: message") == [b"one"]


async def test_sse_events_stop_at_shutdown() -> None:
    class Body:
        async def aiter_bytes(self) -> Any:
            yield b"data: 1\n\n"
            wrapper._mark_shutdown()
            yield b"data: 2\n\n"

    assert [e async for e in wrapper.sse_events(Body())] == [b"1"]


async def test_sse_events_over_the_limit_yields_empty_data_in_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wrapper, "_MAX_MESSAGE_BYTES", 32)
    events = await collect_sse(
        b"data: small\n\n", b"data: " + b"y" * 100 + b"\n\n", b"data: after\n\n"
    )
    assert events == [b"small", b"", b"after"]
    assert "32 bytes" in events[1].reason  # type: ignore[attr-defined]


RECORDS = st.lists(
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12).map(
        lambda s: s.strip()
    ),
    max_size=6,
)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=60, deadline=None)
@given(records=RECORDS, points=st.lists(st.integers(min_value=0), max_size=8))
def test_ndjson_lines_any_chunking_gives_the_same_lines(
    records: list[str], points: list[int]
) -> None:
    body = b"".join(r.encode() + b"\n" for r in records)
    expected = [r.encode() for r in records if r]
    assert asyncio.run(collect_ndjson(*cut(body, points))) == expected


@settings(max_examples=60, deadline=None)
@given(records=RECORDS, points=st.lists(st.integers(min_value=0), max_size=8))
def test_sse_events_any_chunking_gives_the_same_events(
    records: list[str], points: list[int]
) -> None:
    body = b"".join(b"data: " + r.encode() + b"\n\n" for r in records)
    expected = [r.encode() for r in records]
    assert asyncio.run(collect_sse(*cut(body, points))) == expected


# --------------------------------------------------------------------------------------------
# make_request: the retry loop around forward_once
# --------------------------------------------------------------------------------------------


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Records (and skips) every `asyncio.sleep` the wrapper makes."""
    delays: list[float] = []

    async def no_wait(delay: float, result: Any = None) -> Any:
        delays.append(delay)
        return result

    monkeypatch.setattr(asyncio, "sleep", no_wait)
    return delays


async def test_make_request_backs_off_and_gives_up(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    stdout = install_stdout(monkeypatch)
    attempts: list[object] = []

    async def failing(client: object, settings: object, payload: object) -> None:
        attempts.append(payload)
        raise ConnectionError("down")

    monkeypatch.setattr(wrapper, "forward_once", failing)
    settings = wrapper.Settings("http://gw/mcp/", None)
    await wrapper.make_request(None, settings, {"id": 1}, max_retries=7, base_delay=0.25)
    assert len(attempts) == 8
    assert sleeps == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert stdout.values() == [wrapper.make_error("max retries exceeded", -32000)]


async def test_make_request_defaults_are_five_retries_from_a_quarter_second(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    stdout = install_stdout(monkeypatch)

    async def failing(*_args: object) -> None:
        raise RuntimeError("no")

    monkeypatch.setattr(wrapper, "forward_once", failing)
    await wrapper.make_request(None, wrapper.Settings("u", None), {})
    assert sleeps == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert stdout.values()[0]["error"]["message"] == "max retries exceeded"


async def test_make_request_succeeds_after_failures(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    stdout = install_stdout(monkeypatch)
    outcomes = [OSError("a"), ValueError("b"), None]

    async def flaky(*_args: object) -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(wrapper, "forward_once", flaky)
    await wrapper.make_request(None, wrapper.Settings("u", None), {}, base_delay=0.01)
    assert outcomes == []
    assert sleeps == [0.01, 0.02]
    assert stdout.values() == []


async def test_make_request_stops_when_shutting_down(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    stdout = install_stdout(monkeypatch)
    calls: list[int] = []

    async def fail_and_shut_down(*_args: object) -> None:
        calls.append(1)
        wrapper._mark_shutdown()
        raise RuntimeError("gone")

    monkeypatch.setattr(wrapper, "forward_once", fail_and_shut_down)
    await wrapper.make_request(None, wrapper.Settings("u", None), {})
    assert calls == [1]
    await wrapper.make_request(None, wrapper.Settings("u", None), {})
    assert calls == [1]  # already shutting down: not even tried
    assert stdout.values() == []
    assert sleeps == []


# --------------------------------------------------------------------------------------------
# main_async
# --------------------------------------------------------------------------------------------


class RecordingClient:
    """Stands in for ResilientHttpClient in main_async."""

    made: ClassVar[list[RecordingClient]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.closed = False
        RecordingClient.made.append(self)

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def recording_client(monkeypatch: pytest.MonkeyPatch) -> type[RecordingClient]:
    RecordingClient.made = []
    monkeypatch.setattr(wrapper, "ResilientHttpClient", RecordingClient)
    return RecordingClient


async def wait_for(condition: Any, what: str, seconds: float = 30) -> None:
    """Polls `condition` until it holds; the deadline only matters when the code is wrong."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        await asyncio.sleep(0.001)


async def test_main_async_caps_concurrency_and_forwards_every_message(
    monkeypatch: pytest.MonkeyPatch, recording_client: type[RecordingClient]
) -> None:
    active = 0
    peak = 0
    done: list[Any] = []
    release = asyncio.Event()

    async def tracked(client: object, settings: object, payload: Any) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await release.wait()
        active -= 1
        done.append(payload)

    in_flight: list[int] = []

    async def reader(queue: asyncio.Queue[Any]) -> None:
        try:
            for n in range(5):
                await queue.put({"id": n})
            # Once the queue is empty the loop has made a task for every message, all in one
            # step (`get` does not suspend while the queue has items). One more turn of the
            # loop and each of those tasks has run its first step (the ready queue is first
            # in, first out): an uncapped one would be active by now.
            await wait_for(queue.empty, "the loop to take every message")
            await asyncio.sleep(0)
            in_flight.append(active)
            release.set()
            await wait_for(lambda: len(done) == 5, "all requests")
        finally:
            await queue.put(None)

    monkeypatch.setattr(wrapper, "stdin_reader", reader)
    monkeypatch.setattr(wrapper, "make_request", tracked)
    await wrapper.main_async(wrapper.Settings("http://gw/mcp/", None, concurrency=2))
    assert in_flight == [2]
    assert peak == 2
    assert sorted(p["id"] for p in done) == [0, 1, 2, 3, 4]
    assert wrapper.shutting_down()
    [client] = recording_client.made
    assert client.closed


async def test_main_async_cancels_requests_in_flight_at_eof(
    monkeypatch: pytest.MonkeyPatch, recording_client: type[RecordingClient]
) -> None:
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def hangs(*_args: object) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def reader(queue: asyncio.Queue[Any]) -> None:
        await queue.put({"id": 1})
        await started.wait()
        await queue.put(None)

    monkeypatch.setattr(wrapper, "stdin_reader", reader)
    monkeypatch.setattr(wrapper, "make_request", hangs)
    await asyncio.wait_for(wrapper.main_async(wrapper.Settings("http://gw/mcp/", None)), 10)
    assert cancelled == [True]
    assert recording_client.made[0].closed


async def test_main_async_forwards_stdin_parse_errors_like_any_message(
    monkeypatch: pytest.MonkeyPatch, recording_client: type[RecordingClient]
) -> None:
    # The original posts the error object it made for a bad stdin line to the server; so do we.
    payloads: list[Any] = []
    monkeypatch.setattr(sys, "stdin", FakeStdin(b"{broken\n"))

    async def record(client: object, settings: object, payload: Any) -> None:
        payloads.append(payload)

    real_reader = wrapper.stdin_reader

    async def reader(queue: asyncio.Queue[Any]) -> None:
        inner: asyncio.Queue[Any] = asyncio.Queue()
        await real_reader(inner)
        wrapper._shutdown.clear()  # reached EOF; let the loop take the message first
        await queue.put(inner.get_nowait())
        await wait_for(lambda: payloads, "the forwarded message")
        await queue.put(inner.get_nowait())

    monkeypatch.setattr(wrapper, "stdin_reader", reader)
    monkeypatch.setattr(wrapper, "make_request", record)
    await wrapper.main_async(wrapper.Settings("http://gw/mcp/", None))
    assert payloads == [wrapper.make_error("Invalid JSON from stdin", -32700, "{broken")]


@pytest.mark.parametrize(
    ("skip", "verify"), [(None, True), ("false", True), ("1", False), ("TRUE", False)]
)
async def test_main_async_builds_its_client_from_settings(
    monkeypatch: pytest.MonkeyPatch,
    recording_client: type[RecordingClient],
    skip: str | None,
    verify: bool,
) -> None:
    if skip is None:
        monkeypatch.delenv("SKIP_SSL_VERIFY", raising=False)
    else:
        monkeypatch.setenv("SKIP_SSL_VERIFY", skip)

    async def eof(queue: asyncio.Queue[Any]) -> None:
        await queue.put(None)

    monkeypatch.setattr(wrapper, "stdin_reader", eof)
    settings = wrapper.Settings("http://gw/mcp/", None, connect_timeout=3, response_timeout=9)
    await wrapper.main_async(settings)
    [client] = recording_client.made
    assert client.kwargs == {
        "max_retries": 5,
        "base_backoff": 0.25,
        "max_delay": 8.0,
        "jitter_max": 0.25,
        "client_args": {"timeout": 9, "connect_timeout": 3, "http2": True, "verify": verify},
    }
    assert client.closed


async def test_main_async_when_already_shutting_down_reads_nothing(
    monkeypatch: pytest.MonkeyPatch, recording_client: type[RecordingClient]
) -> None:
    wrapper._mark_shutdown()
    reads: list[int] = []

    async def reader(queue: asyncio.Queue[Any]) -> None:
        reads.append(1)
        await asyncio.Event().wait()  # would block forever: main_async must cancel it

    monkeypatch.setattr(wrapper, "stdin_reader", reader)
    await asyncio.wait_for(wrapper.main_async(wrapper.Settings("http://gw/mcp/", None)), 10)
    assert recording_client.made[0].closed


# --------------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_handlers_start_shutdown(signum: signal.Signals) -> None:
    before = signal.getsignal(signum)
    loop = asyncio.new_event_loop()
    try:
        wrapper._install_signal_handlers(loop)
        os.kill(os.getpid(), signum)
        # The handler runs on the loop once the signal's wake-up byte is read: run the loop
        # until it has.
        loop.run_until_complete(wait_for(wrapper.shutting_down, "the signal handler"))
    finally:
        loop.close()  # removes the handlers again
    assert signal.getsignal(signum) in (before, signal.SIG_DFL, signal.default_int_handler)


def test_signal_handlers_tolerate_loops_and_platforms_without_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts: list[int] = []

    class NoSignals:
        def add_signal_handler(self, signum: int, callback: Any) -> None:
            attempts.append(signum)
            raise NotImplementedError

    wrapper._install_signal_handlers(NoSignals())  # type: ignore[arg-type]
    assert attempts == [signal.SIGINT, signal.SIGTERM]

    monkeypatch.delattr(signal, "SIGTERM")
    attempts.clear()
    wrapper._install_signal_handlers(NoSignals())  # type: ignore[arg-type]
    assert attempts == [signal.SIGINT]


# --------------------------------------------------------------------------------------------
# Settings, parse_args and main
# --------------------------------------------------------------------------------------------


def test_settings_fields_and_defaults() -> None:
    settings = wrapper.Settings("http://gw/mcp/", "Bearer t")
    assert settings.connect_timeout == wrapper.DEFAULT_CONNECT_TIMEOUT
    assert settings.response_timeout == wrapper.DEFAULT_RESPONSE_TIMEOUT
    assert settings.concurrency == wrapper.DEFAULT_CONCURRENCY
    assert settings.log_level is None
    positional = wrapper.Settings("u", None, 1, 2, 3, "INFO")
    assert (positional.connect_timeout, positional.response_timeout) == (1, 2)
    assert (positional.concurrency, positional.log_level) == (3, "INFO")
    settings.content_type = "application/x-www-form-urlencoded"  # type: ignore[attr-defined]


def parse(monkeypatch: pytest.MonkeyPatch, *argv: str) -> wrapper.Settings:
    monkeypatch.setattr(sys, "argv", ["mcp-wrapper", *argv])
    return wrapper.parse_args()


def test_parse_args_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_SERVER_URL", "http://gw:4444/servers/s1/sse")
    monkeypatch.setenv("MCP_AUTH", "Bearer env")
    monkeypatch.setenv("MCP_TOOL_CALL_TIMEOUT", "42")
    monkeypatch.setenv("MCP_WRAPPER_LOG_LEVEL", "debug")
    settings = parse(monkeypatch)
    assert settings == wrapper.Settings(
        server_url="http://gw:4444/servers/s1/mcp/",
        auth_header="Bearer env",
        connect_timeout=15,
        response_timeout=42.0,
        concurrency=wrapper.DEFAULT_CONCURRENCY,
        log_level="debug",
    )


def test_parse_args_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_SERVER_URL", "http://env/")
    monkeypatch.setenv("MCP_AUTH", "Bearer env")
    monkeypatch.delenv("MCP_WRAPPER_LOG_LEVEL", raising=False)
    monkeypatch.delenv("MCP_TOOL_CALL_TIMEOUT", raising=False)
    settings = parse(
        monkeypatch, "--url", "http://flag/mcp", "--auth", "Basic x", "--timeout", "2.5"
    )
    assert settings.server_url == "http://flag/mcp/"
    assert settings.auth_header == "Basic x"
    assert settings.response_timeout == 2.5
    assert settings.log_level == "INFO"  # the default level when none is given
    no_timeout = parse(monkeypatch, "--log-level", "OFF")
    assert no_timeout.response_timeout == wrapper.DEFAULT_RESPONSE_TIMEOUT
    assert no_timeout.log_level == "OFF"


def test_parse_args_without_a_url_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MCP_SERVER_URL", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        parse(monkeypatch)
    assert exit_info.value.code == 2
    assert "MCP server URL must be provided" in capsys.readouterr().err


def test_main_runs_main_async_on_a_fresh_loop_with_signal_handlers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}
    settings = wrapper.Settings("http://gw/mcp/", None, log_level="INFO")

    def install(loop: asyncio.AbstractEventLoop) -> None:
        seen["loop"] = loop

    async def run(given: wrapper.Settings) -> None:
        seen["settings"] = given
        seen["running"] = asyncio.get_running_loop()

    monkeypatch.setattr(wrapper, "parse_args", lambda: settings)
    monkeypatch.setattr(wrapper, "_install_signal_handlers", install)
    monkeypatch.setattr(wrapper, "main_async", run)
    try:
        wrapper.main()
    finally:
        asyncio.set_event_loop(None)
    assert seen["settings"] is settings
    assert seen["running"] is seen["loop"]
    assert seen["loop"].is_closed()
    err = capsys.readouterr().err
    assert "Starting MCP stdio wrapper -> http://gw/mcp/" in err
    assert "Shutdown complete." in err


def test_main_with_logging_off_is_silent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def run(_settings: wrapper.Settings) -> None:
        pass

    monkeypatch.setattr(wrapper, "parse_args", lambda: wrapper.Settings("u", None, log_level="off"))
    monkeypatch.setattr(wrapper, "main_async", run)
    try:
        wrapper.main()
    finally:
        asyncio.set_event_loop(None)
    assert capsys.readouterr().err == ""


def test_main_closes_the_loop_when_main_async_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def boom(_settings: wrapper.Settings) -> None:
        loops.append(asyncio.get_running_loop())
        raise RuntimeError("boom")

    monkeypatch.setattr(wrapper, "parse_args", lambda: wrapper.Settings("u", None))
    monkeypatch.setattr(wrapper, "main_async", boom)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            wrapper.main()
    finally:
        asyncio.set_event_loop(None)
    assert loops[0].is_closed()


def test_python_dash_m_without_a_url_prints_usage_and_exits_2() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MCP_SERVER_URL"}
    run = subprocess.run(
        [sys.executable, "-m", "mcp_wrapper_rs.wrapper"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        check=False,
    )
    assert run.returncode == 2
    assert b"--url" in run.stderr or b"MCP server URL" in run.stderr
    help_run = subprocess.run(
        [sys.executable, "-m", "mcp_wrapper_rs.wrapper", "--help"],
        capture_output=True,
        check=True,
    )
    for flag in (b"--url", b"--auth", b"--timeout", b"--log-level"):
        assert flag in help_run.stdout
