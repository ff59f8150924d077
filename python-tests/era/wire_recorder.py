"""The wire recorder of python-tests/era: ASGI middleware, a JSON-lines log and the uvicorn
start-up, importing nothing from the MCP SDK, so that the servers on SDK 2.3 (`era_server.py`,
`stub_server.py`) and on SDK 1.x (`legacy_http_server.py`, another venv) record the same fields
and start the same way: bound to 127.0.0.1, one line `READY <port>` on stdout once they accept
connections (protocol-2026.md §5.1).

Lines (one JSON object each, appended, line-buffered so a test reads them while we run):
- `{"kind": "http", "phase": "arrived", ...}` when a request's body has been read: `http`
  method, `path`, the `mcp-*`, `accept` and `last-event-id` headers, and for a JSON body its
  `rpc_method`, `rpc_id`, `rpc_name`, `meta_keys` (the keys of `params._meta`), `meta_version`
  and `request_state`; `rpc_kind: "response"` for a POSTed JSON-RPC response;
- the same with `"phase": "answered"` and the `status` when the answer starts (a request the
  client cancels may never get one);
- `{"kind": "tool", "tool", "event", "run"}` from the tools: `start` each time a tool body runs
  (`run` counts them per tool), then `done`, `cancelled` or `input_required`.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from typing import Any

RECORDED_HEADERS = ("accept", "last-event-id")


class Log:
    """The request log (JSON lines, line-buffered: a test reads it while we run)."""

    def __init__(self, path: str | None = None) -> None:
        self.file: Any = None
        self.runs: Counter[str] = Counter()
        self.open(path)

    def open(self, path: str | None) -> None:
        if path:
            self.file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def write(self, entry: dict[str, Any]) -> None:
        if self.file is not None:
            self.file.write(json.dumps({"time": time.time(), **entry}) + "\n")

    def tool(self, tool: str, event: str, **extra: Any) -> None:
        if event == "start":
            self.runs[tool] += 1
        self.write({"kind": "tool", "tool": tool, "event": event, "run": self.runs[tool], **extra})


def rpc_summary(body: bytes) -> dict[str, Any]:
    """The JSON-RPC method, id and `params._meta` keys of a request body (what a test counts)."""
    try:
        message = json.loads(body)
    except ValueError:
        return {"body": body[:200].decode("utf-8", "replace")} if body else {}
    if not isinstance(message, dict):
        return {"rpc_kind": "batch"}
    entry: dict[str, Any] = {}
    for key in ("method", "id"):
        if key in message:
            entry[f"rpc_{key}"] = message[key]
    if "result" in message or "error" in message:
        entry["rpc_kind"] = "response"
    params = message.get("params")
    if isinstance(params, dict):
        meta = params.get("_meta")
        if isinstance(meta, dict):
            entry["meta_keys"] = sorted(meta)
            version = meta.get("io.modelcontextprotocol/protocolVersion")
            if version is not None:
                entry["meta_version"] = version
        if "name" in params:
            entry["rpc_name"] = params["name"]
        if "requestState" in params:
            entry["request_state"] = params["requestState"]
    return entry


async def read_body(receive: Any) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)
        body.extend(message.get("body", b""))
        if not message.get("more_body", False):
            return bytes(body)


def replay(body: bytes, receive: Any) -> Any:
    """A `receive` that yields the already-read body once, then the real channel."""
    sent = False

    async def _receive() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return _receive


class Recorder:
    """ASGI middleware: the wire recorder (see the module docs)."""

    def __init__(self, app: Any, log: Log) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry: dict[str, Any] = {"kind": "http", "http": scope["method"], "path": scope["path"]}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            if name.startswith("mcp-") or name in RECORDED_HEADERS:
                entry[name] = raw_value.decode("latin-1")
        body = await read_body(receive) if scope["method"] == "POST" else b""
        entry.update(rpc_summary(body))
        self.log.write({**entry, "phase": "arrived"})

        async def send_logged(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.log.write({**entry, "phase": "answered", "status": message["status"]})
            await send(message)

        await self.app(scope, replay(body, receive), send_logged)


async def respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def serve(app: Any, port: int) -> None:
    """Serves `app` on 127.0.0.1:`port` (0: any free port) until killed; prints `READY <port>`
    once the socket listens, so the test never connects before it can."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    # The socket listens already: a connection made from now on waits in its backlog until
    # uvicorn accepts it, so READY needs no wait for uvicorn's start-up.
    print(f"READY {sock.getsockname()[1]}", flush=True)
    await server.serve(sockets=[sock])
