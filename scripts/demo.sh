#!/usr/bin/env bash
# The README demo: builds `mcp-wrapper` and runs it between a scripted MCP client and the
# bundled test-server, printing what crosses the bridge.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --quiet -p jsonrpc-forward --bin mcp-wrapper --example demo
cargo run --quiet -p jsonrpc-forward --example demo
