"""Turns the JSON of one side-by-side run into tables and plots for docs/benchmarks.md.

    python benches/compare/report.py e2e.json matrix.json versions.txt docs/

Reads the figures `e2e --json` wrote (every bridge and the direct floor, measured in the same
run) and the observations of `e2e matrix --json`; writes `docs/benchmarks/*.png` and replaces
the text between the `<!-- generated -->` markers of `docs/benchmarks.md`, so the prose
around the tables stays hand-written. Nothing here measures: it only arranges what `e2e`
measured.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

START = "<!-- generated: start (benches/compare/report.py) -->"
END = "<!-- generated: end -->"
# Our two contenders (the binary, and the wheel's `python -m mcp_wrapper_rs`: the same Rust
# bridge), and the pure-Python bridge the targets are set against; every other bridge is a peer.
OURS = ("mcp-wrapper", "mcp_wrapper_rs")
PYTHON_PEER = "mcpgateway.wrapper"
DIRECT = "direct"
MESSAGE = re.compile(r"one (\d+) (Ki|Mi|Gi) message over (\w+)")
UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


@dataclass(frozen=True)
class Transfer:
    """One large answer through one contender."""

    name: str
    format: str
    size: int
    seconds: float
    peak_rss_mib: float | None
    cpu_s: float | None


def transfers(run: dict[str, Any]) -> list[Transfer]:
    out = []
    for row in run["transfers"]:
        match = MESSAGE.fullmatch(row["case"])
        if match is None:
            continue
        name = DIRECT if row["name"].startswith("direct") else row["name"]
        rss = row["rss_peak_kib"]
        out.append(
            Transfer(
                name=name,
                format=match[3],
                size=int(match[1]) * UNITS[match[2]],
                seconds=row["seconds"],
                peak_rss_mib=None if rss is None else rss / 1024,
                cpu_s=row["client_cpu_s"],
            )
        )
    return out


def bridges(run: dict[str, Any]) -> list[str]:
    return [b["name"] for b in run["bridges"]]


def by_name(rows: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["name"] == name), None)


def floor_latency(run: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in run["latency"] if r["name"].startswith("direct")), None)


def best_direct_row(run: dict[str, Any]) -> dict[str, Any] | None:
    """The faster of the floor's throughput rows (2 workers, current thread)."""
    return max(
        (r for r in run["throughput"] if r["name"].startswith("direct")),
        key=lambda r: r["median_rate"],
        default=None,
    )


def best_direct_rate(run: dict[str, Any]) -> float | None:
    row = best_direct_row(run)
    return None if row is None else float(row["median_rate"])


def fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}".replace(",", " ")


def failure(run: dict[str, Any], case: str, name: str) -> str | None:
    for f in run.get("failures", []):
        if f["bridge"] == name and f["case"].startswith(case):
            return str(f["error"])
    return None


