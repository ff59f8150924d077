"""Fixtures for driving `mcp-wrapper` with the official `mcp` SDK, client and server.

Self-contained: nothing here depends on the python-tests/ root conftest. The `mcp`
package is imported lazily (the test modules `importorskip` it), so collecting this
directory in an environment without the SDK skips it instead of failing; with
MCP_SDK_REQUIRED=1 (the project's test script sets it) the run fails here instead.

Real components only: the SDK server runs as a subprocess (`mcp_server.py`, uvicorn on
127.0.0.1), the bridge is the built `mcp-wrapper` binary (see `wrapper_binary`) spawned
by the SDK's own `stdio_client`, and every wait is bounded.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import selectors
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support import wrapper_binary

if os.environ.get("MCP_SDK_REQUIRED", "") not in ("", "0"):
    # What the modules here and in gateway/ `importorskip`: without it they would skip.
    for module in ("mcp.server.mcpserver", "mcp.client.stdio"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise pytest.UsageError(
                f"MCP_SDK_REQUIRED is set, but {module} (the official mcp SDK 2.x) cannot be "
                f"imported: {exc}. pip install -r python-tests/requirements-sdk.txt"
            ) from exc

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
SERVER_SCRIPT = HERE / "mcp_server.py"
RESOURCE_URI = "memo://counter"
MODES = ("stateful", "stateless-json")
# Why a case cannot run against the stateless + JSON-response server: it keeps no
# session and answers each POST with one JSON body, so it has no back-channel.
NO_BACK_CHANNEL = (
    "stateless + JSON-response server: each POST gets exactly one JSON body and there is no "
    "session, so the server has no channel for {what} (the SDK drops or refuses them by design)"
)


def tail(path: Path, limit: int = 12000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "<missing>"
    text = data[-limit:].decode("utf-8", "replace")
    return ("...\n" if len(data) > limit else "") + text


class SdkServer:
    """One `mcp_server.py` subprocess; can be killed and started again on the same port."""

    START_TIMEOUT = 20.0

    def __init__(self, mode: str, workdir: Path) -> None:
        self.mode = mode
        self.workdir = workdir
        self.request_log = workdir / f"requests-{mode}.jsonl"
        self.stderr_log = workdir / f"server-{mode}.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.armed: subprocess.Popen[bytes] | None = None
        self.generation = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def stateful(self) -> bool:
        return self.mode == "stateful"

    def spawn(self) -> None:
        """Start a server process up to the point of binding (`ARMED`); `go` binds it.

        Python start-up and the SDK imports take a second or more, longer on a loaded
        machine; arming first keeps that out of the time the port is closed.
        """
        assert self.armed is None, "a server is already armed"
        self.generation += 1
        with open(self.stderr_log, "ab") as err:
            err.write(f"\n=== start #{self.generation} port={self.port} ===\n".encode())
            err.flush()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(SERVER_SCRIPT),
                    "--mode",
                    self.mode,
                    "--port",
                    str(self.port),
                    "--request-log",
                    str(self.request_log),
                    "--wait-for-go",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=self.workdir,
                start_new_session=True,
            )
        line = self._read_line(proc, time.monotonic() + self.START_TIMEOUT)
        if line != "ARMED":
            self._reap(proc)
            raise RuntimeError(f"SDK server did not start ({line!r}):\n{tail(self.stderr_log)}")
        self.armed = proc

    def go(self) -> bool:
        """Let the armed server bind and listen; False if it could not (port still taken)."""
        proc, self.armed = self.armed, None
        assert proc is not None, "spawn() first"
        assert proc.stdin is not None
        with suppress(BrokenPipeError):  # it died while armed: reported below
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
        line = self._read_line(proc, time.monotonic() + self.START_TIMEOUT)
        if line is None or not line.startswith("READY "):
            self._reap(proc)
            return False
        self.proc, self.port = proc, int(line.split()[1])
        return True

    def start(self) -> None:
        """Start the server (on the previous port if it had one); wait until it listens."""
        assert self.proc is None, "server already running"
        deadline = time.monotonic() + self.START_TIMEOUT
        while True:
            if self.armed is None:
                self.spawn()
            if self.go():
                return
            # A restart on a fixed port can race the old socket's release: try again.
            if time.monotonic() >= deadline:
                raise RuntimeError(f"SDK server did not start; stderr:\n{tail(self.stderr_log)}")
            time.sleep(0.2)

    @staticmethod
    def _read_line(proc: subprocess.Popen[bytes], deadline: float) -> str | None:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            line = b""
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(timeout=remaining):
                    return None
                chunk = os.read(proc.stdout.fileno(), 1)
                if not chunk:
                    return None
                line += chunk
        return line.decode().strip()

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes]) -> None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()

    def kill(self) -> None:
        """SIGKILL the server (a crash: no goodbye to anyone) and reap it."""
        proc, self.proc = self.proc, None
        if proc is not None:
            self._reap(proc)

    def restart(self) -> None:
        """A new server process on the same port; the old one's sessions are gone."""
        self.spawn()
        self.kill()
        if not self.go():
            self.start()

    def close(self) -> None:
        self.kill()
        armed, self.armed = self.armed, None
        if armed is not None:
            self._reap(armed)

    def _log(self) -> list[dict[str, Any]]:
        if not self.request_log.exists():
            return []
        lines = self.request_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def requests(self) -> list[dict[str, Any]]:
        """Every HTTP request the MCP endpoint answered so far (in the order the answers
        started), one dict per request, with its `status`.

        Left out: Starlette's 307 from `/mcp/` to `/mcp`. The bridge normalises the URL
        `/mcp` to `/mcp/` (design §3) while the SDK serves `/mcp`, so every request is
        redirected once first (see `redirects`).
        """
        return [e for e in self._log() if e["phase"] == "answered" and not self._is_redirect(e)]

    def redirects(self) -> list[dict[str, Any]]:
        return [e for e in self._log() if e["phase"] == "answered" and self._is_redirect(e)]

    @staticmethod
    def _is_redirect(entry: dict[str, Any]) -> bool:
        return bool(entry["status"] == 307 and entry["path"] != "/mcp")

    def arrivals(self) -> list[dict[str, Any]]:
        """Every HTTP request whose body has been read, answered yet or not."""
        return [e for e in self._log() if e["phase"] == "arrived"]


