"""Small POSTs: `mcp_wrapper_rs.Client` against `httpx.AsyncClient` on the same loopback server.

The server is the `test-server` binary (Rust, hyper, 2 tokio worker threads), started afresh
for every repetition (it records every request it gets, so a long-lived one would grow);
both clients run against that same server in the same repetition, in alternating order.
Each request is a JSON-RPC `ping` sent as bytes (`content=`) with the MCP headers; the
answer (`{"jsonrpc":"2.0","id":1,"result":{}}`, application/json) is read whole and its
status checked. Modes: `N` requests one after another, and `N` requests by 32 tasks at
once. Each client first sends 200 untimed requests (connections, TLS, caches).

Besides req/s, each run records the CPU time (user + system, all threads) that the
benchmark process (client side) and the server process used, divided by the wall time:
1.0 is one core busy. On a 2-core machine client + server close to 2.0 means the machine,
not one side, is the limit.
"""

from __future__ import annotations

import asyncio
import gc
import os
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

import mcp_wrapper_rs

import common

REPO = Path(__file__).resolve().parents[2]
BODY = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
HEADERS = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
}
WARMUP = 200
CONCURRENCY = 32

OURS = "ours"
HTTPX = "httpx"

Post = Callable[[], Awaitable[None]]
_T = TypeVar("_T")


@dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int
    url: str
    ca: Path | None

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=10)
        except asyncio.TimeoutError:
            self.process.kill()
            await self.process.wait()


async def start_server(binary: Path, tls: bool, cert_dir: Path) -> Server:
    args = [str(binary), "--lifetime-secs", "3600"]
    if tls:
        args += ["--tls", "--cert-dir", str(cert_dir)]
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = (await process.stdout.readline()).decode()
    if not line.startswith("LISTENING "):
        process.kill()
        raise RuntimeError(f"test-server did not start: {line!r}")
    port = int(line.split()[1])
    scheme = "https" if tls else "http"
    return Server(
        process, port, f"{scheme}://127.0.0.1:{port}/mcp/", cert_dir / "ca.pem" if tls else None
    )


@dataclass
class Config:
    """One protocol setting: which server, which HTTP version both clients must end up on."""

    name: str
    tls: bool
    http2: bool

    @property
    def expected_version(self) -> str:
        return "HTTP/2" if self.http2 else "HTTP/1.1"


CONFIGS = {
    "h1": Config("HTTP/1.1, plain", tls=False, http2=False),
    "h1-tls": Config("HTTP/1.1, TLS", tls=True, http2=False),
    "h2-tls": Config("HTTP/2, TLS", tls=True, http2=True),
}


def make_ours(config: Config, server: Server) -> tuple[Post, Callable[[], Awaitable[None]], Any]:
    client = mcp_wrapper_rs.Client(
        timeout=60,
        http2=config.http2,
        verify=str(server.ca) if server.ca else True,
    )
    url = server.url

    async def post() -> None:
        response = await client.post(url, content=BODY, headers=HEADERS)
        if response.status_code != 200 or not response.content:
            raise RuntimeError(f"ours: {response.status_code} {response.content!r}")

    async def probe() -> str:
        return (await client.post(url, content=BODY, headers=HEADERS)).http_version

    return post, client.aclose, probe


def make_httpx(config: Config, server: Server) -> tuple[Post, Callable[[], Awaitable[None]], Any]:
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(server.ca)) if server.ca else True
    )
    # Enough keep-alive connections for 32 concurrent requests, so httpx never reconnects.
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=CONCURRENCY)
    client = httpx.AsyncClient(
        http1=True, http2=config.http2, verify=verify, limits=limits, timeout=60
    )
    url = server.url

    async def post() -> None:
        response = await client.post(url, content=BODY, headers=HEADERS)
        if response.status_code != 200 or not response.content:
            raise RuntimeError(f"httpx: {response.status_code} {response.content!r}")

    async def probe() -> str:
        return (await client.post(url, content=BODY, headers=HEADERS)).http_version

    return post, client.aclose, probe


MAKERS = {OURS: make_ours, HTTPX: make_httpx}
DEFAULT_CONFIGS = "h1,h1-tls,h2-tls"


def run_loop(main: Coroutine[Any, Any, _T], uvloop: bool) -> _T:
    """`asyncio.run(main)`, on uvloop's event loop if asked."""
    if uvloop:
        import uvloop as uv

        return uv.run(main)
    return asyncio.run(main)


async def sequential(post: Post, count: int) -> None:
    for _ in range(count):
        await post()


async def concurrent(post: Post, count: int) -> None:
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await post()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


MODES: dict[str, Callable[[Post, int], Awaitable[None]]] = {
    "sequential": sequential,
    f"{CONCURRENCY} concurrent": concurrent,
}


@dataclass
class Run:
    seconds: float
    client_cpu: float  # CPU seconds of this process (every thread)
    main_cpu: float  # CPU seconds of this process's main thread (the event loop's)
    server_cpu: float  # CPU seconds of the server process
    switches: int  # context switches of this process's threads


@dataclass
class Result:
    config: Config
    mode: str
    count: int
    runs: dict[str, list[Run]] = field(default_factory=dict)

    def rps(self, client: str) -> list[float | None]:
        return [self.count / r.seconds for r in self.runs[client]]

    def median_rps(self, client: str) -> float | None:
        return common.Samples(self.rps(client)).median()

    def median_load(self, client: str, side: str) -> float:
        values = [getattr(r, f"{side}_cpu") / r.seconds for r in self.runs[client]]
        return common.Samples(list(values)).median() or 0.0


