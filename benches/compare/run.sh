#!/usr/bin/env bash
# The side-by-side benchmark of issue 8, in one command:
#
#   bash benches/compare/run.sh
#
# installs the other bridges (benches/peers/setup.sh), builds mcp-wrapper and the wheel in
# release mode, runs the `e2e` harness with every bridge against one loopback test-server
# (same run, same driver, the direct client as the floor), runs `e2e matrix` (the behaviour
# matrix), then writes docs/benchmarks.md's generated section and its PNG plots.
#
# Takes 10-20 minutes on a 2-core machine (release builds included); run it on an otherwise
# idle machine: every contender shares the cores with the server and the driver.
# Environment: E2E_ARGS replaces the case list and sizes below (for a quick try:
# E2E_ARGS="--cases startup,latency --spawns 3 --requests 200 --warmup 50").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root="$PWD"
target="${CARGO_TARGET_DIR:-$root/target}"
out="$target/compare"
mkdir -p "$out"

step() { printf '\n==> %s\n' "$*"; }

step "peers (benches/peers/setup.sh)"
bash benches/peers/setup.sh | tee "$out/versions.txt"

step "release builds: e2e, mcp-wrapper, the wheel"
cargo build --release --locked -p benches --bin e2e -p jsonrpc-forward --bin mcp-wrapper
ours="$root/.venvs/peers/mcp-wrapper-rs"
[ -x "$ours/bin/python" ] || python3.11 -m venv "$ours"
"$ours/bin/python" -m pip install -q --upgrade pip
"$ours/bin/python" -m pip install -q -r benches/compare/requirements.txt
rm -rf "$out/wheels"
"$ours/bin/maturin" build --release --locked --quiet -m crates/py-bindings/Cargo.toml -o "$out/wheels"
"$ours/bin/python" -m pip install -q --force-reinstall --no-deps "$out"/wheels/*.whl
"$ours/bin/python" -m pip install -q orjson==3.13.0
{
  echo "mcp-wrapper $(git rev-parse --short HEAD) ($(rustc --version))"
  echo "mcp-wrapper-rs (wheel) $(git rev-parse --short HEAD), $("$ours/bin/python" --version)"
  echo "matplotlib $("$ours/bin/python" -c 'import matplotlib; print(matplotlib.__version__)')"
} >>"$out/versions.txt"

# What the peers need to run quietly and without touching $HOME (see benches/peers/README.md):
# mcpgateway.wrapper's settings refuse to import without a strong JWT secret (it signs
# nothing here) and log INFO lines unless LOG_LEVEL says otherwise; mcp-remote keeps its
# (here empty) OAuth state in MCP_REMOTE_CONFIG_DIR; fastmcp-remote checks PyPI for updates.
export JWT_SECRET_KEY="compare-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
export LOG_LEVEL=ERROR
export MCP_REMOTE_CONFIG_DIR="$out/mcp-remote-config"
export FASTMCP_CHECK_FOR_UPDATES=off
peers="$root/.venvs/peers"
bridges=(
  --bridge "mcp-wrapper=$target/release/mcp-wrapper --url {url} --log-level OFF --concurrency {concurrency} --max-message-bytes {max_message_bytes}"
  --bridge "mcp_wrapper_rs=$ours/bin/python -m mcp_wrapper_rs --url {url} --log-level OFF --concurrency {concurrency} --max-message-bytes {max_message_bytes}"
  --bridge "mcpgateway.wrapper=$peers/mcpgateway/bin/python -m mcpgateway.wrapper"
  --bridge "fastmcp-remote=$peers/fastmcp-remote/bin/fastmcp-remote {url} --auth none --silent"
  --bridge "mcp-proxy=$peers/mcp-proxy/bin/mcp-proxy --transport streamablehttp --log-level ERROR {url}"
  --bridge "mcp-remote=$root/benches/peers/node_modules/.bin/mcp-remote {url} --transport http-only --silent"
)
sizes="message:json:1M,message:json:4M,message:json:8M,message:json:32M"
sizes+=",message:sse:1M,message:sse:4M,message:sse:8M,message:sse:32M"
# shellcheck disable=SC2206 # E2E_ARGS is a list of flags, split on purpose
args=(${E2E_ARGS:---cases startup,latency,throughput,$sizes --spawns 10 --requests 2000 \
  --warmup 200 --batch 50 --throughput-requests 1000 --rounds 5})

step "e2e: every bridge, same run"
"$target/release/e2e" "${bridges[@]}" "${args[@]}" --deadline-secs 300 --json "$out/e2e.json" \
  | tee "$out/e2e.md"

step "e2e matrix: behaviour under faults"
"$target/release/e2e" matrix "${bridges[@]}" --json "$out/matrix.json" | tee "$out/matrix.md"

step "docs/benchmarks.md and its plots"
"$ours/bin/python" benches/compare/report.py "$out/e2e.json" "$out/matrix.json" \
  "$out/versions.txt" docs
