"""`mcp_wrapper_rs.wrapper` over real HTTP: forward_once for every body format and encoding,
ResilientHttpClient's retries, make_request end to end, and `python -m mcp_wrapper_rs.wrapper`
as a process. Servers: test-server (MCP, with scripted faults) and the plain `http_server.py`."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from socket import socket
from typing import Any

import pytest

import mcp_wrapper_rs
from mcp_wrapper_rs import wrapper
from wrapper_support import (
    install_stdout,
    json_lines,
    quick_client,
    run_module,
    run_upstream,
    start_module,
)

from support import Server, request, stream_call

# test-server counts arrivals per request id for the whole session (`times` in a fault), so
# every request here gets an id of its own.
_ids = itertools.count(7_000_000)


def new_id() -> int:
    return next(_ids)


def refused_url() -> str:
    with socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mcp/"


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    wrapper._shutdown.clear()
    yield
    wrapper._shutdown.clear()


async def forward(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    payload: Any,
    *,
    content_type: str | None = None,
    auth: str | None = None,
    client: wrapper.ResilientHttpClient | None = None,
) -> list[Any]:
    """forward_once through a quick client; what it wrote to stdout, parsed."""
    stdout = install_stdout(monkeypatch)
    settings = wrapper.Settings(url, auth)
    if content_type is not None:
        settings.content_type = content_type  # type: ignore[attr-defined]
    own = client is None
    client = client or quick_client()
    try:
        await wrapper.forward_once(client, settings, payload)
    finally:
        if own:
            await client.aclose()
    return stdout.values()


def progress_then_result(values: list[Any], rid: int, count: int) -> None:
    assert [v.get("method") for v in values] == ["notifications/progress"] * count + [None]
    assert values[-1]["id"] == rid
    assert values[-1]["result"]["content"][0]["text"] == f"streamed {count} events"


# --------------------------------------------------------------------------------------------
# forward_once: every content type
# --------------------------------------------------------------------------------------------


async def test_forward_once_json_answer(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server
) -> None:
    rid = new_id()
    values = await forward(monkeypatch, mcp_server.url, request(rid, "ping"))
    assert values == [{"jsonrpc": "2.0", "id": rid, "result": {}}]


@pytest.mark.parametrize(
    "fault",
    [
        {},
        {"chunk_size": 1},
        {"line_ending": "cr_lf", "split_at": [5, 17, 40]},
        {"line_ending": "cr", "chunk_size": 7},
        {"multiline_data": True},
        {"sse_comments": True, "event_ids": True},
        {"gzip": True},
        {"format": "ndjson"},
        {"format": "ndjson", "chunk_size": 3, "line_ending": "cr_lf"},
        {"format": "text_plain"},
        {"format": "no_content_type"},
    ],
    ids=[
        "sse",
        "sse 1-byte chunks",
        "sse crlf split",
        "sse cr 7-byte chunks",
        "sse multiline data",
        "sse comments and ids",
        "sse gzip",
        "ndjson",
        "ndjson crlf 3-byte chunks",
        "text/plain read as ndjson",
        "no content type read as ndjson",
    ],
)
async def test_forward_once_streams_every_message(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server, fault: dict[str, Any]
) -> None:
    rid = new_id()
    values = await forward(monkeypatch, mcp_server.url, stream_call(rid, 3, **fault))
    progress_then_result(values, rid, 3)


async def test_forward_once_json_format_writes_only_the_answer(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server
) -> None:
    rid = new_id()
    values = await forward(monkeypatch, mcp_server.url, stream_call(rid, 2, format="json"))
    assert [v["id"] for v in values] == [rid]


async def test_forward_once_batch_in_json(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server
) -> None:
    a, b = new_id(), new_id()
    values = await forward(monkeypatch, mcp_server.url, [request(a, "ping"), request(b, "ping")])
    assert values == [
        [{"jsonrpc": "2.0", "id": a, "result": {}}, {"jsonrpc": "2.0", "id": b, "result": {}}]
    ]


async def test_forward_once_notification_202_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server
) -> None:
    notification = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert await forward(monkeypatch, mcp_server.url, notification) == []


async def test_forward_once_a_large_sse_message_arrives_whole(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server
) -> None:
    # Larger than the native decoders' default event limit (16 MiB); the wrapper allows 64.
    size = 20 * 1024 * 1024
    rid = new_id()
    values = await forward(
        monkeypatch, mcp_server.url, stream_call(rid, 1, message_bytes=size, chunk_size=1 << 16)
    )
    assert values[-1]["id"] == rid
    assert len(json.dumps(values[-1], separators=(",", ":"))) == size


@pytest.mark.parametrize("fmt", ["sse", "ndjson"])
async def test_forward_once_invalid_json_in_a_stream(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server, fmt: str
) -> None:
    rid = new_id()
    values = await forward(
        monkeypatch, mcp_server.url, stream_call(rid, 1, format=fmt, invalid_json=True)
    )
    assert values[0]["method"] == "notifications/progress"
    error = values[1]
    assert error["id"] == "bridge"
    assert error["error"]["code"] == -32700
    assert error["error"]["message"] == "Invalid JSON from server"
    # As in the original, the data is the Python repr of the bytes received.
    assert error["error"]["data"].startswith("b'{")
    assert f'"id":{rid}' in error["error"]["data"]


async def test_forward_once_invalid_json_answer(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server
) -> None:
    rid = new_id()
    [error] = await forward(monkeypatch, mcp_server.url, request(rid, "ping", invalid_json=True))
    assert error["error"]["message"] == "Invalid JSON response"
    assert error["error"]["data"].startswith('{"jsonrpc":"2.0","id":')


@pytest.mark.parametrize("status", [400, 401, 404, 500, 501])
async def test_forward_once_non_2xx_is_one_error_with_the_status_as_code(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server, status: int
) -> None:
    # `times: 1`: a second attempt would succeed, so any retry would show.
    rid = new_id()
    body = {"kind": "jsonrpc", "code": -32001, "message": "denied"}
    values = await forward(
        monkeypatch,
        mcp_server.url,
        request(rid, "ping", status=status, error_body=body, times=1),
    )
    assert values == [wrapper.make_error(f"HTTP {status}", code=status)]


@pytest.mark.parametrize("fmt", ["sse", "ndjson"])
async def test_forward_once_record_over_the_limit_is_reported_not_retried(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server, fmt: str
) -> None:
    monkeypatch.setattr(wrapper, "_MAX_MESSAGE_BYTES", 4096)
    rid = new_id()
    payload = stream_call(rid, 1, format=fmt, message_bytes=10_000, times=1)
    stdout = install_stdout(monkeypatch)
    client = quick_client()
    try:
        await wrapper.make_request(client, wrapper.Settings(mcp_server.url, None), payload)
    finally:
        await client.aclose()
    values = stdout.values()
    assert values[0]["method"] == "notifications/progress"
    assert values[1]["error"]["message"] == "Response exceeds the size limit"
    assert "4096" in values[1]["error"]["data"]
    assert len(values) == 2


@pytest.mark.parametrize(
    "fault",
    [{"format": "json", "end_without_response": True}, {"status": 202}],
    ids=["200 application/json, empty body", "202, no body"],
)
async def test_forward_once_empty_body_writes_what_the_original_writes(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server, fault: dict[str, Any]
) -> None:
    payload = request(new_id(), "ping", **fault)
    expected = run_upstream({"op": "forward", "url": mcp_server.url, "payload": payload})
    assert await forward(monkeypatch, mcp_server.url, payload) == expected


@pytest.mark.parametrize("fmt", ["sse", "ndjson"])
async def test_forward_once_record_over_the_limit_keeps_the_records_after_it(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server, fmt: str
) -> None:
    limit = 4096

    def note(data: str) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": data}}

    rid = new_id()
    payload = request(
        rid,
        "ping",
        format=fmt,
        before_answer=[note("before"), note("x" * 2 * limit)],
        after_answer=[note("after")],
    )
    # The original has no limit: it writes all four messages, the answer third.
    expected = run_upstream({"op": "forward", "url": mcp_server.url, "payload": payload})
    assert [value.get("id") for value in expected] == [None, None, rid, None]

    monkeypatch.setattr(wrapper, "_MAX_MESSAGE_BYTES", limit)
    values = await forward(monkeypatch, mcp_server.url, payload)
    # The same, with the message over the limit replaced by an error in its place.
    assert len(values) == len(expected)
    for got, want in zip(values, expected, strict=True):
        if len(json.dumps(want)) > limit:
            assert got["id"] == "bridge"
            assert got["error"]["message"] == "Response exceeds the size limit"
            assert f"{limit} bytes" in got["error"]["data"]
        else:
            assert got == want


async def test_forward_once_stops_writing_at_shutdown(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server
) -> None:
    written: list[Any] = []

    def write_then_shut_down(value: Any) -> None:
        written.append(value)
        wrapper._mark_shutdown()

    monkeypatch.setattr(wrapper, "send_to_stdout", write_then_shut_down)
    client = quick_client()
    try:
        settings = wrapper.Settings(mcp_server.url, None)
        await wrapper.forward_once(client, settings, stream_call(new_id(), 5, interval_ms=20))
    finally:
        await client.aclose()
    assert len(written) == 1


async def test_forward_once_sends_nothing_once_shutting_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrapper._mark_shutdown()
    # An unreachable server: any attempt to send would raise.
    assert await forward(monkeypatch, refused_url(), request(1, "ping")) == []


# --------------------------------------------------------------------------------------------
# forward_once: what is sent (the echo server answers with the request it got)
# --------------------------------------------------------------------------------------------


async def echoed(
    monkeypatch: pytest.MonkeyPatch, server: Server, payload: Any, **kwargs: Any
) -> dict[str, Any]:
    [answer] = await forward(monkeypatch, f"{server.base}/echo", payload, **kwargs)
    assert isinstance(answer, dict)
    return answer


async def test_forward_once_sends_json_with_the_original_headers(
    monkeypatch: pytest.MonkeyPatch, http_server: Server
) -> None:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"q": "é"}}
    sent = await echoed(monkeypatch, http_server, message, auth="Bearer s3cret")
    assert sent["method"] == "POST"
    assert json.loads(sent["body"]) == message
    assert sent["body"] == json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    headers = sent["headers"]
    assert headers["content-type"] == ["application/json; charset=utf-8"]
    assert headers["accept"] == ["application/json, application/x-ndjson, text/event-stream"]
    assert headers["authorization"] == ["Bearer s3cret"]


async def test_forward_once_sends_a_string_payload_as_it_is(
    monkeypatch: pytest.MonkeyPatch, http_server: Server
) -> None:
    raw = '{ "jsonrpc" : "2.0", "id" : 2, "method" : "ping" }'
    sent = await echoed(monkeypatch, http_server, raw)
    assert sent["body"] == raw
    assert "authorization" not in sent["headers"]


async def test_forward_once_form_encoding(
    monkeypatch: pytest.MonkeyPatch, http_server: Server
) -> None:
    form = "application/x-www-form-urlencoded"
    sent = await echoed(monkeypatch, http_server, {"a": "b c", "n": 1}, content_type=form)
    assert sent["body"] == "a=b+c&n=1"
    assert sent["headers"]["content-type"] == [form]
    sent = await echoed(monkeypatch, http_server, "raw=text&x=1", content_type=form)
    assert sent["body"] == "raw=text&x=1"
    assert sent["headers"]["content-type"] == [form]
    # A list is neither a dict nor a string: its text goes as it is.
    sent = await echoed(monkeypatch, http_server, [1, 2], content_type=form)
    assert sent["body"] == "[1, 2]"


async def test_forward_once_auto_detects_flat_dicts_as_forms(
    monkeypatch: pytest.MonkeyPatch, http_server: Server
) -> None:
    flat = {"s": "x", "i": 1, "f": 1.5, "b": True, "n": None}
    sent = await echoed(monkeypatch, http_server, flat, content_type="auto")
    assert sent["body"] == "s=x&i=1&f=1.5&b=True&n=None"
    assert sent["headers"]["content-type"] == ["application/x-www-form-urlencoded"]
    nested = {"jsonrpc": "2.0", "params": {"k": 1}}
    sent = await echoed(monkeypatch, http_server, nested, content_type="auto")
    assert sent["body"] == '{"jsonrpc":"2.0","params":{"k":1}}'
    assert sent["headers"]["content-type"] == ["application/json; charset=utf-8"]


async def test_forward_once_falls_back_to_the_module_content_type(
    monkeypatch: pytest.MonkeyPatch, http_server: Server
) -> None:
    monkeypatch.setattr(wrapper, "CONTENT_TYPE", "application/x-www-form-urlencoded")
    sent = await echoed(monkeypatch, http_server, {"a": "1"})
    assert sent["body"] == "a=1"


# --------------------------------------------------------------------------------------------
# ResilientHttpClient
# --------------------------------------------------------------------------------------------


async def test_resilient_client_reopens_after_a_retryable_status(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server
) -> None:
    for status in (408, 502, 503, 504):
        rid = new_id()
        values = await forward(
            monkeypatch, mcp_server.url, request(rid, "ping", status=status, times=1)
        )
        assert values == [{"jsonrpc": "2.0", "id": rid, "result": {}}], status


async def test_resilient_client_honours_retry_after_on_429(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server
) -> None:
    rid = new_id()
    started = time.monotonic()
    values = await forward(
        monkeypatch, mcp_server.url, request(rid, "ping", status=429, retry_after="0.3", times=1)
    )
    assert time.monotonic() - started >= 0.3
    assert values[0]["id"] == rid


async def test_resilient_client_gives_up_with_runtime_error(mcp_server: Server) -> None:
    async with quick_client(max_retries=2) as client:
        message = request(new_id(), "ping", status=503)
        with pytest.raises(RuntimeError, match="Max retries reached"):
            async with client.stream("POST", mcp_server.url, json=message):
                pass


async def test_resilient_client_retries_connect_errors_then_raises_from_them() -> None:
    async with quick_client(max_retries=3) as client:
        with pytest.raises(RuntimeError) as info:
            async with client.stream("POST", refused_url(), content=b"{}"):
                pass
    assert isinstance(info.value.__cause__, mcp_wrapper_rs.ConnectError)


async def test_resilient_client_retries_a_read_timeout(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server
) -> None:
    rid = new_id()
    client = quick_client(timeout=0.3)
    try:
        values = await forward(
            monkeypatch,
            mcp_server.url,
            # Only the first attempt is delayed, by far more than the 0.3 s timeout.
            request(rid, "ping", delay_headers_ms=60_000, times=1),
            client=client,
        )
    finally:
        await client.aclose()
    assert values == [{"jsonrpc": "2.0", "id": rid, "result": {}}]


async def test_resilient_client_zero_attempts(mcp_server: Server) -> None:
    async with quick_client(max_retries=0) as client:
        with pytest.raises(RuntimeError):
            async with client.stream("POST", mcp_server.url, content=b"{}"):
                pass


async def test_resilient_client_request_raises_the_last_error_as_the_original() -> None:
    url = refused_url()
    job = {"op": "request", "method": "POST", "url": url, "kwargs": {"content": "{}"}}
    expected = run_upstream(job)
    assert expected == {"raised": "ConnectError"}
    async with quick_client(max_retries=3) as client:
        with pytest.raises(mcp_wrapper_rs.ConnectError) as info:
            await client.request("POST", url, content=b"{}")
    assert type(info.value).__name__ == expected["raised"]


@pytest.mark.parametrize("attempts", [3, 0])
async def test_resilient_client_request_returns_the_last_retryable_status_as_the_original(
    mcp_server: Server, attempts: int
) -> None:
    # Always 503: every attempt gets it. With no attempts at all there is no response.
    body = json.dumps(
        request(new_id(), "ping", status=503, error_body={"kind": "text", "text": "busy"})
    )
    kwargs = {"content": body, "headers": {"Content-Type": "application/json"}}
    job = {"op": "request", "method": "POST", "url": mcp_server.url, "kwargs": kwargs}
    expected = run_upstream({**job, "max_retries": attempts})
    assert expected == ({"status": 503, "text": "busy"} if attempts else None)
    async with quick_client(max_retries=attempts) as client:
        response = await client.request("POST", mcp_server.url, **kwargs)
    got = None if response is None else {"status": response.status_code, "text": response.text}
    assert got == expected


async def test_resilient_client_request_takes_params_and_timeout_as_the_original(
    http_server: Server,
) -> None:
    url = f"{http_server.base}/echo?keep=1&a=old&x=a%20b"
    params = {"a": "b c", "list": ["1", "2"], "yes": True, "none": None, "text": "é&=/"}
    kwargs = {"params": params, "timeout": 5.0}
    expected = run_upstream({"op": "request", "method": "GET", "url": url, "kwargs": kwargs})
    async with quick_client() as client:
        response = await client.get(url, **kwargs)
        assert response is not None
        assert response.json()["path"] == json.loads(expected["text"])["path"]

        # The request's own timeout wins over the client's (10 s here).
        slow = f"{http_server.base}/slow-body?ms=5000"
        job = {"kwargs": {"timeout": 0.5}, "max_retries": 1}
        expected = run_upstream({"op": "request", "method": "GET", "url": slow, **job})
        assert expected == {"raised": "ReadTimeout"}
    async with quick_client(max_retries=1) as client:
        with pytest.raises(mcp_wrapper_rs.ReadTimeout):
            await client.get(slow, timeout=0.5)


_DEFAULTS_PROGRAM = """
import json
from mcp_wrapper_rs.wrapper import ResilientHttpClient
args = {"timeout": 30.0}
client = ResilientHttpClient(client_args=args)
limits = args["limits"]
print(json.dumps({
    "retries": [client.max_retries, client.base_backoff, client.max_delay, client.jitter_max],
    "limits": [limits.max_connections, limits.max_keepalive_connections, limits.keepalive_expiry],
    "given_dict_is_kept": client.client_args is args,
}))
"""


@pytest.mark.parametrize(
    "env",
    [
        {},
        {
            "RETRY_MAX_ATTEMPTS": "7",
            "RETRY_BASE_DELAY": "0.5",
            "RETRY_MAX_DELAY": "9",
            "RETRY_JITTER_MAX": "0.1",
            "HTTPX_MAX_CONNECTIONS": "50",
            "HTTPX_MAX_KEEPALIVE_CONNECTIONS": "20",
            "HTTPX_KEEPALIVE_EXPIRY": "12.5",
        },
    ],
    ids=["defaults", "from the environment"],
)
def test_resilient_client_defaults_and_limits_as_the_original(env: dict[str, str]) -> None:
    expected = run_upstream({"op": "defaults"}, env)
    names = ("RETRY_", "HTTPX_")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(names)} | env
    done = subprocess.run(
        [sys.executable, "-c", _DEFAULTS_PROGRAM], env=full_env, capture_output=True, check=True
    )
    assert json.loads(done.stdout) == expected


async def test_resilient_client_should_retry_as_the_original() -> None:
    statuses = [200, 204, 302, 400, 401, 403, 404, 405, 406, 408, 418, 429, 500, 502, 503, 504]
    expected = run_upstream({"op": "should_retry", "statuses": statuses})
    async with quick_client() as client:
        got = [
            client._should_retry(Exception(), types.SimpleNamespace(status_code=status))
            for status in statuses
        ]
        assert got == expected
        assert client._should_retry(mcp_wrapper_rs.ConnectError("refused"), None)
        assert client._should_retry(mcp_wrapper_rs.ReadTimeout("slow"), None)
        assert not client._should_retry(ValueError("other"), None)


async def test_resilient_client_whole_responses_and_options(http_server: Server) -> None:
    timeout = types.SimpleNamespace(connect=5.0, read=10.0, write=10.0, pool=10.0)
    client = wrapper.ResilientHttpClient(
        client_args={"timeout": timeout, "http2": False, "headers": {"X-Team": "t"}, "limits": 1}
    )
    assert (client.max_retries, client.base_backoff, client.max_delay, client.jitter_max) == (
        3,
        1.0,
        60,
        0.5,
    )
    async with client:
        echo = f"{http_server.base}/echo"

        def whole(response: mcp_wrapper_rs.Response | None) -> mcp_wrapper_rs.Response:
            assert response is not None  # None only when no attempt is made at all
            return response

        posted = whole(await client.post(echo, data={"k": "v w"})).json()
        assert posted["body"] == "k=v+w"
        assert posted["headers"]["x-team"] == ["t"]
        assert whole(await client.post(echo, json={"a": 1})).json()["body"] == '{"a":1}'
        assert whole(await client.get(echo)).json()["method"] == "GET"
        assert whole(await client.put(echo, content=b"x")).json()["method"] == "PUT"
        assert whole(await client.delete(echo)).json()["method"] == "DELETE"
        missing = whole(await client.get(f"{http_server.base}/status/404"))
        assert missing.status_code == 404
        assert missing.text == "status 404"
    assert client.client.is_closed


def test_resilient_client_rejects_options_it_cannot_honour() -> None:
    with pytest.raises(TypeError, match="proxy"):
        wrapper.ResilientHttpClient(client_args={"proxy": "http://p"})


async def test_resilient_client_rejects_request_options_it_cannot_honour(
    http_server: Server,
) -> None:
    async with quick_client() as client:
        with pytest.raises(TypeError, match="cookies"):
            async with client.stream("GET", http_server.base, cookies={"a": "1"}):
                pass


# --------------------------------------------------------------------------------------------
# make_request end to end
# --------------------------------------------------------------------------------------------


async def test_make_request_writes_max_retries_exceeded_for_an_unreachable_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stdout = install_stdout(monkeypatch)
    client = quick_client(max_retries=2)
    try:
        settings = wrapper.Settings(refused_url(), None)
        await wrapper.make_request(
            client, settings, request(1, "ping"), max_retries=2, base_delay=0.001
        )
    finally:
        await client.aclose()
    assert stdout.values() == [wrapper.make_error("max retries exceeded", -32000)]


async def test_make_request_sends_a_broken_stream_again(
    monkeypatch: pytest.MonkeyPatch, mcp_server: Server
) -> None:
    # As the original does: a body that breaks mid-way is an error like any other, so the
    # request is sent again and what the first attempt wrote is written a second time.
    rid = new_id()
    payload = stream_call(rid, 3, interval_ms=5, reset_after_bytes=300, times=1)
    stdout = install_stdout(monkeypatch)
    client = quick_client()
    try:
        settings = wrapper.Settings(mcp_server.url, None)
        await wrapper.make_request(client, settings, payload, base_delay=0.001)
    finally:
        await client.aclose()
    values = stdout.values()
    assert [v.get("id") for v in values].count(rid) == 1
    assert len(values) > 4  # some progress twice
    progress_then_result(values[-4:], rid, 3)


# --------------------------------------------------------------------------------------------
# python -m mcp_wrapper_rs.wrapper
# --------------------------------------------------------------------------------------------


async def read_until(
    process: asyncio.subprocess.Process, done: Any, timeout: float = 30
) -> list[Any]:
    """Lines from the process's stdout, parsed, until `done(lines)` holds."""
    assert process.stdout is not None
    seen: list[Any] = []
    while not done(seen):
        line = await asyncio.wait_for(process.stdout.readline(), timeout)
        assert line, f"stdout ended early after {seen}"
        seen.append(json.loads(line))
    return seen


