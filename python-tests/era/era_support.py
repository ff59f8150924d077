"""Helpers of the protocol-era tests (issue 16): the server processes with their wire record,
the bridge's command line, and a raw line driver of the bridge (a module of its own, so tests
never import a conftest).

Every server here binds 127.0.0.1, prints `READY <port>` and appends the wire recorder's JSON
lines (`wire_recorder.py`) to its request log; tests count what reached the server from that
log and wait for records in it (a tool's `cancelled`, a POST), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support import REPO_ROOT, wrapper_binary

HERE = Path(__file__).resolve().parent
TS_DIR = HERE / "ts"
DEFAULT_LEGACY_PYTHON = REPO_ROOT / ".venvs" / "legacy" / "bin" / "python"
MODERN = "2026-07-28"
LEGACY = "2025-11-25"
RESOURCE_URI = "file:///x.txt"
# A bound against hangs only: every wait ends as soon as what it waits for is there.
WAIT = 30.0
START_TIMEOUT = 30.0
# What a modern server must never see from the bridge (§4.5).
RETIRED_METHODS = (
    "initialize",
    "notifications/initialized",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
    "notifications/cancelled",
    "notifications/roots/list_changed",
)
ENVELOPE_KEYS = (
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientCapabilities",
)


def required(variable: str) -> bool:
    return os.environ.get(variable, "") not in ("", "0")


def legacy_python() -> Path:
    """The interpreter with the MCP SDK 1.x (as python-tests/legacy finds it); skips, or fails
    when MCP_LEGACY_REQUIRED=1, without it."""
    python = Path(os.environ.get("MCP_LEGACY_PYTHON") or DEFAULT_LEGACY_PYTHON)
    if python.is_file():
        return python
    reason = (
        f"legacy MCP SDK 1.x interpreter {python} missing: `python3 -m venv .venvs/legacy && "
        ".venvs/legacy/bin/pip install -r python-tests/requirements-legacy.txt`, or set "
        "MCP_LEGACY_PYTHON"
    )
    if required("MCP_LEGACY_REQUIRED"):
        pytest.fail(f"MCP_LEGACY_REQUIRED is set: {reason}", pytrace=False)
    pytest.skip(reason)


def ts_server_argv() -> list[str]:
    """`node ts/server.mjs`; skips without `npm ci --prefix python-tests/era/ts` (fails when
    MCP_ERA_TS_REQUIRED=1)."""
    package = TS_DIR / "node_modules" / "@modelcontextprotocol" / "server"
    if not package.is_dir():
        reason = f"{package} missing: run `npm ci --prefix python-tests/era/ts`"
        if required("MCP_ERA_TS_REQUIRED"):
            pytest.fail(f"MCP_ERA_TS_REQUIRED is set: {reason}", pytrace=False)
        pytest.skip(reason)
    return ["node", str(TS_DIR / "server.mjs")]


def era_server_argv(*options: str) -> list[str]:
    return [sys.executable, str(HERE / "era_server.py"), *options]


def stub_server_argv(fault: str) -> list[str]:
    return [sys.executable, str(HERE / "stub_server.py"), "--fault", fault]


def legacy_server_argv(*options: str) -> list[str]:
    return [str(legacy_python()), str(HERE / "legacy_http_server.py"), *options]


class ServerProcess:
    """One server subprocess (any of the era servers) and its wire record."""

    def __init__(self, argv: list[str], workdir: Path, name: str) -> None:
        self.name = name
        self.request_log = workdir / f"{name}-requests.jsonl"
        self.stderr_path = workdir / f"{name}.log"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [*argv, "--request-log", str(self.request_log)],
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=workdir,
                start_new_session=True,
            )
        line = self._read_line(time.monotonic() + START_TIMEOUT)
        if line is None or not line.startswith("READY "):
            self.close()
            raise RuntimeError(f"{name} did not start ({line!r}):\n{self.stderr()}")
        self.port = int(line.split()[1])

    @property
    def url(self) -> str:
        """The MCP endpoint, as the bridge normalises it (design §3), so no redirect."""
        return f"http://127.0.0.1:{self.port}/mcp/"

    def _read_line(self, deadline: float) -> str | None:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            line = b""
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(timeout=remaining):
                    return None
                chunk = os.read(self.proc.stdout.fileno(), 1)
                if not chunk:
                    return None
                line += chunk
        return line.decode().strip()

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")[-8000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    # --- the wire record ---------------------------------------------------------------

    def entries(self) -> list[dict[str, Any]]:
        if not self.request_log.exists():
            return []
        text = self.request_log.read_text(encoding="utf-8")
        # The last line may be half-written while the server runs.
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def arrivals(self) -> list[dict[str, Any]]:
        """Every HTTP request that reached the server (answered or not)."""
        return [e for e in self.entries() if e["kind"] == "http" and e["phase"] == "arrived"]

    def answered(self) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e["kind"] == "http" and e["phase"] == "answered"]

    def posts(self, method: str | None = None) -> list[dict[str, Any]]:
        """The POSTs that reached the server (of one JSON-RPC `method` if given)."""
        return [
            e
            for e in self.arrivals()
            if e["http"] == "POST" and (method is None or e.get("rpc_method") == method)
        ]

    def post_counts(self) -> Counter[str]:
        """Upstream POSTs by JSON-RPC method (`<response>` for a POSTed response)."""
        return Counter(
            str(e.get("rpc_method") or ("<response>" if e.get("rpc_kind") else "<none>"))
            for e in self.posts()
        )

    def http_methods(self) -> Counter[str]:
        return Counter(str(e["http"]) for e in self.arrivals())

    def tool_events(self, tool: str, event: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.entries()
            if e["kind"] == "tool" and e["tool"] == tool and (event is None or e["event"] == event)
        ]

    def runs(self, tool: str) -> int:
        """How many times the tool's body ran."""
        return len(self.tool_events(tool, "start"))

    def wait_sync(self, predicate: Callable[[], bool], what: str, seconds: float = WAIT) -> None:
        deadline = time.monotonic() + seconds
        # Polling the log file: the server writes it line by line as things happen.
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(f"{self.name}: no {what} within {seconds}s: {self.entries()}")
            time.sleep(0.02)

    async def wait(self, predicate: Callable[[], bool], what: str, seconds: float = WAIT) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(f"{self.name}: no {what} within {seconds}s: {self.entries()}")
            await asyncio.sleep(0.02)

    # --- what a modern server must (not) see ---------------------------------------------

    def assert_modern_wire(self, allow_bare: bool = False) -> None:
        """§4.2/§4.5: no retired method, GET, DELETE or session id reached the server, and every
        POST carried the envelope with the header version equal to the `_meta` version (but
        a host's own request without one, passed through as it is, with `allow_bare`)."""
        counts = self.post_counts()
        leaked = {m: counts[m] for m in RETIRED_METHODS if counts[m]}
        assert not leaked, f"retired methods reached the modern server: {leaked}"
        methods = self.http_methods()
        assert set(methods) <= {"POST"}, f"non-POST requests reached the server: {methods}"
        for entry in self.arrivals():
            assert "mcp-session-id" not in entry, f"session id sent: {entry}"
            assert "last-event-id" not in entry, f"Last-Event-ID sent: {entry}"
            if entry.get("rpc_kind") == "response":
                raise AssertionError(f"a JSON-RPC response was POSTed: {entry}")
            if "rpc_id" not in entry:
                raise AssertionError(f"a notification was POSTed: {entry}")
            keys = entry.get("meta_keys", [])
            if allow_bare and not keys:
                assert entry.get("mcp-protocol-version") == MODERN, entry
            else:
                assert all(k in keys for k in ENVELOPE_KEYS), f"no envelope: {entry}"
                assert entry.get("mcp-protocol-version") == entry.get("meta_version") == MODERN

            assert entry.get("mcp-method") == entry.get("rpc_method"), entry


