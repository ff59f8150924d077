#!/usr/bin/env bash
# Runs every suite of the project on a fresh machine, installing what it needs first.
# `.ci/run` calls exactly this; newcomers run it too: `bash scripts/test-all.sh`.
#
# Environment: FUZZ_SECONDS (default 30) bounds each fuzz target's smoke run. Needs python3
# (3.10 or newer, with venv) and network access to crates.io and PyPI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || {
    echo "missing the rustup component '$component': run 'rustup component add $component'" >&2
    exit 1
  }
done
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test --workspace"
cargo test --workspace --locked

step "python: venv with pinned packages (.venvs/test)"
python3 -m venv .venvs/test
venv="$PWD/.venvs/test"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r python-tests/requirements.txt
# The ContextForge gateway (PyPI mcp-contextforge-gateway) pins mcp 1.x: its own venv.
python3 -m venv .venvs/gateway
"$PWD/.venvs/gateway/bin/python" -m pip install -q --upgrade pip
"$PWD/.venvs/gateway/bin/python" -m pip install -q -r python-tests/requirements-gateway.txt

step "python: build the mcp-wrapper-rs wheel into the venv (maturin develop)"
cargo build -p test-server -p jsonrpc-forward --bins --locked
(cd crates/py-bindings && VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --locked --quiet)

step "python: ruff, mypy, stubtest"
"$venv/bin/ruff" format --check crates/py-bindings/python python-tests benches
"$venv/bin/ruff" check crates/py-bindings/python python-tests benches
(cd crates/py-bindings && "$venv/bin/mypy" python/mcp_wrapper_rs)
# Three `conftest.py` files: check each tree on its own.
(cd python-tests && "$venv/bin/mypy" --exclude "^(sdk|gateway)/" . && "$venv/bin/mypy" sdk && "$venv/bin/mypy" gateway)
"$venv/bin/python" -m mypy.stubtest mcp_wrapper_rs._native

step "pytest python-tests (bindings, the bridge in Python, the official MCP SDK, ContextForge)"
bins="${CARGO_TARGET_DIR:-$PWD/target}/debug"
# MCP_GATEWAY_REQUIRED=1: a gateway that cannot start fails the run instead of skipping.
MCP_GATEWAY_REQUIRED=1 MCP_GATEWAY_PYTHON="$PWD/.venvs/gateway/bin/python" \
MCP_WRAPPER_BIN="$bins/mcp-wrapper" MCP_TEST_SERVER_BIN="$bins/test-server" \
  "$venv/bin/python" -m pytest python-tests

step "cargo doc (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "fuzz smoke (${FUZZ_SECONDS:-30} s per target)"
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# New corpus entries go to a scratch directory; the committed seeds are only read.
export RUSTC_BOOTSTRAP=1
(
  cd fuzz
  cargo fuzz build
  for target in $(cargo fuzz list); do
    scratch=$(mktemp -d)
    cargo fuzz run "$target" "$scratch" "seeds/$target" -- \
      -max_total_time="${FUZZ_SECONDS:-30}" -print_final_stats=1 2>&1 | tail -n 3
    rm -rf "$scratch"
  done
)

step "all suites passed"
