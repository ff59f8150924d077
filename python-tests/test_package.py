"""The package itself: its public names, version, typing, stubs, and `python -m`."""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import mcp_wrapper_rs
import mcp_wrapper_rs as m
from mcp_wrapper_rs import _native

CRATE = Path(__file__).resolve().parent.parent / "crates" / "py-bindings"


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
