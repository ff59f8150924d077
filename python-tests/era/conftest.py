"""Fixtures of the protocol-era tests (issue 16, protocol-2026.md §5): real servers of both eras
on 127.0.0.1, the built `mcp-wrapper` bridge, and three kinds of host on its stdin/stdout:

- the legacy host: the mcp 2.3 `ClientSession` over `stdio_client`, which opens with
  `initialize` (`legacy_host`);
- the modern host: `mcp.client.client.Client` over the same transport, in its default `auto`
  mode (probes `server/discover` first) or pinned with `mode="2026-07-28"` (`modern_host`);
- the raw line driver (`line_driver`), which records every line the bridge writes.

Each test gets a fresh bridge era cache (`auth_dir`, passed as MCP_WRAPPER_AUTH_DIR), so no
verdict leaks between tests. The `mcp` SDK is imported lazily: without it the modules here skip,
and with MCP_SDK_REQUIRED=1 the run fails instead.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from era_support import (
    HostRecord,
    LineDriver,
    ServerProcess,
    bridge_argv,
    bridge_env,
)

from support import wrapper_binary

if os.environ.get("MCP_SDK_REQUIRED", "") not in ("", "0"):
    for module in ("mcp.server.mcpserver", "mcp.client.client"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise pytest.UsageError(
                f"MCP_SDK_REQUIRED is set, but {module} (the official mcp SDK 2.x) cannot be "
                f"imported: {exc}. pip install -r python-tests/requirements-sdk.txt"
            ) from exc


@pytest.fixture
def auth_dir(tmp_path: Path) -> Path:
    """The bridge's era cache directory (MCP_WRAPPER_AUTH_DIR), fresh for each test."""
    path = tmp_path / "auth"
    path.mkdir()
    return path


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[[list[str], str], ServerProcess]]:
    """`servers(argv, name)`: a started server process, stopped (and its logs printed) after."""
    started: list[ServerProcess] = []

    def _start(argv: list[str], name: str) -> ServerProcess:
        server = ServerProcess(argv, tmp_path, name)
        started.append(server)
        return server

    yield _start
    for server in started:
        server.close()
        print(f"--- {server.name} stderr ---\n{server.stderr()}")
        print(f"--- {server.name} requests ---")
        for entry in server.entries():
            print(entry)


