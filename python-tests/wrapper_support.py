"""Helpers for the tests of `mcp_wrapper_rs.wrapper`: stand-ins for stdio and for a response
body, a quick-retrying client, running the module as a process, and running the same input
through the original (`mcpgateway.wrapper` in the gateway's venv) for the expected value."""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from mcp_wrapper_rs import wrapper

ROOT = Path(__file__).resolve().parent.parent


class FakeStdout:
    """Stands in for `sys.stdout`: a binary `buffer` (what the wrapper writes to) and text."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.text: list[str] = []

    def write(self, text: str) -> int:
        self.text.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def raw_lines(self) -> list[bytes]:
        data = self.buffer.getvalue()
        assert data == b"" or data.endswith(b"\n"), data
        return data.splitlines()

    def values(self) -> list[Any]:
        """Each line written to the buffer, parsed as JSON."""
        return [json.loads(line) for line in self.raw_lines()]


def install_stdout(monkeypatch: Any) -> FakeStdout:
    """Replace `sys.stdout` with a FakeStdout for the rest of the test.

    Call it in the test's body: pytest puts its own capture back on `sys.stdout` between
    fixture setup and the test, so a fixture cannot do this.
    """
    fake = FakeStdout()
    monkeypatch.setattr(sys, "stdout", fake)
    return fake


class TextOnlyStdout:
    """A stdout with no `buffer` (some embedding hosts and test doubles)."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.flushes = 0

    def write(self, text: str) -> int:
        self.written.append(text)
        return len(text)

    def flush(self) -> None:
        self.flushes += 1


class FakeStdin:
    """Stands in for `sys.stdin`: its `buffer` reads the given bytes line by line."""

    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


class TextOnlyStdin:
    """A stdin with only text `readline()`."""

    def __init__(self, text: str) -> None:
        self._text = io.StringIO(text)

    def readline(self) -> str:
        return self._text.readline()


class ChunkedBody:
    """Has `aiter_bytes()` yielding the given chunks, like a streamed response body."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = list(chunks)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


async def collect_ndjson(*chunks: bytes) -> list[bytes]:
    return [line async for line in wrapper.ndjson_lines(ChunkedBody(chunks))]


async def collect_sse(*chunks: bytes) -> list[bytes]:
    return [data async for data in wrapper.sse_events(ChunkedBody(chunks))]


def quick_client(max_retries: int = 3, **client_args: Any) -> wrapper.ResilientHttpClient:
    """A ResilientHttpClient whose backoff is a millisecond, with short timeouts by default."""
    client_args.setdefault("timeout", 10.0)
    client_args.setdefault("connect_timeout", 5.0)
    return wrapper.ResilientHttpClient(
        max_retries=max_retries,
        base_backoff=0.001,
        max_delay=0.01,
        jitter_max=0.0,
        client_args=client_args,
    )


def run_module(
    args: list[str],
    stdin: bytes,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    """`python -m mcp_wrapper_rs.wrapper ARGS` with `stdin`, to completion."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mcp_wrapper_rs.wrapper", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


