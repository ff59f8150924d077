"""`mcp-wrapper` between the official `mcp` SDK stdio client and a ContextForge gateway's
virtual server (`/servers/<id>/mcp`, Bearer JWT), which federates the official SDK server.

Each test runs with the gateway in its stateful mode (USE_STATEFUL_SESSIONS=true: an
Mcp-Session-Id at initialize, required afterwards; the mode where `mcpgateway.wrapper`
fails, upstream issue #4419), in its stateless mode, and stateful with SSE answers
(JSON_RESPONSE_ENABLED=false). Issue 8.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip(
    "mcp.client.stdio",
    reason="needs the official mcp SDK 2.x (pip install -r python-tests/requirements-sdk.txt)",
)

import anyio
import mcp_types as types

# The federated upstream's tools (python-tests is on sys.path through the root conftest).
from sdk.mcp_server import TOOL_NAMES as UPSTREAM_TOOLS

# The first test of each mode also pays for the gateway's start-up (~10-40 s).
pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]

TEXT = 'héllo ✓ 𝄞 "quoted"\nsecond line\\ <b>&amp;</b>'


def text_of(result: Any) -> str:
    assert not result.is_error, f"tool returned an error: {result.content}"
    parts = [c.text for c in result.content if isinstance(c, types.TextContent)]
    assert parts, f"no text content in {result.content}"
    return "".join(parts)


def initialize_message() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw-control", "version": "0"},
        },
    }


async def test_control_gateway_session_mode(gateway: Any, raw_post: Any) -> None:
    """Without a bridge: the gateway really is in the mode under test. Stateful: initialize
    returns an Mcp-Session-Id and a request without it is refused (what breaks a bridge
    that drops the header); stateless: no session id, and any request stands alone;
    "-sse": answers come as SSE streams, else as JSON bodies."""
    status, headers, body = await anyio.to_thread.run_sync(raw_post, gateway, initialize_message())
    assert status == 200, (status, body)
    content_type = headers.get("content-type", "")
    sse = gateway.mode.endswith("-sse")
    assert content_type.startswith("text/event-stream" if sse else "application/json"), headers
    session_id = headers.get("mcp-session-id")
    tools_list = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    sessionless = await anyio.to_thread.run_sync(raw_post, gateway, tools_list)
    if gateway.stateful:
        assert session_id, f"stateful gateway issued no Mcp-Session-Id: {headers}"
        print(f"stateful gateway, tools/list without a session -> {sessionless[:1]}")
        assert sessionless[0] >= 400, (
            f"stateful gateway accepted tools/list without a session: {sessionless}"
        )
        with_session = await anyio.to_thread.run_sync(raw_post, gateway, tools_list, session_id)
        assert with_session[0] == 200, with_session
    else:
        assert session_id is None, f"stateless gateway issued a session id: {headers}"
        assert sessionless[0] == 200, sessionless


async def test_initialize_list_and_call(gateway: Any, open_bridge: Any) -> None:
    print(
        f"gateway {gateway.version} ({gateway.mode}) started in {gateway.started_in:.1f}s; "
        f"virtual server {gateway.url}"
    )
    assert set(gateway.tools) == UPSTREAM_TOOLS
    async with open_bridge(gateway) as bridge:
        session = bridge.session
        init = session.initialize_result
        assert init is not None
        assert init.protocol_version == "2025-11-25"
        assert init.capabilities.tools is not None

        listed = await session.list_tools()
        names = {tool.name for tool in listed.tools}
        assert names == set(gateway.tools.values()), names
        echo = next(t for t in listed.tools if t.name == gateway.tool("echo"))
        assert "text" in echo.input_schema["properties"], echo.input_schema

        result = await session.call_tool(gateway.tool("echo"), {"text": TEXT})
        assert text_of(result) == TEXT

        # The answer comes from the federated SDK server process itself.
        result = await session.call_tool(gateway.tool("pid"), {})
        assert int(text_of(result)) == gateway.upstream_pid

        await session.send_ping()
        assert bridge.exceptions == []
    # stdio_client closes stdin, waits 2 s, then SIGTERMs: the bridge left on its own.
    assert bridge.exit_reason() == "Eof", bridge.log()


async def test_many_calls_one_session(gateway: Any, open_bridge: Any) -> None:
    """Every request after initialize carries the session (stateful) and none is lost:
    sequential calls, then 16 at once through the bridge's concurrent forwarding."""
    echo = gateway.tool("echo")
    async with open_bridge(gateway) as bridge:
        session = bridge.session
        for i in range(5):
            result = await session.call_tool(echo, {"text": f"seq {i}"})
            assert text_of(result) == f"seq {i}"
            assert len((await session.list_tools()).tools) == len(UPSTREAM_TOOLS)

        answers: dict[int, str] = {}

        async def call(i: int) -> None:
            answers[i] = text_of(await session.call_tool(echo, {"text": f"par {i} {TEXT}"}))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for i in range(16):
                    tg.start_soon(call, i)
        assert answers == {i: f"par {i} {TEXT}" for i in range(16)}
        assert bridge.exceptions == []


