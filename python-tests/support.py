"""Helpers shared by the tests: server processes, and JSON-RPC messages for test-server with
its scripted faults. (A module of its own, so tests never import a `conftest`.)"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    """A server process and where it listens."""

    process: subprocess.Popen[bytes]
    port: int
    scheme: str = "http"
    cert_dir: Path | None = None

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The MCP endpoint of a test-server."""
        return f"{self.base}/mcp/"

    def stop(self) -> None:
        # test-server stops when its stdin closes.
        if self.process.stdin:
            self.process.stdin.close()
        stop_process(self.process, terminate=False)


def stop_process(process: subprocess.Popen[bytes], *, terminate: bool = True) -> int:
    """Ends a server process: SIGTERM (unless `terminate` is false: it was asked another
    way), up to 10 s for it to exit, then SIGKILL; closes its stdout. Its exit status."""
    if terminate and process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout:
        process.stdout.close()
    return process.returncode


def start(argv: list[str], **kwargs: Any) -> Server:
    process = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    if not line.startswith("LISTENING "):
        process.kill()
        raise RuntimeError(f"{argv[0]} did not start: {line!r}")
    return Server(process, int(line.split()[1]), **kwargs)


def fault_meta(**fault: Any) -> dict[str, Any]:
    """`params._meta` that makes test-server bend its answer (see its `Fault`)."""
    return {"_meta": {"test-server/fault": fault}}


def request(
    id: int | str, method: str, params: dict[str, Any] | None = None, **fault: Any
) -> dict[str, Any]:
    """A JSON-RPC request, with a test-server fault if any is given."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    params = dict(params or {})
    if fault:
        params.update(fault_meta(**fault))
    if params:
        message["params"] = params
    return message


def stream_call(id: int, count: int, interval_ms: int = 0, **fault: Any) -> dict[str, Any]:
    """A `tools/call` of test-server's `stream` tool: `count` progress events, then the result."""
    arguments = {"count": count, "interval_ms": interval_ms}
    return request(id, "tools/call", {"name": "stream", "arguments": arguments}, **fault)


def wrapper_binary() -> Path:
    """$MCP_WRAPPER_BIN, else $CARGO_TARGET_DIR/debug/mcp-wrapper, else target/debug/mcp-wrapper
    under the repository root; a clear failure if none is there."""
    if env := os.environ.get("MCP_WRAPPER_BIN"):
        path = Path(env)
    elif target := os.environ.get("CARGO_TARGET_DIR"):
        path = Path(target) / "debug" / "mcp-wrapper"
    else:
        path = REPO_ROOT / "target" / "debug" / "mcp-wrapper"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"mcp-wrapper binary not found at {path}: build it with "
            "`cargo build -p jsonrpc-forward --bin mcp-wrapper` or set MCP_WRAPPER_BIN",
            pytrace=False,
        )
    return path


def matrix_rows(only: str, report: Path, **env: str) -> list[dict[str, Any]]:
    """`e2e matrix` for our bridge alone, only the rows whose key starts with `only` (with
    `env` added: the Python a row needs), checked to have run; its rows from `report`."""
    e2e = wrapper_binary().with_name("e2e")
    if not e2e.is_file():
        pytest.fail(f"{e2e} missing: `cargo build -p benches --bin e2e`", pytrace=False)
    run = subprocess.run(
        [
            str(e2e),
            "matrix",
            "--bridge",
            f"mcp-wrapper={wrapper_binary()} --url {{url}} --log-level OFF",
            "--json",
            str(report),
        ],
        env={**os.environ, "E2E_MATRIX_ONLY": only, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    rows: list[dict[str, Any]] = json.loads(report.read_text())["scenarios"]
    return rows