async def start_module(
    args: list[str], env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """`python -m mcp_wrapper_rs.wrapper ARGS` with pipes for stdin, stdout and stderr."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    full_env.update(env or {})
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcp_wrapper_rs.wrapper",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=full_env,
    )


def json_lines(output: bytes) -> list[Any]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------
# The original, for expected values
# --------------------------------------------------------------------------------------------

# Runs in the gateway's venv: takes one JSON argument (what to do), prints one JSON result
# after the marker. Backoff as `quick_client`'s, so a retry takes a millisecond there too.
_UPSTREAM_PROGRAM = r"""
import asyncio, io, json, sys

job = json.loads(sys.argv[1])


class Stdout:
    def __init__(self):
        self.buffer = io.BytesIO()

    def write(self, text):
        return len(text)

    def flush(self):
        pass


async def run():
    from mcpgateway import wrapper
    from mcpgateway.utils.retry_manager import ResilientHttpClient

    if job["op"] == "should_retry":
        client = ResilientHttpClient()
        await client.aclose()
        Status = type("Status", (), {})
        responses = [Status() for _ in job["statuses"]]
        for response, status in zip(responses, job["statuses"]):
            response.status_code = status
        return [client._should_retry(Exception(), response) for response in responses]
    if job["op"] == "defaults":
        args = {"timeout": 30.0}
        client = ResilientHttpClient(client_args=args)
        limits = args["limits"]
        await client.aclose()
        c, lim = client, limits
        return {
            "retries": [c.max_retries, c.base_backoff, c.max_delay, c.jitter_max],
            "limits": [lim.max_connections, lim.max_keepalive_connections, lim.keepalive_expiry],
            "given_dict_is_kept": c.client_args is args,
        }
    client = ResilientHttpClient(
        max_retries=job.get("max_retries", 3), base_backoff=0.001, max_delay=0.01,
        jitter_max=0.0, client_args={"timeout": 10.0},
    )
    try:
        if job["op"] == "forward":
            stdout, sys.stdout = sys.stdout, Stdout()
            settings = wrapper.Settings(job["url"], None)
            try:
                await wrapper.forward_once(client, settings, job["payload"])
                written = sys.stdout.buffer.getvalue()
            finally:
                sys.stdout = stdout
            return [json.loads(line) for line in written.splitlines()]
        try:
            response = await client.request(job["method"], job["url"], **job.get("kwargs", {}))
        except Exception as error:
            return {"raised": type(error).__name__}
        if response is None:
            return None
        return {"status": response.status_code, "text": response.text}
    finally:
        await client.aclose()


print("UPSTREAM-RESULT", json.dumps(asyncio.run(run())))
"""


def upstream_python() -> Path:
    """The gateway venv's interpreter, as `python-tests/gateway/conftest.py` finds it."""
    default = ROOT / ".venvs" / "gateway" / "bin" / "python"
    return Path(os.environ.get("MCP_GATEWAY_PYTHON") or default)


def run_upstream(job: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    """What the original (`mcpgateway` in the gateway's venv) gives for `job`.

    `job["op"]`: `"forward"` (`url`, `payload`): the values `forward_once` writes;
    `"request"` (`method`, `url`, `kwargs`, `max_retries`): `ResilientHttpClient.request()`'s
    `{"status", "text"}`, or `{"raised": <exception class name>}`, or `None`; `"defaults"`:
    `ResilientHttpClient`'s defaults and the `limits` it adds; `"should_retry"` (`statuses`):
    `_should_retry()` for a response with each status. Skips when the gateway is not
    installed (fails with MCP_GATEWAY_REQUIRED=1). Runs in a scratch directory, with secrets
    made for the run, so no `.env` file or database of the checkout is used.
    """
    python = upstream_python()
    if not python.is_file():
        reason = f"the original is needed for the expected value: {python} does not exist"
        if os.environ.get("MCP_GATEWAY_REQUIRED", "") not in ("", "0"):
            pytest.fail(f"MCP_GATEWAY_REQUIRED is set: {reason}", pytrace=False)
        pytest.skip(reason)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "RETRY_"))}
    full_env.update(
        JWT_SECRET_KEY=secrets.token_urlsafe(48),
        AUTH_ENCRYPTION_SECRET=secrets.token_urlsafe(48),
        PYTHONDONTWRITEBYTECODE="1",
    )
    full_env.update(env or {})
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            [str(python), "-c", _UPSTREAM_PROGRAM, json.dumps(job)],
            capture_output=True,
            env=full_env,
            cwd=scratch,
            timeout=120,
            check=False,
        )
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("UPSTREAM-RESULT "):
            return json.loads(line.split(" ", 1)[1])
    raise AssertionError(f"the original gave no result: {done.stderr.decode()[-3000:]}")
