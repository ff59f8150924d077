"""The bridge binary through a real forward proxy, proxy.py (issue 15 §3).

proxy.py runs from its own venv ($MCP_PROXY_PYTHON, default .venvs/proxy/bin/python; see
requirements-proxy.txt) with the `proxy_recorder` plugin, which writes one line per request
it lets through. The bridge talks to test-server over http (forwarded by the proxy) and over
https (a CONNECT tunnel); the tests check what the proxy saw, a `NO_PROXY` bypass, proxy
authentication with and without credentials, and a proxy port nobody listens on. Without
proxy.py they skip, unless MCP_PROXY_REQUIRED=1 (then they fail).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support import REPO_ROOT, Server, request, stop_process, wrapper_binary

HERE = Path(__file__).resolve().parent
PROXY_VARIABLES = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "MCP_PROXY",
)
USER = "alice"
PASSWORD = "proxy-secret-pw7"
# The longest any step may take when all is well (it only matters when something is wrong).
DEADLINE = 60.0


def proxy_python() -> Path:
    """proxy.py's interpreter, or a skip (a failure with MCP_PROXY_REQUIRED=1)."""
    path = Path(
        os.environ.get("MCP_PROXY_PYTHON", REPO_ROOT / ".venvs" / "proxy" / "bin" / "python")
    )
    reason = None
    if not path.is_file():
        reason = f"no proxy.py venv at {path} (see python-tests/requirements-proxy.txt)"
    elif subprocess.run([str(path), "-c", "import proxy"], capture_output=True).returncode:
        reason = f"{path} cannot import proxy.py (see python-tests/requirements-proxy.txt)"
    if reason is None:
        return path
    if os.environ.get("MCP_PROXY_REQUIRED", "") not in ("", "0"):
        pytest.fail(f"MCP_PROXY_REQUIRED is set: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class Proxy:
    """A running proxy.py and the file its recorder writes."""

    process: subprocess.Popen[bytes]
    port: int
    record: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def seen(self) -> list[str]:
        return self.record.read_text().splitlines() if self.record.exists() else []

    def assert_seen(self, line: str) -> None:
        """The proxy recorded `line`. Its recorder writes before it forwards a request, so
        once the bridge has its answer (or has exited) the line is there if it ever will be."""
        assert line in self.seen(), (line, self.seen())


def start_proxy(directory: Path, basic_auth: str | None = None) -> Proxy:
    """proxy.py on an ephemeral loopback port, ready to accept connections."""
    python = proxy_python()
    directory.mkdir(parents=True, exist_ok=True)
    record = directory / "record"
    argv = [
        str(python),
        str(HERE / "proxy_launch.py"),
        "--hostname",
        "127.0.0.1",
        "--port",
        "0",
        "--num-workers",
        "1",
        "--num-acceptors",
        "1",
        "--log-level",
        "WARNING",
        "--plugins",
        "proxy_recorder.Recorder",
    ]
    if basic_auth:
        argv += ["--basic-auth", basic_auth]
    env = {**os.environ, "PYTHONPATH": str(HERE), "MCP_PROXY_RECORD": str(record)}
    for name in PROXY_VARIABLES:
        env.pop(name, None)
    with open(directory / "proxy.log", "wb") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env
        )
    assert process.stdout is not None
    # One line once it listens (proxy_launch.py); nothing if it could not start.
    line = process.stdout.readline().decode().strip()
    assert line.isdigit(), (directory / "proxy.log").read_text()
    return Proxy(process, int(line), record)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    running = start_proxy(tmp_path / "proxy")
    yield running
    stop(running)


@pytest.fixture
def auth_proxy(tmp_path: Path) -> Iterator[Proxy]:
    running = start_proxy(tmp_path / "auth-proxy", basic_auth=f"{USER}:{PASSWORD}")
    yield running
    stop(running)


def stop(running: Proxy) -> None:
    # proxy_launch.py stops when its stdin closes.
    if running.process.stdin:
        running.process.stdin.close()
    stop_process(running.process, terminate=False)


@dataclass
class Run:
    """One bridge run: its answers by id, and everything it printed."""

    answers: dict[Any, Any]
    stdout: str
    stderr: str


def run_bridge(server: Server, *args: str, env: dict[str, str] | None = None) -> Run:
    """The bridge binary with debug logs, only the given proxy variables, and a short
    `--timeout` (it bounds the retries of a refused connection): initialize, then
    tools/list, then end of input."""
    environment = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    environment.update(env or {})
    environment["MCP_WRAPPER_LOG_LEVEL"] = "DEBUG"
    argv = [str(wrapper_binary()), "--url", server.url, "--timeout", "5", *args]
    if server.cert_dir is not None:
        argv += ["--ca-bundle", str(server.cert_dir / "ca.pem")]
    initialize = request(
        0,
        "initialize",
        {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test_proxy", "version": "1"},
        },
    )
    messages = [initialize, request(1, "tools/list")]
    completed = subprocess.run(
        argv,
        input="".join(json.dumps(m) + "\n" for m in messages).encode(),
        capture_output=True,
        env=environment,
        timeout=DEADLINE,
    )
    stdout, stderr = completed.stdout.decode(), completed.stderr.decode()
    assert completed.returncode == 0, stderr
    answers = {}
    for line in stdout.splitlines():
        answer = json.loads(line)
        answers[answer.get("id")] = answer
    return Run(answers, stdout, stderr)


