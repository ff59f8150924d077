"""The package inside a real interpreter's life: no crash at exit or on misuse, concurrent
readers, cancellation, fork, signals and bad arguments (issue 13 part A).

Anything that could crash the interpreter runs in a subprocess, so a crash fails its test
instead of ending pytest. Each script prints what it saw; the test checks the exit status and
that output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import mcp_wrapper_rs as m

from support import Server

# Generous: a script's own work takes milliseconds; this only stops a hang.
SCRIPT_TIMEOUT = 120


def run_script(
    code: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter; a crash or hang fails with its stderr."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert proc.returncode == 0, (
        f"exit status {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    return proc


def test_anext_with_a_default_after_the_end_returns_the_default(http_server: Server) -> None:
    """A.1: `anext(it, default)` on an exhausted iterator (a SIGSEGV before)."""
    out = run_script(
        """
        import asyncio, sys
        import mcp_wrapper_rs as m

        async def main(base):
            async with m.Client() as client, client.stream("GET", base + "/lines") as r:
                it = r.aiter_lines()
                lines = [line async for line in it]
                print(len(lines))
                print(await anext(it, "default"))
                try:
                    await anext(it)
                except StopAsyncIteration:
                    print("stop")

        asyncio.run(main(sys.argv[1]))
        """,
        http_server.base,
    )
    assert out.stdout.split() == ["6", "default", "stop"]


def test_two_concurrent_areads_get_the_whole_body(http_server: Server) -> None:
    """A.2: each reader gets all the bytes (before: about half each, then a crash at exit)."""
    out = run_script(
        """
        import asyncio, sys
        import mcp_wrapper_rs as m

        async def main(base):
            async with m.Client() as client:
                for _ in range(5):
                    url = base + "/bytes?n=2000000&chunk=1000"
                    async with client.stream("GET", url) as r:
                        a, b = await asyncio.gather(r.aread(), r.aread())
                        print(len(a), len(b), r.content == a == b)

        asyncio.run(main(sys.argv[1]))
        """,
        http_server.base,
    )
    assert out.stdout.splitlines() == ["2000000 2000000 True"] * 5


EXIT_SCRIPT = """
import asyncio, sys
import mcp_wrapper_rs as m

async def main(url):
    async with m.Client() as c:
        for i in range(20):
            answer = await m.forward_request(
                url, {"jsonrpc": "2.0", "id": i, "method": "ping"}, client=c
            )
            assert answer.json()["id"] == i
        # Many answers arriving together, as the script ends, made the race likely.
        answers = await asyncio.gather(
            *(m.forward_request(url, {"jsonrpc": "2.0", "id": i, "method": "ping"}, client=c)
              for i in range(20))
        )
        assert [a.json()["id"] for a in answers] == list(range(20))
    print("done")

