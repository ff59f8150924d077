"""Servers on 127.0.0.1 for the tests: the project's `test-server` and a plain Python one.

`test-server` is found through $MCP_TEST_SERVER_BIN, else in $CARGO_TARGET_DIR/debug, else in
the workspace's target/debug (build it with `cargo build -p test-server`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import Server, start

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def find_test_server() -> Path:
    """The `test-server` binary, or a clear failure saying how to build it."""
    candidates = []
    if env := os.environ.get("MCP_TEST_SERVER_BIN"):
        candidates.append(Path(env))
    if target := os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(target) / "debug" / "test-server")
    candidates.append(ROOT / "target" / "debug" / "test-server")
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    pytest.fail(
        "test-server binary not found (tried "
        + ", ".join(str(p) for p in candidates)
        + "): run `cargo build -p test-server` or set MCP_TEST_SERVER_BIN",
        pytrace=False,
    )


@pytest.fixture(autouse=True)
def _own_auth_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's bridges keep sign-in credentials and protocol-era verdicts (`eras.json`)
    in a directory of that test's own: never the user's, and no verdict cached for one
    server reaches another that a later test starts on the same loopback port."""
    if "MCP_WRAPPER_AUTH_DIR" not in os.environ:
        monkeypatch.setenv("MCP_WRAPPER_AUTH_DIR", str(tmp_path / "mcp-wrapper-auth"))


@pytest.fixture(scope="session")
def mcp_server() -> Iterator[Server]:
    """A plain `test-server` (no sessions, no TLS)."""
    server = start([str(find_test_server())])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def session_server() -> Iterator[Server]:
    """A `test-server` that issues `Mcp-Session-Id` at initialize."""
    server = start([str(find_test_server()), "--sessions"])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A `test-server` on HTTPS with its own CA (`cert_dir / "ca.pem"`)."""
    certs = tmp_path_factory.mktemp("tls")
    server = start(
        [str(find_test_server()), "--tls", "--cert-dir", str(certs)],
        scheme="https",
        cert_dir=certs,
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mtls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A `test-server` that requires a client certificate (`client.pem`, `client-key.pem`)."""
    certs = tmp_path_factory.mktemp("mtls")
    server = start(
        [str(find_test_server()), "--mtls", "--cert-dir", str(certs)],
        scheme="https",
        cert_dir=certs,
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def http_server() -> Iterator[Server]:
    """The plain Python HTTP server of `http_server.py`, in its own process."""
    server = start([sys.executable, str(HERE / "http_server.py")])
    yield server
    server.stop()
