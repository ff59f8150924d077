#!/usr/bin/env bash
# Runs every suite of the project on a fresh machine, installing what it needs first.
# `.ci/run` calls exactly this; newcomers run it too: `bash scripts/test-all.sh`.
#
# Environment: FUZZ_SECONDS (default 30) bounds each fuzz target's smoke run. Needs python3
# (3.10 or newer, with venv) and network access to crates.io and PyPI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

# The run must leave the checkout as it found it: its outputs are all in .gitignore and no
# tracked file is rewritten (as a stale lock file would be). Checked by the last step.
tree_state() {
  git status --porcelain=v1 --untracked-files=all
  git diff HEAD --binary | cksum
}
tree_before=""
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  tree_before=$(tree_state)
fi

step "toolchain"
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || {
    echo "missing the rustup component '$component': run 'rustup component add $component'" >&2
    exit 1
  }
done
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo --version
# fuzz/ is a workspace of its own, built by `cargo fuzz`, which takes no `--locked`: fetch
# with it here, so a stale fuzz/Cargo.lock fails now instead of being rewritten later.
cargo fetch --locked --manifest-path fuzz/Cargo.toml

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
# The MCP SDK 1.x legacy HTTP+SSE server (python-tests/legacy): its own venv.
python3 -m venv .venvs/legacy
"$PWD/.venvs/legacy/bin/python" -m pip install -q --upgrade pip
"$PWD/.venvs/legacy/bin/python" -m pip install -q -r python-tests/requirements-legacy.txt
# A real forward proxy (PyPI proxy.py) for the proxy tests: its own venv.
python3 -m venv .venvs/proxy
"$PWD/.venvs/proxy/bin/python" -m pip install -q --upgrade pip
"$PWD/.venvs/proxy/bin/python" -m pip install -q -r python-tests/requirements-proxy.txt

step "node: oidc-provider for the sign-in tests (npm ci from python-tests/oidc/package-lock.json)"
command -v npm >/dev/null || { echo "npm (Node 20 or newer) is needed for the sign-in tests" >&2; exit 1; }
npm ci --prefix python-tests/oidc --no-audit --no-fund
step "node: the TS SDK v2 modern-only MCP server for the era tests (npm ci from python-tests/era/ts/package-lock.json)"
npm ci --prefix python-tests/era/ts --no-audit --no-fund

step "python: build the mcp-wrapper-rs wheel into the venv (maturin develop)"
cargo build -p test-server -p jsonrpc-forward -p benches --bins --locked
target=$(cd "${CARGO_TARGET_DIR:-target}" && pwd) # absolute: pip builds from elsewhere
bins="$target/debug"
(cd crates/py-bindings && VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --locked --quiet)

step "python: the sdist, built by pip into a fresh venv (a newcomer's \`pip install\`)"
# pip unpacks the sdist and builds it in an isolated environment with maturin from PyPI, as
# for anyone without a matching wheel; test_sdist.py (in the pytest step) imports it there
# and sends test-server a request. MATURIN_PEP517_ARGS and CARGO_TARGET_DIR reach cargo
# through pip: a debug build in this run's target directory, so what the steps above
# compiled is reused (cargo hashes workspace crates by their path in the workspace, and the
# unpacked sources keep their times): seconds to a minute instead of a full build. No
# `--locked`: the sdist's workspace lacks the `benches` member, so cargo drops its entries
# from the copied Cargo.lock (every other version stays as locked).
sdist_dir=$(mktemp -d)
trap 'rm -rf "$sdist_dir"' EXIT
(cd crates/py-bindings && "$venv/bin/maturin" sdist --out "$sdist_dir")
sdist=("$sdist_dir"/mcp_wrapper_rs-*.tar.gz)
python3 -m venv "$sdist_dir/venv"
started=$SECONDS
# --no-cache-dir: a wheel cached from an earlier run must not stand in for the build.
MATURIN_PEP517_ARGS="--profile dev" CARGO_TARGET_DIR="$target" \
  "$sdist_dir/venv/bin/python" -m pip install -q --no-cache-dir "${sdist[0]}"
echo "pip built and installed ${sdist[0]##*/} in $((SECONDS - started)) s"