async def send_lines(process: asyncio.subprocess.Process, *lines: str) -> None:
    assert process.stdin is not None
    process.stdin.write("".join(line + "\n" for line in lines).encode())
    await process.stdin.drain()


async def close_and_wait(process: asyncio.subprocess.Process) -> bytes:
    """Close stdin, wait for the exit; the rest of stderr."""
    assert process.stdin is not None
    assert process.stderr is not None
    process.stdin.close()
    err = await asyncio.wait_for(process.stderr.read(), 30)
    await asyncio.wait_for(process.wait(), 30)
    return err


async def test_module_bridges_stdin_to_the_server(mcp_server: Server) -> None:
    ping, call = new_id(), new_id()
    process = await start_module(["--url", f"{mcp_server.base}/mcp", "--log-level", "off"])
    await send_lines(
        process,
        json.dumps(request(ping, "ping")),
        "",
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json.dumps(stream_call(call, 2)),
    )
    values = await read_until(process, lambda seen: {ping, call} <= {v.get("id") for v in seen})
    assert {"jsonrpc": "2.0", "id": ping, "result": {}} in values
    assert len([v for v in values if v.get("method") == "notifications/progress"]) == 2
    assert await close_and_wait(process) == b""
    assert process.returncode == 0


async def test_module_reads_the_environment_and_logs_to_stderr(mcp_server: Server) -> None:
    ping = new_id()
    process = await start_module(
        [],
        env={
            "MCP_SERVER_URL": f"{mcp_server.base}/sse",
            "MCP_WRAPPER_LOG_LEVEL": "DEBUG",
            "MCP_AUTH": "Bearer x",
        },
    )
    await send_lines(process, json.dumps(request(ping, "ping")))
    values = await read_until(process, lambda seen: len(seen) == 1)
    assert values == [{"jsonrpc": "2.0", "id": ping, "result": {}}]
    err = await close_and_wait(process)
    assert process.returncode == 0
    assert f"Starting MCP stdio wrapper -> {mcp_server.base}/mcp/".encode() in err
    assert b"HTTP 200 application/json" in err
    assert b"Shutdown complete." in err


