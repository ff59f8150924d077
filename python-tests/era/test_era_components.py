"""The era test components on their own, without the bridge: each server answers both eras (or
refuses one) the way protocol-2026.md §1.10 and §5.1 say, as seen by the SDK `Client` over
Streamable HTTP and by raw HTTP. These must pass whatever the bridge does; the bridge tests
(test_era_bridge.py) rely on them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from era_support import (
    MODERN,
    RESOURCE_URI,
    HostRecord,
    ServerProcess,
    era_server_argv,
    legacy_server_argv,
    stub_server_argv,
    ts_server_argv,
)

pytest.importorskip("mcp.client.client")

Servers = Callable[[list[str], str], ServerProcess]


def text(result: Any) -> str:
    import mcp_types as types

    assert not result.is_error, f"tool returned an error: {result.content}"
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


def post(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One raw POST; (status, headers, body), also for an error status."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, as anyio task groups raise them."""
    inner = getattr(error, "exceptions", None)
    if inner is None:
        return [error]
    return [leaf for one in inner for leaf in leaves(one)]


async def refused_at_legacy(direct_client: Any, url: str) -> list[str]:
    """`Client(mode="legacy")` against a modern-only server: the messages of the MCP errors."""
    from mcp.shared.exceptions import MCPError

    with pytest.raises(Exception) as caught:  # noqa: PT011 (an exception group)
        async with direct_client(url, mode="legacy"):
            pass
    return [str(e) for e in leaves(caught.value) if isinstance(e, MCPError)]


def raw(url: str, method: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as r:
            return int(r.status)
    except urllib.error.HTTPError as error:
        return error.code


def discover(id: Any = "d1") -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {"jsonrpc": "2.0", "id": id, "method": "server/discover", "params": {"_meta": meta}}


MODERN_HEADERS = {"mcp-protocol-version": MODERN, "mcp-method": "server/discover"}


@pytest.mark.parametrize(
    "options", [(), ("--json-response",), ("--stateless",)], ids=["sse", "json", "stateless"]
)
async def test_era_server_serves_the_modern_era(
    servers: Servers, direct_client: Any, options: tuple[str, ...]
) -> None:
    server = servers(era_server_argv(*options), "era")
    record = HostRecord()
    async with direct_client(server.url, record=record) as client:
        assert client.protocol_version == MODERN
        assert text(await client.call_tool("echo", {"text": "hi"})) == "hi"
        assert text(await client.call_tool("regional", {"region": "eu"})) == "region=eu header=eu"
        assert text(await client.call_tool("who", {})) == "hello Ada"
        got = text(await client.call_tool("ask", {}))
        assert got == 'got {"name": "Ada"} state=st-1'
        progress: list[float] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(value)

        prog = await client.call_tool("prog", {"count": 3}, progress_callback=on_progress)
        assert text(prog) == "done 3"
        if "--json-response" not in options:
            assert progress == [1, 2, 3]
    counts = server.post_counts()
    assert counts["server/discover"] == 1
    assert counts["initialize"] == 0
    assert len(record.elicitations) == 2  # who (SDK MRTR) and ask (hand-rolled)
    # MRTR: `who`'s body ran once, on the retry; `ask`'s ran on both rounds.
    assert server.runs("who") == 1
    assert [e["event"] for e in server.tool_events("ask")] == [
        "start",
        "input_required",
        "start",
        "done",
    ]
    # mcp 2.3 seals even a hand-rolled requestState ("v1." AEAD, §1.7) and opens it for the
    # tool, which saw "st-1"; on the wire the retry echoes the sealed form.
    retries = [e for e in server.posts("tools/call") if e.get("request_state")]
    assert [e["rpc_name"] for e in retries] == ["who", "ask"]
    assert all(e["request_state"].startswith("v1.") for e in retries)
    server.assert_modern_wire()


async def test_era_server_serves_the_legacy_era(servers: Servers, direct_client: Any) -> None:
    server = servers(era_server_argv(), "era")
    record = HostRecord()
    async with direct_client(server.url, mode="legacy", record=record) as client:
        assert client.protocol_version != MODERN
        assert text(await client.call_tool("echo", {"text": "hi"})) == "hi"
        # At 2025 `who` elicits with a classic server request on the POST stream.
        assert text(await client.call_tool("who", {})) == "hello Ada"
    counts = server.post_counts()
    assert counts["initialize"] == 1
    assert counts["server/discover"] == 0
    assert any(e.get("rpc_kind") == "response" for e in server.posts())  # the elicit answer
    assert len(record.elicitations) == 1
    assert server.runs("who") == 1
    assert all("mcp-session-id" in e for e in server.posts() if e.get("rpc_method") != "initialize")


async def test_era_server_records_a_cancel_by_closed_stream(
    servers: Servers, direct_client: Any
) -> None:
    server = servers(era_server_argv(), "era")
    async with direct_client(server.url) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.call_tool, "slowmark", {})
            await server.wait(lambda: server.runs("slowmark") == 1, "slowmark start")
            group.cancel_scope.cancel()
        await server.wait(lambda: bool(server.tool_events("slowmark", "cancelled")), "cancelled")
    server.assert_modern_wire()