class ServerPool:
    """One SDK server per mode, started when first asked for, shared by every test that
    never kills it (each test reads the request log from where it began)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.servers: dict[str, SdkServer] = {}

    def get(self, mode: str) -> SdkServer:
        if mode not in self.servers:
            server = SdkServer(mode, self.tmp_path_factory.mktemp(f"sdk-{mode}"))
            server.start()
            self.servers[mode] = server
        return self.servers[mode]

    def close(self) -> None:
        for server in self.servers.values():
            server.close()
            print(f"--- SDK server ({server.mode}) stderr ---\n{tail(server.stderr_log)}")


@pytest.fixture(scope="session")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module", params=MODES)
def shared_server(request: pytest.FixtureRequest, server_pool: ServerPool) -> SdkServer:
    """The SDK server of each mode in turn (tests that never kill it)."""
    mode: str = request.param
    return server_pool.get(mode)


@pytest.fixture(scope="module")
def stateful_server(server_pool: ServerPool) -> SdkServer:
    """The stateful SDK server alone, for what needs a session and a back-channel to the
    client (the stateless + JSON-response server has neither: see NO_BACK_CHANNEL)."""
    return server_pool.get("stateful")


@pytest.fixture(params=MODES)
def fresh_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SdkServer]:
    """An SDK server of its own, for tests that kill and restart it."""
    server = SdkServer(request.param, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.close()
        print(f"--- SDK server ({server.mode}) stderr ---\n{tail(server.stderr_log)}")
        print(f"--- SDK server ({server.mode}) requests ---\n{tail(server.request_log)}")


@dataclass
class Recorder:
    """What the SDK client saw besides results: callbacks, notifications, transport faults."""

    logs: list[Any] = field(default_factory=list)
    notifications: list[Any] = field(default_factory=list)
    exceptions: list[BaseException] = field(default_factory=list)
    sampling: list[Any] = field(default_factory=list)
    elicitation: list[Any] = field(default_factory=list)
    dropped_responses: list[str] = field(default_factory=list)
    sampling_reply: str = "4"
    elicitation_reply: dict[str, Any] = field(default_factory=lambda: {"name": "Ada"})

    def of_type(self, cls: type) -> list[Any]:
        return [n for n in self.notifications if isinstance(n, cls)]

    async def wait_for(self, predicate: Callable[[], bool], seconds: float, what: str) -> None:
        import anyio

        with anyio.move_on_after(seconds):
            # Polling: the state comes from callbacks and from the server's log file.
            while not predicate():  # noqa: ASYNC110
                await anyio.sleep(0.02)
            return
        raise AssertionError(f"timed out after {seconds}s waiting for {what}")


class _DroppedResponses(logging.Handler):
    """Catches the SDK dispatcher's 'response for an unknown id' debug line.

    A bridge that leaks an answer it should have hidden (the replayed initialize
    during 404 recovery) shows up here: the client never asked for that id.
    """

    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "unknown/late request id" in message:
            self.sink.append(message)


# The bridge's last INFO line names why it ended: `exit=Eof` when its input ended (it left
# on its own), `exit=Shutdown` after SIGINT or SIGTERM.
SHUTDOWN_LINE = re.compile(r"shutdown complete.*\bexit=(\w+)")


def exit_reason(log: str) -> str | None:
    """Why the bridge ended, from its log (`Eof`, `Shutdown`, ...); None if it never said."""
    found = SHUTDOWN_LINE.findall(log)
    return str(found[-1]) if found else None


@dataclass
class Bridge:
    session: Any
    recorder: Recorder
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def exit_reason(self) -> str | None:
        return exit_reason(self.log())


@pytest.fixture
def bridge_log_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for log in sorted(tmp_path.glob("bridge-*.log")):
        print(f"--- {log.name} (mcp-wrapper stderr) ---\n{tail(log)}")


@pytest.fixture
def open_bridge(bridge_log_dir: Path) -> Callable[..., Any]:
    """`async with open_bridge(server) as bridge:` an initialized SDK ClientSession
    talking to `mcp-wrapper --url <server>/mcp` over the bridge's stdin/stdout."""
    binary = wrapper_binary()
    counter = iter(range(1, 1000))

    @asynccontextmanager
    async def _open(
        server: SdkServer, *, bridge_timeout: float = 20.0, extra_args: tuple[str, ...] = ()
    ) -> AsyncIterator[Bridge]:
        import anyio
        import mcp_types as types
        from mcp.client.session import ClientSession
        from mcp.client.stdio import StdioServerParameters, stdio_client

        recorder = Recorder()
        log_path = bridge_log_dir / f"bridge-{next(counter)}.log"

        async def on_log(params: types.LoggingMessageNotificationParams) -> None:
            recorder.logs.append(params)

        async def on_message(message: Any) -> None:
            if isinstance(message, BaseException):
                recorder.exceptions.append(message)
            else:
                recorder.notifications.append(message)

        async def on_sampling(
            context: Any, params: types.CreateMessageRequestParams
        ) -> types.CreateMessageResult:
            recorder.sampling.append(params)
            return types.CreateMessageResult(
                role="assistant",
                content=types.TextContent(text=recorder.sampling_reply),
                model="test-llm",
                stop_reason="endTurn",
            )

        async def on_elicit(context: Any, params: Any) -> types.ElicitResult:
            recorder.elicitation.append(params)
            return types.ElicitResult(action="accept", content=recorder.elicitation_reply)

        params = StdioServerParameters(
            command=str(binary),
            # `/mcp` as users type it; the bridge normalises it (design §3 CLI).
            args=["--url", server.url, "--timeout", str(bridge_timeout), *extra_args],
            env={
                "MCP_WRAPPER_LOG_LEVEL": os.environ.get("MCP_WRAPPER_LOG_LEVEL", "DEBUG"),
                "RUST_BACKTRACE": "1",
                # This suite tests the 2025 wire (sessions, the GET stream, resumption, server
                # requests on the POST stream) against the dual-era SDK server: `auto` would
                # translate to 2026-07-28, which python-tests/era covers.
                "MCP_PROTOCOL": "legacy",
                # stdio_client passes only a few variables of ours through: the test's own
                # credentials and era directory (see the root conftest).
                "MCP_WRAPPER_AUTH_DIR": os.environ["MCP_WRAPPER_AUTH_DIR"],
            },
            cwd=str(bridge_log_dir),
        )
        dispatcher_logger = logging.getLogger("mcp.shared.jsonrpc_dispatcher")
        handler = _DroppedResponses(recorder.dropped_responses)
        old_level = dispatcher_logger.level
        dispatcher_logger.addHandler(handler)
        dispatcher_logger.setLevel(logging.DEBUG)
        try:
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
                        sampling_callback=on_sampling,
                        elicitation_callback=on_elicit,
                        logging_callback=on_log,
                        message_handler=on_message,
                        client_info=types.Implementation(name="mcp-wrapper-sdk-tests", version="0"),
                    ) as session,
                ):
                    with anyio.fail_after(bridge_timeout + 10):
                        await session.initialize()
                    yield Bridge(session, recorder, log_path)
        finally:
            dispatcher_logger.removeHandler(handler)
            dispatcher_logger.setLevel(old_level)

    return _open