def side_by_side(run: dict[str, Any]) -> str:
    """Measures as rows, contenders as columns (the floor first)."""
    names = bridges(run)
    floor = floor_latency(run)
    best = best_direct_rate(run)
    moves = transfers(run)
    columns = [DIRECT, *names]
    rows: list[tuple[str, list[str]]] = []

    def cell(case: str, name: str, text: str | None) -> str:
        if text is not None:
            return text
        return "failed" if failure(run, case, name) else "—"

    startup = []
    for name in columns:
        if name == DIRECT:
            row = next((r for r in run["startup"] if r["name"].startswith("floor")), None)
        else:
            row = by_name(run["startup"], name)
        startup.append(cell("startup", name, fmt(row["median_ms"], " ms", 1) if row else None))
    rows.append(("start-up: spawn → `initialize` answered (median)", startup))

    for pct in ("p50", "p99"):
        values = []
        for name in columns:
            row = floor if name == DIRECT else by_name(run["latency"], name)
            values.append(cell("latency", name, fmt(row[f"{pct}_us"], " µs") if row else None))
        rows.append((f"sequential round trip {pct}", values))
    for pct in ("p50", "p99"):
        values = []
        for name in columns:
            row = None if name == DIRECT else by_name(run["latency"], name)
            if name == DIRECT:
                values.append("0")
            elif row is None or floor is None:
                values.append(cell("latency", name, None))
            else:
                values.append(f"+{fmt(row[f'{pct}_us'] - floor[f'{pct}_us'], ' µs')}")
        rows.append((f"overhead over the floor, {pct}", values))
    values = []
    for name in columns:
        row = floor if name == DIRECT else by_name(run["latency"], name)
        values.append(cell("latency", name, fmt(row["client_cpu_us"], " µs") if row else None))
    rows.append(("client CPU per sequential round trip", values))

    values, cpu = [], []
    for name in columns:
        row = best_direct_row(run) if name == DIRECT else by_name(run["throughput"], name)
        if row is None:
            values.append(cell("throughput", name, None))
            cpu.append(cell("throughput", name, None))
            continue
        share = f" ({row['median_rate'] / best:.0%})" if best and name != DIRECT else ""
        values.append(f"{fmt(row['median_rate'], ' req/s', 0)}{share}")
        cpu.append(fmt(row["client_cpu_us"], " µs"))
    rows.append(("throughput, 32 in flight (median round; share of direct)", values))
    rows.append(("client CPU per request at 32 in flight", cpu))

    for fmt_name in ("json", "sse"):
        for size in (8 << 20, 32 << 20):
            times, rss = [], []
            for name in columns:
                row = next(
                    (t for t in moves if (t.name, t.format, t.size) == (name, fmt_name, size)),
                    None,
                )
                label = f"one {size >> 20} Mi message over {fmt_name}"
                times.append(cell(label, name, fmt(row.seconds, " s", 3) if row else None))
                rss.append(cell(label, name, fmt(row.peak_rss_mib, " MiB") if row else None))
            title = f"one {size >> 20} MiB message over {fmt_name.upper()}"
            rows.append((f"{title}: time", times))
            rows.append((f"{title}: peak RSS", rss))

    lines = ["| measure | " + " | ".join(f"`{c}`" for c in columns) + " |"]
    lines.append("| --- |" + " ---: |" * len(columns))
    lines += [f"| {title} | " + " | ".join(values) + " |" for title, values in rows]
    return "\n".join(lines)