async def failure_of(call: Any) -> str:
    """What a failed call looked like to the client: a JSON-RPC error or an isError result
    (either is a correct pass-through; which one is the gateway's choice)."""
    from mcp.shared.exceptions import MCPError

    try:
        result = await call
    except MCPError as exc:
        return f"JSON-RPC error {exc.error.code}: {exc.error.message}"
    assert result.is_error, f"expected a failure, got {result}"
    return "isError result: " + " ".join(
        c.text for c in result.content if isinstance(c, types.TextContent)
    )


async def test_errors_pass_through(gateway: Any, open_bridge: Any) -> None:
    """Tool-level and protocol-level errors from the gateway reach the client as such,
    and the session stays usable after them."""
    async with open_bridge(gateway) as bridge:
        session = bridge.session
        bad_args = await failure_of(session.call_tool(gateway.tool("echo"), {"wrong": 1}))
        unknown = await failure_of(session.call_tool("no-such-tool", {}))
        print(f"bad arguments -> {bad_args}\nunknown tool -> {unknown}")
        assert "no-such-tool" in unknown, unknown
        result = await session.call_tool(gateway.tool("echo"), {"text": "still here"})
        assert text_of(result) == "still here"
        assert bridge.exceptions == []


async def test_sessions_one_after_another(gateway: Any, open_bridge: Any) -> None:
    """Two bridges in a row (a client restarted): each gets its own working session."""
    for round_ in range(2):
        async with open_bridge(gateway) as bridge:
            result = await bridge.session.call_tool(gateway.tool("echo"), {"text": f"r{round_}"})
            assert text_of(result) == f"r{round_}"
        assert bridge.exit_reason() == "Eof", bridge.log()


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or `exc` itself."""
    inner = getattr(exc, "exceptions", None)
    if not inner:
        return [exc]
    return [leaf for e in inner for leaf in leaves(e)]


async def test_bad_token_is_reported(gateway: Any, open_bridge: Any) -> None:
    """A wrong Bearer token: the gateway refuses initialize with 401 and the client gets
    that as a JSON-RPC error from the bridge, promptly, not a hang."""
    from mcp.shared.exceptions import MCPError

    with anyio.fail_after(30), pytest.raises(Exception) as caught:  # noqa: PT011
        async with open_bridge(gateway, auth="Bearer not-a-valid-token", bridge_timeout=10):
            pass
    errors = [e for e in leaves(caught.value) if isinstance(e, MCPError)]
    assert errors, f"no JSON-RPC error reached the client: {caught.value!r}"
    assert "401" in str(errors[0].error.message), errors[0].error
    print(f"initialize with a bad token -> {errors[0].error}")