def assert_answered(run: Run) -> None:
    assert run.answers[0]["result"]["serverInfo"], run.stdout
    assert isinstance(run.answers[1]["result"]["tools"], list), run.stdout


def test_http_is_forwarded_through_the_http_proxy(mcp_server: Server, proxy: Proxy) -> None:
    run = run_bridge(mcp_server, env={"HTTP_PROXY": proxy.url})
    assert_answered(run)
    proxy.assert_seen(f"POST 127.0.0.1:{mcp_server.port}")
    assert not any(line.startswith("CONNECT") for line in proxy.seen()), proxy.seen()


def test_https_goes_through_a_connect_tunnel(tls_server: Server, proxy: Proxy) -> None:
    # Lower case, as most shells export it.
    run = run_bridge(tls_server, env={"https_proxy": proxy.url})
    assert_answered(run)
    proxy.assert_seen(f"CONNECT 127.0.0.1:{tls_server.port}")


def test_all_proxy_and_the_proxy_option(tls_server: Server, proxy: Proxy) -> None:
    connect = f"CONNECT 127.0.0.1:{tls_server.port}"
    dead = f"http://127.0.0.1:{free_port()}"
    runs = [
        ((), {"ALL_PROXY": proxy.url}),
        # --proxy (and MCP_PROXY) wins over a variable that names a dead proxy.
        (("--proxy", proxy.url), {"HTTPS_PROXY": dead}),
        ((), {"MCP_PROXY": proxy.url, "HTTPS_PROXY": dead}),
    ]
    for args, env in runs:
        before = proxy.seen().count(connect)
        assert_answered(run_bridge(tls_server, *args, env=env))
        # The bridge has exited: whatever it sent, the proxy has recorded.
        assert proxy.seen().count(connect) > before, (args, env, proxy.seen())
    assert set(proxy.seen()) == {connect}


def test_no_proxy_bypasses_the_proxy(mcp_server: Server, tls_server: Server, proxy: Proxy) -> None:
    env = {"HTTP_PROXY": proxy.url, "HTTPS_PROXY": proxy.url, "NO_PROXY": "localhost,127.0.0.1"}
    assert_answered(run_bridge(mcp_server, env=env))
    assert_answered(run_bridge(tls_server, env=env))
    # `--proxy none` ignores the variables altogether.
    assert_answered(run_bridge(tls_server, "--proxy", "none", env={"HTTPS_PROXY": proxy.url}))
    # Both bridges have exited: whatever the proxy was sent, it has recorded.
    assert proxy.seen() == []


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_proxy_credentials_from_the_url_are_accepted(
    mcp_server: Server, tls_server: Server, auth_proxy: Proxy, tls: bool
) -> None:
    server = tls_server if tls else mcp_server
    with_credentials = f"http://{USER}:{PASSWORD}@127.0.0.1:{auth_proxy.port}"
    run = run_bridge(server, "--proxy", with_credentials)
    assert_answered(run)
    auth_proxy.assert_seen(f"{'CONNECT' if tls else 'POST'} 127.0.0.1:{server.port}")
    assert PASSWORD not in run.stdout + run.stderr


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_407_is_one_error_naming_the_proxy(
    mcp_server: Server, tls_server: Server, auth_proxy: Proxy, tls: bool
) -> None:
    server = tls_server if tls else mcp_server
    shown = f"http://127.0.0.1:{auth_proxy.port}"
    run = run_bridge(server, env={"HTTPS_PROXY" if tls else "HTTP_PROXY": shown})
    for id in (0, 1):
        error = run.answers[id]["error"]
        assert error["code"] == -32000
        assert error["message"] == (
            f"Connection failed: proxy {shown} refused: 407 Proxy Authentication Required "
            "(give credentials in the proxy URL: http://user:password@host:port)"
        )
    # A wrong password: the same refusal, which says the credentials were not accepted, and
    # the password is printed nowhere.
    wrong = f"http://{USER}:{PASSWORD}-wrong@127.0.0.1:{auth_proxy.port}"
    run = run_bridge(server, "--proxy", wrong)
    message = run.answers[1]["error"]["message"]
    assert message == (
        f"Connection failed: proxy {shown} refused: 407 Proxy Authentication Required "
        "(the user name and password of the proxy URL were not accepted)"
    )
    assert PASSWORD not in run.stdout + run.stderr
    assert auth_proxy.seen() == []


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_refused_proxy_port_names_the_proxy(mcp_server: Server, tls_server: Server) -> None:
    for server in (mcp_server, tls_server):
        dead = f"http://127.0.0.1:{free_port()}"
        run = run_bridge(server, "--proxy", f"http://{USER}:{PASSWORD}@{dead[7:]}")
        assert run.answers[1]["error"]["message"] == (
            f"Connection failed: proxy {dead} refused the connection"
        ), run.stdout
        assert PASSWORD not in run.stdout + run.stderr
