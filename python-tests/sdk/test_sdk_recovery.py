"""The SDK server goes away under a live `mcp-wrapper`: restarted between calls (its
sessions are gone, so the old session id answers 404 and the bridge must replay
initialize), or killed while calls are streaming (each pending call gets a JSON-RPC
error, the bridge keeps serving, and works again once the server is back on its port).
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
from mcp.shared.exceptions import MCPError

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

# design §3: a broken stream answers -32000 "Server closed the stream"; a connection
# that cannot be (re)made answers -32000 "Connection failed".
BROKEN = ("Server closed the stream", "Connection failed")


async def test_restart_recovers_session(fresh_server: Any, open_bridge: Any, sdk: Any) -> None:
    server = fresh_server
    async with open_bridge(server) as bridge:
        session = bridge.session
        old_pid = int(sdk.text(await session.call_tool("pid", {})))
        if server.stateful:
            # (test_resource_subscription shows the notification itself works.)
            await sdk.subscribe(session, sdk.RESOURCE_URI)
        before = len(server.requests())

        await anyio.to_thread.run_sync(server.restart)

        # The client notices nothing: same ClientSession, the call just works.
        with anyio.fail_after(30):
            assert (
                sdk.text(await session.call_tool("echo", {"text": "after restart"}))
                == "after restart"
            )
            new_pid = int(sdk.text(await session.call_tool("pid", {})))
        assert new_pid != old_pid
        assert isinstance(await session.send_ping(), types.EmptyResult)
        assert bridge.recorder.exceptions == []
        assert bridge.recorder.dropped_responses == [], (
            "the bridge leaked answers the client never asked for"
        )

        after = server.requests()[before:]
        if server.stateful:
            # The old session id got 404, then initialize and initialized were replayed and
            # the subscription re-issued, on the new server, before the call was resent.
            assert any(e["status"] == 404 for e in after), after
            replayed = [
                e.get("rpc_method") for e in after if e["status"] < 300 and "rpc_method" in e
            ]
            assert replayed[:2] == ["initialize", "notifications/initialized"], replayed
            assert "resources/subscribe" in replayed, replayed
            assert replayed.index("resources/subscribe") < replayed.index("tools/call"), replayed
            new_ids = {
                e.get("mcp-session-id")
                for e in after
                if e["status"] < 300 and e.get("rpc_method") != "initialize"
            }
            assert len(new_ids) == 1, new_ids
            assert None not in new_ids, new_ids

            # The re-subscribed resource still notifies, on the reopened listen stream.
            result = sdk.text(await session.call_tool("touch", {}))
            assert result.endswith("; notified"), result
            await bridge.recorder.wait_for(
                lambda: len(bridge.recorder.of_type(types.ResourceUpdatedNotification)) == 1,
                10,
                "the update",
            )
            # Server-to-client traffic on the new session works too.
            with anyio.fail_after(30):
                assert sdk.text(await session.call_tool("ping_client", {})) == "pong"
        else:
            assert not any(e["status"] >= 400 for e in after), after
            assert "initialize" not in [e.get("rpc_method") for e in after], (
                "no session, nothing to recover"
            )


async def test_kill_mid_stream(fresh_server: Any, open_bridge: Any, sdk: Any) -> None:
    server = fresh_server
    async with open_bridge(server) as bridge:
        session = bridge.session
        started: list[int] = []
        outcomes: dict[int, BaseException | str] = {}
        both_answered = anyio.Event()

        async def slow_call(i: int) -> None:
            async def on_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                if progress == 1:
                    started.append(i)

            try:
                result = await session.call_tool(
                    "slow_progress", {"steps": 400, "delay": 0.05}, progress_callback=on_progress
                )
                outcomes[i] = sdk.text(result)
            except Exception as exc:
                outcomes[i] = exc
            if len(outcomes) == 2:
                both_answered.set()

        async with anyio.create_task_group() as tg:
            for i in range(2):
                tg.start_soon(slow_call, i)
            if server.stateful:
                await bridge.recorder.wait_for(
                    lambda: len(started) == 2, 10, "both calls to start streaming"
                )
            else:
                # JSON-response mode: nothing streams before the answer; wait for the POSTs.
                await bridge.recorder.wait_for(
                    lambda: (
                        sum(e.get("rpc_method") == "tools/call" for e in server.arrivals()) == 2
                    ),
                    10,
                    "both tools/call POSTs to reach the server",
                )
            await anyio.to_thread.run_sync(server.kill)
            # The calls would stream for 20 s more and the bridge's timeout is 20 s: an answer
            # that is not a broken-stream error (checked below) means the kill went unseen.
            with anyio.fail_after(60):
                await both_answered.wait()

        for i in range(2):
            outcome = outcomes[i]
            assert isinstance(outcome, MCPError), (
                f"call {i}: expected a JSON-RPC error, got {outcome!r}"
            )
            assert outcome.code == -32000, (outcome.code, outcome.message)
            assert outcome.message.startswith(BROKEN), outcome.message

        # The bridge is still running; bring the server back on the same port.
        await anyio.to_thread.run_sync(server.start)
        with anyio.fail_after(30):
            assert sdk.text(await session.call_tool("echo", {"text": "back"})) == "back"
            seen: list[float] = []

            async def on_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                seen.append(progress)

            result = await session.call_tool(
                "slow_progress", {"steps": 2}, progress_callback=on_progress
            )
        assert sdk.text(result) == "done 2"
        if server.stateful:
            await bridge.recorder.wait_for(lambda: len(seen) >= 2, 30, "progress after the restart")
            assert seen == [1, 2]
        assert bridge.recorder.dropped_responses == []


async def test_call_while_server_is_down(fresh_server: Any, open_bridge: Any, sdk: Any) -> None:
    """A call made while nothing listens on the port: the connection is refused, so the
    server cannot have acted on it and the bridge retries with backoff (design §3); the
    server comes back within the retry budget and the call succeeds, through 404
    recovery when the server had sessions."""
    server = fresh_server
    async with open_bridge(server) as bridge:
        session = bridge.session
        assert sdk.text(await session.call_tool("echo", {"text": "before"})) == "before"
        await anyio.to_thread.run_sync(server.spawn)  # the next server, not yet listening
        await anyio.to_thread.run_sync(server.kill)
        logged = len(bridge.log())
        outcome: list[Any] = []

        def call_refused() -> bool:
            # The bridge's debug log: "resending method=tools/call attempt=1 ... refused".
            return any(
                "resending" in line and "tools/call" in line
                for line in bridge.log()[logged:].splitlines()
            )

        async def call() -> None:
            try:
                outcome.append(await session.call_tool("echo", {"text": "while down"}))
            except Exception as exc:
                outcome.append(exc)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                # The port stays closed until the bridge says an attempt was refused and it
                # is backing off to resend.
                await bridge.recorder.wait_for(call_refused, 20, "a refused attempt at the call")
                assert await anyio.to_thread.run_sync(server.go), "the server did not come back"
        [result] = outcome
        assert not isinstance(result, BaseException), f"the call failed: {result!r}"
        assert sdk.text(result) == "while down"
        assert bridge.recorder.dropped_responses == []
