"""Runs proxy.py embedded for test_proxy.py, from the proxy's own venv: `python proxy_launch.py
PROXY_FLAGS...`. Prints the port it listens on as one line once the listening socket exists
(the test waits for that line, not for a file to appear), then serves until stdin closes."""

from __future__ import annotations

import sys

import proxy  # type: ignore[import-not-found]


def main(flags: list[str]) -> None:
    with proxy.Proxy(flags) as running:
        print(running.flags.port, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main(sys.argv[1:])
