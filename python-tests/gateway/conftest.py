"""Fixtures for driving `mcp-wrapper` through the ContextForge gateway, end to end.

The chain under test, all real processes on 127.0.0.1:

    SDK ClientSession --stdio--> mcp-wrapper --HTTP, Bearer JWT--> ContextForge gateway
        (virtual server /servers/<id>/mcp) --Streamable HTTP--> official `mcp` SDK server

- The upstream is `python-tests/sdk/mcp_server.py` (the SDK's `MCPServer`, stateful mode),
  started by the `SdkServer` helper of `python-tests/sdk/conftest.py`, loaded from that file.
- The gateway (PyPI `mcp-contextforge-gateway`) runs from its own venv: $MCP_GATEWAY_PYTHON,
  default `.venvs/gateway/bin/python` (see `python-tests/requirements-gateway.txt`), as
  `python -m uvicorn mcpgateway.main:app`, with SQLite in a temporary directory and a JWT
  secret made for this run. One gateway process per mode (`USE_STATEFUL_SESSIONS`).
- The token is minted by the gateway's own `mcpgateway.utils.create_jwt_token` CLI; the
  upstream is registered with `POST /gateways`, its tools exposed with `POST /servers`.

If the gateway cannot be imported from that interpreter the tests skip, saying why; with
MCP_GATEWAY_REQUIRED=1 (the project's test script sets it) they fail instead. The same goes
for the `mcp` SDK of the test venv with MCP_SDK_REQUIRED=1 (checked by the SDK conftest,
which this one loads).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
SDK_CONFTEST = HERE.parent / "sdk" / "conftest.py"
REQUIREMENTS = HERE.parent / "requirements-gateway.txt"
DEFAULT_GATEWAY_PYTHON = REPO_ROOT / ".venvs" / "gateway" / "bin" / "python"

# `USE_STATEFUL_SESSIONS` of the gateway. "stateful": Mcp-Session-Id issued at initialize
# and required afterwards (where `mcpgateway.wrapper` fails, upstream issue #4419), answers
# as JSON (its default, JSON_RESPONSE_ENABLED=true); "stateful-sse": the same with answers
# as SSE streams; "stateless": no sessions, JSON answers.
MODES = ("stateful", "stateless", "stateful-sse")
UPSTREAM_NAME = "sdk"  # the gateway prefixes federated tool names with its slug
ADMIN_EMAIL = "admin@example.com"
START_TIMEOUT = 120.0  # gateway start-up: imports and (first time) ~200 SQLite migrations
HTTP_TIMEOUT = 30.0


def _load_sdk_helpers() -> ModuleType:
    """python-tests/sdk/conftest.py as a plain module (`SdkServer`, `wrapper_binary`, `tail`).

    Loaded under a name of its own so it never meets the `conftest` modules pytest
    imports; defining its fixtures there registers nothing.
    """
    spec = importlib.util.spec_from_file_location("_sdk_helpers", SDK_CONFTEST)
    assert spec is not None, SDK_CONFTEST
    assert spec.loader is not None, SDK_CONFTEST
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


sdk_helpers = _load_sdk_helpers()


def tail(path: Path, limit: int = 12000) -> str:
    return str(sdk_helpers.tail(path, limit))


def gateway_python() -> Path:
    return Path(os.environ.get("MCP_GATEWAY_PYTHON") or DEFAULT_GATEWAY_PYTHON)


def pinned_version() -> str | None:
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        if line.startswith("mcp-contextforge-gateway=="):
            return line.split("==", 1)[1].strip()
    return None


@dataclass(frozen=True)
class GatewayInstall:
    python: Path
    version: str


@pytest.fixture(scope="session")
def gateway_install() -> GatewayInstall:
    """The interpreter that has `mcpgateway`; skips (or fails when required) without it."""
    python = gateway_python()
    problem: str | None = None
    version = ""
    if not python.is_file():
        problem = f"{python} does not exist"
    else:
        probe = (
            "import importlib.metadata as m, mcpgateway, uvicorn; "
            "print(m.version('mcp-contextforge-gateway'))"
        )
        try:
            done = subprocess.run(
                [str(python), "-c", probe],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = f"{python} could not be run: {exc}"
        else:
            if done.returncode != 0:
                problem = f"`import mcpgateway` fails in {python}: {done.stderr.strip()[-600:]}"
            else:
                version = done.stdout.strip()
    if problem is not None:
        reason = (
            f"ContextForge gateway not installed ({problem}). Install it with "
            "`python3 -m venv .venvs/gateway && .venvs/gateway/bin/python -m pip install "
            "-r python-tests/requirements-gateway.txt`, or point MCP_GATEWAY_PYTHON at an "
            "interpreter that has `mcp-contextforge-gateway`"
        )
        if os.environ.get("MCP_GATEWAY_REQUIRED", "") not in ("", "0"):
            pytest.fail(f"MCP_GATEWAY_REQUIRED is set: {reason}", pytrace=False)
        pytest.skip(reason)
    wanted = pinned_version()
    if wanted is not None and version != wanted:
        print(f"note: gateway {version} installed, {wanted} pinned in {REQUIREMENTS.name}")
    return GatewayInstall(python, version)


@pytest.fixture(scope="session")
def gateway_secrets() -> dict[str, str]:
    """Made for this run; never written anywhere but the gateway's environment."""
    return {
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "AUTH_ENCRYPTION_SECRET": secrets.token_urlsafe(48),
        # 3 character classes, as its password policy wants.
        "PLATFORM_ADMIN_PASSWORD": "Aa1-" + secrets.token_urlsafe(24),
    }


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HttpError(AssertionError):
    pass


