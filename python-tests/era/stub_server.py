"""A tiny scripted HTTP server for the bridge's probe faults (protocol-2026.md §2.5): what a
real MCP server does not do on demand.

    python stub_server.py --fault FAULT [--port N] [--request-log PATH]

Faults, for every POST (GET and anything else: `404`):
- `status-500`: `500` with a plain-text body (an outage: the probe must not cache a verdict);
- `hang`: reads the request and never answers (the probe's own timeout must end it);
- `status-401`: `401` with no `WWW-Authenticate` and no OAuth metadata (an auth failure that
  names no way to sign in: the host must get an error naming the status);
- `header-routed`: routes by header as mcp 2.3 does (§1.10): a POST carrying
  `MCP-Protocol-Version: 2026-07-28` and `Mcp-Method` gets a modern answer (a DiscoverResult
  for `server/discover`, an empty `tools/list`, `-32601` otherwise); one without them gets
  `400 -32600 "Bad Request: Missing session ID"`, which a header-less probe would misread as a
  legacy server.

Binds 127.0.0.1, prints `READY <port>`; the request log is the shared wire recorder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from wire_recorder import Log, Recorder, read_body, respond, serve

MODERN = "2026-07-28"
JSON = [(b"content-type", b"application/json")]
SERVER_INFO = {"io.modelcontextprotocol/serverInfo": {"name": "era-stub", "version": "0"}}


def discover_result() -> dict[str, Any]:
    return {
        "supportedVersions": [MODERN],
        "capabilities": {"tools": {}},
        "resultType": "complete",
        "ttlMs": 0,
        "cacheScope": "private",
        "_meta": SERVER_INFO,
    }


def modern_answer(message: dict[str, Any]) -> dict[str, Any]:
    method = message.get("method")
    answer: dict[str, Any] = {"jsonrpc": "2.0", "id": message.get("id")}
    if method == "server/discover":
        answer["result"] = discover_result()
    elif method == "tools/list":
        answer["result"] = {"tools": [], "resultType": "complete", "_meta": SERVER_INFO}
    else:
        answer["error"] = {"code": -32601, "message": "Method not found", "data": method}
    return answer


class Stub:
    def __init__(self, fault: str) -> None:
        self.fault = fault

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await respond(send, 404, b"not found", [])
            return
        body = await read_body(receive)
        if self.fault == "status-500":
            await respond(send, 500, b"upstream broke", [(b"content-type", b"text/plain")])
        elif self.fault == "hang":
            await asyncio.Event().wait()
        elif self.fault == "status-401":
            await respond(send, 401, b"", [])
        else:
            await self.header_routed(scope, body, send)

    @staticmethod
    async def header_routed(scope: dict[str, Any], body: bytes, send: Any) -> None:
        headers = dict(scope["headers"])
        try:
            message = json.loads(body)
        except ValueError:
            message = None
        modern = headers.get(b"mcp-protocol-version") == MODERN.encode() and (
            b"mcp-method" in headers
        )
        if not modern or not isinstance(message, dict):
            error = {"code": -32600, "message": "Bad Request: Missing session ID"}
            answer: dict[str, Any] = {"jsonrpc": "2.0", "id": None, "error": error}
            await respond(send, 400, json.dumps(answer).encode(), JSON)
            return
        if "id" not in message:
            await respond(send, 202, b"", [])
            return
        await respond(send, 200, json.dumps(modern_answer(message)).encode(), JSON)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--fault", choices=["status-500", "hang", "status-401", "header-routed"], required=True
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--request-log")
    args = parser.parse_args()
    log = Log(args.request_log)
    asyncio.run(serve(Recorder(Stub(args.fault), log), args.port))


if __name__ == "__main__":
    main()
