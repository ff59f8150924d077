"""``python -m mcp_wrapper_rs``: the stdio bridge, with the CLI of the ``mcp-wrapper`` binary.

The same options and environment variables as ``mcp-wrapper --help`` lists (those of
``mcpgateway.wrapper`` and a few more); the bridge runs in Rust with the GIL released.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mcp_wrapper_rs import _native


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bridge on this process's stdin and stdout; return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Anything Python buffered for stdout must precede the bridge's own lines.
    sys.stdout.flush()
    try:
        return int(_native._run_bridge_cli(args))
    except KeyboardInterrupt:
        # The bridge answered its pending requests on SIGINT and returned; Python then
        # delivers the same Ctrl-C here.
        return 0


if __name__ == "__main__":
    sys.exit(main())
