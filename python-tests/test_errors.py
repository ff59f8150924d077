"""The exception tree: httpx's names under McpWrapperError, each also the builtin to catch."""

from __future__ import annotations

import pytest

import mcp_wrapper_rs as m

TREE: list[tuple[type[BaseException], tuple[type[BaseException], ...]]] = [
    (m.McpWrapperError, (Exception,)),
    (m.TransportError, (m.McpWrapperError,)),
    (m.ConnectError, (m.TransportError, ConnectionError, OSError)),
    (m.TimeoutException, (m.TransportError, TimeoutError, OSError)),
    (m.ConnectTimeout, (m.TimeoutException, TimeoutError)),
    (m.ReadTimeout, (m.TimeoutException, TimeoutError)),
    (m.RemoteProtocolError, (m.TransportError,)),
    (m.HTTPStatusError, (m.McpWrapperError,)),
    (m.DecodingError, (m.McpWrapperError, ValueError)),
]


@pytest.mark.parametrize(("cls", "bases"), TREE, ids=[c.__name__ for c, _ in TREE])
def test_exception_subclasses_its_parents_and_builtins(
    cls: type[BaseException], bases: tuple[type[BaseException], ...]
) -> None:
    for base in bases:
        assert issubclass(cls, base)
    assert issubclass(cls, m.McpWrapperError)
    assert cls.__module__ == "mcp_wrapper_rs"
    assert cls.__doc__


def test_exception_unrelated_builtins_are_not_bases() -> None:
    assert not issubclass(m.ConnectError, TimeoutError)
    assert not issubclass(m.ReadTimeout, ConnectionError)
    assert not issubclass(m.HTTPStatusError, ValueError)
    assert not issubclass(m.DecodingError, OSError)


def test_exception_instances_carry_their_message_and_default_attributes() -> None:
    error = m.ConnectError("connecting to the server failed: refused")
    assert str(error) == "connecting to the server failed: refused"
    assert error.jsonrpc_error is None
    assert m.HTTPStatusError("x").response is None
    with pytest.raises(ConnectionError):
        raise error


def test_exception_catching_by_builtin() -> None:
    with pytest.raises(TimeoutError):
        raise m.ReadTimeout("slow")
    with pytest.raises(ValueError, match="bad"):
        raise m.DecodingError("bad")
    with pytest.raises(m.TransportError):
        raise m.ConnectTimeout("no connection in time")