asyncio.run(main(sys.argv[1]))
"""


def test_no_crash_at_interpreter_exit(mcp_server: Server) -> None:
    """A.2b: 20 interpreters that forward 20 requests one by one, then 20 at once, and return,
    all exit cleanly
    (before: SIGSEGV or SIGABRT at exit in some runs: a runtime thread touched the dying
    interpreter)."""
    for _ in range(20):
        out = run_script(EXIT_SCRIPT, mcp_server.url)
        assert out.stdout == "done\n"
        assert "Fatal Python error" not in out.stderr


def test_close_during_aread_never_leaves_a_truncated_body(http_server: Server) -> None:
    """A.3: `aclose()` while `aread()` runs: the read raises `StreamClosed` and the content
    stays unread (before: the partial body became the content). The server holds the body
    open after ten lines, so the close always lands mid-read."""
    out = run_script(
        """
        import asyncio, sys
        import mcp_wrapper_rs as m

        async def main(base):
            async with m.Client() as client:
                for _ in range(4):
                    r = await client.stream("GET", base + "/ticks?n=10&hold=1").__aenter__()
                    started = asyncio.Event()

                    async def read():
                        started.set()
                        return await r.aread()

                    reading = asyncio.create_task(read())
                    await started.wait()  # aread() has begun (same step as the set)
                    await r.aclose()
                    try:
                        body = await reading
                        print("read", len(body))
                    except m.StreamClosed:
                        print("closed")
                    try:
                        r.content
                        print("content")
                    except m.ResponseNotRead:
                        print("not read")
                    try:
                        await r.aread()
                        print("read again")
                    except m.StreamClosed:
                        print("closed again")

        asyncio.run(main(sys.argv[1]))
        """,
        http_server.base,
    )
    assert out.stdout.splitlines() == ["closed", "not read", "closed again"] * 4


def test_cancelled_anext_loses_no_item(http_server: Server) -> None:
    """A.4: every other `__anext__` is cancelled as soon as it has started: every line
    still arrives, in order (before: a line already taken on the Rust side was dropped with
    the cancelled future)."""
    out = run_script(
        """
        import asyncio, sys
        import mcp_wrapper_rs as m

        async def main(base):
            async with m.Client() as client:
                async with client.stream("GET", base + "/ticks?n=300") as r:
                    it = r.aiter_lines()
                    lines, cancelled = [], 0
                    for turn in range(10_000):
                        started = asyncio.Event()

                        async def next_line():
                            started.set()
                            return await it.__anext__()

                        task = asyncio.create_task(next_line())
                        await started.wait()  # the read has begun (same step as the set)
                        if turn % 2 == 0:
                            task.cancel()  # too late if the line was buffered: then it comes
                        try:
                            lines.append(await task)
                        except asyncio.CancelledError:
                            cancelled += 1
                        except StopAsyncIteration:
                            break
                    print(lines == [f"tick {i}" for i in range(300)], cancelled)

        asyncio.run(main(sys.argv[1]))
        """,
        http_server.base,
    )
    assert out.stdout.split()[0] == "True", out.stdout


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": 0.0}, "timeout"),
        ({"connect_timeout": -5.0}, "connect_timeout"),
        ({"connect_timeout": float("nan")}, "connect_timeout"),
        ({"concurrency": 0}, "concurrency"),
        ({"max_message_bytes": 0}, "max_message_bytes"),
        ({"oauth_timeout": 0.0}, "oauth_timeout"),
    ],
)
def test_run_bridge_rejects_bad_arguments_by_name(kwargs: dict[str, object], name: str) -> None:
    """A.5: a bad argument is a `ValueError` naming it (before: `PanicException`, a
    `BaseException`), raised before the bridge touches stdin."""
    with pytest.raises(ValueError, match=name):
        m.run_bridge("http://127.0.0.1:9/mcp/", **kwargs)  # type: ignore[arg-type]


def test_run_bridge_explicit_insecure_false_wins_over_the_environment(
    tls_server: Server,
) -> None:
    """A.5: `insecure=False` keeps verifying certificates with `SKIP_SSL_VERIFY=true` set;
    without the argument the environment decides. The server's certificate is not trusted,
    so verification shows as a connect error."""
    script = """
        import sys
        import mcp_wrapper_rs as m
        kwargs = {} if sys.argv[2] == "default" else {"insecure": sys.argv[2] == "True"}
        sys.exit(m.run_bridge(sys.argv[1], log_level="OFF", **kwargs))
    """
    line = '{"jsonrpc":"2.0","id":1,"method":"ping"}\n'
    answers = {}
    for mode in ("False", "default", "True"):
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script), tls_server.url, mode],
            input=line,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
            env={**os.environ, "SKIP_SSL_VERIFY": "true"},
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        answers[mode] = proc.stdout
    assert '"error"' in answers["False"], answers
    assert '"result"' in answers["default"], answers
    assert '"result"' in answers["True"], answers


def test_sigterm_ends_the_process_after_run_bridge_returns(mcp_server: Server) -> None:
    """A.6: once `run_bridge` has returned, SIGTERM ends the process as it did before the
    call, and Ctrl-C raises `KeyboardInterrupt` again (before: tokio's handlers stayed and
    swallowed both)."""
    script = """
        import signal, sys
        import mcp_wrapper_rs as m
        # Python's own Ctrl-C handler, whatever this process inherited (a background job
        # starts with SIGINT ignored, and Python then installs no handler).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        status = m.run_bridge(sys.argv[1], log_level="OFF")
        print("returned", status, flush=True)
        # `raise_signal` delivers to this thread before it returns.
        try:
            signal.raise_signal(signal.SIGINT)
            print("not interrupted", flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        signal.raise_signal(signal.SIGTERM)
        print("survived SIGTERM", flush=True)
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), mcp_server.url],
        input='{"jsonrpc":"2.0","id":1,"method":"ping"}\n',
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )
    lines = proc.stdout.splitlines()
    assert lines[1:] == ["returned 0", "interrupted"], (proc.stdout, proc.stderr)
    assert proc.returncode == -signal.SIGTERM, (proc.returncode, proc.stderr)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_client_and_forward_request_work_in_a_forked_child(mcp_server: Server) -> None:
    """A.7: after `os.fork()` the child gets a runtime and pools of its own (before: it hung
    on the parent's, whose threads did not survive the fork)."""
    out = run_script(
        """
        import asyncio, os, sys
        import mcp_wrapper_rs as m

        URL = sys.argv[1]
        PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        client = m.Client()

        async def use(tag):
            first = await m.forward_request(URL, PING)
            second = await m.forward_request(URL, PING, client=client)
            third = await client.post(URL, json=PING)
            ok = first.json()["id"] == second.json()["id"] == third.json()["id"] == 1
            print(tag, ok, flush=True)

        asyncio.run(use("parent"))
        pid = os.fork()
        if pid == 0:
            try:
                asyncio.run(use("child"))
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        asyncio.run(use("parent-again"))
        print("child status", status)
        """,
        mcp_server.url,
    )
    assert sorted(out.stdout.splitlines()) == [
        "child True",
        "child status 0",
        "parent True",
        "parent-again True",
    ]


def test_code_that_comes_back_into_a_running_coroutine_is_refused(http_server: Server) -> None:
    """Python code run while a coroutine steps (here `aiter_text`'s decoder) that touches
    that coroutine gets `ValueError: coroutine already executing`, as with a native one
    (before: the interpreter deadlocked on the coroutine's lock)."""
    out = run_script(
        """
        import asyncio, codecs, sys
        import mcp_wrapper_rs as m

        CURRENT = None

        class Decoder(codecs.IncrementalDecoder):
            def decode(self, data, final=False):
                if CURRENT is not None and data:
                    CURRENT.close()
                return data.decode("utf-8")

        def find(name):
            if name == "reentrant":
                return codecs.CodecInfo(None, None, incrementaldecoder=Decoder, name=name)
            return None

        codecs.register(find)

        async def main(base):
            global CURRENT
            async with m.Client() as client:
                async with client.stream("GET", base + "/ticks?n=3") as r:
                    r.encoding = "reentrant"
                    CURRENT = r.aiter_text().__anext__()
                    try:
                        await CURRENT
                    except ValueError as e:
                        print(e)

        asyncio.run(main(sys.argv[1]))
        """,
        http_server.base,
    )
    assert out.stdout.strip() == "coroutine already executing"
