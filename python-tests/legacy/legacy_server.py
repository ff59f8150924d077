"""A legacy HTTP+SSE MCP server (protocol 2024-11-05) for the bridge's `--transport sse` tests.

The official MCP Python SDK 1.x (`mcp<2`, see python-tests/requirements-legacy.txt) serves it:
`FastMCP(...).sse_app()` under uvicorn, GET /sse (the event stream, whose first event is
`endpoint`) and POST /messages/?session_id=... (202, the answer goes on the stream). It runs
in its own venv (the other suites have SDK 2.x, which has no SSE server), so this file imports
nothing from the test suite.

    python legacy_server.py [--port N | --fd FD] [--request-log PATH] [--echo-log]

Binds 127.0.0.1 (port 0: any free one), or serves the listening socket FD it inherited (a
test keeps one socket across restarts, so a restart never races the port's release), prints
exactly `READY <port>` once it accepts connections, and serves until killed. Every HTTP
request is logged as one JSON line when its answer starts: method, path, status, and for a
JSON-RPC POST its `rpc` method, id and tool name, so a test can count what the server saw;
appended to the request log, and with `--echo-log` also printed on stdout after READY (a test
waits for those lines instead of polling a file).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server.fastmcp import Context, FastMCP
from pydantic import BaseModel

mcp = FastMCP("legacy-sse-test-server")
# Set by no one: `block` waits on it forever, so its call stays pending.
NEVER = asyncio.Event()


@mcp.tool()
def echo(text: str) -> str:
    """Returns its argument."""
    return text


@mcp.tool()
async def slow(steps: int, ctx: Context[Any, Any, Any]) -> str:
    """Reports progress `steps` times, then answers."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
    return f"done {steps}"


class Name(BaseModel):
    name: str


@mcp.tool()
async def ask(ctx: Context[Any, Any, Any]) -> str:
    """Asks the client for a name (elicitation: a server request on the SSE stream)."""
    answer = await ctx.elicit("What is your name?", Name)
    if answer.action == "accept":
        return f"hello {answer.data.name}"
    return f"elicitation {answer.action}"


@mcp.tool()
async def block() -> str:
    """Never answers (a call pending when the server goes away)."""
    await NEVER.wait()
    return "unreachable"


class RequestLog:
    """ASGI middleware: one JSON line per request, written when its answer starts."""

    def __init__(self, app: Any, path: Path | None, echo: bool) -> None:
        self.app = app
        self.path = path
        self.echo = echo

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (self.path is None and not self.echo):
            await self.app(scope, receive, send)
            return
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode(),
            "accept": dict(scope["headers"]).get(b"accept", b"").decode(),
            "authorization": b"authorization" in dict(scope["headers"]),
        }
        if scope["method"] == "POST":
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            entry["rpc"] = rpc_summary(body)
            replayed = False

            async def receive_again() -> dict[str, Any]:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return dict(await receive())

            receive = receive_again

        async def send_logged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                line = json.dumps(entry) + "\n"
                if self.path is not None:
                    with self.path.open("a", encoding="utf-8") as log:
                        log.write(line)
                if self.echo:
                    # After READY, one line per request: a test reads them as events.
                    sys.stdout.write(line)
                    sys.stdout.flush()
            await send(message)

        await self.app(scope, receive, send_logged)


def rpc_summary(body: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    params = message.get("params")
    name = params.get("name") if isinstance(params, dict) else None
    return {"method": message.get("method"), "id": message.get("id"), "name": name}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fd", type=int)
    parser.add_argument("--request-log", type=Path)
    parser.add_argument("--echo-log", action="store_true")
    args = parser.parse_args()
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", args.port))
        sock.listen(128)
    app = RequestLog(mcp.sse_app(), args.request_log, args.echo_log)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    # Connections queue in the listening socket's backlog until uvicorn accepts them.
    print(f"READY {sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
