"""The legacy HTTP+SSE transport (protocol 2024-11-05) against the official SDK 1.x server.

`--transport sse` GETs the URL as given, waits for the `endpoint` event, POSTs each message
there and routes what the stream carries: answers to their requests by id, the server's
notifications and requests to stdout. `auto` (the default) tries Streamable HTTP first and
falls back once, on the 404 the legacy server gives the `/mcp/` POST.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from legacy_support import LegacyServer, LineBridge, legacy_python

from support import matrix_rows, wrapper_binary

TOKEN = "Bearer planted-legacy-secret-4711"

OpenBridge = Callable[..., LineBridge]


def text(answer: dict[str, Any]) -> str:
    assert "result" in answer, answer
    return "".join(part["text"] for part in answer["result"]["content"])


def call(
    id: Any, tool: str, arguments: dict[str, Any] | None = None, **meta: Any
) -> dict[str, Any]:
    params: dict[str, Any] = {"name": tool, "arguments": arguments or {}}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}


def test_sse_list_call_progress_and_auth(
    legacy_server: LegacyServer, open_bridge: OpenBridge
) -> None:
    bridge = open_bridge("--transport", "sse", "--url", legacy_server.sse_url, "--auth", TOKEN)
    init = bridge.initialize()
    assert init["result"]["serverInfo"]["name"] == "legacy-sse-test-server"
    tools = bridge.request(1, "tools/list")
    assert {t["name"] for t in tools["result"]["tools"]} >= {"echo", "slow", "ask", "block"}
    bridge.send(call(2, "echo", {"text": "hi"}))
    assert text(bridge.answer(2)) == "hi"

    bridge.send(call(3, "slow", {"steps": 3}, progressToken="p-3"))
    lines = bridge.until(lambda m: m.get("id") == 3)
    progress = [m for m in lines if m.get("method") == "notifications/progress"]
    assert [p["params"]["progress"] for p in progress] == [1, 2, 3]
    assert {p["params"]["progressToken"] for p in progress} == {"p-3"}
    assert text(lines[-1]) == "done 3"

    assert bridge.close() == 0
    # The URL as given (no `/mcp/` rewrite), and the sign-in header on the GET and each POST.
    assert legacy_server.gets("/sse"), legacy_server.requests()
    assert not legacy_server.posts("/mcp/")
    seen = legacy_server.requests()
    assert seen
    assert all(r["authorization"] for r in seen), seen
    assert all(r["accept"] == "text/event-stream" for r in legacy_server.gets("/sse"))
    # Each answer once.
    ids = [m["id"] for m in bridge.seen if "id" in m and "method" not in m]
    assert sorted(ids, key=str) == sorted([0, 1, 2, 3], key=str)
    # Secrets: the token and the session id of the endpoint (its query) are never logged.
    log = bridge.log()
    assert "planted-legacy-secret-4711" not in log
    session_query = legacy_server.posts("/messages/")[0]["query"]
    assert session_query.startswith("session_id=")
    assert session_query.split("=", 1)[1] not in log


def test_sse_elicitation_round_trip(legacy_server: LegacyServer, open_bridge: OpenBridge) -> None:
    bridge = open_bridge("--transport", "sse", "--url", legacy_server.sse_url)
    bridge.initialize()
    bridge.send(call(5, "ask"))
    elicit = bridge.next()
    assert elicit["method"] == "elicitation/create", elicit
    reply = {"action": "accept", "content": {"name": "Ada"}}
    bridge.send({"jsonrpc": "2.0", "id": elicit["id"], "result": reply})
    assert text(bridge.answer(5)) == "hello Ada"
    assert bridge.close() == 0


def test_sse_cancel_drops_the_pending_request(
    legacy_server: LegacyServer, open_bridge: OpenBridge
) -> None:
    bridge = open_bridge("--transport", "sse", "--url", legacy_server.sse_url, "--concurrency", "1")
    bridge.initialize()
    bridge.send(call(7, "block"))
    legacy_server.wait_until(lambda: len(legacy_server.calls("block")) == 1, "block call")
    cancel = {"requestId": 7, "reason": "user"}
    bridge.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": cancel})
    # Its permit is free again (--concurrency 1): the next request runs and is answered,
    # and nothing is ever written for 7.
    bridge.send(call(8, "echo", {"text": "after"}))
    lines = bridge.until(lambda m: m.get("id") == 8)
    assert text(lines[-1]) == "after"
    assert bridge.close() == 0
    assert not [m for m in bridge.seen if m.get("id") == 7]


def test_sse_shutdown_answers_pending(legacy_server: LegacyServer, open_bridge: OpenBridge) -> None:
    bridge = open_bridge("--transport", "sse", "--url", legacy_server.sse_url)
    bridge.initialize()
    bridge.send(call(9, "block"))
    legacy_server.wait_until(lambda: len(legacy_server.calls("block")) == 1, "block call")
    bridge.proc.send_signal(signal.SIGTERM)
    answer = bridge.answer(9)
    assert answer["error"]["code"] == -32000
    assert answer["error"]["message"] == "Bridge shutting down"
    assert bridge.proc.wait(timeout=10) == 0


def test_sse_server_restart(legacy_server: LegacyServer, open_bridge: OpenBridge) -> None:
    """A restarted server is a new session: the pending call gets an error at once, the bridge
    reconnects and initializes the new session itself (the host's saved `initialize` and
    `notifications/initialized`, answers hidden), and later calls work."""
    bridge = open_bridge("--transport", "sse", "--url", legacy_server.sse_url)
    bridge.initialize()
    bridge.send(call(10, "block"))
    legacy_server.wait_until(lambda: len(legacy_server.calls("block")) == 1, "block call")
    gets_before = len(legacy_server.gets("/sse"))
    legacy_server.kill()
    answer = bridge.answer(10)
    assert answer["error"]["code"] == -32000, answer
    assert "closed the stream" in answer["error"]["message"], answer
    legacy_server.start()
    legacy_server.wait_until(lambda: len(legacy_server.gets("/sse")) > gets_before, "reconnect")
    bridge.send(call(11, "echo", {"text": "again"}))
    assert text(bridge.answer(11)) == "again"
    inits = [r for r in legacy_server.posts("/messages/") if r["rpc"]["method"] == "initialize"]
    assert len(inits) == 2, inits
    assert bridge.close() == 0
    # The replayed initialize's answer never reached the client: one answer per id it sent.
    answered = [m["id"] for m in bridge.seen if "id" in m and "method" not in m]
    assert answered == [0, 10, 11], answered


def test_auto_falls_back_once(legacy_server: LegacyServer, open_bridge: OpenBridge) -> None:
    """The default `auto`: the protocol-era probe (`server/discover`, `--protocol auto`) and
    the first initialize POST go to `/mcp/` (the URL as `convert_url` makes it) and get 404;
    the bridge GETs the URL as given and stays there."""
    bridge = open_bridge("--url", legacy_server.sse_url)
    init = bridge.initialize()
    assert "result" in init, init
    bridge.send(call(1, "echo", {"text": "one"}))
    assert text(bridge.answer(1)) == "one"
    bridge.request(2, "tools/list")
    assert bridge.close() == 0
    mcp_posts = legacy_server.posts("/mcp/")
    assert [post["rpc"]["method"] for post in mcp_posts] == ["server/discover", "initialize"]
    assert [post["status"] for post in mcp_posts] == [404, 404]
    assert len(legacy_server.gets("/sse")) >= 1
    assert not legacy_server.gets("/mcp/")


async def test_sdk_2_client_through_the_fallback(
    legacy_server: LegacyServer, tmp_path: Path
) -> None:
    """The official SDK 2.x stdio client, as a host runs the bridge (default `auto`): it lists,
    calls, gets progress and answers an elicitation, none the wiser that the server is legacy."""
    pytest.importorskip("mcp.client.stdio")
    import anyio
    import mcp_types as types
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    progressed: list[float] = []

    async def on_elicit(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": "Grace"})

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        progressed.append(progress)

    params = StdioServerParameters(
        command=str(wrapper_binary()),
        args=["--url", legacy_server.sse_url],
        env={
            "MCP_WRAPPER_LOG_LEVEL": "DEBUG",
            "MCP_WRAPPER_AUTH_DIR": os.environ["MCP_WRAPPER_AUTH_DIR"],
        },
    )
    with open(tmp_path / "bridge.log", "w", encoding="utf-8") as errlog:  # noqa: ASYNC230
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, elicitation_callback=on_elicit) as session,
        ):
            with anyio.fail_after(60):
                await session.initialize()
                tools = await session.list_tools()
                assert {t.name for t in tools.tools} >= {"echo", "ask"}
                echoed = await session.call_tool("echo", {"text": "sdk"})
                assert [c.text for c in echoed.content if isinstance(c, types.TextContent)] == [
                    "sdk"
                ]
                slow = await session.call_tool("slow", {"steps": 2}, progress_callback=on_progress)
                assert not slow.is_error
                asked = await session.call_tool("ask", {})
                assert [c.text for c in asked.content if isinstance(c, types.TextContent)] == [
                    "hello Grace"
                ]
    assert progressed == [1, 2]
    # The protocol-era probe and the first initialize, each answered 404.
    assert len(legacy_server.posts("/mcp/")) == 2


def test_the_legacy_row_of_the_behaviour_matrix_passes_for_mcp_wrapper(tmp_path: Path) -> None:
    """`e2e matrix`'s legacy-SSE row (benches/e2e/matrix/reach.rs) against our bridge with its
    default `auto`: answered, after two POSTs to `/mcp/` (the protocol-era probe and
    `initialize`). (benches/tests/matrix.rs runs the
    other rows under cargo, before this venv exists.)"""
    rows = matrix_rows(
        "reach_legacy", tmp_path / "matrix.json", E2E_LEGACY_PYTHON=str(legacy_python())
    )
    assert [row["key"] for row in rows] == ["reach_legacy_sse"], rows
    cell = rows[0]["cells"][0]
    assert cell["good"], cell
    assert cell["text"] == "answered; 2 POST to /mcp/ (404), then SSE", cell
