"""``python -m mcp_wrapper_rs``: the stdio bridge, with the CLI of the ``mcp-wrapper`` binary.

The bridge itself (``run_bridge``) is native code; until this build has it, this entry point
says so and exits with status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mcp_wrapper_rs import _native


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bridge on this process's stdin and stdout; return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    run_bridge_cli = getattr(_native, "run_bridge_cli", None)
    if run_bridge_cli is None:
        print(
            "mcp_wrapper_rs: the stdio bridge is not available in this build yet "
            "(no native run_bridge); use the `mcp-wrapper` binary meanwhile",
            file=sys.stderr,
        )
        return 2
    return int(run_bridge_cli(args))


if __name__ == "__main__":
    sys.exit(main())
