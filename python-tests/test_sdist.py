"""The source distribution: what `pip install mcp-wrapper-rs` builds when no wheel fits.

`scripts/test-all.sh` builds it (`maturin sdist`), installs it with pip into a fresh venv,
and names both here: $MCP_SDIST (the `.tar.gz`) and $MCP_SDIST_PYTHON (that venv's python).
Without them these tests are skipped: building the sdist compiles the Rust code again.
"""

from __future__ import annotations

import email.parser
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from support import Server

ROOT = Path(__file__).resolve().parent.parent
SDIST = os.environ.get("MCP_SDIST", "")
SDIST_PYTHON = os.environ.get("MCP_SDIST_PYTHON", "")

pytestmark = pytest.mark.skipif(
    not (SDIST and SDIST_PYTHON),
    reason="needs $MCP_SDIST and $MCP_SDIST_PYTHON (scripts/test-all.sh sets them)",
)

# Run by the fresh venv's python, in isolated mode (`-I`: no checkout on sys.path, no
# PYTHON* variables), so it can only import what pip installed there.
REQUEST = """
import asyncio, json, sys
from importlib import metadata

import mcp_wrapper_rs

async def ping(url):
    async with mcp_wrapper_rs.Client() as client:
        response = await client.post(
            url,
            content=b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
            headers={
                "content-type": "application/json",
                "accept": "application/json, text/event-stream",
                "mcp-protocol-version": "2025-06-18",
            },
        )
        return response.status_code, response.content

status, body = asyncio.run(ping(sys.argv[1]))
dist = metadata.distribution("mcp-wrapper-rs")
licenses = {
    str(f): f.read_text() for f in dist.files or [] if ".dist-info/licenses/" in str(f)
}
print(json.dumps({
    "prefix": sys.prefix,
    "module": mcp_wrapper_rs._native.__file__,
    "status": status,
    "body": json.loads(body),
    "license_files": dist.metadata.get_all("License-File"),
    "licenses": licenses,
}))
"""


def declared() -> dict[str, Any]:
    """The `[project]` table of the wheel's pyproject.toml."""
    tomllib = pytest.importorskip("tomllib", reason="reading TOML needs Python 3.11+")
    text = (ROOT / "crates" / "py-bindings" / "pyproject.toml").read_text(encoding="utf-8")
    project: dict[str, Any] = tomllib.loads(text)["project"]
    return project


def test_sdist_carries_the_license_and_the_metadata() -> None:
    project = declared()
    with tarfile.open(SDIST) as tar:
        names = tar.getnames()
        [pkg_info] = [n for n in names if n.count("/") == 1 and n.endswith("/PKG-INFO")]
        top = pkg_info.split("/")[0]
        member = tar.extractfile(pkg_info)
        assert member is not None
        meta = email.parser.Parser().parsestr(member.read().decode())
        for name in project["license-files"]:
            license_file = tar.extractfile(f"{top}/{name}")
            assert license_file is not None, f"{name} is not in the sdist"
            assert license_file.read() == (ROOT / name).read_bytes()
    assert meta.get_all("License-File") == project["license-files"]
    assert meta["License-Expression"] == project["license"]
    assert sorted(meta.get_all("Classifier") or []) == sorted(project["classifiers"])
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL") or [])
    assert urls == project["urls"]


def test_the_sdist_installed_by_pip_answers_a_request(mcp_server: Server, tmp_path: Path) -> None:
    result = subprocess.run(
        [SDIST_PYTHON, "-I", "-c", REQUEST, mcp_server.url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    assert (out["status"], out["body"]) == (200, {"jsonrpc": "2.0", "id": 1, "result": {}})
    # The extension module the fresh venv built, not this checkout's.
    assert Path(out["module"]).is_relative_to(out["prefix"])
    assert Path(out["prefix"]).resolve() == Path(SDIST_PYTHON).parent.parent.resolve()
    project = declared()
    assert out["license_files"] == project["license-files"]
    for name in project["license-files"]:
        [text] = [t for path, t in out["licenses"].items() if path.endswith(f"/licenses/{name}")]
        assert text == (ROOT / name).read_text()