def subscribe(session: Any, uri: str) -> Any:
    """`session.subscribe_resource(uri)`, minus its deprecation warning.

    mcp 2.x marks `subscribe_resource` deprecated (MCPDeprecationWarning, a UserWarning)
    because 2026-07-28 replaces resources/subscribe with subscriptions/listen; it is the
    right call on the 2025-11-25 sessions under test. The warning is emitted when the
    method is called (not awaited), so only that call is wrapped; returns the coroutine.
    """
    from mcp.shared.exceptions import MCPDeprecationWarning

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="resources/subscribe is removed", category=MCPDeprecationWarning
        )
        return session.subscribe_resource(uri)


@pytest.fixture
def sdk() -> Any:
    """Small helpers shared by the test modules (kept here so no import path is needed)."""

    class _Helpers:
        RESOURCE_URI = RESOURCE_URI
        NO_BACK_CHANNEL = NO_BACK_CHANNEL
        subscribe = staticmethod(subscribe)

        @staticmethod
        def text(result: Any) -> str:
            import mcp_types as types

            assert not result.is_error, f"tool returned an error: {result.content}"
            parts = [c.text for c in result.content if isinstance(c, types.TextContent)]
            assert parts, f"no text content in {result.content}"
            return "".join(parts)

    return _Helpers
