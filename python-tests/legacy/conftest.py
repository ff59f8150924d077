"""Fixtures for the legacy HTTP+SSE transport: the SDK 1.x server and a raw line driver.

The server (`legacy_server.py`) runs under $MCP_LEGACY_PYTHON, else .venvs/legacy/bin/python
(made from python-tests/requirements-legacy.txt). Without it the tests skip, or fail when
MCP_LEGACY_REQUIRED=1 (the project's test script sets it). The bridge is the built
`mcp-wrapper` binary over real pipes; every wait is for a line or a request the server
logged, bounded by a deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from legacy_support import LegacyServer, LineBridge, legacy_python

from support import wrapper_binary


@pytest.fixture
def legacy_server(tmp_path: Path) -> Iterator[LegacyServer]:
    server = LegacyServer(legacy_python(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.close()
        print(f"--- legacy server stderr ---\n{server.stderr_path.read_text(errors='replace')}")
        print(f"--- legacy server requests ---\n{server.requests()}")


@pytest.fixture
def open_bridge(tmp_path: Path) -> Iterator[Callable[..., LineBridge]]:
    bridges: list[LineBridge] = []
    binary = wrapper_binary()

    def _open(*args: str, env: dict[str, str] | None = None) -> LineBridge:
        log_path = tmp_path / f"bridge-{len(bridges) + 1}.log"
        bridge = LineBridge([str(binary), *args], log_path, env)
        bridges.append(bridge)
        return bridge

    yield _open
    for bridge in bridges:
        if bridge.proc.poll() is None:
            bridge.proc.kill()
        bridge.close()
        print(f"--- {bridge.log_path.name} ---\n{bridge.log()[-12000:]}")