@pytest.fixture
def bridge_logs(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "bridge-logs"
    directory.mkdir()
    yield directory
    for log in sorted(directory.glob("*.log")):
        text = log.read_text(encoding="utf-8", errors="replace")
        print(f"--- {log.name} (mcp-wrapper stderr) ---\n{text[-12000:]}")


@pytest.fixture
def line_driver(
    bridge_logs: Path, auth_dir: Path
) -> Callable[..., AbstractAsyncContextManager[LineDriver]]:
    """`async with line_driver(url, *args) as driver:` the bridge on raw pipes; on exit its
    input is closed and every line it wrote is collected (`driver.lines`)."""
    counter = iter(range(1, 1000))

    @asynccontextmanager
    async def _open(
        url: str, *extra: str, auth: Path | None = None, env: dict[str, str] | None = None
    ) -> AsyncIterator[LineDriver]:
        log_path = bridge_logs / f"line-{next(counter)}.log"
        driver = await LineDriver.start(
            bridge_argv(url, *extra), {**bridge_env(auth or auth_dir), **(env or {})}, log_path
        )
        try:
            yield driver
        finally:
            await driver.close()

    return _open


class _DroppedResponses(logging.Handler):
    """The SDK dispatcher's 'unknown/late request id' line: an answer the host never expected
    (one for a request it cancelled, or a second one)."""

    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "unknown/late request id" in message:
            self.sink.append(message)


@asynccontextmanager
async def _watch_dropped(record: HostRecord) -> AsyncIterator[None]:
    logger = logging.getLogger("mcp.shared.jsonrpc_dispatcher")
    handler = _DroppedResponses(record.dropped_responses)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@dataclass
class Host:
    """An SDK host connected through the bridge: `client` is the ClientSession (legacy host) or
    the `Client` (modern host)."""

    client: Any
    record: HostRecord
    log_path: Path
    initialized: Any = None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _stdio_params(
    url: str, extra: tuple[str, ...], auth: Path, cwd: Path, env: dict[str, str] | None
) -> Any:
    from mcp.client.stdio import StdioServerParameters

    return StdioServerParameters(
        command=str(wrapper_binary()),
        args=["--url", url, *extra],
        env={**bridge_env(auth), **(env or {})},
        cwd=str(cwd),
    )


@pytest.fixture
def legacy_host(
    bridge_logs: Path, auth_dir: Path
) -> Callable[..., AbstractAsyncContextManager[Host]]:
    """`async with legacy_host(url, *args) as host:` an initialized mcp 2.3 `ClientSession`
    (it sends `initialize`, never a probe [obs]) talking to the bridge over stdio."""
    counter = iter(range(1, 1000))

    @asynccontextmanager
    async def _open(
        url: str, *extra: str, auth: Path | None = None, env: dict[str, str] | None = None
    ) -> AsyncIterator[Host]:
        import anyio
        import mcp_types as types
        from mcp.client.session import ClientSession
        from mcp.client.stdio import stdio_client

        record = HostRecord()
        log_path = bridge_logs / f"legacy-host-{next(counter)}.log"
        params = _stdio_params(url, extra, auth or auth_dir, bridge_logs, env)
        # stdio_client needs a real file for the child's stderr.
        with open(log_path, "w", encoding="utf-8") as errlog:  # noqa: ASYNC230
            async with (
                _watch_dropped(record),
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(
                    read,
                    write,
                    read_timeout_seconds=40,
                    elicitation_callback=record.on_elicit,
                    message_handler=record.on_message,
                    client_info=types.Implementation(name="era-legacy-host", version="0"),
                ) as session,
            ):
                with anyio.fail_after(40):
                    initialized = await session.initialize()
                yield Host(session, record, log_path, initialized)

    return _open


@pytest.fixture
def modern_host(
    bridge_logs: Path, auth_dir: Path
) -> Callable[..., AbstractAsyncContextManager[Host]]:
    """`async with modern_host(url, *args, mode="auto") as host:` an entered mcp 2.3 `Client`
    over the bridge: `auto` probes `server/discover` first; `"2026-07-28"` sends enveloped
    requests from the start, no probe [obs]."""
    counter = iter(range(1, 1000))

    @asynccontextmanager
    async def _open(
        url: str,
        *extra: str,
        mode: str = "auto",
        auth: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> AsyncIterator[Host]:
        import mcp_types as types
        from mcp.client.client import Client
        from mcp.client.stdio import stdio_client

        record = HostRecord()
        log_path = bridge_logs / f"modern-host-{next(counter)}.log"
        params = _stdio_params(url, extra, auth or auth_dir, bridge_logs, env)
        with open(log_path, "w", encoding="utf-8") as errlog:  # noqa: ASYNC230
            client = Client(
                stdio_client(params, errlog=errlog),
                mode=mode,
                read_timeout_seconds=40,
                elicitation_callback=record.on_elicit,
                message_handler=record.on_message,
                client_info=types.Implementation(name="era-modern-host", version="0"),
            )
            async with _watch_dropped(record), client:
                yield Host(client, record, log_path)

    return _open


@pytest.fixture
def direct_client() -> Callable[..., AbstractAsyncContextManager[Any]]:
    """`async with direct_client(url, mode=...) as client:` the SDK `Client` straight to a
    server over Streamable HTTP (no bridge): checks the components themselves."""

    @asynccontextmanager
    async def _open(url: str, *, mode: str = "auto", record: HostRecord | None = None) -> Any:
        from mcp.client.client import Client

        record = record or HostRecord()
        client = Client(
            url,
            mode=mode,
            read_timeout_seconds=40,
            elicitation_callback=record.on_elicit,
            message_handler=record.on_message,
        )
        async with client:
            yield client

    return _open
