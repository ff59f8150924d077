"""Every async method returns a coroutine, as an `async def` call does (issue 13 part B):
tasks and task groups take it, it starts when awaited, it warns when never awaited, and
cancelling it drops the Rust work."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

import mcp_wrapper_rs as m

from support import Server, request

T = TypeVar("T")


def started_task(
    awaitable: Awaitable[T],
) -> tuple[asyncio.Task[T], asyncio.Event]:
    """A task awaiting `awaitable`, and an event set in the same step in which the task
    starts awaiting it: once the event is set, the await has begun."""
    started = asyncio.Event()

    async def run() -> T:
        started.set()
        return await awaitable

    return asyncio.create_task(run()), started


async def hits(client: m.Client, server: Server, key: str) -> int:
    response = await client.get(f"{server.base}/hits/{key}")
    return int(response.text)


async def test_every_async_method_returns_a_coroutine(
    http_server: Server, mcp_server: Server
) -> None:
    async with m.Client() as client:
        response = await client.get(f"{http_server.base}/lines")
        stream = client.stream("GET", f"{http_server.base}/lines")
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: client.get(f"{http_server.base}/echo"),
            lambda: client.post(f"{http_server.base}/echo"),
            lambda: client.delete(f"{http_server.base}/echo"),
            lambda: client.request("GET", f"{http_server.base}/echo"),
            lambda: m.forward_request(mcp_server.url, request(1, "ping")),
            lambda: response.aread(),
            lambda: response.aclose(),
            lambda: response.__aenter__(),
            lambda: response.__aexit__(None, None, None),
            lambda: response.aiter_lines().__anext__(),
            lambda: stream.__aenter__(),
            lambda: stream.__aexit__(None, None, None),
            lambda: client.__aenter__(),
        ]
        for call in calls:
            coro = call()
            assert asyncio.iscoroutine(coro), coro
            assert isinstance(coro, Coroutine), coro
            coro.close()


async def test_create_task_and_task_group_take_them(http_server: Server) -> None:
    async with m.Client() as client:
        task = asyncio.create_task(client.post(f"{http_server.base}/echo", content=b"one"))
        assert (await task).json()["body"] == "one"
        if sys.version_info >= (3, 11):
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(client.post(f"{http_server.base}/echo", content=str(i)))
                    for i in range(8)
                ]
            assert [t.result().json()["body"] for t in tasks] == [str(i) for i in range(8)]
        answers = await asyncio.gather(
            *(client.get(f"{http_server.base}/echo?n={i}") for i in range(8))
        )
        assert [a.json()["path"] for a in answers] == [f"/echo?n={i}" for i in range(8)]


async def test_the_request_starts_when_awaited(http_server: Server) -> None:
    async with m.Client() as client:
        coro = client.get(f"{http_server.base}/hit/starts-when-awaited")
        assert await hits(client, http_server, "starts-when-awaited") == 0
        await coro
        assert await hits(client, http_server, "starts-when-awaited") == 1


async def test_a_coroutine_never_awaited_warns(http_server: Server) -> None:
    async with m.Client() as client:
        coro = client.get(f"{http_server.base}/hit/never-awaited")
        with pytest.warns(RuntimeWarning, match=r"coroutine 'Client\.get' was never awaited"):
            del coro
        assert await hits(client, http_server, "never-awaited") == 0


async def test_cancelling_the_task_drops_the_request(http_server: Server) -> None:
    """The body never comes (the server is silent for a minute): cancelling the waiting task
    ends the wait at once, and the client goes on working."""
    async with m.Client() as client:
        task, started = started_task(client.get(f"{http_server.base}/ticks?n=1&hold=1"))
        await started.wait()
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await client.get(f"{http_server.base}/echo")).status_code == 200


async def test_a_coroutine_cannot_be_awaited_twice(http_server: Server) -> None:
    async with m.Client() as client:
        coro = client.get(f"{http_server.base}/echo")
        await coro
        with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
            await coro


async def test_names_and_repr(http_server: Server) -> None:
    async with m.Client() as client:
        coro = client.post(f"{http_server.base}/echo")
        assert coro.__qualname__ == "Client.post"
        assert coro.__name__ == "post"
        assert repr(coro) == "<coroutine Client.post>"
        coro.close()


def test_awaiting_outside_an_event_loop_is_a_clear_error() -> None:
    client = m.Client()
    coro = client.get("http://127.0.0.1:9/")
    with pytest.raises(RuntimeError, match="no running event loop"):
        coro.send(None)
    coro.close()


async def test_a_second_awaiter_is_refused_and_the_first_gets_the_answer(
    http_server: Server,
) -> None:
    """As a native coroutine: the second `await` raises, the first is not disturbed (the
    first awaiter waited for ever before)."""
    async with m.Client() as client:
        stream = client.stream("GET", f"{http_server.base}/ticks?n=1&hold=1")
        coro = stream.__aenter__()
        first, started = started_task(coro)
        await started.wait()
        with pytest.raises(RuntimeError, match="awaited already"):
            await coro
        response = await first
        assert response.status_code == 200
        await stream.__aexit__(None, None, None)


async def test_an_anext_never_run_takes_no_item(http_server: Server) -> None:
    """The item is taken when `__anext__()`'s coroutine first runs, not when it is made."""
    async with m.Client() as client:
        response = await client.get(f"{http_server.base}/ticks?n=5")
        it = response.aiter_lines()
        assert await it.__anext__() == "tick 0"
        cancelled = asyncio.create_task(it.__anext__())
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert await it.__anext__() == "tick 1"
        never = it.__anext__()
        with pytest.warns(RuntimeWarning, match="never awaited"):
            del never
        assert [line async for line in it] == ["tick 2", "tick 3", "tick 4"]


async def test_leaving_the_block_after_a_cancelled_read_closes_the_connection(
    http_server: Server,
) -> None:
    """A read cancelled as it starts may still hold the body for a moment when the block
    ends: the connection is closed anyway, with the responses still referenced (it stayed
    open until they were collected)."""
    async with m.Client() as client:
        kept = []
        for _ in range(5):
            async with client.stream("GET", f"{http_server.base}/ticks?n=1&hold=1") as r:
                kept.append(r)
                it = r.aiter_lines()
                assert await it.__anext__() == "tick 0"
                task, started = started_task(it.__anext__())
                await started.wait()  # the read of the next line has begun
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
        assert all(r.is_closed for r in kept)
        # The server answers once at most one connection (the one asking) is open.
        assert (await client.get(f"{http_server.base}/open?atmost=1")).text == "1"
        assert len(kept) == 5


def test_huge_timeouts_mean_no_limit_not_a_panic() -> None:
    """`Duration::from_secs_f64` panicked past its range (a `PanicException`)."""
    client = m.Client(timeout=1e300, connect_timeout=float("inf"))
    client.build_request("GET", "http://127.0.0.1:9/", timeout=1e300)