def context_switches() -> dict[str, int]:
    """Voluntary + involuntary context switches of each thread of this process so far."""
    counts: dict[str, int] = {}
    for status in Path("/proc/self/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        counts[status.parent.name] = sum(
            int(line.split()[1]) for line in text.splitlines() if "ctxt_switches:" in line
        )
    return counts


def switches_since(before: dict[str, int]) -> int:
    """Context switches since `before` of the threads alive now (a thread that ended
    meanwhile, such as an idle runtime thread retiring, takes its count with it)."""
    return sum(n - before.get(tid, 0) for tid, n in context_switches().items())


async def measure(name: str, config: Config, server: Server, mode: str, count: int) -> Run:
    post, close, probe = MAKERS[name](config, server)
    try:
        version = await probe()
        if version != config.expected_version:
            raise RuntimeError(f"{name} spoke {version}, not {config.expected_version}")
        await MODES[mode](post, WARMUP)
        gc.collect()
        pid = server.process.pid
        switches = context_switches()
        server_cpu = common.proc_cpu_seconds(pid)
        client_cpu = time.process_time()
        main_cpu = time.thread_time()
        start = time.perf_counter()
        await MODES[mode](post, count)
        seconds = time.perf_counter() - start
        return Run(
            seconds,
            client_cpu=time.process_time() - client_cpu,
            main_cpu=time.thread_time() - main_cpu,
            server_cpu=common.proc_cpu_seconds(pid) - server_cpu,
            switches=switches_since(switches),
        )
    finally:
        await close()


def find_test_server() -> Path:
    env = os.environ.get("TEST_SERVER")
    candidates = [Path(env)] if env else []
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    candidates += [
        target / "release" / "test-server",
        Path("/work/target-benches/release/test-server"),
        REPO / "target" / "release" / "test-server",
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise SystemExit(
        "no release test-server binary: run `cargo build --release -p test-server` "
        "(or set TEST_SERVER=/path/to/test-server)"
    )


async def run_all(
    configs: list[str], count: int, reps: int, log: Callable[[str], None]
) -> list[Result]:
    binary = find_test_server()
    log(f"client: test-server {binary}, {count} requests per run, {reps} reps")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-client-") as tmp:
        for key in configs:
            config = CONFIGS[key]
            for mode in MODES:
                result = Result(config, mode, count, {OURS: [], HTTPX: []})
                for rep in range(reps):
                    server = await start_server(binary, config.tls, Path(tmp) / f"{key}-{rep}")
                    try:
                        order = [OURS, HTTPX] if rep % 2 == 0 else [HTTPX, OURS]
                        for name in order:
                            result.runs[name].append(
                                await measure(name, config, server, mode, count)
                            )
                    finally:
                        await server.stop()
                    last = {n: result.runs[n][-1] for n in (OURS, HTTPX)}
                    log(
                        f"  {config.name}, {mode}, rep {rep + 1}/{reps}: "
                        + ", ".join(
                            f"{n} {count / r.seconds:.0f} req/s (client CPU "
                            f"{r.client_cpu / r.seconds:.2f}, server CPU "
                            f"{r.server_cpu / r.seconds:.2f}, "
                            f"{r.switches / count:.1f} switches/req)"
                            for n, r in last.items()
                        )
                    )
                results.append(result)
    return results


def report(results: list[Result]) -> str:
    header = [
        "protocol",
        "mode",
        "ours req/s",
        "httpx req/s",
        "ours / httpx",
        "client CPU, cores: ours / httpx",
        "server CPU, cores: ours's run / httpx's",
        "client CPU per request, µs: ours (its main thread) / httpx",
        "context switches per request: ours / httpx",
    ]
    rows: list[list[str]] = []
    for r in results:
        ratio = common.median_ratio(r.rps(OURS), r.rps(HTTPX))

        def per_request(name: str, value: Callable[[Run], float], r: Result = r) -> float:
            return common.Samples([value(run) / r.count for run in r.runs[name]]).median() or 0.0

        cpu = {n: per_request(n, lambda run: run.client_cpu) * 1e6 for n in (OURS, HTTPX)}
        main_cpu = per_request(OURS, lambda run: run.main_cpu) * 1e6
        switches = {n: per_request(n, lambda run: run.switches) for n in (OURS, HTTPX)}
        rows.append(
            [
                r.config.name,
                r.mode,
                f"{r.median_rps(OURS) or 0:,.0f}",
                f"{r.median_rps(HTTPX) or 0:,.0f}",
                f"**{common.fmt_ratio(ratio)}**",
                f"{r.median_load(OURS, 'client'):.2f} / {r.median_load(HTTPX, 'client'):.2f}",
                f"{r.median_load(OURS, 'server'):.2f} / {r.median_load(HTTPX, 'server'):.2f}",
                f"{cpu[OURS]:.0f} ({main_cpu:.0f}) / {cpu[HTTPX]:.0f}",
                f"{switches[OURS]:.1f} / {switches[HTTPX]:.1f}",
            ]
        )
    return (
        "Median over the repetitions; ratio = median of the per-repetition ratios; CPU in cores "
        "= CPU seconds / wall seconds.\n\n" + common.markdown_table(header, rows)
    )


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="requests per run")
    parser.add_argument("--reps", type=int, default=5, help="repetitions")
    parser.add_argument(
        "--configs", default=DEFAULT_CONFIGS, help=f"comma-separated, of {','.join(CONFIGS)}"
    )
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, not asyncio's loop")
    args = parser.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    results = run_loop(run_all(configs, args.count, args.reps, print), args.uvloop)
    print()
    print(report(results))


if __name__ == "__main__":
    main()
