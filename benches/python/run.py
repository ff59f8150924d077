"""Runs every Python benchmark of mcp-wrapper-rs and prints the results as Markdown.

    .venvs/bench/bin/python benches/python/run.py [--quick] [--output FILE]

`--quick` is a smoke test (small sizes, 2 000 requests, few repetitions); the figures in
README.md come from a run without it. Progress goes to stderr, the tables to stdout (and to
`--output`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import bench_client
import bench_decode
import common


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: small and few")
    parser.add_argument("--skip-decode", action="store_true")
    parser.add_argument("--skip-client", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per decoder run")
    parser.add_argument("--count", type=int, default=None, help="requests per client run")
    parser.add_argument("--reps", type=int, default=None, help="client repetitions")
    parser.add_argument(
        "--configs",
        default=bench_client.DEFAULT_CONFIGS,
        help=f"client protocols, of {','.join(bench_client.CONFIGS)}",
    )
    parser.add_argument("--uvloop", action="store_true", help="client runs on uvloop")
    parser.add_argument("--output", help="also write the Markdown here")
    args = parser.parse_args()

    started = time.time()
    load_start = os.getloadavg()
    facts = common.machine_facts()
    sections: list[str] = []

    def done(section: str) -> None:
        """Keeps a finished section, and shows it at once (a later one may still fail)."""
        sections.append(section)
        log("\n" + section)

    if not args.skip_decode:
        cases = asyncio.run(bench_decode.run_all(args.quick, args.timeout, log))
        steps = bench_decode.breakdown(3 if args.quick else 11, log)
        done("### Decoding\n\n" + bench_decode.report(cases, args.timeout, steps))
    if not args.skip_client:
        count = args.count or (2_000 if args.quick else 10_000)
        reps = args.reps or (2 if args.quick else 5)
        configs = [c for c in args.configs.split(",") if c]
        results = bench_client.run_loop(
            bench_client.run_all(configs, count, reps, log), args.uvloop
        )
        loop = "uvloop" if args.uvloop else "asyncio"
        done(
            f"### Client ({count} requests per run, {reps} reps, {loop} event loop)\n\n"
            + bench_client.report(results)
        )
    load_end = os.getloadavg()
    minutes = (time.time() - started) / 60
    header = [
        "### Machine\n",
        *(f"- {key}: {value}" for key, value in facts.items()),
        f"- load average (1 min) at start / end: {load_start[0]:.1f} / {load_end[0]:.1f}",
        f"- wall time: {minutes:.1f} min",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}",
        "",
    ]
    text = "\n".join(header) + "\n" + "\n\n".join(sections) + "\n"
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