def start_server(argv: list[str], workdir: Path, name: str) -> ServerProcess:
    return ServerProcess(argv, workdir, name)


@dataclass
class HostRecord:
    """What an SDK host saw besides results: callbacks, notifications, late answers."""

    elicitations: list[Any] = field(default_factory=list)
    notifications: list[Any] = field(default_factory=list)
    exceptions: list[BaseException] = field(default_factory=list)
    progress: list[tuple[float, float | None, str | None]] = field(default_factory=list)
    dropped_responses: list[str] = field(default_factory=list)
    elicitation_reply: dict[str, Any] = field(default_factory=lambda: {"name": "Ada"})

    def of_type(self, cls: type) -> list[Any]:
        return [n for n in self.notifications if isinstance(n, cls)]

    async def on_elicit(self, context: Any, params: Any) -> Any:
        import mcp_types as types

        self.elicitations.append(params)
        return types.ElicitResult(action="accept", content=self.elicitation_reply)

    async def on_message(self, message: Any) -> None:
        if isinstance(message, BaseException):
            self.exceptions.append(message)
        else:
            self.notifications.append(message)

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append((progress, total, message))

    async def wait_for(self, predicate: Callable[[], bool], what: str, seconds: float = 30) -> None:
        import anyio

        with anyio.move_on_after(seconds):
            # Polling: the state comes from callbacks run by the session's own task.
            while not predicate():  # noqa: ASYNC110
                await anyio.sleep(0.02)
            return
        raise AssertionError(f"timed out after {seconds}s waiting for {what}")


