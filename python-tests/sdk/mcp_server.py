"""An MCP server built on the official `mcp` SDK (2.x), run as a subprocess by the SDK tests.

    python mcp_server.py --mode stateful|stateless-json --port N
                         [--request-log PATH] [--wait-for-go]

`MCPServer` (the SDK's former FastMCP) served over Streamable HTTP by uvicorn on 127.0.0.1.
Port 0 picks a free port; the server prints one line `READY <port>` on stdout once it
accepts connections, so a restarted server can be asked for the same port. With
`--wait-for-go` it first prints `ARMED` and binds only after reading a line on stdin.

Modes:
- `stateful`: sessions (`Mcp-Session-Id`), SSE responses, an in-memory event store so
  every SSE event has an id and streams can be resumed with `Last-Event-ID`.
- `stateless-json`: no sessions, one JSON body per POST: no server-to-client
  back-channel at all (no progress, logs, sampling, elicitation or listen stream).

Every HTTP request is appended to `--request-log` as JSON lines (method, path,
status, the MCP headers and the JSON-RPC method/id of the body; one line when the body
has arrived, one when the answer starts), so tests can check what the bridge sent
without a proxy in between.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from collections import defaultdict
from typing import Any

import mcp_types as types
import uvicorn
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage
from pydantic import BaseModel, Field

RESOURCE_URI = "memo://counter"
# The tools `build_server` defines: what the SDK tests and the gateway tests (which federate
# this server) expect to see listed through the bridge.
TOOL_NAMES = frozenset(
    {
        "echo",
        "slow_progress",
        "sample",
        "elicit_name",
        "log_messages",
        "touch",
        "ping_client",
        "resumable",
        "pid",
        "add_tool",
    }
)

# Session id -> number of GET (listen) streams currently open on it, maintained by
# the request-log middleware. Standalone server messages (resources/updated, ping)
# can only be delivered while one is open, so the tools that send them wait for it.
open_listen_streams: dict[str, int] = defaultdict(int)
# Session id (or "" without sessions) -> resource URIs it subscribed to.
subscriptions: dict[str, set[str]] = defaultdict(set)
counter = 0


class InMemoryEventStore(EventStore):
    """Keeps every event so a broken SSE stream can be replayed after `Last-Event-ID`."""

    def __init__(self) -> None:
        self._events: list[tuple[StreamId, EventId, JSONRPCMessage | None]] = []
        self._next = 0

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        self._next += 1
        event_id = f"{stream_id}:{self._next}"
        self._events.append((stream_id, event_id, message))
        return event_id

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        index = next(
            (i for i, (_, eid, _) in enumerate(self._events) if eid == last_event_id), None
        )
        if index is None:
            return None
        stream_id = self._events[index][0]
        for sid, eid, message in self._events[index + 1 :]:
            if sid == stream_id and message is not None:
                await send_callback(EventMessage(message, eid))
        return stream_id


class Name(BaseModel):
    name: str = Field(description="Your name")


def session_key(ctx: Context[Any, Any]) -> str:
    headers = ctx.headers or {}
    return headers.get("mcp-session-id", "")


async def wait_for_listen_stream(session: str, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while open_listen_streams.get(session, 0) <= 0:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def build_server() -> MCPServer:
    mcp = MCPServer("sdk-test-server", version="1.0.0")

    @mcp.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @mcp.tool()
    async def slow_progress(ctx: Context, steps: int = 3, delay: float = 0.05) -> str:
        """Report progress `steps` times, `delay` seconds apart."""
        for i in range(1, steps + 1):
            await ctx.report_progress(i, steps, f"step {i}")
            await asyncio.sleep(delay)
        return f"done {steps}"

    @mcp.tool()
    async def sample(prompt: str, ctx: Context) -> str:
        """Ask the client's LLM (sampling/createMessage on the request's own stream)."""
        result = await ctx.session.create_message(
            messages=[types.SamplingMessage(role="user", content=types.TextContent(text=prompt))],
            max_tokens=32,
            related_request_id=ctx.request_id,
        )
        return f"{result.model}: {getattr(result.content, 'text', result.content)}"

    @mcp.tool()
    async def elicit_name(ctx: Context) -> str:
        """Ask the user for a name (elicitation/create)."""
        answer = await ctx.elicit("What is your name?", schema=Name)
        if answer.action == "accept":
            return f"hello {answer.data.name}"
        return f"no name ({answer.action})"

    @mcp.tool()
    async def log_messages(ctx: Context) -> str:
        """Send two log notifications, then answer."""
        await ctx.info("info from the server")
        await ctx.warning({"detail": "warning from the server"})
        return "logged"

    @mcp.tool()
    async def touch(ctx: Context) -> str:
        """Change memo://counter and notify subscribers (on the session's listen stream)."""
        global counter
        counter += 1
        session = session_key(ctx)
        if RESOURCE_URI not in subscriptions[session]:
            return f"counter={counter}; not subscribed"
        if not await wait_for_listen_stream(session):
            return f"counter={counter}; no listen stream open"
        await ctx.session.send_resource_updated(RESOURCE_URI)
        return f"counter={counter}; notified"

    @mcp.tool()
    async def ping_client(ctx: Context) -> str:
        """Ping the client (a server-to-client request on the listen stream)."""
        if not await wait_for_listen_stream(session_key(ctx)):
            return "no listen stream open"
        await ctx.session.send_ping()
        return "pong"

    @mcp.tool()
    async def resumable(ctx: Context) -> str:
        """Close this request's SSE stream mid-call; the client must resume with Last-Event-ID."""
        await ctx.report_progress(1, 2, "before the break")
        await asyncio.sleep(0.1)
        await ctx.close_sse_stream()
        await asyncio.sleep(0.5)
        await ctx.report_progress(2, 2, "after the break")
        return "resumed"

    @mcp.tool()
    def pid() -> int:
        """The server's process id (tells a restarted server from the old one)."""
        return os.getpid()

    @mcp.tool()
    async def add_tool(name: str, ctx: Context) -> str:
        """Add a tool `name` (it returns its name) and send notifications/tools/list_changed
        on this call's stream. Changes the server for every client: use a server of your own."""

        def added() -> str:
            return name

        mcp.add_tool(added, name=name, description=f"added by add_tool: {name}")
        await ctx.session.send_notification(
            types.ToolListChangedNotification(), related_request_id=ctx.request_id
        )
        return f"added {name}"

    @mcp.resource(RESOURCE_URI, mime_type="text/plain")
    def read_counter() -> str:
        return str(counter)

    # MCPServer has no decorator for the 2025-era `resources/subscribe`; the low-level
    # server it wraps takes the handler (and then advertises `resources.subscribe`).
    async def on_subscribe(
        ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        request = ctx.request
        session = request.headers.get("mcp-session-id", "") if request is not None else ""
        subscriptions[session].add(params.uri)
        return types.EmptyResult()

    async def on_unsubscribe(
        ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        request = ctx.request
        session = request.headers.get("mcp-session-id", "") if request is not None else ""
        subscriptions[session].discard(params.uri)
        return types.EmptyResult()

    lowlevel = mcp._lowlevel_server
    lowlevel.add_request_handler("resources/subscribe", types.SubscribeRequestParams, on_subscribe)
    lowlevel.add_request_handler(
        "resources/unsubscribe", types.UnsubscribeRequestParams, on_unsubscribe
    )
    return mcp


class RequestLog:
    """ASGI middleware: one JSON line per HTTP request, and the open-listen-stream count."""

    def __init__(self, app: Any, path: str | None) -> None:
        self.app = app
        self.file = open(path, "a", buffering=1, encoding="utf-8") if path else None  # noqa: SIM115

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = bytearray()
        listen_session: str | None = None

        async def receive_wrapper() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                if len(body) < 65536:
                    body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    self.write(scope, headers, bytes(body), None)
            return message

        async def send_wrapper(message: Any) -> None:
            nonlocal listen_session
            if message["type"] == "http.response.start":
                status = message["status"]
                session = headers.get("mcp-session-id")
                if (
                    scope["method"] == "GET"
                    and status == 200
                    and session
                    and "last-event-id" not in headers
                ):
                    listen_session = session
                    open_listen_streams[session] += 1
                self.write(scope, headers, bytes(body), status)
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            if listen_session is not None:
                open_listen_streams[listen_session] -= 1

    def write(
        self, scope: dict[str, Any], headers: dict[str, str], body: bytes, status: int | None
    ) -> None:
        """One line when the body has been read (`phase` "arrived", no status yet: an
        answer may take long), one when the response starts (`phase` "answered")."""
        if self.file is None:
            return
        entry: dict[str, Any] = {
            "phase": "arrived" if status is None else "answered",
            "time": time.time(),
            "pid": os.getpid(),
            "http": scope["method"],
            "path": scope["path"],
        }
        if status is not None:
            entry["status"] = status
        for name in (
            "mcp-session-id",
            "mcp-protocol-version",
            "mcp-method",
            "mcp-name",
            "last-event-id",
            "accept",
        ):
            if name in headers:
                entry[name] = headers[name]
        if body:
            try:
                message = json.loads(body)
            except ValueError:
                entry["body"] = body[:200].decode("utf-8", "replace")
            else:
                if isinstance(message, dict):
                    for key in ("method", "id"):
                        if key in message:
                            entry[f"rpc_{key}"] = message[key]
                    if "result" in message or "error" in message:
                        entry["rpc_kind"] = "response"
        self.file.write(json.dumps(entry) + "\n")


async def serve(args: argparse.Namespace) -> None:
    mcp = build_server()
    stateful = args.mode == "stateful"
    app = mcp.streamable_http_app(
        json_response=not stateful,
        stateless_http=not stateful,
        event_store=InMemoryEventStore() if stateful else None,
        retry_interval=200 if stateful else None,
    )
    if args.wait_for_go:
        # Everything is imported and built: from here to listening takes milliseconds,
        # so a test controls exactly how long the port stays closed.
        print("ARMED", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    config = uvicorn.Config(
        RequestLog(app, args.request_log),
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            raise SystemExit("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    print(f"READY {sock.getsockname()[1]}", flush=True)
    await task


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["stateful", "stateless-json"], required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--request-log")
    parser.add_argument(
        "--wait-for-go", action="store_true", help="print ARMED, bind after a line on stdin"
    )
    args = parser.parse_args()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