async def test_era_server_delivers_listen_events(servers: Servers, direct_client: Any) -> None:
    server = servers(era_server_argv(), "era")
    from mcp.shared.subscriptions import ResourceUpdated, ToolsListChanged

    async with (
        direct_client(server.url) as client,
        client.listen(tools_list_changed=True, resource_subscriptions=[RESOURCE_URI]) as sub,
    ):
        assert text(await client.call_tool("bump", {})) == "bumped"
        seen: set[Any] = set()
        with anyio.fail_after(30):
            async for event in sub:
                seen.add(event)
                if {ToolsListChanged(), ResourceUpdated(uri=RESOURCE_URI)} <= seen:
                    break
    assert server.post_counts()["subscriptions/listen"] == 1


def test_era_server_routes_by_header(servers: Servers) -> None:
    """§1.10: with the headers a discover is modern; without them mcp 2.3 takes it for a
    2025 request without a session (what a header-less probe would misread as legacy)."""
    server = servers(era_server_argv(), "era")
    status, _, body = post(server.url, discover(), MODERN_HEADERS)
    assert status == 200
    assert json.loads(body)["result"]["supportedVersions"] == [MODERN]
    status, _, body = post(server.url, discover("d2"))
    assert status == 400
    assert json.loads(body)["error"]["code"] == -32600


async def test_gate_admits_only_the_modern_era(servers: Servers, direct_client: Any) -> None:
    server = servers(era_server_argv("--gate", "modern-only"), "gated")
    async with direct_client(server.url) as client:
        assert client.protocol_version == MODERN
        assert text(await client.call_tool("echo", {"text": "hi"})) == "hi"
    assert await refused_at_legacy(direct_client, server.url) == ["Unsupported protocol version"]
    initialize = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {}},
    }
    status, _, body = post(server.url, initialize, {"mcp-protocol-version": "2025-11-25"})
    assert status == 400
    assert json.loads(body)["error"] == {
        "code": -32022,
        "message": "Unsupported protocol version",
        "data": {"supported": [MODERN], "requested": "2025-11-25"},
    }
    assert json.loads(body)["id"] == 7
    assert raw(server.url, "GET") == 405
    assert raw(server.url, "DELETE") == 405


async def test_ts_server_is_modern_only(servers: Servers, direct_client: Any) -> None:
    server = servers(ts_server_argv(), "ts")
    async with direct_client(server.url) as client:
        assert client.protocol_version == MODERN
        assert text(await client.call_tool("echo", {"text": "hi"})) == "hi"
        assert text(await client.call_tool("bump", {})) == "bumped"
    refused = await refused_at_legacy(direct_client, server.url)
    assert refused == ["Unsupported protocol version: 2025-11-25"]
    assert raw(server.url, "GET") == 405
    assert server.post_counts()["server/discover"] == 1


async def test_legacy_server_refuses_the_probe(servers: Servers, direct_client: Any) -> None:
    server = servers(legacy_server_argv(), "legacy")
    status, _, body = post(server.url, discover(), MODERN_HEADERS)
    assert status == 400
    assert json.loads(body)["error"]["code"] == -32600
    async with direct_client(server.url) as client:  # auto: probe, then initialize
        assert client.protocol_version != MODERN
        assert text(await client.call_tool("echo", {"text": "hi"})) == "hi"
    counts = server.post_counts()
    assert counts["server/discover"] == 2
    assert counts["initialize"] == 1
    assert server.runs("echo") == 1


@pytest.mark.parametrize(
    ("fault", "status"), [("status-500", 500), ("status-401", 401)], ids=["500", "401"]
)
def test_stub_answers_its_fault(servers: Servers, fault: str, status: int) -> None:
    server = servers(stub_server_argv(fault), fault)
    assert post(server.url, discover(), MODERN_HEADERS)[0] == status
    assert server.post_counts()["server/discover"] == 1


def test_stub_hang_never_answers(servers: Servers) -> None:
    server = servers(stub_server_argv("hang"), "hang")
    request = urllib.request.Request(
        server.url,
        data=json.dumps(discover()).encode(),
        method="POST",
        headers={"content-type": "application/json", **MODERN_HEADERS},
    )
    with pytest.raises(TimeoutError):
        urllib.request.urlopen(request, timeout=1)
    server.wait_sync(lambda: len(server.posts("server/discover")) == 1, "the hung probe")
    assert not server.answered()


def test_stub_header_routed_wants_the_headers(servers: Servers) -> None:
    server = servers(stub_server_argv("header-routed"), "header-routed")
    status, _, body = post(server.url, discover(), MODERN_HEADERS)
    assert status == 200
    result = json.loads(body)["result"]
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "era-stub"
    status, _, body = post(server.url, discover("d2"))
    assert status == 400
    assert json.loads(body)["error"]["message"] == "Bad Request: Missing session ID"
