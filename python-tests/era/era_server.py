"""A dual-era MCP server (2025-11-25 and 2026-07-28) on the official `mcp` SDK 2.3, for the
bridge's protocol-era tests (issue 16; protocol-2026.md §5.1 components (a) and (b)).

    python era_server.py [--port N] [--json-response] [--stateless]
                         [--gate modern-only] [--request-log PATH] [--mount /mcp/]

`MCPServer(...).streamable_http_app()` under uvicorn on 127.0.0.1 (port 0: any free one).
mcp 2.3 routes each POST by its headers: one carrying the modern headers and `_meta` is
served at 2026-07-28, anything else goes through the 2025 session path (§1.10). It prints
exactly one line `READY <port>` on stdout once it accepts connections.

`--gate modern-only` puts a small ASGI gate of ours in front (component (b)): a POST whose
`MCP-Protocol-Version` is absent or a handshake-era version gets `400` with the JSON-RPC error
`-32022` and `data: {supported: ["2026-07-28"], requested}`; GET and DELETE get `405`.

`--request-log PATH`: the wire recorder (`wire_recorder.py`: one line per HTTP request when it
arrives and one when its answer starts, plus the tool-run records). It is outermost, so it also
sees what the gate refuses.

Tools: `echo`; `regional` (an argument annotated `x-mcp-header: Region`, §1.9; answers with
the argument and the `Mcp-Param-Region` header it saw); `who` (`Resolve(Elicit[...])`: an
`input_required` result at 2026-07-28, a classic `elicitation/create` at 2025, §1.7); `ask` (a
hand-rolled `input_required` result with `requestState` "st-1", 2026-07-28 only); `pair`
(two input requests in one round); `prog`
(`count` progress notifications); `slowmark` (waits until cancelled, records `cancelled`);
`bump` (tools list changed + resource updated for `file:///x.txt`, on `subscriptions/listen`
and, at 2025, on the session). Resource `file:///x.txt`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import suppress
from typing import Annotated, Any

import anyio
import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field
from wire_recorder import Log, Recorder, read_body, respond
from wire_recorder import serve as serve_asgi

RESOURCE_URI = "file:///x.txt"
MODERN = "2026-07-28"
UNSUPPORTED_PROTOCOL_VERSION = -32022


LOG = Log(None)


class Name(BaseModel):
    name: str = Field(description="Your name")


def ask_name() -> Elicit[Name]:
    """The resolver of `who`: the SDK turns it into MRTR or a classic elicitation (§1.7)."""
    return Elicit("Who are you?", Name)


def build_server() -> MCPServer:
    mcp = MCPServer("era-test-server", version="1.0.0", instructions="era test server")

    @mcp.tool()
    def echo(text: str) -> str:
        """Returns its argument."""
        LOG.tool("echo", "start")
        LOG.tool("echo", "done")
        return text

    @mcp.tool()
    def regional(
        region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
        ctx: Context[Any, Any],
    ) -> str:
        """Answers with its `region` argument and the `Mcp-Param-Region` header (§1.9)."""
        LOG.tool("regional", "start")
        header = (ctx.headers or {}).get("mcp-param-region")
        LOG.tool("regional", "done", header=header)
        return f"region={region} header={header}"

    @mcp.tool()
    def who(name: Annotated[Name, Resolve(ask_name)]) -> str:
        """Asks the client who it is (elicitation), then greets it."""
        LOG.tool("who", "start")
        LOG.tool("who", "done")
        return f"hello {name.name}"

    @mcp.tool()
    def ask(ctx: Context[Any, Any]) -> str | types.InputRequiredResult:
        """A hand-rolled `input_required` round with `requestState` "st-1" (2026-07-28)."""
        LOG.tool("ask", "start")
        responses = ctx.input_responses or {}
        answer = responses.get("who")
        if answer is None:
            LOG.tool("ask", "input_required")
            request = types.ElicitRequest(
                params=types.ElicitRequestFormParams(
                    message="Who asks?",
                    requested_schema={
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"],
                    },
                )
            )
            return types.InputRequiredResult(input_requests={"who": request}, request_state="st-1")
        content = answer.content if isinstance(answer, types.ElicitResult) else None
        LOG.tool("ask", "done")
        return f"got {json.dumps(content, sort_keys=True)} state={ctx.request_state}"

    @mcp.tool()
    def pair(ctx: Context[Any, Any]) -> str | types.InputRequiredResult:
        """Two input requests in one `input_required` round (keys "a" and "b", §4.7)."""
        LOG.tool("pair", "start")
        responses = ctx.input_responses or {}
        if "a" not in responses or "b" not in responses:
            LOG.tool("pair", "input_required")
            schema = {"type": "object", "properties": {"v": {"type": "string"}}}
            requests: dict[
                str, types.CreateMessageRequest | types.ListRootsRequest | types.ElicitRequest
            ] = {
                key: types.ElicitRequest(
                    params=types.ElicitRequestFormParams(
                        message=f"value {key}?", requested_schema=schema
                    )
                )
                for key in ("a", "b")
            }
            return types.InputRequiredResult(input_requests=requests)
        got = {
            key: answer.content if isinstance(answer, types.ElicitResult) else None
            for key, answer in sorted(responses.items())
        }
        LOG.tool("pair", "done")
        return f"got {json.dumps(got, sort_keys=True)}"

    @mcp.tool()
    async def prog(count: int, ctx: Context[Any, Any]) -> str:
        """Sends `count` progress notifications, then answers."""
        LOG.tool("prog", "start")
        for step in range(1, count + 1):
            await ctx.report_progress(step, count, f"step {step}")
        LOG.tool("prog", "done")
        return f"done {count}"

    @mcp.tool()
    async def slowmark() -> str:
        """Waits until cancelled; records `cancelled` (a test waits for that line)."""
        LOG.tool("slowmark", "start")
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            LOG.tool("slowmark", "cancelled")
            raise
        return "unreachable"

    @mcp.tool()
    async def bump(ctx: Context[Any, Any]) -> str:
        """Tools list changed + `file:///x.txt` updated: to `subscriptions/listen` streams,
        and at 2025 also to the session (its GET stream)."""
        LOG.tool("bump", "start")
        await ctx.notify_tools_changed()
        await ctx.notify_resource_updated(RESOURCE_URI)
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            # A stateless 2025 server has no stream to deliver them on: best effort.
            with suppress(Exception):
                await ctx.request_context.session.send_tool_list_changed()
                await ctx.request_context.session.send_resource_updated(RESOURCE_URI)
        LOG.tool("bump", "done")
        return "bumped"

    @mcp.resource(RESOURCE_URI, mime_type="text/plain")
    def x_txt() -> str:
        return "x"

    return mcp


class ModernOnlyGate:
    """Component (b): refuses everything that is not a 2026-07-28 POST (§5.1)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await respond(send, 405, b"", [(b"allow", b"POST")])
            return
        headers = dict(scope["headers"])
        requested = headers.get(b"mcp-protocol-version", b"").decode("latin-1")
        if requested in MODERN_PROTOCOL_VERSIONS:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        try:
            message = json.loads(body)
        except ValueError:
            message = None
        error = {
            "code": UNSUPPORTED_PROTOCOL_VERSION,
            "message": "Unsupported protocol version",
            "data": {"supported": [MODERN], "requested": requested or None},
        }
        rpc_id = message.get("id") if isinstance(message, dict) else None
        answer = json.dumps({"jsonrpc": "2.0", "id": rpc_id, "error": error}).encode()
        await respond(send, 400, answer, [(b"content-type", b"application/json")])


async def serve(args: argparse.Namespace) -> None:
    LOG.open(args.request_log)
    mcp = build_server()
    app: Any = mcp.streamable_http_app(
        streamable_http_path=args.mount,
        json_response=args.json_response,
        stateless_http=args.stateless,
    )
    if args.gate == "modern-only":
        app = ModernOnlyGate(app)
    await serve_asgi(Recorder(app, LOG), args.port)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--json-response", action="store_true")
    parser.add_argument("--stateless", action="store_true")
    parser.add_argument("--gate", choices=["modern-only"])
    parser.add_argument("--request-log")
    parser.add_argument(
        "--mount",
        default="/mcp/",
        help="the endpoint path; /mcp/ by default, the path the bridge normalises URLs to",
    )
    args = parser.parse_args()
    asyncio.run(serve(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
