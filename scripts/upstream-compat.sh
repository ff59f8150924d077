#!/usr/bin/env bash
# Runs IBM/mcp-context-forge's own unit tests of `mcpgateway.wrapper` against
# `mcp_wrapper_rs.wrapper`, unchanged, through a shim package made in a temporary directory.
#
# Usage: bash scripts/upstream-compat.sh PATH [pytest args...]
#
# PATH is a work tree of IBM/mcp-context-forge at a commit that still has the wrapper and its
# tests (the last one is 633a182799f9d9257fc43ba9430778d5e3dc98db; the wrapper was removed
# right after). From a clone, or a bare git directory, either of:
#   git -C CLONE worktree add --detach /tmp/mcf 633a182799f9d9257fc43ba9430778d5e3dc98db
#   mkdir /tmp/mcf && git -C CLONE archive 633a182799f9d9257fc43ba9430778d5e3dc98db | tar -x -C /tmp/mcf
# Only tests/unit/mcpgateway/test_wrapper.py is used, so that one file is enough:
#   mkdir -p /tmp/mcf/tests/unit/mcpgateway && git -C CLONE show \
#     633a1827:tests/unit/mcpgateway/test_wrapper.py >/tmp/mcf/tests/unit/mcpgateway/test_wrapper.py
#
# The test file imports nothing of mcpgateway but `mcpgateway.wrapper` (it only pretends that
# `mcpgateway.config` fails to import), so the shim is one package whose `__init__` registers
# our module under that name. pytest runs with its own minimal configuration, without the
# checkout's conftest files (they set up the whole gateway) and without putting the checkout on
# sys.path (its real `mcpgateway` package must not shadow the shim).
#
# Environment: VENV, a virtualenv with the mcp-wrapper-rs wheel, pytest and pytest-asyncio
# (default: .venvs/py of this repository). A missing VENV is created, and the wheel built
# into it from crates/py-bindings with pip.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
checkout=$(cd "$1" && pwd)
shift
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$repo/.venvs/py}
tests=$checkout/tests/unit/mcpgateway/test_wrapper.py

if [[ ! -f $tests ]]; then
  echo "no $tests: check out a commit that still has the wrapper (633a1827, see --help)" >&2
  exit 2
fi

if [[ ! -x $venv/bin/python ]]; then
  echo "==> creating $venv with the mcp-wrapper-rs wheel" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "$repo/crates/py-bindings" pytest pytest-asyncio
fi
python=$venv/bin/python
if ! "$python" -c 'import mcp_wrapper_rs.wrapper, pytest, pytest_asyncio' 2>/dev/null; then
  echo "$venv lacks mcp_wrapper_rs.wrapper, pytest or pytest-asyncio:" >&2
  echo "  (cd crates/py-bindings && VIRTUAL_ENV=$venv maturin develop)" >&2
  echo "  $python -m pip install pytest pytest-asyncio" >&2
  exit 1
fi

shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
mkdir "$shim/mcpgateway"
cat >"$shim/mcpgateway/__init__.py" <<'PY'
import sys, mcp_wrapper_rs.wrapper as wrapper  # noqa: E401
sys.modules[__name__ + ".wrapper"] = wrapper
PY
cat >"$shim/pytest.ini" <<'INI'
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
INI

cd "$shim"
export PYTHONPATH=$shim${PYTHONPATH:+:$PYTHONPATH}
echo "==> upstream tests: $tests" >&2
"$python" -c '
import mcpgateway.wrapper as upstream_name, mcp_wrapper_rs.wrapper as ours
assert upstream_name is ours, upstream_name
print("==> mcpgateway.wrapper is", ours.__file__)' >&2
"$python" -m pytest -c "$shim/pytest.ini" \
  --rootdir "$shim" --noconftest --import-mode=importlib -p no:cacheprovider -q "$tests" "$@"