def ratio_rows(run: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, measured, ratio, met) for the targets the issue sets, for each of ours."""
    floor = floor_latency(run)
    peer = by_name(run["latency"], PYTHON_PEER)
    t_peer = by_name(run["throughput"], PYTHON_PEER)
    moves = {(t.name, t.format, t.size): t for t in transfers(run)}
    b = moves.get((PYTHON_PEER, "sse", 32 << 20))
    out: list[tuple[str, str, str, bool]] = []
    for name in OURS:
        ours = by_name(run["latency"], name)
        if floor and ours and peer:
            mine = ours["p50_us"] - floor["p50_us"]
            theirs = peer["p50_us"] - floor["p50_us"]
            ratio = theirs / mine if mine > 0 else float("inf")
            out.append(
                (
                    f"`{name}`: p50 overhead ≥ 20× smaller than `{PYTHON_PEER}`'s",
                    f"+{mine:.1f} µs vs +{theirs:.1f} µs",
                    f"{ratio:.1f}×",
                    ratio >= 20,
                )
            )
        t_ours = by_name(run["throughput"], name)
        if t_ours and t_peer:
            ratio = t_ours["median_rate"] / t_peer["median_rate"]
            out.append(
                (
                    f"`{name}`: throughput at 32 in flight ≥ 15× `{PYTHON_PEER}`'s",
                    f"{t_ours['median_rate']:.0f} vs {t_peer['median_rate']:.0f} req/s",
                    f"{ratio:.1f}×",
                    ratio >= 15,
                )
            )
        a = moves.get((name, "sse", 32 << 20))
        if a and b:
            ratio = b.seconds / a.seconds
            out.append(
                (
                    f"`{name}`: 32 MiB SSE message ≥ 100× faster than `{PYTHON_PEER}`",
                    f"{a.seconds:.3f} s vs {b.seconds:.2f} s",
                    f"{ratio:.0f}×",
                    ratio >= 100,
                )
            )
    return out


def ahead_rows(run: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """For each measure and each of ours: the ratio to the best peer that completed it
    (above 1 is ahead) and whether it is ahead."""
    out: list[tuple[str, list[str]]] = []

    def judge(title: str, values: dict[str, float], lower_is_better: bool) -> None:
        peers = {n: v for n, v in values.items() if n not in OURS}
        if not peers:
            return
        choose = min if lower_is_better else max
        best_name, best = choose(peers.items(), key=lambda kv: kv[1])
        cells = []
        for name in OURS:
            if name not in values:
                cells.append("no figure")
                continue
            mine = values[name]
            ratio = best / mine if lower_is_better else mine / best
            verdict = "ahead" if ratio > 1 else "**behind**"
            cells.append(f"{ratio:.2f}× `{best_name}`: {verdict}")
        out.append((title, cells))

    def pick(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
        return {r["name"]: r[key] for r in rows if not r["name"].startswith(("direct", "floor"))}

    judge("start-up", pick(run["startup"], "median_ms"), True)
    judge("round trip p50", pick(run["latency"], "p50_us"), True)
    judge("round trip p99", pick(run["latency"], "p99_us"), True)
    judge("CPU per round trip", pick(run["latency"], "client_cpu_us"), True)
    judge("throughput at 32 in flight", pick(run["throughput"], "median_rate"), False)
    judge("CPU per request at 32 in flight", pick(run["throughput"], "client_cpu_us"), True)
    moves = [t for t in transfers(run) if t.name != DIRECT]
    for fmt_name in ("json", "sse"):
        for size in (8 << 20, 32 << 20):
            chosen = [t for t in moves if (t.format, t.size) == (fmt_name, size)]
            label = f"{size >> 20} MiB over {fmt_name.upper()}"
            judge(f"{label}: time", {t.name: t.seconds for t in chosen}, True)
            judge(
                f"{label}: peak RSS",
                {t.name: t.peak_rss_mib for t in chosen if t.peak_rss_mib is not None},
                True,
            )
    return out


def matrix_table(matrix: dict[str, Any]) -> str:
    names = [b["name"] for b in matrix["bridges"]]
    lines = ["| situation | " + " | ".join(f"`{n}`" for n in names) + " |"]
    lines.append("| --- |" + " --- |" * len(names))
    for scenario in matrix["scenarios"]:
        cells = [
            ("✅ " if c["good"] else "❌ ") + c["text"].replace("|", "\\|")
            for c in scenario["cells"]
        ]
        lines.append(f"| {scenario['title']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def colors(names: list[str]) -> dict[str, Any]:
    palette = plt.get_cmap("tab10")
    return {name: palette(i % 10) for i, name in enumerate([DIRECT, *names])}


def plot_cdf(run: dict[str, Any], path: Path) -> None:
    names = bridges(run)
    color = colors(names)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    quantiles = [i / 1000 for i in range(1001)]
    for row in run["latency"]:
        name = DIRECT if row["name"].startswith("direct") else row["name"]
        ax.plot(row["cdf_us"], quantiles, label=name, color=color[name])
    ax.set_xscale("log")
    ax.set_xlabel("round trip of one small tools/call (µs, log scale)")
    ax.set_ylabel("fraction of calls")
    ax.set_title("Sequential round-trip latency, CDF")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_throughput(run: dict[str, Any], path: Path) -> None:
    names = bridges(run)
    color = colors(names)
    rows = [r for r in run["throughput"] if not r["name"].startswith("direct")]
    best = best_direct_row(run)
    if best is not None:
        rows.insert(0, {**best, "name": DIRECT})
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = [r["name"] for r in rows]
    rates = [r["median_rate"] for r in rows]
    bars = ax.bar(labels, rates, color=[color[n] for n in labels])
    for bar, rate in zip(bars, rates, strict=True):
        ax.annotate(
            f"{rate:,.0f}".replace(",", " "),
            (bar.get_x() + bar.get_width() / 2, rate),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_yscale("log")
    ax.set_ylabel("requests per second (log scale)")
    ax.set_title("Throughput with 32 requests in flight (median round)")
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sizes(run: dict[str, Any], path: Path) -> None:
    names = bridges(run)
    color = colors(names)
    moves = transfers(run)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, fmt_name in zip(axes, ("json", "sse"), strict=True):
        for name in [DIRECT, *names]:
            points = sorted(
                (t.size, t.seconds) for t in moves if (t.name, t.format) == (name, fmt_name)
            )
            if points:
                xs = [s / (1 << 20) for s, _ in points]
                ax.plot(xs, [t for _, t in points], "o-", label=name, color=color[name])
        # Guides through the smallest direct point: slope 1 is linear, slope 2 quadratic.
        direct = sorted(
            (t.size, t.seconds) for t in moves if (t.name, t.format) == (DIRECT, fmt_name)
        )
        if direct:
            x0, y0 = direct[0][0] / (1 << 20), direct[0][1]
            xs = [x0, max(t.size for t in moves) / (1 << 20)]
            ax.plot(xs, [y0, y0 * xs[1] / x0], "k:", lw=1, label="slope 1 (linear)")
            ax.plot(xs, [y0, y0 * (xs[1] / x0) ** 2], "k--", lw=1, label="slope 2 (quadratic)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("message size (MiB, log scale)")
        ax.set_title(f"One message over {fmt_name.upper()}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("time to deliver it (s, log scale)")
    # One legend for both panels: a bridge that failed every SSE size is only on the left.
    labelled: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            labelled.setdefault(label, handle)
    axes[1].legend(labelled.values(), labelled.keys(), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def section(run: dict[str, Any], matrix: dict[str, Any] | None, versions: str) -> str:
    machine = run["machine"]
    parts = [
        START,
        "",
        "### Machine and versions",
        "",
        f"- machine: {machine['nproc']} cores, {machine['cpu']}, {machine['memory']}, "
        f"Linux {machine['kernel']}; load average {machine['load_start']} at the start, "
        f"{machine['load_end']} at the end; {machine['rustc']} (release profile)",
        f"- command: `{run['command']}`",
        "- contenders:",
        *[f"  - `{b['name']}`: `{b['command']}`" for b in run["bridges"]],
        "- versions:",
        *[f"  - {line}" for line in versions.strip().splitlines()],
        "",
        "### Side by side",
        "",
        "Every figure below comes from one run; `direct` is a keep-alive `reqwest` client in",
        "the driver process (the floor no bridge can beat).",
        "",
        side_by_side(run),
        "",
        "![Latency CDF](benchmarks/latency-cdf.png)",
        "",
        "![Throughput](benchmarks/throughput.png)",
        "",
        "![Time against message size](benchmarks/message-size.png)",
        "",
        "### Targets",
        "",
        "| target | measured | ratio | verdict |",
        "| --- | --- | ---: | --- |",
    ]
    for target, measured, ratio, met in ratio_rows(run):
        parts.append(f"| {target} | {measured} | {ratio} | {'**met**' if met else '**not met**'} |")
    parts += [
        "",
        "Ours against the best of the other bridges that completed each measure (the ratio is",
        "how many times better ours is; above 1 is ahead):",
        "",
        "| measure | " + " | ".join(f"`{n}`" for n in OURS) + " |",
        "| --- |" + " --- |" * len(OURS),
    ]
    for title, cells in ahead_rows(run):
        parts.append(f"| {title} | " + " | ".join(cells) + " |")
    if run.get("failures"):
        parts += ["", "### Failures", "", "| case | bridge | error |", "| --- | --- | --- |"]
        for f in run["failures"]:
            error = f["error"].replace("|", "\\|").replace("\n", " ")
            parts.append(f"| {f['case']} | `{f['bridge']}` | {error} |")
    if matrix is not None:
        parts += ["", "### Behaviour matrix", "", matrix_table(matrix)]
    parts += ["", END]
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    run = json.loads(Path(argv[1]).read_text())
    matrix_path = Path(argv[2])
    matrix = json.loads(matrix_path.read_text()) if matrix_path.is_file() else None
    versions = Path(argv[3]).read_text()
    docs = Path(argv[4])
    images = docs / "benchmarks"
    images.mkdir(parents=True, exist_ok=True)
    plot_cdf(run, images / "latency-cdf.png")
    plot_throughput(run, images / "throughput.png")
    plot_sizes(run, images / "message-size.png")
    page = docs / "benchmarks.md"
    text = page.read_text() if page.is_file() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        print(f"{page}: the generated markers are missing", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    page.write_text(head + section(run, matrix, versions) + tail)
    print(f"wrote {page} and {images}/*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
