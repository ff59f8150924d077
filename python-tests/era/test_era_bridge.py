"""The bridge across protocol eras (issue 16, protocol-2026.md §4): which era each side speaks,
and what reaches the server in each case.

- A: legacy host + legacy server, or `--protocol legacy`: today's behaviour (§4.1);
- B: legacy host + modern or dual server under `auto`: the bridge translates (§4.2, §4.7);
- C: modern host + modern server: pass-through with headers derived from each body (§4.3);
- D: modern host + legacy-only server: the host's `server/discover` gets `-32601` and the host
  falls back to `initialize` (§4.4);
- probe faults (§2.5).

Every scenario asserts from the server's wire record how many POSTs of each JSON-RPC method
reached it and how many times each tool body ran (no duplicates), and the raw-driver scenarios
that the host got exactly one answer per request id (none for a cancelled one). Each test runs
the bridge with a fresh era cache (MCP_WRAPPER_AUTH_DIR).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from era_support import (
    LEGACY,
    MODERN,
    RESOURCE_URI,
    LineDriver,
    ServerProcess,
    assert_one_answer_each,
    era_server_argv,
    legacy_server_argv,
    stub_server_argv,
    ts_server_argv,
)

pytest.importorskip("mcp.client.client")

Servers = Callable[[list[str], str], ServerProcess]

# Case B servers: the dual-era mcp 2.3 server in its three shapes, the same behind the
# modern-only gate, and the TS SDK v2 server (body-routed, `legacy: 'reject'`).
MODERN_SERVERS = {
    "dual-sse": lambda: era_server_argv(),
    "dual-json": lambda: era_server_argv("--json-response"),
    "dual-stateless": lambda: era_server_argv("--stateless"),
    "gated": lambda: era_server_argv("--gate", "modern-only"),
    "ts": ts_server_argv,
}


async def send_call(
    driver: LineDriver, id: Any, name: str, arguments: dict[str, Any] | None = None
) -> None:
    """Sends a 2025-style `tools/call` of `name` without waiting for its answer."""
    params = {"name": name, "arguments": arguments or {}}
    await driver.send({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})


@pytest.fixture(params=["dual-sse", "gated"])
def modern_server(request: pytest.FixtureRequest, servers: Servers) -> ServerProcess:
    """An mcp 2.3 server that serves 2026-07-28 (dual-era, or modern-only behind the gate)."""
    name: str = request.param
    return servers(MODERN_SERVERS[name](), name)


def text(result: Any) -> str:
    import mcp_types as types

    assert not result.is_error, f"tool returned an error: {result.content}"
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


def subscribe(session: Any, uri: str) -> Any:
    """`session.subscribe_resource(uri)` minus its deprecation warning (the call is right for
    the 2025 host under test); returns the coroutine."""
    from mcp.shared.exceptions import MCPDeprecationWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
        return session.subscribe_resource(uri)


async def call_and_cancel(call: Callable[[], Any], server: ServerProcess) -> None:
    """Starts `call` (a `slowmark` call), waits until the tool body runs, cancels the call,
    then waits until the server recorded the cancellation."""
    async with anyio.create_task_group() as group:
        group.start_soon(call)
        await server.wait(lambda: server.runs("slowmark") == 1, "slowmark start")
        group.cancel_scope.cancel()
    await server.wait(
        lambda: bool(server.tool_events("slowmark", "cancelled")), "slowmark cancelled"
    )


# --- case A ---------------------------------------------------------------------------------


async def test_case_a_legacy_host_and_legacy_server(servers: Servers, legacy_host: Any) -> None:
    server = servers(legacy_server_argv(), "legacy")
    async with legacy_host(server.url) as host:
        assert host.initialized.protocol_version == LEGACY
        assert text(await host.client.call_tool("echo", {"text": "hi"})) == "hi"
    counts = server.post_counts()
    assert counts["server/discover"] == 1  # the probe, refused: legacy
    assert counts["initialize"] == 1
    assert counts["tools/call"] == 1
    assert server.runs("echo") == 1
    after_init = [e for e in server.posts() if e.get("rpc_method") not in ("initialize", None)]
    assert all("mcp-session-id" in e for e in after_init if e["rpc_method"] != "server/discover")


@pytest.mark.parametrize("how", ["flag", "env"])
async def test_case_a_protocol_legacy_forwards_initialize(
    servers: Servers, legacy_host: Any, how: str
) -> None:
    server = servers(era_server_argv(), "dual")
    extra, env = (
        (("--protocol", "legacy"), None) if how == "flag" else ((), {"MCP_PROTOCOL": "legacy"})
    )
    async with legacy_host(server.url, *extra, env=env) as host:
        assert text(await host.client.call_tool("echo", {"text": "hi"})) == "hi"
    counts = server.post_counts()
    assert counts["server/discover"] == 0
    assert counts["initialize"] == 1
    assert counts["tools/call"] == 1
    assert server.runs("echo") == 1
    session_posts = [e for e in server.posts() if e.get("rpc_method") != "initialize"]
    assert session_posts
    assert all("mcp-session-id" in e for e in session_posts)


# --- case B ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODERN_SERVERS))
async def test_case_b_bridge_answers_initialize(
    servers: Servers, legacy_host: Any, name: str
) -> None:
    server = servers(MODERN_SERVERS[name](), name)
    async with legacy_host(server.url) as host:
        init = host.initialized
        assert init.protocol_version == LEGACY  # the host's own version
        assert init.server_info.name in ("era-test-server", "era-ts-server")
        assert init.capabilities.tools is not None
        tools = await host.client.list_tools()
        assert {"echo", "bump"} <= {t.name for t in tools.tools}
        assert text(await host.client.call_tool("echo", {"text": "hi"})) == "hi"
        await host.client.send_ping()
    counts = server.post_counts()
    assert counts["server/discover"] == 1
    assert counts["initialize"] == 0
    assert counts["tools/list"] == 1
    assert counts["tools/call"] == 1
    assert counts["ping"] == 0
    server.assert_modern_wire()


async def test_case_b_param_header_for_annotated_argument(
    modern_server: ServerProcess, legacy_host: Any
) -> None:
    server = modern_server
    async with legacy_host(server.url) as host:
        await host.client.list_tools()
        got = text(await host.client.call_tool("regional", {"region": "eu"}))
        assert got == "region=eu header=eu"
    calls = server.posts("tools/call")
    assert len(calls) == 1
    assert calls[0]["mcp-name"] == "regional"
    assert calls[0]["mcp-param-region"] == "eu"
    assert server.runs("regional") == 1
    server.assert_modern_wire()


async def test_tools_with_invalid_header_annotations_are_dropped(
    servers: Servers, line_driver: Any, bridge_logs: Path
) -> None:
    """The TS server lists `badheader`, whose `x-mcp-header` sits on a `number` (§1.9): the
    bridge, the HTTP client, drops it from the list a 2025 host (case B) and a 2026 host
    (case C) see, and says so in its log, naming the tool."""
    server = servers(ts_server_argv(), "ts")
    async with line_driver(server.url) as driver:
        await driver.initialize(0)
        listed = await driver.request(1, "tools/list")
        names = {tool["name"] for tool in listed["result"]["tools"]}
        assert "echo" in names
        assert "badheader" not in names
    async with line_driver(server.url) as driver:
        await driver.send(enveloped(1, "tools/list"))
        listed = await driver.answer(1)
        names = {tool["name"] for tool in listed["result"]["tools"]}
        assert "echo" in names
        assert "badheader" not in names
    logs = "".join(log.read_text(encoding="utf-8") for log in bridge_logs.glob("*.log"))  # noqa: ASYNC240
    assert logs.count("badheader") >= 2, logs[-2000:]
    assert server.post_counts()["tools/list"] == 2
    server.assert_modern_wire()


async def test_case_b_unlisted_annotated_tool_is_sent_once_more_after_32020(
    modern_server: ServerProcess, line_driver: Any
) -> None:
    """A call of a tool the bridge never saw listed goes without `Mcp-Param-Region`; the
    server refuses it with -32020 before it runs anything (§1.9), so the bridge lists the
    tools and sends the call once more, with the header: the tool runs once."""
    server = modern_server
    async with line_driver(server.url) as driver:
        await driver.initialize(0)
        params = {"name": "regional", "arguments": {"region": "eu"}}
        answer = await driver.request(3, "tools/call", params)
        assert answer["result"]["content"][0]["text"] == "region=eu header=eu", answer
    assert_one_answer_each(driver, [0, 3])
    calls = server.posts("tools/call")
    assert len(calls) == 2
    assert "mcp-param-region" not in calls[0]
    assert calls[1]["mcp-param-region"] == "eu"
    assert server.post_counts()["tools/list"] == 1
    assert server.runs("regional") == 1
    server.assert_modern_wire()


async def test_case_b_param_header_values_stay_out_of_the_logs(
    modern_server: ServerProcess, line_driver: Any, bridge_logs: Path
) -> None:
    """An `x-mcp-header` argument travels as a header (maybe a tenant key): the bridge's
    DEBUG log never shows it, sent or answered."""
    server = modern_server
    secret = "tenant-9f3a2c-secret"
    async with line_driver(server.url) as driver:
        await driver.initialize(0)
        await driver.request(2, "tools/list")
        params = {"name": "regional", "arguments": {"region": secret}}
        answer = await driver.request(3, "tools/call", params)
        assert secret in answer["result"]["content"][0]["text"]
    assert server.posts("tools/call")[0]["mcp-param-region"] == secret
    logs = [log.read_text(encoding="utf-8") for log in bridge_logs.glob("*.log")]  # noqa: ASYNC240
    assert logs
    assert all("DEBUG" in log for log in logs)
    assert not any(secret in log for log in logs)


async def test_case_b_elicitation_through_mrtr(
    modern_server: ServerProcess, legacy_host: Any
) -> None:
    server = modern_server
    async with legacy_host(server.url) as host:
        assert text(await host.client.call_tool("who", {})) == "hello Ada"
        assert len(host.record.elicitations) == 1
        assert not host.record.dropped_responses
    calls = server.posts("tools/call")
    assert len(calls) == 2  # the first leg and one retry (§4.7)
    first, retry = calls
    assert "request_state" not in first
    assert retry["request_state"].startswith("v1.")
    assert retry["rpc_id"] != first["rpc_id"]
    assert server.runs("who") == 1
    server.assert_modern_wire()


async def test_case_b_hand_rolled_input_required(
    modern_server: ServerProcess, legacy_host: Any
) -> None:
    server = modern_server
    async with legacy_host(server.url) as host:
        got = text(await host.client.call_tool("ask", {}))
        assert got == 'got {"name": "Ada"} state=st-1'
        assert len(host.record.elicitations) == 1
    assert server.post_counts()["tools/call"] == 2
    assert [e["event"] for e in server.tool_events("ask")] == [
        "start",
        "input_required",
        "start",
        "done",
    ]
    server.assert_modern_wire()


async def test_case_b_input_requests_go_to_the_host_at_once(
    modern_server: ServerProcess, line_driver: Any
) -> None:
    """Both input requests of one round reach the host before it answers either (§4.7: sent
    concurrently, unlike mcp-remote); the answers are never POSTed; the call is retried once
    under a fresh id and answered once under the host's id."""
    server = modern_server
    async with line_driver(server.url) as driver:
        await driver.initialize(0)
        await send_call(driver, 7, "pair")

        def asked() -> list[dict[str, Any]]:
            return [m for m in driver.lines if m.get("method") == "elicitation/create"]

        # Both requests arrive while neither is answered.
        await driver.wait_line(lambda _: len(asked()) == 2, "both input requests")
        first, second = asked()
        assert first["id"] != second["id"]
        for message in (second, first):
            value = message["params"]["message"].split()[1].rstrip("?")
            await driver.send(
                {
                    "jsonrpc": "2.0",
                    "id": message["id"],
                    "result": {"action": "accept", "content": {"v": value}},
                }
            )
        answer = await driver.answer(7)
        got = answer["result"]["content"][0]["text"]
        assert got == 'got {"a": {"v": "a"}, "b": {"v": "b"}}', answer
    assert_one_answer_each(driver, [0, 7])
    calls = server.posts("tools/call")
    assert len(calls) == 2
    assert calls[0]["rpc_id"] == 7
    assert calls[1]["rpc_id"] != 7
    assert [e["event"] for e in server.tool_events("pair")] == [
        "start",
        "input_required",
        "start",
        "done",
    ]
    server.assert_modern_wire()


