"""`--allow-tool` / `--deny-tool` (issue 15 §4) with the official `mcp` SDK: the SDK client
drives `mcp-wrapper`, which talks to the SDK server (MCPServer over Streamable HTTP).

Pagination is covered against the test server (crates/jsonrpc-forward/tests/tool_filter.rs):
MCPServer lists every tool on one page.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip(
    "mcp.server.mcpserver",
    reason="needs the official mcp SDK 2.x (pip install -r python-tests/requirements-sdk.txt)",
)

import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp_server import TOOL_NAMES

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

FILTER = ("--allow-tool", "e*", "--allow-tool", "p*", "--deny-tool", "elicit_*")
SHOWN = {"echo", "pid", "ping_client"}


def calls_named(server: Any, since: int, name: str) -> list[dict[str, Any]]:
    """The tools/call requests for `name` that reached the server (body read)."""
    return [
        e
        for e in server.arrivals()[since:]
        if e.get("rpc_method") == "tools/call" and e.get("mcp-name") == name
    ]


async def test_tools_list_shows_only_the_filtered_tools(
    shared_server: Any, open_bridge: Any, sdk: Any
) -> None:
    assert SHOWN < TOOL_NAMES
    async with open_bridge(shared_server, extra_args=FILTER) as bridge:
        listed = await bridge.session.list_tools()
        assert {tool.name for tool in listed.tools} == SHOWN
        echo = next(tool for tool in listed.tools if tool.name == "echo")
        assert echo.description == "Return the text unchanged."
        assert sdk.text(await bridge.session.call_tool("echo", {"text": "hi"})) == "hi"
        assert bridge.recorder.exceptions == []


async def test_call_of_a_hidden_tool_is_refused_by_the_bridge(
    shared_server: Any, open_bridge: Any
) -> None:
    since = len(shared_server.arrivals())
    async with open_bridge(shared_server, extra_args=FILTER) as bridge:
        with pytest.raises(MCPError) as refused:
            await bridge.session.call_tool("touch", {})
        assert refused.value.code == -32602
        assert "touch" in refused.value.message
        # The session goes on, and a shown tool is called normally.
        pid = await bridge.session.call_tool("pid", {})
        assert not pid.is_error
    assert calls_named(shared_server, since, "touch") == [], "never reached the server"
    assert len(calls_named(shared_server, since, "pid")) == 1


async def test_tools_list_after_list_changed_is_filtered_again(
    fresh_server: Any, open_bridge: Any, sdk: Any
) -> None:
    # A server of its own (`add_tool` changes its tool list for good), in each mode.
    async with open_bridge(fresh_server, extra_args=("--deny-tool", "hidden_*")) as bridge:
        session, recorder = bridge.session, bridge.recorder
        before = {tool.name for tool in (await session.list_tools()).tools}
        assert before == TOOL_NAMES
        for name in ("hidden_one", "shown_one"):
            assert sdk.text(await session.call_tool("add_tool", {"name": name})) == f"added {name}"
        if fresh_server.stateful:
            await recorder.wait_for(
                lambda: len(recorder.of_type(types.ToolListChangedNotification)) == 2,
                10,
                "two notifications/tools/list_changed",
            )
        # (The stateless JSON server has no channel for the notification: the host lists
        # again anyway.)
        after = {tool.name for tool in (await session.list_tools()).tools}
        assert after == before | {"shown_one"}
        assert sdk.text(await session.call_tool("shown_one", {})) == "shown_one"
        with pytest.raises(MCPError) as refused:
            await session.call_tool("hidden_one", {})
        assert refused.value.code == -32602
        assert recorder.exceptions == []
