"""Helpers of the legacy HTTP+SSE tests: the SDK 1.x server process and a raw line driver
of the bridge (a module of its own, so tests never import a conftest)."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

import pytest

from support import REPO_ROOT

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "legacy_server.py"
DEFAULT_LEGACY_PYTHON = REPO_ROOT / ".venvs" / "legacy" / "bin" / "python"
WAIT = 30.0


def legacy_python() -> Path:
    """The interpreter with the MCP SDK 1.x; skips (or fails when required) without it."""
    python = Path(os.environ.get("MCP_LEGACY_PYTHON") or DEFAULT_LEGACY_PYTHON)
    problem = None
    if not python.is_file():
        problem = f"{python} does not exist"
    else:
        probe = subprocess.run(
            [str(python), "-c", "import mcp.server.fastmcp, uvicorn"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if probe.returncode != 0:
            problem = f"`import mcp.server.fastmcp` fails in {python}: {probe.stderr[-400:]}"
    if problem is not None:
        reason = (
            f"legacy MCP SDK 1.x not installed ({problem}): `python3 -m venv .venvs/legacy && "
            ".venvs/legacy/bin/pip install -r python-tests/requirements-legacy.txt`, or point "
            "MCP_LEGACY_PYTHON at an interpreter that has it"
        )
        if os.environ.get("MCP_LEGACY_REQUIRED", "") not in ("", "0"):
            pytest.fail(f"MCP_LEGACY_REQUIRED is set: {reason}", pytrace=False)
        pytest.skip(reason)
    return python


class LegacyServer:
    """One `legacy_server.py` process; can be killed and started again on the same port.

    The listening socket belongs to the test (each process serves it, inherited): a restart
    never races the release of the port, and connections made while no process runs wait in
    its backlog. The server prints each request it answers on stdout; a thread collects
    them, and `wait_until` waits for them."""

    def __init__(self, python: Path, workdir: Path) -> None:
        self.python = python
        self.stderr_path = workdir / "server.log"
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port: int = self.listener.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None
        self._requests: list[dict[str, Any]] = []
        self._logged = threading.Condition()

    @property
    def sse_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sse"

    def start(self) -> None:
        fd = self.listener.fileno()
        argv = [str(self.python), str(SERVER_SCRIPT), "--fd", str(fd), "--echo-log"]
        with open(self.stderr_path, "ab") as err:
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=err, start_new_session=True, pass_fds=(fd,)
            )
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("READY "):
            self._reap(proc)
            raise RuntimeError(f"legacy server did not start: {self.stderr_path.read_text()}")
        self.proc = proc
        threading.Thread(target=self._collect, args=(proc.stdout,), daemon=True).start()

    def _collect(self, stdout: IO[bytes]) -> None:
        with stdout:
            for raw in stdout:
                with self._logged:
                    self._requests.append(json.loads(raw))
                    self._logged.notify_all()

    def wait_until(self, predicate: Callable[[], bool], what: str) -> None:
        """Waits until the requests logged so far satisfy `predicate` (each logged request
        wakes it; the bound is only against a hang)."""
        with self._logged:
            if not self._logged.wait_for(predicate, timeout=WAIT):
                raise AssertionError(f"no {what} after {WAIT} s: {self._requests}")

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes]) -> None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: its sessions and streams are gone at once."""
        proc, self.proc = self.proc, None
        if proc is not None:
            self._reap(proc)

    def close(self) -> None:
        self.kill()
        self.listener.close()

    def requests(self) -> list[dict[str, Any]]:
        with self._logged:
            return list(self._requests)

    def posts(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["method"] == "POST" and r["path"] == path]

    def gets(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["method"] == "GET" and r["path"] == path]

    def calls(self, tool: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.posts("/messages/")
            if (r.get("rpc") or {}).get("method") == "tools/call" and r["rpc"]["name"] == tool
        ]


class LineBridge:
    """`mcp-wrapper` over pipes: JSON lines in, JSON lines out, read by a thread."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        with open(log_path, "wb") as err:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env={**os.environ, "MCP_WRAPPER_LOG_LEVEL": "DEBUG", **(env or {})},
            )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.status: int | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for raw in self.proc.stdout:
                self.lines.put(json.loads(raw))
        self.lines.put(None)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def next(self, seconds: float = WAIT) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=seconds)
        except queue.Empty:
            raise AssertionError(f"no line from the bridge within {seconds}s") from None
        assert line is not None, "the bridge closed stdout"
        self.seen.append(line)
        return line

    def until(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Lines up to and including the first that `predicate` accepts."""
        got = []
        while True:
            line = self.next()
            got.append(line)
            if predicate(line):
                return got

    def answer(self, id: Any) -> dict[str, Any]:
        """The answer to `id`; the lines before it are kept in `seen`."""
        return self.until(lambda m: m.get("id") == id and "method" not in m)[-1]

    def request(self, id: Any, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.answer(id)

    def initialize(self, id: Any = 0) -> dict[str, Any]:
        params = {
            "protocolVersion": "2024-11-05",
            "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "legacy-tests", "version": "0"},
        }
        answer = self.request(id, "initialize", params)
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def close(self) -> int:
        """Ends input, waits for the exit (killing it past the deadline); the status."""
        if self.status is not None:
            return self.status
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            status = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        # Every line is read once stdout ends (the reader thread closes it).
        while self.lines.get(timeout=WAIT) is not None:
            pass
        self.status = status
        return status
