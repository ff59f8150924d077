"""A legacy-only Streamable HTTP MCP server (2025 era) on the official MCP SDK 1.x, for the
bridge's case D and case A tests (protocol-2026.md §4.1, §4.4, §5.1 "Legacy-only server").

    python legacy_http_server.py [--port N] [--request-log PATH]

Runs under the SDK 1.x venv (MCP_LEGACY_PYTHON, python-tests/requirements-legacy.txt):
`FastMCP(...).streamable_http_app()` (sessions, SSE answers, a GET stream) at /mcp/ under
uvicorn on 127.0.0.1. It knows nothing of 2026-07-28: a `server/discover` probe reaches its
session path and is refused there. Prints `READY <port>` once it listens. The request log is
the shared wire recorder (`wire_recorder.py`); `echo` adds its tool-run records.
"""

from __future__ import annotations

import argparse
import asyncio

from mcp.server.fastmcp import FastMCP
from wire_recorder import Log, Recorder, serve

LOG = Log()
mcp = FastMCP("legacy-http-test-server", streamable_http_path="/mcp/")


@mcp.tool()
def echo(text: str) -> str:
    """Returns its argument."""
    LOG.tool("echo", "start")
    LOG.tool("echo", "done")
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--request-log")
    args = parser.parse_args()
    LOG.open(args.request_log)
    asyncio.run(serve(Recorder(mcp.streamable_http_app(), LOG), args.port))


if __name__ == "__main__":
    main()
