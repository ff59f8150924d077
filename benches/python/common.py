"""Shared pieces of the Python benchmarks: payloads, statistics, machine facts, formatting."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata

MESSAGE_BYTES = 1024
"""One benchmark message: a 1 KiB JSON-RPC `tools/call` result (as in `benches/src/lib.rs`)."""

# The padding words of `benches/src/lib.rs`: JSON escapes (`\n`, `\"`) and a two-byte UTF-8
# character, as real tool output has. Each word is kept whole so no escape is cut in two.
WORDS = (
    "The",
    " quick",
    " brown",
    " fox",
    " jumps",
    " over",
    " the",
    " lazy",
    " dog.",
    "\\n",
    "Résumé",
    " of",
    ' \\"results\\":',
    " 42",
    " files,",
    " 7",
    " matches;",
    " see",
    " ./src",
    "\\n",
)


def tool_result(id: int, length: int) -> bytes:
    """A `tools/call` result as one line of JSON, exactly `length` bytes long (length >= 128).

    The same shape as `benches::tool_result`: `{"jsonrpc":"2.0","id":ID,"result":{"content":
    [{"type":"text","text":"…"}],"isError":false}}`, padded with `.` to the exact length.
    """
    head = f'{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"'.encode()
    tail = b'"}],"isError":false}}'
    text_len = length - len(head) - len(tail)
    if text_len < 0:
        raise ValueError(f"length {length} is too short for a tool result")
    cycle = "".join(WORDS).encode()
    whole, rest = divmod(text_len, len(cycle))
    text = cycle * whole
    for word in WORDS:
        encoded = word.encode()
        if len(encoded) > rest:
            break
        text += encoded
        rest -= len(encoded)
    text += b"." * rest
    out = head + text + tail
    assert len(out) == length
    return out


@dataclass
class Corpus:
    """An encoded stream and the payloads a correct decoder must find in it."""

    data: bytes
    payloads: list[bytes]

    @property
    def data_bytes(self) -> int:
        return sum(len(p) for p in self.payloads)


def sse_corpus(total: int, message_len: int = MESSAGE_BYTES) -> Corpus:
    """`event: message\\nid: N\\ndata: <json>\\n\\n` events, as many as fit in `total` bytes."""
    parts: list[bytes] = []
    payloads: list[bytes] = []
    size = 0
    while True:
        payload = tool_result(len(payloads), message_len)
        event = b"event: message\nid: %d\ndata: %s\n\n" % (len(payloads), payload)
        if size + len(event) > total and payloads:
            break
        parts.append(event)
        payloads.append(payload)
        size += len(event)
    return Corpus(b"".join(parts), payloads)


def ndjson_corpus(total: int, message_len: int = MESSAGE_BYTES) -> Corpus:
    """One `tool_result` per line, as many as fit in `total` bytes."""
    count = max(1, total // (message_len + 1))
    payloads = [tool_result(i, message_len) for i in range(count)]
    return Corpus(b"".join(p + b"\n" for p in payloads), payloads)


def sse_single_event(data_len: int) -> Corpus:
    """One event with a single `data:` line of `data_len` bytes of JSON."""
    payload = tool_result(0, data_len)
    return Corpus(b"event: message\nid: 0\ndata: " + payload + b"\n\n", [payload])


def ndjson_single_line(line_len: int) -> Corpus:
    """One NDJSON line of `line_len` bytes of JSON."""
    payload = tool_result(0, line_len)
    return Corpus(payload + b"\n", [payload])


def chunks(data: bytes, size: int) -> list[bytes]:
    """`data` cut into `size`-byte pieces (the last may be shorter)."""
    return [data[i : i + size] for i in range(0, len(data), size)]


# Statistics.


@dataclass
class Samples:
    """Repeated measurements of one thing; `None` marks a run that hit the timeout."""

    values: list[float | None] = field(default_factory=list)

    def add(self, value: float | None) -> None:
        self.values.append(value)

    @property
    def done(self) -> list[float]:
        return [v for v in self.values if v is not None]

    @property
    def timed_out(self) -> bool:
        return any(v is None for v in self.values)

    def median(self) -> float | None:
        """The median of the finished runs, `None` if any run timed out."""
        if self.timed_out or not self.values:
            return None
        return statistics.median(self.done)

    def spread(self) -> tuple[float, float] | None:
        done = self.done
        if self.timed_out or not done:
            return None
        return min(done), max(done)


def median_ratio(
    numerators: Sequence[float | None], denominators: Sequence[float | None]
) -> float | None:
    """The median of the per-repetition ratios (both measured in the same repetition)."""
    ratios = [n / d for n, d in zip(numerators, denominators, strict=True) if n is not None and d]
    if len(ratios) != len(numerators):
        return None
    return statistics.median(ratios)


# Machine facts.


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def rustc_version() -> str:
    try:
        out = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def native_module() -> str:
    """Where the native module under test is, and when it was built."""
    try:
        from mcp_wrapper_rs import _native
    except ImportError as e:
        return f"not importable: {e}"
    path = str(_native.__file__)
    built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(path)))
    return f"{path} (built {built})"


def checkout() -> str:
    """The commit checked out, and whether `crates/` differs from it (read-only git)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        head = subprocess.run(
            ["git", "-C", root, "log", "-1", "--format=%h %ci"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--", "crates"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (crates/ modified)" if dirty else "")


def machine_facts() -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "platform": platform.platform(),
        "rustc": rustc_version(),
        "checkout": checkout(),
        "mcp-wrapper-rs": version("mcp-wrapper-rs"),
        "native module": native_module(),
        "httpx": version("httpx"),
        "h2": version("h2"),
        "httpx-sse": version("httpx-sse"),
        "mcp-contextforge-gateway": version("mcp-contextforge-gateway"),
    }


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads), from `/proc/PID/stat`."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


# Formatting.


def fmt_seconds(value: float | None, timeout: float | None = None) -> str:
    if value is None:
        return f"> {timeout:.0f} s" if timeout else "n/a"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def fmt_rate(nbytes: int, seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    rate = nbytes / seconds
    if rate >= 1 << 30:
        return f"{rate / (1 << 30):.2f} GiB/s"
    return f"{rate / (1 << 20):.1f} MiB/s"


def fmt_ratio(value: float | None, prefix: str = "") -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{prefix}{value:.0f}×"
    if value >= 10:
        return f"{prefix}{value:.1f}×"
    return f"{prefix}{value:.2f}×"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join("---" if i == 0 else "---:" for i in range(len(header))) + " |")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)