def test_module_with_an_empty_stdin_exits_at_once() -> None:
    run = run_module(["--url", refused_url()], b"", timeout=30)
    assert run.returncode == 0
    assert run.stdout == b""


def test_module_eof_cancels_requests_in_flight(mcp_server: Server) -> None:
    # As in the original: end of input stops the bridge at once, and answers not yet written
    # are lost. (The native bridge, `mcp-wrapper`, waits for them instead.)
    slow = new_id()
    # Answered after two minutes at the earliest: only a bridge that waited would see it.
    run = run_module(
        ["--url", mcp_server.url], json.dumps(stream_call(slow, 2, interval_ms=60_000)).encode()
    )
    assert run.returncode == 0
    assert all(v.get("id") != slow for v in json_lines(run.stdout))


async def test_module_answers_while_the_server_streams(mcp_server: Server) -> None:
    # Two requests in flight at once: a slow stream does not hold back a ping. The slow call
    # streams progress every 50 ms and is answered after two minutes at the earliest, so it
    # is still streaming whenever the ping's answer comes.
    slow, ping = new_id(), new_id()
    slow_call = request(
        slow,
        "tools/call",
        {"name": "sleep", "arguments": {"ms": 120_000}},
        progress_every_ms=50,
        progress_total_ms=120_000,
    )

    def progress(seen: list[Any]) -> int:
        return sum(
            v.get("method") == "notifications/progress" and v["params"]["progressToken"] == slow
            for v in seen
        )

    process = await start_module(["--url", mcp_server.url])
    await send_lines(process, json.dumps(slow_call))
    seen = await read_until(process, lambda seen: progress(seen) >= 2)
    await send_lines(process, json.dumps(request(ping, "ping")))
    seen += await read_until(process, lambda more: any(v.get("id") == ping for v in more))
    assert {"jsonrpc": "2.0", "id": ping, "result": {}} in seen
    assert not any(v.get("id") == slow for v in seen)
    # End of input cancels the slow call (as in the original) and the bridge exits with 0.
    await close_and_wait(process)
    assert process.returncode == 0