step "python: ruff, mypy, stubtest"
"$venv/bin/ruff" format --check crates/py-bindings/python python-tests benches
"$venv/bin/ruff" check crates/py-bindings/python python-tests benches
(cd crates/py-bindings && "$venv/bin/mypy" python/mcp_wrapper_rs)
# Three `conftest.py` files: check each tree on its own.
(cd python-tests && "$venv/bin/mypy" --exclude "^(sdk|gateway|legacy|era)/" . && "$venv/bin/mypy" sdk \
  && "$venv/bin/mypy" gateway && "$venv/bin/mypy" --exclude 'legacy_server\.py$' legacy \
  && "$venv/bin/mypy" --python-executable ../.venvs/legacy/bin/python legacy/legacy_server.py \
  && "$venv/bin/mypy" --exclude 'legacy_http_server\.py$' era \
  && "$venv/bin/mypy" --python-executable ../.venvs/legacy/bin/python era/legacy_http_server.py)
"$venv/bin/python" -m mypy.stubtest mcp_wrapper_rs._native

step "pytest python-tests (bindings, the sdist, the bridge in Python, the official MCP SDK, ContextForge)"
# MCP_{SDK,GATEWAY,OIDC,PROXY,LEGACY}_REQUIRED=1: a missing `mcp` SDK, a gateway that cannot
# start, a missing oidc-provider, proxy.py or MCP SDK 1.x fails the run instead of skipping.
MCP_SDK_REQUIRED=1 MCP_GATEWAY_REQUIRED=1 MCP_OIDC_REQUIRED=1 MCP_ERA_TS_REQUIRED=1 \
MCP_PROXY_REQUIRED=1 MCP_PROXY_PYTHON="$PWD/.venvs/proxy/bin/python" \
MCP_LEGACY_REQUIRED=1 MCP_LEGACY_PYTHON="$PWD/.venvs/legacy/bin/python" MCP_GATEWAY_PYTHON="$PWD/.venvs/gateway/bin/python" \
MCP_WRAPPER_BIN="$bins/mcp-wrapper" MCP_TEST_SERVER_BIN="$bins/test-server" \
MCP_SDIST="${sdist[0]}" MCP_SDIST_PYTHON="$sdist_dir/venv/bin/python" \
  "$venv/bin/python" -m pytest python-tests
rm -rf "$sdist_dir"

step "cargo doc (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "fuzz smoke (${FUZZ_SECONDS:-30} s per target)"
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# New corpus entries go to a scratch directory; the committed seeds are only read.
# (`cargo fuzz` takes no `--locked`: the lock file was checked by the first step.)
export RUSTC_BOOTSTRAP=1
(
  cd fuzz
  cargo fuzz build
  for target in $(cargo fuzz list); do
    scratch=$(mktemp -d)
    if cargo fuzz run "$target" "$scratch" "seeds/$target" -- \
      -max_total_time="${FUZZ_SECONDS:-30}" -print_final_stats=1 >"$scratch.log" 2>&1; then
      tail -n 3 "$scratch.log"
    else
      # A finding is a bug in the code under test: say what broke and where the input is
      # (fuzz/artifacts/<target>/; replay it with `cargo fuzz run <target> <file>`).
      echo "fuzz target $target failed:" >&2
      grep -E -A1 "panicked at|Test unit written|SUMMARY|ERROR: libFuzzer" "$scratch.log" >&2 ||
        tail -n 40 "$scratch.log" >&2
      rm -rf "$scratch" "$scratch.log"
      exit 1
    fi
    rm -rf "$scratch" "$scratch.log"
  done
)

step "the checkout is as the run found it"
if [ -z "$tree_before" ]; then
  echo "not a git checkout: nothing to compare"
elif [ "$(tree_state)" != "$tree_before" ]; then
  echo "the run changed the checkout: a tracked file was rewritten, or an output is missing" \
    "from .gitignore. git status before and after the run:" >&2
  diff <(printf '%s\n' "$tree_before") <(tree_state) >&2 || true
  exit 1
else
  echo "no tracked file changed, no new untracked file"
fi

step "all suites passed"
