"""Helpers for the tests of `mcp_wrapper_rs.wrapper`: stand-ins for stdio and for a response
body, a quick-retrying client, and running the module as a process."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from typing import Any

from mcp_wrapper_rs import wrapper


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
