"""mcp-wrapper-rs: the MCP stdio <-> Streamable HTTP bridge, and its parts, in Rust.

- ``SseDecoder`` / ``NdjsonDecoder``: incremental, bounded decoders (``feed`` / ``finish``).
- ``Client``: an httpx-shaped async HTTP client whose response bodies stream from Rust
  (``aiter_bytes``, ``aiter_lines``, ``aiter_sse``, ``aiter_messages``).
- ``forward_request``: one JSON-RPC message to an MCP server, exactly as the bridge sends it.
- ``run_bridge``: the whole stdio bridge (the ``mcp-wrapper`` binary) on this process's stdin
  and stdout, in Rust, with the GIL released; ``python -m mcp_wrapper_rs`` is its CLI.
- Exceptions with httpx's names under ``McpWrapperError`` (also named ``HTTPError``), each
  also the builtin you would catch (``ConnectionError``, ``TimeoutError``, ``ValueError``,
  ``RuntimeError``).
- Every ``async`` method returns a ``Coroutine``: ``asyncio.create_task`` and ``TaskGroup``
  take it, nothing starts until it is awaited, and one never awaited warns.

>>> import mcp_wrapper_rs
>>> decoder = mcp_wrapper_rs.SseDecoder()
>>> [event] = decoder.feed(b'event: message\\ndata: {"jsonrpc": "2.0"}\\n\\n')
>>> event.json()
{'jsonrpc': '2.0'}
"""

from collections.abc import Mapping, MutableMapping

from mcp_wrapper_rs._native import (
    AsyncStream,
    Client,
    ClientHeaders,
    ConnectError,
    ConnectTimeout,
    Coroutine,
    DecodingError,
    ForwardResponse,
    Headers,
    HTTPError,
    HTTPStatusError,
    McpWrapperError,
    NdjsonDecoder,
    NetworkError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    Request,
    Response,
    ResponseNotRead,
    SseDecoder,
    SseEvent,
    StreamClosed,
    StreamConsumed,
    StreamContext,
    StreamError,
    TimeoutException,
    TooManyRedirects,
    TransportError,
    __version__,
    forward_request,
    run_bridge,
)

# `Headers` is a read-only mapping: make `isinstance(h, Mapping)` say so.
Mapping.register(Headers)
# `client.headers` is changed in place, as httpx's are.
MutableMapping.register(ClientHeaders)

__all__ = [
    "AsyncStream",
    "Client",
    "ClientHeaders",
    "ConnectError",
    "ConnectTimeout",
    "Coroutine",
    "DecodingError",
    "ForwardResponse",
    "HTTPError",
    "HTTPStatusError",
    "Headers",
    "McpWrapperError",
    "NdjsonDecoder",
    "NetworkError",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "Request",
    "Response",
    "ResponseNotRead",
    "SseDecoder",
    "SseEvent",
    "StreamClosed",
    "StreamConsumed",
    "StreamContext",
    "StreamError",
    "TimeoutException",
    "TooManyRedirects",
    "TransportError",
    "__version__",
    "forward_request",
    "run_bridge",
]