async def test_case_b_host_error_to_an_input_request_ends_the_call(
    modern_server: ServerProcess, line_driver: Any
) -> None:
    """The host refuses an input request with an error: the call gets that error, once, and
    is not retried upstream."""
    server = modern_server
    async with line_driver(server.url) as driver:
        await driver.initialize(0)
        await send_call(driver, 8, "who")
        ask = await driver.wait_line(lambda m: m.get("method") == "elicitation/create", "ask")
        await driver.send(
            {
                "jsonrpc": "2.0",
                "id": ask["id"],
                "error": {"code": -32001, "message": "user walked away"},
            }
        )
        answer = await driver.answer(8)
        assert answer["error"] == {"code": -32001, "message": "user walked away"}, answer
    assert_one_answer_each(driver, [0, 8])
    assert server.post_counts()["tools/call"] == 1
    assert server.runs("who") == 0
    server.assert_modern_wire()


async def test_case_b_cancel_while_the_host_is_asked(
    modern_server: ServerProcess, line_driver: Any
) -> None:
    """The host cancels a call while the bridge waits for its answer to an input request:
    the bridge cancels that input request (notifications/cancelled to the host), the call
    gets no answer, and a late answer to the input request goes nowhere."""
    server = modern_server
    async with line_driver(server.url) as driver:
        await driver.initialize(0)
        await send_call(driver, 9, "who")
        ask = await driver.wait_line(lambda m: m.get("method") == "elicitation/create", "ask")
        await driver.send(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
        )
        cancelled = await driver.wait_line(
            lambda m: m.get("method") == "notifications/cancelled", "the bridge's cancel"
        )
        assert cancelled["params"]["requestId"] == ask["id"]
        await driver.send(
            {
                "jsonrpc": "2.0",
                "id": ask["id"],
                "result": {"action": "accept", "content": {"name": "Late"}},
            }
        )
        echo = await driver.request(10, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
        assert echo["result"]["content"][0]["text"] == "x"
    assert driver.answers(9) == []
    assert_one_answer_each(driver, [0, 10])
    assert server.post_counts()["tools/call"] == 2
    assert server.runs("who") == 0
    server.assert_modern_wire()


async def test_case_b_input_ends_while_the_host_is_asked(
    modern_server: ServerProcess, line_driver: Any
) -> None:
    """The host closes its input while the bridge waits for its answer to an input request:
    the call gets one error (no answer can come any more) and the bridge exits 0, instead of
    waiting forever (review of issue 16)."""
    server = modern_server
    async with line_driver(server.url) as driver:
        await driver.initialize(0)
        await send_call(driver, 9, "who")
        await driver.wait_line(lambda m: m.get("method") == "elicitation/create", "the ask")
        status = await driver.close()
    assert status == 0
    (answer,) = driver.answers(9)
    assert answer["error"]["code"] == -32603, answer
    assert server.runs("who") == 0
    server.assert_modern_wire()


async def test_case_b_batched_answers_to_input_requests(
    modern_server: ServerProcess, line_driver: Any
) -> None:
    """A 2025-03-26 host may send its answers as a batch: they still reach the bridge's
    input requests."""
    server = modern_server
    async with line_driver(server.url) as driver:
        await driver.initialize(0, version="2025-03-26")
        await send_call(driver, 4, "who")
        ask = await driver.wait_line(lambda m: m.get("method") == "elicitation/create", "ask")
        reply = {"action": "accept", "content": {"name": "Ada"}}
        await driver.send([{"jsonrpc": "2.0", "id": ask["id"], "result": reply}])
        answer = await driver.answer(4)
        assert answer["result"]["content"][0]["text"] == "hello Ada", answer
    assert_one_answer_each(driver, [0, 4])
    assert server.runs("who") == 1


async def test_case_b_progress_reaches_the_host(
    modern_server: ServerProcess, legacy_host: Any
) -> None:
    server = modern_server
    async with legacy_host(server.url) as host:
        result = await host.client.call_tool(
            "prog", {"count": 3}, progress_callback=host.record.on_progress
        )
        assert text(result) == "done 3"
        assert [p[0] for p in host.record.progress] == [1, 2, 3]
    assert server.post_counts()["tools/call"] == 1
    assert server.runs("prog") == 1
    server.assert_modern_wire()


async def test_case_b_subscribe_and_list_changed_through_listen(
    modern_server: ServerProcess, legacy_host: Any
) -> None:
    import mcp_types as types

    server = modern_server
    async with legacy_host(server.url) as host:
        await subscribe(host.client, RESOURCE_URI)
        await server.wait(
            lambda: any(
                e.get("rpc_method") == "subscriptions/listen" and e.get("status") == 200
                for e in server.answered()
            ),
            "a listen stream with the subscription",
        )
        assert text(await host.client.call_tool("bump", {})) == "bumped"
        record = host.record
        await record.wait_for(
            lambda: (
                bool(record.of_type(types.ResourceUpdatedNotification))
                and bool(record.of_type(types.ToolListChangedNotification))
            ),
            "resources/updated and tools/list_changed",
        )
        updated = record.of_type(types.ResourceUpdatedNotification)
        assert [n.params.uri for n in updated] == [RESOURCE_URI]
    counts = server.post_counts()
    assert counts["resources/subscribe"] == 0
    assert counts["subscriptions/listen"] >= 1
    assert server.runs("bump") == 1
    server.assert_modern_wire()


@pytest.mark.parametrize("gate", [False, True], ids=["dual-sse", "gated"])
async def test_case_b_server_restart(servers: Servers, line_driver: Any, gate: bool) -> None:
    """The server restarts on the same port: there is no session to recover, the next call
    is answered by the new process, and the listen stream reopens there, telling the host to
    re-list what it may have missed (§4.2.7). Nothing is re-initialized."""
    options = ["--gate", "modern-only"] if gate else []
    first = servers(era_server_argv(*options), "first")
    async with line_driver(first.url) as driver:
        await driver.initialize(0)
        await driver.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        await first.wait(lambda: bool(first.posts("subscriptions/listen")), "a listen")
        echo = await driver.request(1, "tools/call", {"name": "echo", "arguments": {"text": "a"}})
        assert echo["result"]["content"][0]["text"] == "a"
        first.close()
        second = servers(era_server_argv(*options, "--port", str(first.port)), "second")
        await second.wait(lambda: bool(second.posts("subscriptions/listen")), "a listen again")
        await driver.wait_line(
            lambda m: m.get("method") == "notifications/tools/list_changed",
            "the catch-up tools/list_changed",
        )
        echo = await driver.request(2, "tools/call", {"name": "echo", "arguments": {"text": "b"}})
        assert echo["result"]["content"][0]["text"] == "b"
    assert_one_answer_each(driver, [0, 1, 2])
    for server in (first, second):
        server.assert_modern_wire()
    assert second.post_counts()["tools/call"] == 1
    assert second.runs("echo") == 1
    assert first.runs("echo") == 1


async def test_case_b_sdk_host_cancel_closes_the_exchange(
    modern_server: ServerProcess, legacy_host: Any
) -> None:
    server = modern_server
    async with legacy_host(server.url) as host:
        await call_and_cancel(lambda: host.client.call_tool("slowmark", {}), server)
        # The bridge is still there, and the cancelled call got no late answer.
        assert text(await host.client.call_tool("echo", {"text": "after"})) == "after"
        assert not host.record.dropped_responses
    counts = server.post_counts()
    assert counts["notifications/cancelled"] == 0
    assert counts["tools/call"] == 2
    assert server.runs("slowmark") == 1
    server.assert_modern_wire()


async def test_case_b_raw_cancel_gets_no_answer(
    modern_server: ServerProcess, line_driver: Any
) -> None:
    server = modern_server
    async with line_driver(server.url) as driver:
        init = await driver.initialize(0)
        assert init["result"]["protocolVersion"] == LEGACY
        call = {"name": "slowmark", "arguments": {}}
        await driver.send({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": call})
        await server.wait(lambda: server.runs("slowmark") == 1, "slowmark start")
        cancel = {"requestId": 5, "reason": "user"}
        await driver.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": cancel})
        await server.wait(lambda: bool(server.tool_events("slowmark", "cancelled")), "cancelled")
        echo = await driver.request(6, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
        assert echo["result"]["content"][0]["text"] == "x"
    # The bridge has exited: every line it ever wrote is in `driver.lines`.
    assert driver.answers(5) == []
    assert_one_answer_each(driver, [0, 6])
    counts = server.post_counts()
    assert counts["notifications/cancelled"] == 0
    assert counts["tools/call"] == 2
    assert server.runs("slowmark") == 1
    assert server.runs("echo") == 1
    server.assert_modern_wire()


async def test_case_b_retired_requests_answered_locally(
    modern_server: ServerProcess, line_driver: Any
) -> None:
    server = modern_server
    async with line_driver(server.url) as driver:
        await driver.initialize(0)
        assert (await driver.request(1, "ping"))["result"] == {}
        assert (await driver.request(2, "logging/setLevel", {"level": "info"}))["result"] == {}
        subscribed = await driver.request(3, "resources/subscribe", {"uri": RESOURCE_URI})
        assert subscribed["result"] == {}
        again = await driver.initialize(4)  # a repeated initialize is answered locally too
        assert again["result"]["protocolVersion"] == LEGACY
    assert_one_answer_each(driver, [0, 1, 2, 3, 4])
    counts = server.post_counts()
    assert counts["server/discover"] == 1
    for method in ("initialize", "ping", "logging/setLevel", "resources/subscribe"):
        assert counts[method] == 0, method
    server.assert_modern_wire()


async def test_case_b_modern_verdict_cached_across_runs(
    modern_server: ServerProcess, line_driver: Any, auth_dir: Path
) -> None:
    """§2.5: the verdict is kept in MCP_WRAPPER_AUTH_DIR, so a second run sends no probe."""
    server = modern_server
    for run in (1, 2):
        async with line_driver(server.url, auth=auth_dir) as driver:
            init = await driver.initialize(0)
            assert init["result"]["serverInfo"]["name"] == "era-test-server"
            echo = await driver.request(
                1, "tools/call", {"name": "echo", "arguments": {"text": "c"}}
            )
            assert echo["result"]["content"][0]["text"] == "c"
        assert_one_answer_each(driver, [0, 1])
        assert server.post_counts()["server/discover"] == 1, f"after run {run}"
    assert server.post_counts()["initialize"] == 0
    assert server.runs("echo") == 2
    server.assert_modern_wire()


# --- case C ---------------------------------------------------------------------------------


async def test_case_c_modern_host_auto_passes_through(
    modern_server: ServerProcess, modern_host: Any
) -> None:
    server = modern_server
    async with modern_host(server.url) as host:
        client = host.client
        assert client.protocol_version == MODERN
        assert client.server_info.name == "era-test-server"  # the discover answer, unchanged
        assert text(await client.call_tool("echo", {"text": "hi"})) == "hi"
        assert text(await client.call_tool("regional", {"region": "eu"})) == "region=eu header=eu"
        assert text(await client.call_tool("who", {})) == "hello Ada"
        assert len(host.record.elicitations) == 1
    counts = server.post_counts()
    assert counts["server/discover"] == 1  # the host's own, which is also the probe
    assert counts["initialize"] == 0
    regional = [e for e in server.posts("tools/call") if e.get("rpc_name") == "regional"]
    assert [e.get("mcp-param-region") for e in regional] == ["eu"]
    assert server.runs("echo") == server.runs("regional") == server.runs("who") == 1
    server.assert_modern_wire()


async def test_case_c_pinned_modern_host(modern_server: ServerProcess, modern_host: Any) -> None:
    server = modern_server
    async with modern_host(server.url, mode=MODERN) as host:
        assert text(await host.client.call_tool("echo", {"text": "hi"})) == "hi"
    counts = server.post_counts()
    assert counts["initialize"] == 0
    assert counts["server/discover"] <= 1  # the host sends none; the bridge may probe once
    assert counts["tools/call"] == 1
    assert server.runs("echo") == 1
    server.assert_modern_wire()


async def test_case_c_cancel_closes_the_stream(
    modern_server: ServerProcess, modern_host: Any
) -> None:
    server = modern_server
    async with modern_host(server.url) as host:
        await call_and_cancel(lambda: host.client.call_tool("slowmark", {}), server)
        assert text(await host.client.call_tool("echo", {"text": "after"})) == "after"
        assert not host.record.dropped_responses
    counts = server.post_counts()
    assert counts["notifications/cancelled"] == 0
    assert server.runs("slowmark") == 1
    server.assert_modern_wire()


def enveloped(id: Any, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A 2026-07-28 request as a modern host writes it: the envelope in `params._meta`."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-modern-host", "version": "1"},
    }
    return {
        "jsonrpc": "2.0",
        "id": id,
        "method": method,
        "params": {**(params or {}), "_meta": meta},
    }


async def test_case_c_listen_passes_through_and_a_cancel_ends_it(
    modern_server: ServerProcess, line_driver: Any
) -> None:
    """A modern host's own `subscriptions/listen` goes through with its id, so the server's
    `subscriptionId` is the host's; what the server sends on it reaches the host; the host's
    `notifications/cancelled` closes it (the server sees no notification) and it gets no
    answer."""
    server = modern_server
    # One slot: a listen that held it would leave every later request waiting.
    async with line_driver(server.url, "--concurrency", "1") as driver:
        await driver.send(enveloped("d", "server/discover"))
        assert "result" in await driver.answer("d")
        await driver.send(
            enveloped("L", "subscriptions/listen", {"notifications": {"toolsListChanged": True}})
        )
        ack = await driver.wait_line(
            lambda m: m.get("method") == "notifications/subscriptions/acknowledged", "the ack"
        )
        assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "L"
        await driver.send(enveloped(2, "tools/call", {"name": "bump", "arguments": {}}))
        changed = await driver.wait_line(
            lambda m: m.get("method") == "notifications/tools/list_changed", "list_changed"
        )
        assert changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "L"
        await driver.answer(2)
        await driver.send(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "L"}}
        )
        await driver.send(enveloped(3, "tools/call", {"name": "echo", "arguments": {"text": "x"}}))
        assert (await driver.answer(3))["result"]["content"][0]["text"] == "x"
    assert driver.answers("L") == []
    assert_one_answer_each(driver, ["d", 2, 3])
    counts = server.post_counts()
    assert counts["server/discover"] == 1
    assert counts["subscriptions/listen"] == 1
    assert counts["notifications/cancelled"] == 0
    server.assert_modern_wire()


async def test_bare_discover_is_not_the_probe(servers: Servers, line_driver: Any) -> None:
    """A host's `server/discover` without the envelope would draw "Missing session ID" from
    mcp 2.3 and read as legacy (§4.5): the bridge probes with an envelope of its own, then
    passes the host's request on (its error is the server's to give)."""
    server = servers(era_server_argv(), "dual-sse")
    async with line_driver(server.url) as driver:
        answer = await driver.request("bare", "server/discover")
        assert answer["error"]["code"] != -32601, answer
        await driver.send(enveloped(2, "tools/call", {"name": "echo", "arguments": {"text": "x"}}))
        assert (await driver.answer(2))["result"]["content"][0]["text"] == "x"
    assert_one_answer_each(driver, ["bare", 2])
    probes = server.posts("server/discover")
    assert len(probes) == 2, probes
    assert probes[0]["mcp-protocol-version"] == MODERN
    assert probes[0]["rpc_id"] != "bare"
    server.assert_modern_wire(allow_bare=True)


async def test_a_stale_modern_verdict_is_dropped(
    servers: Servers, line_driver: Any, auth_dir: Path
) -> None:
    """The cached verdict says 2026-07-28, but the server at that URL now speaks only the 2025
    era: the first start fails (the host sees the server's errors), drops the verdict, and
    the next start probes and works (§2.5)."""
    modern = servers(era_server_argv(), "was-modern")
    async with line_driver(modern.url) as driver:
        await driver.initialize(0)
    modern.close()
    legacy = servers(legacy_server_argv("--port", str(modern.port)), "now-legacy")
    async with line_driver(legacy.url) as driver:
        init = await driver.initialize(0)
        assert init["result"]["serverInfo"]["name"] == "era-test-server", "from the cache"
        failed = await driver.request(1, "tools/list")
        assert "error" in failed, failed
    assert legacy.post_counts()["server/discover"] == 0
    async with line_driver(legacy.url) as driver:
        await driver.initialize(0)
        await driver.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        echo = await driver.request(2, "tools/call", {"name": "echo", "arguments": {"text": "y"}})
        assert echo["result"]["content"][0]["text"] == "y", echo
    counts = legacy.post_counts()
    assert counts["server/discover"] == 1
    assert counts["initialize"] == 1
    assert legacy.runs("echo") == 1


# --- case D ---------------------------------------------------------------------------------


async def test_case_d_modern_host_falls_back_on_legacy_server(
    servers: Servers, modern_host: Any
) -> None:
    server = servers(legacy_server_argv(), "legacy")
    async with modern_host(server.url) as host:
        assert host.client.protocol_version != MODERN
        assert text(await host.client.call_tool("echo", {"text": "hi"})) == "hi"
    counts = server.post_counts()
    assert counts["server/discover"] == 1
    assert counts["initialize"] == 1
    assert counts["tools/call"] == 1
    assert server.runs("echo") == 1


async def test_case_d_discover_answered_method_not_found(
    servers: Servers, line_driver: Any
) -> None:
    server = servers(legacy_server_argv(), "legacy")
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    async with line_driver(server.url) as driver:
        answer = await driver.request("d", "server/discover", {"_meta": meta})
        assert answer["error"]["code"] == -32601
        init = await driver.initialize(1)
        assert init["result"]["serverInfo"]["name"] == "legacy-http-test-server"
        echo = await driver.request(2, "tools/call", {"name": "echo", "arguments": {"text": "d"}})
        assert echo["result"]["content"][0]["text"] == "d"
    assert_one_answer_each(driver, ["d", 1, 2])
    counts = server.post_counts()
    assert counts["initialize"] == 1
    assert counts["server/discover"] == 1
    assert server.runs("echo") == 1


# --- probe faults ---------------------------------------------------------------------------


async def one_failed_initialize(line_driver: Any, url: str, auth: Path) -> dict[str, Any]:
    async with line_driver(url, auth=auth) as driver:
        answer = await driver.initialize(0)
    assert_one_answer_each(driver, [0])
    assert "error" in answer, answer
    error: dict[str, Any] = answer["error"]
    return error


async def test_probe_5xx_fails_initialize_and_caches_nothing(
    servers: Servers, line_driver: Any, auth_dir: Path
) -> None:
    server = servers(stub_server_argv("status-500"), "stub-500")
    first = await one_failed_initialize(line_driver, server.url, auth_dir)
    assert "500" in str(first)
    assert not (-32099 <= first["code"] <= -32020), first  # spec-reserved range (§1.8)
    second = await one_failed_initialize(line_driver, server.url, auth_dir)
    assert "500" in str(second)
    counts = server.post_counts()
    assert counts["server/discover"] == 2  # nothing cached: the second run probed again
    assert counts["initialize"] == 0


async def test_probe_401_names_the_status(
    servers: Servers, line_driver: Any, auth_dir: Path
) -> None:
    server = servers(stub_server_argv("status-401"), "stub-401")
    error = await one_failed_initialize(line_driver, server.url, auth_dir)
    assert "401" in str(error)
    assert server.post_counts()["initialize"] == 0


async def test_probe_timeout_fails_initialize(
    servers: Servers, line_driver: Any, auth_dir: Path
) -> None:
    server = servers(stub_server_argv("hang"), "stub-hang")
    await one_failed_initialize(line_driver, server.url, auth_dir)
    counts = server.post_counts()
    assert counts["server/discover"] == 1
    assert counts["initialize"] == 0


async def test_probe_carries_the_modern_headers(
    servers: Servers, line_driver: Any, auth_dir: Path
) -> None:
    """§1.10: mcp 2.3 routes by header, so a header-less probe would read a modern server as
    legacy; the stub answers like it."""
    server = servers(stub_server_argv("header-routed"), "stub-routed")
    async with line_driver(server.url) as driver:
        init = await driver.initialize(0)
        assert init["result"]["serverInfo"]["name"] == "era-stub"
        listed = await driver.request(1, "tools/list")
        assert listed["result"]["tools"] == []
    assert_one_answer_each(driver, [0, 1])
    probes = server.posts("server/discover")
    assert len(probes) == 1
    assert probes[0]["mcp-protocol-version"] == MODERN
    assert probes[0]["mcp-method"] == "server/discover"
    assert server.post_counts()["initialize"] == 0


async def test_line_driver_records_every_line(servers: Servers, line_driver: Any) -> None:
    """The raw driver itself, against today's bridge on a legacy server (case A)."""
    server = servers(legacy_server_argv(), "legacy")
    async with line_driver(server.url) as driver:
        assert isinstance(driver, LineDriver)
        await driver.initialize(0)
        echo = await driver.request(1, "tools/call", {"name": "echo", "arguments": {"text": "r"}})
        assert echo["result"]["content"][0]["text"] == "r"
    assert_one_answer_each(driver, [0, 1])
    assert len(driver.lines) == len(driver.raw) >= 2
    assert server.runs("echo") == 1