# --- the bridge ----------------------------------------------------------------------------


def bridge_env(auth_dir: Path) -> dict[str, str]:
    """The bridge's environment: its era cache in `auth_dir` (a fresh one per test, §2.5)."""
    return {
        **os.environ,
        "MCP_WRAPPER_AUTH_DIR": str(auth_dir),
        "MCP_WRAPPER_LOG_LEVEL": os.environ.get("MCP_WRAPPER_LOG_LEVEL", "DEBUG"),
        "RUST_BACKTRACE": "1",
    }


def bridge_argv(url: str, *extra: str) -> list[str]:
    return [str(wrapper_binary()), "--url", url, *extra]


class LineDriver:
    """The bridge over pipes, driven line by line: JSON lines in, every stdout line recorded
    (`lines`), so a test can assert exactly one answer per request id (zero after a cancel)."""

    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self.lines: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self._changed = asyncio.Condition()
        self._eof = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str], log_path: Path) -> LineDriver:
        with open(log_path, "wb") as err:  # noqa: ASYNC230 (a local file, before any IO)
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
            )
        return cls(proc, log_path)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            async with self._changed:
                if not raw:
                    self._eof = True
                    self._changed.notify_all()
                    return
                self.raw.append(raw)
                self.lines.append(json.loads(raw))
                self._changed.notify_all()

    async def send(self, message: dict[str, Any] | list[dict[str, Any]]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()

    async def wait_line(
        self, predicate: Callable[[dict[str, Any]], bool], what: str, seconds: float = WAIT
    ) -> dict[str, Any]:
        async def found() -> dict[str, Any]:
            async with self._changed:
                while True:
                    for line in self.lines:
                        if predicate(line):
                            return line
                    if self._eof:
                        raise AssertionError(f"the bridge closed stdout before {what}")
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(found(), seconds)
        except asyncio.TimeoutError:
            raise AssertionError(f"no {what} within {seconds}s; lines: {self.lines}") from None

    def answers(self, id: Any) -> list[dict[str, Any]]:
        """Every answer (result or error) the bridge wrote for request `id`."""
        return [m for m in self.lines if m.get("id") == id and "method" not in m]

    async def answer(self, id: Any) -> dict[str, Any]:
        return await self.wait_line(
            lambda m: m.get("id") == id and "method" not in m, f"answer to {id!r}"
        )

    async def request(
        self, id: Any, method: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        return await self.answer(id)

    async def initialize(
        self, id: Any = 0, version: str = LEGACY, capabilities: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        params = {
            "protocolVersion": version,
            "capabilities": capabilities if capabilities is not None else {"elicitation": {}},
            "clientInfo": {"name": "era-line-driver", "version": "0"},
        }
        answer = await self.request(id, "initialize", params)
        if "result" in answer:
            await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    async def close(self) -> int:
        """Ends input and waits for the exit (killing it past the bound) and for every line."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            status = await asyncio.wait_for(self.proc.wait(), WAIT)
        except asyncio.TimeoutError:
            self.proc.kill()
            status = await self.proc.wait()
        await asyncio.wait_for(self._reader, WAIT)
        return status

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def assert_one_answer_each(driver: LineDriver, ids: Iterable[Any]) -> None:
    for id in ids:
        got = driver.answers(id)
        assert len(got) == 1, f"{len(got)} answers for id {id!r}: {got}"