def http_json(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> tuple[int, dict[str, str], Any]:
    """One request with the standard library (the test venv has no `httpx`): status,
    lower-cased headers and the decoded JSON body (or the text when it is not JSON)."""
    all_headers = {"Accept": "application/json", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    # No proxy for loopback, whatever the environment says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            status, raw, got = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, raw, got = exc.code, exc.read(), exc.headers
        exc.close()
    text = raw.decode("utf-8", "replace")
    try:
        decoded: Any = json.loads(text) if text else None
    except ValueError:
        decoded = text
    return status, {k.lower(): v for k, v in got.items()}, decoded


class GatewayProcess:
    """`python -m uvicorn mcpgateway.main:app` on 127.0.0.1, SQLite in `workdir`."""

    def __init__(
        self,
        install: GatewayInstall,
        mode: str,
        workdir: Path,
        secret_env: dict[str, str],
        template_db: Path | None,
    ) -> None:
        self.install = install
        self.mode = mode
        self.workdir = workdir
        self.secret_env = secret_env
        self.db = workdir / "mcp.db"
        self.log = workdir / f"gateway-{mode}.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in = 0.0
        if template_db is not None and template_db.exists():
            # Already migrated and bootstrapped: saves the ~200 migrations at start-up.
            shutil.copyfile(template_db, self.db)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            # Nothing of a developer's own gateway or proxy settings leaks in.
            if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
        }
        env.update(self.secret_env)
        env.update(
            {
                "DATABASE_URL": f"sqlite:///{self.db}",
                "PLATFORM_ADMIN_EMAIL": ADMIN_EMAIL,
                "USE_STATEFUL_SESSIONS": str(self.mode.startswith("stateful")).lower(),
                "JSON_RESPONSE_ENABLED": str(not self.mode.endswith("-sse")).lower(),
                "MCPGATEWAY_UI_ENABLED": "false",
                "MCPGATEWAY_ADMIN_API_ENABLED": "false",
                # The upstream is on loopback, which its SSRF guard blocks by default.
                "SSRF_ALLOW_LOCALHOST": "true",
                "CACHE_TYPE": "memory",
                "LOG_LEVEL": "INFO",
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def start(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        for _attempt in range(3):
            self.port = free_port()
            began = time.monotonic()
            with open(self.log, "ab") as log:
                log.write(f"\n=== start port={self.port} mode={self.mode} ===\n".encode())
                log.flush()
                self.proc = subprocess.Popen(
                    [
                        str(self.install.python),
                        "-m",
                        "uvicorn",
                        "mcpgateway.main:app",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(self.port),
                        "--timeout-graceful-shutdown",
                        "2",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,  # no `.env` of anyone's is read
                    env=self.env(),
                    start_new_session=True,
                )
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                with suppress(OSError):
                    status, _, _ = http_json("GET", f"{self.base}/health", timeout=2)
                    if status == 200:
                        self.started_in = time.monotonic() - began
                        return
                time.sleep(0.25)
            self.stop()
            if time.monotonic() >= deadline or "address already in use" not in tail(self.log):
                break
        raise RuntimeError(
            f"ContextForge gateway ({self.mode}) did not start within {START_TIMEOUT:.0f}s; "
            f"log:\n{tail(self.log)}"
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        # Anything of its group still alive (workers, helpers) goes too.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def mint_token(self, minutes: int = 30) -> str:
        """A Bearer token for the bootstrap admin, by the gateway's documented CLI."""
        done = subprocess.run(
            [
                str(self.install.python),
                "-m",
                "mcpgateway.utils.create_jwt_token",
                "--username",
                ADMIN_EMAIL,
                "--exp",
                str(minutes),
                # One argument: a random secret may start with "-", which argparse would
                # read as an option (a failure in about one run in 64).
                f"--secret={self.secret_env['JWT_SECRET_KEY']}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.workdir,
            env=self.env(),
            check=False,
        )
        token = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        if done.returncode != 0 or token.count(".") != 2:
            raise RuntimeError(f"create_jwt_token failed ({done.returncode}):\n{done.stderr}")
        return token

    def snapshot_db(self, target: Path) -> None:
        """A consistent copy of the live SQLite database (the backup API, not a file copy)."""
        with closing(sqlite3.connect(self.db)) as src, closing(sqlite3.connect(target)) as dst:
            src.backup(dst)


@dataclass
class Gateway:
    """A running gateway with the SDK server federated and one virtual server."""

    mode: str
    version: str
    base: str
    token: str
    server_id: str
    upstream_pid: int
    upstream_gateway: dict[str, Any]
    tools: dict[str, str]  # upstream name -> the gateway's name for it
    started_in: float
    process: GatewayProcess = field(repr=False)

    @property
    def stateful(self) -> bool:
        return self.mode.startswith("stateful")

    @property
    def url(self) -> str:
        """The virtual server's MCP endpoint, as a user gives it to a bridge."""
        return f"{self.base}/servers/{self.server_id}/mcp"

    def tool(self, original: str) -> str:
        """The gateway's name for an upstream tool (e.g. `sdk-echo` for `echo`)."""
        assert original in self.tools, f"no gateway tool for {original!r}: {self.tools}"
        return self.tools[original]

    def api(self, method: str, path: str, body: Any = None) -> Any:
        return admin_api(self.base, self.token, method, path, body)


def admin_api(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    """The gateway's REST API; anything but 2xx fails with what it said."""
    status, _, decoded = http_json(method, base + path, token=token, body=body)
    if status >= 300:
        raise HttpError(f"{method} {path} -> {status}: {decoded}")
    return decoded


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The official SDK server (stateful: sessions, SSE, event store) the gateway federates."""
    server = sdk_helpers.SdkServer("stateful", tmp_path_factory.mktemp("gw-upstream"))
    server.start()
    try:
        yield server
    finally:
        server.close()
        print(f"--- upstream SDK server stderr ---\n{tail(server.stderr_log)}")


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the first gateway of the run leaves a migrated, bootstrapped, empty database
    for the next ones (each gets a copy of its own)."""
    return tmp_path_factory.mktemp("gw-template") / "migrated.db"


@pytest.fixture(scope="module", params=MODES)
def gateway(
    request: pytest.FixtureRequest,
    gateway_install: GatewayInstall,
    gateway_secrets: dict[str, str],
    migrated_db: Path,
    upstream: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    """A gateway in one mode, the SDK server registered as a federated gateway (transport
    STREAMABLEHTTP) and a virtual server exposing all of its tools."""
    mode = str(request.param)
    workdir = tmp_path_factory.mktemp(f"gw-{mode}")
    process = GatewayProcess(gateway_install, mode, workdir, gateway_secrets, migrated_db)
    try:
        process.start()
        if not migrated_db.exists():
            process.snapshot_db(migrated_db)
        token = process.mint_token()
        registered = admin_api(
            process.base,
            token,
            "POST",
            "/gateways",
            {
                "name": UPSTREAM_NAME,
                "url": upstream.url,
                "transport": "STREAMABLEHTTP",
                "description": "official mcp SDK MCPServer (python-tests/sdk/mcp_server.py)",
            },
        )
        tools = admin_api(process.base, token, "GET", "/tools?include_inactive=false")
        if isinstance(tools, dict):  # a cursor-paginated answer
            tools = tools.get("items") or tools.get("tools") or []
        federated = [t for t in tools if t.get("gatewayId") == registered["id"]]
        assert federated, f"the gateway found no tools on the SDK server: {tools}"
        tool_ids = [t["id"] for t in federated]
        server = admin_api(
            process.base,
            token,
            "POST",
            "/servers",
            {"server": {"name": f"sdk-virtual-{mode}", "associated_tools": tool_ids}},
        )
        yield Gateway(
            mode=mode,
            version=gateway_install.version,
            base=process.base,
            token=token,
            server_id=str(server["id"]),
            upstream_pid=int(upstream.proc.pid),
            upstream_gateway=registered,
            tools={str(t["originalName"]): str(t["name"]) for t in federated},
            started_in=process.started_in,
            process=process,
        )
    finally:
        process.stop()
        print(f"--- ContextForge gateway ({mode}) log ---\n{tail(process.log)}")


@dataclass
class Bridge:
    session: Any
    log_path: Path
    notifications: list[Any] = field(default_factory=list)
    exceptions: list[BaseException] = field(default_factory=list)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def exit_reason(self) -> str | None:
        """Why the bridge ended, from its log: `Eof` when it left on its own at the end of
        its input (see the SDK conftest's `exit_reason`)."""
        reason: str | None = sdk_helpers.exit_reason(self.log())
        return reason


@pytest.fixture
def bridge_log_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for log in sorted(tmp_path.glob("bridge-*.log")):
        print(f"--- {log.name} (mcp-wrapper stderr) ---\n{tail(log)}")


@pytest.fixture
def open_bridge(bridge_log_dir: Path) -> Callable[..., Any]:
    """`async with open_bridge(gateway) as bridge:` an initialized SDK ClientSession talking
    to `mcp-wrapper --url <virtual server URL>`, the token in MCP_AUTH (as users set it)."""
    binary = sdk_helpers.wrapper_binary()
    counter = iter(range(1, 1000))

    @asynccontextmanager
    async def _open(
        gateway: Gateway, *, bridge_timeout: float = 30.0, auth: str | None = None
    ) -> AsyncIterator[Bridge]:
        import anyio
        import mcp_types as types
        from mcp.client.session import ClientSession
        from mcp.client.stdio import StdioServerParameters, stdio_client

        log_path = bridge_log_dir / f"bridge-{next(counter)}.log"
        bridge = Bridge(None, log_path)

        async def on_message(message: Any) -> None:
            if isinstance(message, BaseException):
                bridge.exceptions.append(message)
            else:
                bridge.notifications.append(message)

        params = StdioServerParameters(
            command=str(binary),
            args=["--url", gateway.url, "--timeout", str(bridge_timeout)],
            env={
                "MCP_AUTH": auth if auth is not None else f"Bearer {gateway.token}",
                "MCP_WRAPPER_LOG_LEVEL": os.environ.get("MCP_WRAPPER_LOG_LEVEL", "DEBUG"),
                "RUST_BACKTRACE": "1",
                "NO_PROXY": "127.0.0.1,localhost",
                # stdio_client passes only a few variables through: the test's own credentials
                # and era directory (see the root conftest).
                "MCP_WRAPPER_AUTH_DIR": os.environ["MCP_WRAPPER_AUTH_DIR"],
            },
            cwd=str(bridge_log_dir),
        )
        # stdio_client needs a real file for the child's stderr (a local, small one).
        # Leaving stdio_client closes the bridge's stdin and waits for it to exit (SIGTERM
        # after 2 s): `Bridge.exit_reason()` tells which ended it.
        with open(log_path, "w", encoding="utf-8") as errlog:  # noqa: ASYNC230
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(
                    read,
                    write,
                    read_timeout_seconds=bridge_timeout + 10,
                    message_handler=on_message,
                    client_info=types.Implementation(name="mcp-wrapper-gateway-tests", version="0"),
                ) as session,
            ):
                with anyio.fail_after(bridge_timeout + 10):
                    await session.initialize()
                bridge.session = session
                yield bridge

    return _open


def mcp_post(
    gateway: Gateway, message: dict[str, Any], session_id: str | None = None
) -> tuple[int, dict[str, str], Any]:
    """A raw Streamable HTTP POST to the virtual server (no bridge), for control checks."""
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    if session_id is not None:
        headers["Mcp-Session-Id"] = session_id
    return http_json("POST", gateway.url, token=gateway.token, body=message, headers=headers)


@pytest.fixture
def raw_post() -> Callable[..., tuple[int, dict[str, str], Any]]:
    return mcp_post
