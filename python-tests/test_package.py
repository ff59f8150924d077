"""The package itself: its public names, version, typing, stubs, and `python -m`."""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import pytest

import mcp_wrapper_rs
import mcp_wrapper_rs as m
from mcp_wrapper_rs import _native

ROOT = Path(__file__).resolve().parent.parent
CRATE = ROOT / "crates" / "py-bindings"


def read_toml(path: Path) -> dict[str, Any]:
    # tomllib is in the standard library from Python 3.11 on; the suite's venv has it.
    tomllib = pytest.importorskip("tomllib", reason="reading TOML needs Python 3.11+")
    table: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return table


def declared() -> dict[str, Any]:
    """The `[project]` table of the wheel's pyproject.toml."""
    project: dict[str, Any] = read_toml(CRATE / "pyproject.toml")["project"]
    return project


def installed() -> metadata.PackageMetadata:
    return metadata.metadata("mcp-wrapper-rs")


def test_package_all_names_exist_and_come_from_native() -> None:
    assert sorted(mcp_wrapper_rs.__all__) == sorted(set(mcp_wrapper_rs.__all__))
    for name in mcp_wrapper_rs.__all__:
        assert getattr(mcp_wrapper_rs, name) is getattr(_native, name)
    public = {n for n in dir(_native) if not n.startswith("_")}
    assert public <= set(mcp_wrapper_rs.__all__)


def test_package_classes_show_the_public_module() -> None:
    for name in [
        "SseDecoder",
        "SseEvent",
        "NdjsonDecoder",
        "Client",
        "Response",
        "Headers",
        "ForwardResponse",
        "AsyncStream",
        "StreamContext",
        "McpWrapperError",
    ]:
        assert getattr(mcp_wrapper_rs, name).__module__ == "mcp_wrapper_rs"


def test_package_version_is_the_crate_version() -> None:
    manifest = (CRATE.parent.parent / "Cargo.toml").read_text()
    [version] = re.findall(r'(?m)^\[workspace\.package\][^\[]*?^version = "([^"]+)"', manifest)
    assert mcp_wrapper_rs.__version__ == version


@pytest.mark.parametrize(
    "obj",
    [mcp_wrapper_rs, m.SseDecoder, m.SseEvent, m.NdjsonDecoder, m.Headers],
    ids=lambda o: getattr(o, "__name__", str(o)),
)
def test_package_docstring_examples_run(obj: object) -> None:
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = finder.find(obj, globs={**vars(m)})
    assert tests
    assert tests[0].examples, "no examples"
    for test in tests:
        runner.run(test)
    assert runner.failures == 0


def test_package_ships_type_information() -> None:
    files = resources.files("mcp_wrapper_rs")
    assert files.joinpath("py.typed").is_file()
    assert files.joinpath("_native.pyi").is_file()


def test_package_stubs_match_the_native_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "mcp_wrapper_rs._native"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_main_prints_the_cli_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mcp_wrapper_rs", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mcp-wrapper ")


def test_package_metadata_is_what_pyproject_declares() -> None:
    project, meta = declared(), installed()
    assert meta["Name"] == project["name"]
    assert meta["Requires-Python"] == project["requires-python"]
    assert meta["License-Expression"] == project["license"]
    assert sorted(meta.get_all("Classifier") or []) == sorted(project["classifiers"])
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL") or [])
    assert urls == project["urls"]
    for author in project["authors"]:
        assert author["name"] in meta["Author"]


def test_package_installs_the_repository_license() -> None:
    project = declared()
    dist = metadata.distribution("mcp-wrapper-rs")
    assert dist.metadata.get_all("License-File") == project["license-files"]
    files = {str(f): f for f in dist.files or []}
    for name in project["license-files"]:
        # PEP 639: license files go under `<name>.dist-info/licenses/`.
        [entry] = [f for path, f in files.items() if path.endswith(f".dist-info/licenses/{name}")]
        assert Path(str(dist.locate_file(entry))).read_bytes() == (ROOT / name).read_bytes()


def test_package_metadata_agrees_with_the_workspace() -> None:
    """What the wheel says about itself is what the Cargo workspace says, without drift."""
    project = declared()
    workspace = read_toml(ROOT / "Cargo.toml")["workspace"]["package"]
    assert project["license"] == workspace["license"]
    assert project["urls"]["Repository"] == workspace["repository"]
    assert [a["name"] for a in project["authors"]] == workspace["authors"]
    # maturin only ships files from the crate's directory: its LICENSE is a copy of the root's.
    for name in project["license-files"]:
        assert (CRATE / name).read_bytes() == (ROOT / name).read_bytes()
    # PEP 639: the license is the `License-Expression`; PyPI refuses a license classifier too.
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]


def test_package_python_classifiers_match_requires_python_and_the_abi() -> None:
    project = declared()
    minors = sorted(
        int(m[1])
        for c in project["classifiers"]
        if (m := re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c))
    )
    assert minors == list(range(minors[0], minors[0] + len(minors))), "a version is missing"
    assert project["requires-python"] == f">=3.{minors[0]}"
    # The one abi3 wheel runs on every listed version: its floor is the same minor.
    [abi3] = re.findall(r"abi3-py3(\d+)", (CRATE / "Cargo.toml").read_text(encoding="utf-8"))
    assert int(abi3) == minors[0]
