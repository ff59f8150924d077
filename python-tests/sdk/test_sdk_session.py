"""The official `mcp` SDK stdio client drives `mcp-wrapper`, which talks to an official
SDK server (MCPServer over Streamable HTTP) in stateful and stateless/JSON modes.

Issue 5: session and protocol headers, the GET listen stream, server-to-client requests,
progress and logging on POST SSE streams, resume with Last-Event-ID, DELETE on exit.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip(
    "mcp.server.mcpserver",
    reason="needs the official mcp SDK 2.x (pip install -r python-tests/requirements-sdk.txt)",
)

import anyio
import mcp_types as types
from mcp_server import TOOL_NAMES

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


async def test_initialize_list_and_call(shared_server: Any, open_bridge: Any, sdk: Any) -> None:
    since = len(shared_server.requests())
    text = 'héllo ✓ 𝄞 "quoted"\nsecond line\\'
    async with open_bridge(shared_server) as bridge:
        session = bridge.session
        init = session.initialize_result
        assert init is not None
        assert init.protocol_version == "2025-11-25"
        assert init.server_info.name == "sdk-test-server"
        assert init.capabilities.tools is not None
        assert init.capabilities.resources is not None
        assert init.capabilities.resources.subscribe

        listed = await session.list_tools()
        assert {tool.name for tool in listed.tools} == TOOL_NAMES

        result = await session.call_tool("echo", {"text": text})
        assert sdk.text(result) == text
        resources = await session.list_resources()
        assert [str(r.uri) for r in resources.resources] == [sdk.RESOURCE_URI]
        assert bridge.recorder.exceptions == []

    posts = [
        e for e in shared_server.requests()[since:] if e["http"] == "POST" and "rpc_method" in e
    ]
    by_method = {e["rpc_method"]: e for e in posts if e["status"] < 300}
    assert {
        "initialize",
        "notifications/initialized",
        "tools/list",
        "tools/call",
        "resources/list",
    } <= set(by_method)
    initialize = by_method["initialize"]
    assert "mcp-session-id" not in initialize, "initialize must not carry a session id"
    for method, entry in by_method.items():
        assert entry.get("mcp-method") == method, f"Mcp-Method header on {method}: {entry}"
        if method != "initialize":
            assert entry.get("mcp-protocol-version") == "2025-11-25", (
                f"MCP-Protocol-Version on {method}: {entry}"
            )
    assert by_method["tools/call"].get("mcp-name") == "echo"
    session_ids = {e.get("mcp-session-id") for m, e in by_method.items() if m != "initialize"}
    if shared_server.stateful:
        assert len(session_ids) == 1, f"one session id on every request: {session_ids}"
        assert None not in session_ids, f"one session id on every request: {session_ids}"
    else:
        assert session_ids == {None}, (
            "a stateless server hands out no session id, so none may be sent"
        )


async def test_ping_client_to_server(shared_server: Any, open_bridge: Any) -> None:
    async with open_bridge(shared_server) as bridge:
        for _ in range(3):
            assert isinstance(await bridge.session.send_ping(), types.EmptyResult)


async def test_concurrent_calls(shared_server: Any, open_bridge: Any, sdk: Any) -> None:
    """Several calls in flight at once each get their own answer."""
    async with open_bridge(shared_server) as bridge:
        results: dict[int, str] = {}

        async def call(i: int) -> None:
            results[i] = sdk.text(await bridge.session.call_tool("echo", {"text": f"call {i}"}))

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(call, i)
        assert results == {i: f"call {i}" for i in range(20)}


# The stateless + JSON-response server answers each POST with one JSON body and keeps no
# session: it has no channel for what follows (sdk.NO_BACK_CHANNEL), so these cases run
# against the stateful server only.


async def test_progress(stateful_server: Any, open_bridge: Any, sdk: Any) -> None:
    async with open_bridge(stateful_server) as bridge:
        seen: list[tuple[float, float | None, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, total, message))

        result = await bridge.session.call_tool(
            "slow_progress", {"steps": 4}, progress_callback=on_progress
        )
        assert sdk.text(result) == "done 4"
        # Callbacks run in their own tasks: let them land, then check order and content.
        await bridge.recorder.wait_for(lambda: len(seen) >= 4, 30, "four progress notifications")
        assert seen == [(i, 4, f"step {i}") for i in range(1, 5)]


async def test_logging(stateful_server: Any, open_bridge: Any, sdk: Any) -> None:
    async with open_bridge(stateful_server) as bridge:
        result = await bridge.session.call_tool("log_messages", {})
        assert sdk.text(result) == "logged"
        # Request-scoped notifications precede the response on the same SSE stream.
        await bridge.recorder.wait_for(
            lambda: len(bridge.recorder.logs) >= 2, 30, "two log messages"
        )
        assert [(m.level, m.data) for m in bridge.recorder.logs] == [
            ("info", "info from the server"),
            ("warning", {"detail": "warning from the server"}),
        ]


async def test_sampling(stateful_server: Any, open_bridge: Any, sdk: Any) -> None:
    since = len(stateful_server.requests())
    async with open_bridge(stateful_server) as bridge:
        bridge.recorder.sampling_reply = "four"
        result = await bridge.session.call_tool("sample", {"prompt": "2+2?"})
        assert sdk.text(result) == "test-llm: four"
        [params] = bridge.recorder.sampling
        assert params.max_tokens == 32
        assert [m.content.text for m in params.messages] == ["2+2?"]
    # The client's answer went back as a POST of a JSON-RPC response: 202, nothing else.
    answers = [e for e in stateful_server.requests()[since:] if e.get("rpc_kind") == "response"]
    assert answers, "the client's sampling answer never reached the server"
    assert all(e["status"] == 202 for e in answers), answers


async def test_elicitation(stateful_server: Any, open_bridge: Any, sdk: Any) -> None:
    async with open_bridge(stateful_server) as bridge:
        bridge.recorder.elicitation_reply = {"name": "Grace Hopper"}
        result = await bridge.session.call_tool("elicit_name", {})
        assert sdk.text(result) == "hello Grace Hopper"
        [params] = bridge.recorder.elicitation
        assert params.message == "What is your name?"
        assert "name" in params.requested_schema["properties"]


async def test_resource_subscription(stateful_server: Any, open_bridge: Any, sdk: Any) -> None:
    async with open_bridge(stateful_server) as bridge:
        session = bridge.session
        assert isinstance(await sdk.subscribe(session, sdk.RESOURCE_URI), types.EmptyResult)
        before = int((await session.read_resource(sdk.RESOURCE_URI)).contents[0].text)
        result = await session.call_tool("touch", {})
        assert sdk.text(result).endswith("; notified"), sdk.text(result)

        def updated() -> list[Any]:
            seen: list[Any] = bridge.recorder.of_type(types.ResourceUpdatedNotification)
            return seen

        await bridge.recorder.wait_for(
            lambda: bool(updated()), 10, "notifications/resources/updated"
        )
        assert [str(n.params.uri) for n in updated()] == [sdk.RESOURCE_URI]
        after = int((await session.read_resource(sdk.RESOURCE_URI)).contents[0].text)
        assert after > before


async def test_ping_server_to_client(stateful_server: Any, open_bridge: Any, sdk: Any) -> None:
    """The server pings the client on the GET listen stream; the client's answer is POSTed back."""
    async with open_bridge(stateful_server) as bridge:
        with anyio.fail_after(30):
            result = await bridge.session.call_tool("ping_client", {})
        assert sdk.text(result) == "pong"


