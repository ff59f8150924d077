"""`run_bridge` and `python -m mcp_wrapper_rs`: the Rust bridge inside a Python process.

Each test runs the bridge in a child Python process driven over real pipes against the
`test-server` process, as an MCP client would run it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

from support import Server, fault_meta

PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'


def tool_call(request_id: int | str, name: str, arguments: dict[str, Any]) -> bytes:
    params = {"name": name, "arguments": arguments}
    message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    return json.dumps(message).encode() + b"\n"


def run(args: list[str], stdin: bytes, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def lines(output: bytes) -> list[Any]:
    return [json.loads(line) for line in output.splitlines()]


def test_bridge_module_cli_answers_and_exits_0_at_eof(mcp_server: Server) -> None:
    result = run(
        ["-m", "mcp_wrapper_rs", "--url", mcp_server.url, "--log-level", "OFF"],
        PING + b"not json\n",
    )
    assert result.returncode == 0, result.stderr
    answers = sorted(lines(result.stdout), key=lambda a: str(a["id"]))
    assert answers[0] == {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert answers[1]["id"] is None
    assert answers[1]["error"]["code"] == -32700
    assert result.stderr == b""


def test_bridge_module_cli_reads_the_upstream_environment(mcp_server: Server) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mcp_wrapper_rs"],
        input=PING,
        capture_output=True,
        timeout=30,
        check=False,
        env={"MCP_SERVER_URL": mcp_server.base, "MCP_WRAPPER_LOG_LEVEL": "OFF", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == [{"jsonrpc": "2.0", "id": 1, "result": {}}]


def test_bridge_module_cli_without_url_exits_2_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mcp_wrapper_rs"],
        input=b"",
        capture_output=True,
        timeout=30,
        check=False,
        env={"PATH": ""},
    )
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode().count("\n") == 1
    assert b"MCP_SERVER_URL" in result.stderr


def test_run_bridge_takes_keyword_options(mcp_server: Server) -> None:
    code = (
        "import sys, mcp_wrapper_rs\n"
        f"sys.exit(mcp_wrapper_rs.run_bridge({mcp_server.url!r}, timeout=5, concurrency=2,"
        " headers={'X-Test': 'yes'}, log_level='OFF'))\n"
    )
    call = tool_call("e", "echo", {"a": 1})
    result = run(["-c", code], call)
    assert result.returncode == 0, result.stderr
    [answer] = lines(result.stdout)
    assert answer["id"] == "e"
    assert answer["result"]["content"][0]["text"] == '{"a":1}'


def test_run_bridge_leaves_stdin_and_stdout_blocking_for_the_program_after_it(
    mcp_server: Server,
) -> None:
    # The bridge serves pipes non-blocking on its runtime; the program that called it must
    # get them back as they were (a non-blocking stdout makes `print` fail on a full pipe).
    code = (
        "import fcntl, os, sys, mcp_wrapper_rs\n"
        "flags = lambda fd: fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK\n"
        "before = (flags(0), flags(1))\n"
        f"code = mcp_wrapper_rs.run_bridge({mcp_server.url!r}, log_level='OFF')\n"
        "print(f'flags before {before} after {(flags(0), flags(1))} exit {code}')\n"
    )
    result = run(["-c", code], PING)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode().splitlines()
    assert json.loads(out[0]) == {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert out[1] == "flags before (0, 0) after (0, 0) exit 0"


def test_run_bridge_answers_pending_requests_on_sigint(mcp_server: Server) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_wrapper_rs", "--url", mcp_server.url, "--log-level", "OFF"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(PING)
    process.stdin.flush()
    assert json.loads(process.stdout.readline())["id"] == 1, "the bridge is up"
    # A call the server answers only after two minutes, with a progress notification first:
    # once that notification is out, the call is in flight in the bridge.
    slow = json.loads(tool_call(2, "sleep", {"ms": 120_000}))
    slow["params"]["_meta"] = fault_meta(progress_every_ms=10, progress_total_ms=10)["_meta"]
    process.stdin.write(json.dumps(slow).encode() + b"\n")
    process.stdin.flush()
    progress = json.loads(process.stdout.readline())
    assert progress["method"] == "notifications/progress", progress
    assert progress["params"]["progressToken"] == 2
    process.send_signal(signal.SIGINT)
    # The bridge answers the pending call itself, long before the server would have, and
    # exits on its own with 0 (the timeout only bounds a bridge that hangs).
    answer = json.loads(process.stdout.readline())
    assert answer == {
        "jsonrpc": "2.0",
        "id": 2,
        "error": {"code": -32000, "message": "Bridge shutting down"},
    }
    assert process.wait(timeout=60) == 0
    process.stdin.close()
    assert process.stdout.read() == b""
    process.stdout.close()
    assert process.stderr is not None
    stderr = process.stderr.read()
    process.stderr.close()
    assert b"Traceback" not in stderr, stderr
