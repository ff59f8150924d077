#!/usr/bin/env bash
# Installs the peer stdio <-> Streamable HTTP bridges that benches/peers/smoke.py and the
# e2e bench compare mcp-wrapper against. Safe to re-run: pip skips what is installed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
peers=benches/peers
venvs=.venvs/peers  # git-ignored (/.venvs/ in the root .gitignore)

# One venv per Python peer: they pin incompatible `mcp` SDK versions (1.x vs 2.x).
for name in mcp-proxy fastmcp-remote mcpgateway; do
    if [ ! -x "$venvs/$name/bin/python" ]; then
        python3.11 -m venv "$venvs/$name"
    fi
    "$venvs/$name/bin/pip" install --quiet --disable-pip-version-check \
        -r "$peers/requirements-$name.txt"
done

# npm ci: exactly the committed package-lock.json (it never resolves or rewrites the lock).
(cd "$peers" && npm ci --silent --no-audit --no-fund)

pyver() { "$venvs/$1/bin/python" -c 'import sys, importlib.metadata as m; print(m.version(sys.argv[1]))' "$2"; }
echo "mcp-proxy $(pyver mcp-proxy mcp-proxy)"
echo "fastmcp-remote $(pyver fastmcp-remote fastmcp-remote)"
echo "mcpgateway.wrapper $(pyver mcpgateway mcp-contextforge-gateway)"
echo "mcp-remote $(node -p 'require("./'"$peers"'/node_modules/mcp-remote/package.json").version')"