async def test_post_stream_resumed_with_last_event_id(
    stateful_server: Any, open_bridge: Any, sdk: Any
) -> None:
    """The server closes a tool call's SSE stream mid-call (events have ids, retry 200 ms);
    the bridge resumes it with GET + Last-Event-ID and the call completes (2025-11-25 rule)."""
    since = len(stateful_server.requests())
    async with open_bridge(stateful_server) as bridge:
        seen: list[tuple[float, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, message))

        with anyio.fail_after(30):
            result = await bridge.session.call_tool("resumable", {}, progress_callback=on_progress)
        assert sdk.text(result) == "resumed"
        await bridge.recorder.wait_for(
            lambda: len(seen) >= 2, 30, "progress from both sides of the break"
        )
        assert seen == [(1, "before the break"), (2, "after the break")]
    resumes = [
        e for e in stateful_server.requests()[since:] if e["http"] == "GET" and "last-event-id" in e
    ]
    assert resumes, "expected a GET with Last-Event-ID resuming the broken POST stream"
    assert all(e.get("mcp-session-id") for e in resumes)


async def test_listen_stream_and_delete_on_exit(
    shared_server: Any, open_bridge: Any, sdk: Any
) -> None:
    """After initialized the bridge opens the GET stream; on stdin EOF it DELETEs the session
    and exits on its own, not because stdio_client SIGTERMed it."""
    since = len(shared_server.requests())
    async with open_bridge(shared_server) as bridge:
        assert sdk.text(await bridge.session.call_tool("echo", {"text": "x"})) == "x"
        if shared_server.stateful:
            await bridge.recorder.wait_for(
                lambda: any(
                    e["http"] == "GET" and e["status"] == 200
                    for e in shared_server.requests()[since:]
                ),
                10,
                "the GET listen stream",
            )
    assert bridge.exit_reason() == "Eof", f"the bridge did not end at stdin EOF:\n{bridge.log()}"
    entries = shared_server.requests()[since:]
    init = next(e for e in entries if e.get("rpc_method") == "notifications/initialized")
    session_id = init.get("mcp-session-id")
    if shared_server.stateful:
        assert session_id
        gets = [e for e in entries if e["http"] == "GET" and e.get("mcp-session-id") == session_id]
        assert gets, entries
        assert gets[0]["status"] == 200, entries
        assert "text/event-stream" in gets[0].get("accept", "")
        assert gets[0].get("mcp-protocol-version") == "2025-11-25"
        deletes = [e for e in entries if e["http"] == "DELETE"]
        assert [e.get("mcp-session-id") for e in deletes] == [session_id], entries
        assert deletes[0]["status"] == 200
    else:
        assert session_id is None
        # No session to end: a DELETE would have nothing to name.
        assert not [e for e in entries if e["http"] == "DELETE"], entries
