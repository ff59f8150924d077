"""A drop-in replacement for ``mcpgateway.wrapper`` whose parsing and HTTP run in Rust.

The stdio side speaks newline-delimited JSON-RPC; every line read from stdin is POSTed to an MCP
server's Streamable HTTP endpoint and whatever the server answers (JSON, NDJSON or SSE) is
written back to stdout, one JSON value per line. Diagnostics go to stderr only.

This module keeps the public surface of ``mcpgateway.wrapper``: the same module-level names,
signatures, constants, defaults, command line and environment variables, and the same
observable behaviour, so code (and tests) written against that module keep working, including
code that monkeypatches one of its functions: every internal call looks its callee up on this
module when it runs. Underneath, the stream decoders are :class:`mcp_wrapper_rs.SseDecoder`
and :class:`mcp_wrapper_rs.NdjsonDecoder`, HTTP is :class:`mcp_wrapper_rs.Client` and JSON is
``orjson``.

Configuration (a flag wins over its variable):

- ``--url`` / ``MCP_SERVER_URL``: the server's URL (``/sse`` becomes ``/mcp/``, and ``/mcp/``
  is appended when missing).
- ``--auth`` / ``MCP_AUTH``: the ``Authorization`` header value.
- ``--timeout`` / ``MCP_TOOL_CALL_TIMEOUT``: response timeout in seconds (default 60).
- ``--log-level`` / ``MCP_WRAPPER_LOG_LEVEL``: a logging level, or ``OFF``.
- ``CONCURRENCY``: requests in flight at once (default 10).
- ``FORGE_CONTENT_TYPE``: how request bodies are encoded (default ``application/json``).
- ``SKIP_SSL_VERIFY``: a true value (``1``, ``true``, ``yes``, ``on``) turns off certificate
  checks.

Run it with ``python -m mcp_wrapper_rs.wrapper --url http://localhost:4444/servers/UUID``. The
native bridge (``mcp-wrapper`` or ``python -m mcp_wrapper_rs``) is the faster and stricter
choice for new deployments: see ``docs/migrating-from-mcpgateway-wrapper.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from mcp_wrapper_rs import (
    Client,
    DecodingError,
    NdjsonDecoder,
    RemoteProtocolError,
    Response,
    SseDecoder,
    TimeoutException,
    TransportError,
)

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_RESPONSE_TIMEOUT",
    "JSONRPC_INTERNAL_ERROR",
    "JSONRPC_PARSE_ERROR",
    "JSONRPC_SERVER_ERROR",
    "NON_RETRYABLE_STATUS_CODES",
    "RETRYABLE_STATUS_CODES",
    "ResilientHttpClient",
    "Settings",
    "convert_url",
    "forward_once",
    "logger",
    "main",
    "main_async",
    "make_error",
    "make_request",
    "ndjson_lines",
    "parse_args",
    "send_to_stdout",
    "setup_logging",
    "shutting_down",
    "sse_events",
    "stdin_reader",
]

# ---------------------------------------------------------------------------
# Constants (read from the environment once, at import, as the original does)
# ---------------------------------------------------------------------------

DEFAULT_CONCURRENCY = int(os.environ.get("CONCURRENCY", "10"))
DEFAULT_CONNECT_TIMEOUT = 15
DEFAULT_RESPONSE_TIMEOUT = float(os.environ.get("MCP_TOOL_CALL_TIMEOUT", "60"))

JSONRPC_PARSE_ERROR = -32700
JSONRPC_INTERNAL_ERROR = -32603
JSONRPC_SERVER_ERROR = -32000

CONTENT_TYPE = os.getenv("FORGE_CONTENT_TYPE", "application/json")

#: Statuses after which ``ResilientHttpClient`` opens the request again.
RETRYABLE_STATUS_CODES = frozenset({408, 429, 502, 503, 504})
#: Statuses that are handed to the caller at once.
NON_RETRYABLE_STATUS_CODES = frozenset({400, 401, 403, 404, 405, 406})

# The longest single SSE event or NDJSON record accepted from a server, as the native bridge's
# default `--max-message-bytes`.
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

_TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on"})
_LOGGING_OFF_WORDS = frozenset({"OFF", "NONE", "DISABLE", "FALSE", "0"})

# A JSON-RPC message as read from stdin: an object, a batch, or raw text.
_Payload: TypeAlias = str | dict[str, Any] | list[Any]


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (not at import)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


logger = logging.getLogger("mcp_wrapper_rs.wrapper")
logger.addHandler(_StderrHandler())
logger.propagate = False
logger.disabled = True

# Set once the bridge should stop: stdin ended, stdout broke, or a signal arrived.
_shutdown = asyncio.Event()


def _mark_shutdown() -> None:
    """Set the shutdown flag (idempotent).

    >>> _mark_shutdown(); shutting_down()
    True
    >>> _shutdown.clear()
    """
    if not _shutdown.is_set():
        _shutdown.set()


def shutting_down() -> bool:
    """Whether shutdown has begun.

    >>> shutting_down()
    False
    """
    return _shutdown.is_set()


# ---------------------------------------------------------------------------
# Small utilities
# ---------------------------------------------------------------------------


def setup_logging(level: str | None) -> None:
    """Turn the module's logger on at ``level`` (case-insensitive), or off.

    Empty, ``None``, ``OFF``, ``NONE``, ``DISABLE``, ``FALSE`` and ``0`` all turn it off; an
    unknown level name means ``INFO``.

    >>> setup_logging("debug"); logger.disabled, logger.level == logging.DEBUG
    (False, True)
    >>> setup_logging(None); logger.disabled
    True
    """
    if not level:
        logger.disabled = True
        return
    name = level.strip().upper()
    if name in _LOGGING_OFF_WORDS:
        logger.disabled = True
        return
    numeric = getattr(logging, name, logging.INFO)
    logger.setLevel(numeric if isinstance(numeric, int) else logging.INFO)
    formatter = logging.Formatter(
        "%(asctime)s - %(name)s - %(levelname)s - %(message)s", datefmt="%Y-%m-%dT%H:%M:%S"
    )
    for handler in logger.handlers:
        handler.setFormatter(formatter)
    logger.disabled = False


def convert_url(url: str) -> str:
    """The Streamable HTTP endpoint for a server URL, always ending in ``/mcp/``.

    >>> convert_url("http://h/servers/1")
    'http://h/servers/1/mcp/'
    >>> convert_url("http://h/servers/1/mcp")
    'http://h/servers/1/mcp/'
    >>> convert_url("http://h/servers/1/mcp/")
    'http://h/servers/1/mcp/'
    >>> convert_url("http://h/servers/1/sse")
    'http://h/servers/1/mcp/'
    """
    if url.endswith("/mcp/"):
        return url
    if url.endswith("/mcp"):
        return url + "/"
    if url.endswith("/sse"):
        # Every "/sse" in the URL is replaced, as in the original.
        return url.replace("/sse", "/mcp/")
    return url + "/mcp/"


def send_to_stdout(obj: dict[str, Any] | list[Any] | str | bytes) -> None:
    """Write ``obj`` to stdout as one line of compact JSON, and flush.

    A value that JSON cannot encode is written as its text (bytes as they are). A failed write
    (a closed pipe, say) is logged and starts shutdown instead of raising.
    """
    try:
        line = orjson.dumps(obj)
    except Exception:
        line = obj if isinstance(obj, bytes) else str(obj).encode("utf-8")
    try:
        stdout = sys.stdout
        if hasattr(stdout, "buffer"):
            stdout.buffer.write(line + b"\n")
            stdout.buffer.flush()
        else:
            # A text-only stand-in for stdout (some test doubles, embedded interpreters).
            stdout.write(line.decode("utf-8") + "\n")
            stdout.flush()
    except OSError as error:
        logger.error("OS error: %s", error)
        _mark_shutdown()


def make_error(
    message: str, code: int = JSONRPC_INTERNAL_ERROR, data: Any = None
) -> dict[str, Any]:
    """A JSON-RPC error response from the bridge itself (its ``id`` is ``"bridge"``).

    >>> make_error("nope", code=-32600)
    {'jsonrpc': '2.0', 'id': 'bridge', 'error': {'code': -32600, 'message': 'nope'}}
    >>> make_error("nope", data=[1])["error"]
    {'code': -32603, 'message': 'nope', 'data': [1]}
    """
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": "bridge", "error": error}


async def stdin_reader(queue: asyncio.Queue[Any]) -> None:
    """Read stdin line by line (in a worker thread) and queue each parsed JSON value.

    Blank lines are skipped; a line that is not JSON is queued as a parse error made by
    :func:`make_error` (code -32700, the line as ``data``). At end of input ``None`` is queued
    and shutdown starts.
    """
    while True:
        stdin = sys.stdin
        if hasattr(stdin, "buffer"):
            line = await asyncio.to_thread(stdin.buffer.readline)
        else:
            text = await asyncio.to_thread(stdin.readline)
            line = text.encode("utf-8") if text else b""
        if not line:
            await queue.put(None)
            _mark_shutdown()
            return
        line = line.strip()
        if not line:
            continue
        try:
            message = orjson.loads(line)
        except Exception:
            message = make_error("Invalid JSON from stdin", JSONRPC_PARSE_ERROR, _as_text(line))
        await queue.put(message)


def _as_text(line: Any) -> str:
    """``line`` as text for an error's ``data``: decoded leniently, else ``str(line)``."""
    try:
        return str(line.decode("utf-8", errors="replace"))
    except Exception:
        return str(line)


# ---------------------------------------------------------------------------
# Response body decoders (native underneath)
# ---------------------------------------------------------------------------


class _Oversized(bytes):
    """What :func:`ndjson_lines` and :func:`sse_events` yield in place of a record over the limit.

    An empty ``bytes`` (so code that only expects bytes still works: it is not JSON), whose
    ``reason`` says why the record was left out.
    """

    reason: str

    def __new__(cls, reason: str) -> Self:
        marker = super().__new__(cls)
        marker.reason = reason
        return marker


def _decode(decoder: NdjsonDecoder | SseDecoder, chunk: bytes | None) -> list[Any]:
    """Everything ``chunk`` (``None``: the end of the body) completes, in order.

    A record or event over the decoder's limit is an :class:`_Oversized` in its place. The
    native decoders hand out the records before an over-long one, raise for it on the next
    call and return the ones after it on the call after that: asking again (with no new
    bytes) until nothing is left reports all of them now rather than with the next chunk,
    which may be a long time coming on a live stream.
    """
    items: list[Any] = []
    # The first call takes the chunk (or ends the body); the calls after it only drain.
    step: Callable[[], list[Any]] = (
        decoder.finish if chunk is None else functools.partial(decoder.feed, chunk)
    )
    while True:
        call, step = step, functools.partial(decoder.feed, b"")
        try:
            more = call()
        except DecodingError as error:
            logger.warning("Response record over the size limit, left out: %s", error)
            items.append(_Oversized(str(error)))
            continue
        if not more:
            return items
        items.extend(more)


async def ndjson_lines(resp: Any) -> AsyncIterator[bytes]:
    """Yield the non-blank lines of a newline-delimited JSON body, trimmed, as bytes.

    ``resp`` needs only ``aiter_bytes()``. A last line without a newline is yielded too.
    Decoding stops (keeping what was already buffered) once shutdown has begun. A line longer
    than 64 MiB is not buffered: an empty ``bytes`` is yielded in its place (it is not JSON),
    and the lines after it follow as usual.
    """
    decoder = NdjsonDecoder(max_line_bytes=_MAX_MESSAGE_BYTES)
    async for chunk in resp.aiter_bytes():
        if shutting_down():
            break
        if not chunk:
            continue
        for line in _decode(decoder, chunk):
            yield line
    for line in _decode(decoder, None):
        yield line


async def sse_events(resp: Any) -> AsyncIterator[bytes]:
    """Yield the data of each Server-Sent Event in a body, as bytes.

    ``resp`` needs only ``aiter_bytes()``. Several ``data:`` lines of one event are joined with
    newlines; comments and other fields are skipped, and events without data are not yielded.
    An event cut off by the end of the body is still yielded. Decoding stops once shutdown
    has begun. An event over 64 MiB is not buffered: an empty ``bytes`` is yielded in its
    place, and the events after it follow as usual.
    """
    decoder = SseDecoder(max_event_bytes=_MAX_MESSAGE_BYTES, lenient_eof=True)
    async for chunk in resp.aiter_bytes():
        if shutting_down():
            break
        if not chunk:
            continue
        for event in _decode(decoder, chunk):
            yield event if isinstance(event, _Oversized) else event.data_bytes
    for event in _decode(decoder, None):
        yield event if isinstance(event, _Oversized) else event.data_bytes


# ---------------------------------------------------------------------------
# One request to the server
# ---------------------------------------------------------------------------


def _encode_body(payload: _Payload, content_type: str) -> tuple[bytes, str]:
    """The request body for ``payload`` and its ``Content-Type``.

    ``application/x-www-form-urlencoded`` form-encodes a dict (anything else goes as its
    text), ``application/json`` sends JSON (a string as it is), and any other setting picks
    form encoding for a dict of plain scalars and JSON otherwise.
    """
    json_type = "application/json; charset=utf-8"
    form_type = "application/x-www-form-urlencoded"
    if content_type == form_type:
        text = urlencode(payload) if isinstance(payload, dict) else str(payload)
        return text.encode("utf-8"), form_type
    if content_type != "application/json" and (
        isinstance(payload, dict)
        and all(isinstance(v, (str, int, float, bool, type(None))) for v in payload.values())
    ):
        return urlencode(payload).encode("utf-8"), form_type
    if isinstance(payload, str):
        return payload.encode("utf-8"), json_type
    return orjson.dumps(payload), json_type


async def forward_once(client: Any, settings: Settings, payload: _Payload) -> None:
    """POST one payload to the server and write every JSON value of its answer to stdout.

    The answer may be ``application/json`` (one value; an empty body writes nothing),
    ``application/x-ndjson`` or ``text/event-stream`` (each record or event's data is one
    value); any other type is read as NDJSON. A value that is not JSON is written as a -32700
    error, a record or event over 64 MiB as a -32603 ``Response exceeds the size limit`` error
    (in its place: the ones after it are still written, and the request is not sent again),
    a non-2xx status as an error whose code is the status. Nothing is sent or written
    once shutdown has begun. Transport errors propagate (:func:`make_request` retries them).
    """
    if shutting_down():
        return

    content_type = getattr(settings, "content_type", None) or CONTENT_TYPE
    body, body_type = _encode_body(payload, content_type)
    headers = {
        "Content-Type": body_type,
        "Accept": "application/json, application/x-ndjson, text/event-stream",
    }
    if settings.auth_header:
        headers["Authorization"] = settings.auth_header

    async with client.stream("POST", settings.server_url, data=body, headers=headers) as resp:
        ctype = (resp.headers.get("Content-Type") or "").lower()
        status = resp.status_code
        logger.debug("HTTP %s %s", status, ctype)

        if shutting_down():
            return
        if status < 200 or status >= 300:
            send_to_stdout(make_error(f"HTTP {status}", code=status))
            return

        async def write_value(raw: bytes) -> None:
            """Write one JSON value of the answer, or an error in its place."""
            if shutting_down():
                return
            if isinstance(raw, _Oversized):
                # The server did answer: sending the request again would not make the record
                # smaller, so it is reported here (and the records after it still written).
                send_to_stdout(make_error("Response exceeds the size limit", data=raw.reason))
                return
            try:
                value = orjson.loads(raw)
            except Exception:
                logger.warning("Invalid JSON from server: %s", raw)
                text = raw if isinstance(raw, str) else str(raw)
                send_to_stdout(make_error("Invalid JSON from server", JSONRPC_PARSE_ERROR, text))
                return
            send_to_stdout(value)

        if "event-stream" in ctype:
            async for data in sse_events(resp):
                if shutting_down():
                    break
                if not data and not isinstance(data, _Oversized):
                    continue
                await write_value(data)
            return

        if "ndjson" in ctype:
            async for line in ndjson_lines(resp):
                if shutting_down():
                    break
                await write_value(line)
            return

        if "application/json" in ctype:
            raw = await resp.aread()
            if shutting_down() or not raw.strip():
                return
            try:
                value = orjson.loads(raw)
            except Exception:
                text = raw.decode("utf-8", "replace")
                send_to_stdout(make_error("Invalid JSON response", JSONRPC_PARSE_ERROR, text))
                return
            send_to_stdout(value)
            return

        # Any other (or no) content type: try it as NDJSON.
        async for line in ndjson_lines(resp):
            if shutting_down():
                break
            await write_value(line)


async def make_request(
    client: Any,
    settings: Settings,
    payload: _Payload,
    *,
    max_retries: int = 5,
    base_delay: float = 0.25,
) -> None:
    """Call :func:`forward_once`, retrying on any exception with exponential backoff.

    The n-th retry waits ``min(base_delay * 2 ** (n - 1), 8)`` seconds. After ``max_retries``
    retries a ``max retries exceeded`` error (code -32000) is written. Shutdown stops it.
    """
    failures = 0
    while not shutting_down():
        try:
            await forward_once(client, settings, payload)
            return
        except Exception as error:
            if shutting_down():
                return
            logger.warning("Network or unexpected error in forward_once: %s", error)
            failures += 1
            if failures > max_retries:
                send_to_stdout(make_error("max retries exceeded", JSONRPC_SERVER_ERROR))
                return
            await asyncio.sleep(min(base_delay * (2 ** (failures - 1)), 8.0))


# ---------------------------------------------------------------------------
# HTTP client with retries
# ---------------------------------------------------------------------------

# `ResilientHttpClient`'s defaults and pool limits, from the variables the original's settings
# read them from (without its `.env` file), once, at import.
_RETRY_MAX_ATTEMPTS = int(os.environ.get("RETRY_MAX_ATTEMPTS", "3"))
_RETRY_BASE_DELAY = float(os.environ.get("RETRY_BASE_DELAY", "1.0"))
_RETRY_MAX_DELAY = int(os.environ.get("RETRY_MAX_DELAY", "60"))
_RETRY_JITTER_MAX = float(os.environ.get("RETRY_JITTER_MAX", "0.5"))


@dataclass(frozen=True)
class _PoolLimits:
    """Connection-pool limits, with the attribute names of ``httpx.Limits``.

    :class:`ResilientHttpClient` puts one into ``client_args["limits"]`` when none is given,
    as the original does with an ``httpx.Limits``. The native client sizes its pool itself,
    so these are recorded, not enforced.
    """

    max_connections: int | None = None
    max_keepalive_connections: int | None = None
    keepalive_expiry: float | None = 5.0


_DEFAULT_LIMITS = _PoolLimits(
    max_connections=int(os.environ.get("HTTPX_MAX_CONNECTIONS", "200")),
    max_keepalive_connections=int(os.environ.get("HTTPX_MAX_KEEPALIVE_CONNECTIONS", "100")),
    keepalive_expiry=float(os.environ.get("HTTPX_KEEPALIVE_EXPIRY", "30.0")),
)

_CLIENT_OPTIONS = frozenset(
    {"connect_timeout", "verify", "cert", "http2", "headers", "max_retries", "follow_redirects"}
)

# "No `timeout=` given": the client's own timeouts apply.
_UNSET: Any = object()


def _client_options(client_args: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for :class:`mcp_wrapper_rs.Client` from httpx-style ``client_args``.

    ``timeout`` may be seconds, ``None`` (no limit) or an ``httpx.Timeout``-like object (its
    ``read`` and ``connect``). ``limits`` is accepted and ignored (the native pool sizes
    itself). The native client's own connect retries are off unless ``max_retries`` is given:
    :class:`ResilientHttpClient` does the retrying.
    """
    options: dict[str, Any] = {"max_retries": 0}
    connect_given = "connect_timeout" in client_args
    for key, value in client_args.items():
        if key == "timeout":
            if value is None or isinstance(value, (int, float)):
                options["timeout"] = value
                if not connect_given:
                    options["connect_timeout"] = value
            else:
                options["timeout"] = getattr(value, "read", None)
                if not connect_given:
                    options["connect_timeout"] = getattr(value, "connect", None)
        elif key in _CLIENT_OPTIONS:
            options[key] = value
        elif key != "limits":
            raise TypeError(f"ResilientHttpClient: unsupported client argument {key!r}")
    return options


def _query_value(value: Any) -> str:
    """One query parameter value as httpx writes it: ``true``/``false``, ``""`` for ``None``."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _with_params(url: str, params: Any) -> str:
    """``url`` with its query replaced by ``params``, as httpx 0.28's ``params=`` does.

    ``params`` is a mapping (a list or tuple value repeats its key), a sequence of pairs or a
    query string; ``None`` leaves the URL as it is.
    """
    if params is None:
        return url
    if isinstance(params, (str, bytes)):
        text = params.decode("ascii") if isinstance(params, bytes) else params
        pairs = parse_qsl(text, keep_blank_values=True)
    else:
        items = params.items() if isinstance(params, Mapping) else params
        pairs = []
        for key, value in items:
            values = value if isinstance(value, (list, tuple)) else [value]
            pairs.extend((str(key), _query_value(v)) for v in values)
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs), parts.fragment))


def _request_options(url: str, kwargs: Mapping[str, Any]) -> tuple[str, dict[str, Any], Any]:
    """The URL (with ``params`` merged in), keyword arguments for ``Client.stream`` and
    ``Client.request``, and the request's ``timeout`` (``_UNSET`` when not given).

    httpx's ``data=`` bytes/str become ``content=``.
    """
    options: dict[str, Any] = {}
    timeout = _UNSET
    for key, value in kwargs.items():
        if key == "params":
            url = _with_params(url, value)
        elif key == "timeout":
            timeout = value
        elif key == "data" and isinstance(value, (bytes, bytearray, memoryview, str)):
            options["content"] = value
        elif key in ("content", "data", "json", "headers"):
            options[key] = value
        else:
            raise TypeError(f"ResilientHttpClient: unsupported request argument {key!r}")
    return url, options, timeout


def _retryable_error(error: BaseException) -> bool:
    """Connect failures, timeouts and broken connections are worth another try."""
    return isinstance(error, (TimeoutException, RemoteProtocolError)) or (
        isinstance(error, TransportError) and isinstance(error, ConnectionError)
    )


class ResilientHttpClient:
    """An HTTP client that sends requests again after transient failures.

    The same constructor and methods as ``mcpgateway.utils.retry_manager.ResilientHttpClient``,
    on :class:`mcp_wrapper_rs.Client`. A request is sent up to ``max_retries`` times: after
    a connect error, a timeout or a broken connection, and after a 408, 429, 502, 503 or 504
    status, it waits ``base_backoff * 2 ** attempt`` seconds plus up to ``jitter_max`` of that
    again, capped at ``max_delay`` (a 429's numeric ``Retry-After`` instead), then sends
    again. Any other status is handed to the caller. When every attempt failed,
    :meth:`request` raises the last error (or returns the last response, if no attempt
    raised) and :meth:`stream` raises ``RuntimeError``. Errors while the caller reads a
    stream's body are not retried here.

    The defaults come from ``RETRY_MAX_ATTEMPTS`` (3), ``RETRY_BASE_DELAY`` (1.0),
    ``RETRY_MAX_DELAY`` (60) and ``RETRY_JITTER_MAX`` (0.5), read at import.
    ``client_args`` are httpx-style client options: ``timeout`` (seconds, ``None`` or an
    ``httpx.Timeout``-like object), ``verify``, ``cert``, ``http2``, ``headers``,
    ``follow_redirects`` and ``limits`` (recorded, not enforced; a :class:`_PoolLimits` from
    ``HTTPX_MAX_CONNECTIONS``, ``HTTPX_MAX_KEEPALIVE_CONNECTIONS`` and
    ``HTTPX_KEEPALIVE_EXPIRY`` is added to the dict given when it has none), plus the native
    ``connect_timeout`` and ``max_retries``. Requests take ``content``, ``data``, ``json``,
    ``headers``, ``params`` and ``timeout``.
    """

    def __init__(
        self,
        max_retries: int = _RETRY_MAX_ATTEMPTS,
        base_backoff: float = _RETRY_BASE_DELAY,
        max_delay: float = _RETRY_MAX_DELAY,
        jitter_max: float = _RETRY_JITTER_MAX,
        client_args: dict[str, Any] | None = None,
    ) -> None:
        self.max_retries = max_retries
        self.base_backoff = base_backoff
        self.max_delay = max_delay
        self.jitter_max = jitter_max
        # The caller's dict itself, as in the original (which adds `limits` to it).
        self.client_args: dict[str, Any] = client_args or {}
        if "limits" not in self.client_args:
            self.client_args["limits"] = _DEFAULT_LIMITS
        self.client = Client(**_client_options(self.client_args))
        # Clients for requests with a `timeout=` of their own, by (read, connect) timeout.
        self._timeout_clients: dict[tuple[Any, Any], Client] = {}

    def _client_for(self, timeout: Any) -> Client:
        """The client for a request: :attr:`client`, or one with the request's timeouts."""
        if timeout is _UNSET:
            return self.client
        args = {key: value for key, value in self.client_args.items() if key != "connect_timeout"}
        args["timeout"] = timeout
        options = _client_options(args)
        key = (options["timeout"], options["connect_timeout"])
        client = self._timeout_clients.get(key)
        if client is None:
            client = self._timeout_clients[key] = Client(**options)
        return client

    async def _sleep_with_jitter(self, base: float, jitter_range: float) -> None:
        """Sleep ``base`` plus a random part of ``jitter_range`` seconds, at most ``max_delay``."""
        await asyncio.sleep(min(base + random.uniform(0, jitter_range), self.max_delay))

    async def _backoff(self, attempt: int) -> None:
        delay = self.base_backoff * (2**attempt)
        await self._sleep_with_jitter(delay, delay * self.jitter_max)

    def _should_retry(self, exc: BaseException | None, response: Any) -> bool:
        """Whether an error (a transport one) or a response (a retryable status) is retried."""
        if exc is not None and _retryable_error(exc):
            return True
        if response is not None:
            status = response.status_code
            if status in NON_RETRYABLE_STATUS_CODES:
                logger.info("Response %s: not sending again", status)
                return False
            if status in RETRYABLE_STATUS_CODES:
                logger.info("Response %s: sending again", status)
                return True
        return False

    @contextlib.asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[Response]:
        """``async with client.stream("POST", url, data=..., headers=...) as response:``.

        Raises ``RuntimeError`` once every attempt failed (from the last error, if any).
        """
        url, options, timeout = _request_options(url, kwargs)
        client = self._client_for(timeout)
        last_error: Exception | None = None
        attempt = 0
        while attempt < self.max_retries:
            context = client.stream(method, url, **options)
            try:
                response = await context.__aenter__()
            except Exception as error:
                if not _retryable_error(error):
                    raise
                last_error = error
                logger.warning("Error opening stream (will retry): %s", error)
            else:
                status = response.status_code
                if 200 <= status < 300 or status not in RETRYABLE_STATUS_CODES:
                    try:
                        yield response
                    finally:
                        await context.__aexit__(None, None, None)
                    return
                retry_after = response.headers.get("Retry-After") if status == 429 else None
                await context.__aexit__(None, None, None)
                logger.info("Response %s: opening the request again", status)
                wait = _seconds(retry_after)
                if wait:
                    await asyncio.sleep(wait)
                    attempt += 1
                    continue
            await self._backoff(attempt)
            attempt += 1
        if last_error is not None:
            raise RuntimeError(str(last_error)) from last_error
        raise RuntimeError("Max retries reached opening stream")

    async def request(self, method: str, url: str, **kwargs: Any) -> Response | None:
        """Send a request, with retries, and read the whole response.

        Once every attempt failed: raises the last error if an attempt raised one, else
        returns the last response (a 5xx, say; ``None`` when ``max_retries`` is 0 or less).
        """
        url, options, timeout = _request_options(url, kwargs)
        client = self._client_for(timeout)
        last_error: Exception | None = None
        response: Response | None = None
        attempt = 0
        while attempt < self.max_retries:
            try:
                response = await client.request(method, url, **options)
                status = response.status_code
                if status in NON_RETRYABLE_STATUS_CODES or response.is_success:
                    return response
                wait = _seconds(response.headers.get("Retry-After")) if status == 429 else None
                if wait is not None:
                    logger.info("Response 429: sending again after %s s", wait)
                    await asyncio.sleep(max(wait, 0.0))
                    attempt += 1
                    continue
                if not self._should_retry(None, response):
                    return response
            except Exception as error:
                if not self._should_retry(error, None):
                    raise
                last_error = error
                logger.warning("Error sending request (will retry): %s", error)
            await self._backoff(attempt)
            attempt += 1
        if last_error is not None:
            raise last_error
        logger.error("Max retries reached for %s", _redact_url(url))
        return response

    async def get(self, url: str, **kwargs: Any) -> Response | None:
        """``request("GET", url, ...)``."""
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Response | None:
        """``request("POST", url, ...)``."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> Response | None:
        """``request("PUT", url, ...)``."""
        return await self.request("PUT", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> Response | None:
        """``request("DELETE", url, ...)``."""
        return await self.request("DELETE", url, **kwargs)

    async def aclose(self) -> None:
        """Close the underlying client (and those made for requests' own timeouts)."""
        clients = [self.client, *self._timeout_clients.values()]
        self._timeout_clients.clear()
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        await self.aclose()


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` given in seconds, else ``None``."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# Settings, main loop and command line
# ---------------------------------------------------------------------------


@dataclass
class Settings:
    """How the bridge runs: where to, with which credentials, timeouts and concurrency.

    An optional ``content_type`` attribute set on an instance overrides
    ``FORGE_CONTENT_TYPE`` for :func:`forward_once`.

    >>> Settings("http://h/mcp/", None).concurrency == DEFAULT_CONCURRENCY
    True
    """

    server_url: str
    auth_header: str | None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    response_timeout: float = DEFAULT_RESPONSE_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY
    log_level: str | None = None

    def __repr__(self) -> str:
        """Shows no secret: the URL without userinfo or query, the token as ``<redacted>``."""
        auth = None if self.auth_header is None else "<redacted>"
        return (
            f"Settings(server_url={_redact_url(self.server_url)!r}, auth_header={auth!r}, "
            f"connect_timeout={self.connect_timeout!r}, "
            f"response_timeout={self.response_timeout!r}, "
            f"concurrency={self.concurrency!r}, log_level={self.log_level!r})"
        )


def _redact_url(url: str) -> str:
    """``url`` without its userinfo, and with its query and fragment shown as ``…``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    query = "…" if parts.query else ""
    fragment = "…" if parts.fragment else ""
    return urlunsplit((parts.scheme, host, parts.path, query, fragment))


def _ssl_verify() -> bool:
    """Certificates are checked unless ``SKIP_SSL_VERIFY`` is a true value."""
    return os.environ.get("SKIP_SSL_VERIFY", "").strip().lower() not in _TRUE_WORDS


async def main_async(settings: Settings) -> None:
    """Run the bridge until stdin ends or shutdown begins.

    A reader task queues stdin's messages; each one is forwarded by its own task through
    :func:`make_request`, at most ``settings.concurrency`` at once. When the loop stops, the
    tasks still running are cancelled and the HTTP client is closed.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue()
    reader = asyncio.create_task(stdin_reader(queue))
    slots = asyncio.Semaphore(settings.concurrency)
    client = ResilientHttpClient(
        max_retries=5,
        base_backoff=0.25,
        max_delay=8.0,
        jitter_max=0.25,
        client_args={
            "timeout": settings.response_timeout,
            "connect_timeout": settings.connect_timeout,
            "http2": True,
            "verify": _ssl_verify(),
        },
    )

    tasks: set[asyncio.Task[None]] = set()
    try:
        while not shutting_down():
            item = await queue.get()
            if item is None:
                break

            async def worker(payload: _Payload = item) -> None:
                async with slots:
                    if not shutting_down():
                        await make_request(client, settings, payload)

            task = asyncio.create_task(worker())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        _mark_shutdown()
        for task in list(tasks):
            task.cancel()
        if tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks)
    finally:
        reader.cancel()
        # Wait for the reader without raising what ended it: when shutdown came from a signal
        # or a broken stdout, it is cancelled mid-read (the original let that CancelledError
        # escape from here).
        with contextlib.suppress(Exception):
            await asyncio.wait([reader])
            if not reader.cancelled():
                reader.exception()
        with contextlib.suppress(Exception):
            await client.aclose()


def parse_args() -> Settings:
    """Build :class:`Settings` from ``sys.argv`` and the environment.

    Exits with status 2 (after a message on stderr) when no server URL is given.
    """
    parser = argparse.ArgumentParser(description="Stdio MCP Client <-> MCP HTTP Bridge")
    parser.add_argument(
        "--url",
        default=os.environ.get("MCP_SERVER_URL"),
        help="MCP server URL (env: MCP_SERVER_URL)",
    )
    parser.add_argument(
        "--auth",
        default=os.environ.get("MCP_AUTH"),
        help="Authorization header value (env: MCP_AUTH)",
    )
    parser.add_argument(
        "--timeout",
        default=os.environ.get("MCP_TOOL_CALL_TIMEOUT"),
        help="Response timeout in seconds (env: MCP_TOOL_CALL_TIMEOUT, default 60)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("MCP_WRAPPER_LOG_LEVEL", "INFO"),
        help="Logging level, or OFF (env: MCP_WRAPPER_LOG_LEVEL, default INFO)",
    )
    args = parser.parse_args()
    if not args.url:
        print("Error: MCP server URL must be provided via --url or MCP_SERVER_URL", file=sys.stderr)
        sys.exit(2)
    return Settings(
        server_url=convert_url(args.url),
        auth_header=args.auth,
        connect_timeout=DEFAULT_CONNECT_TIMEOUT,
        response_timeout=float(args.timeout) if args.timeout else DEFAULT_RESPONSE_TIMEOUT,
        concurrency=DEFAULT_CONCURRENCY,
        log_level=args.log_level,
    )


def _install_signal_handlers(loop: asyncio.AbstractEventLoop) -> None:
    """Make SIGINT and SIGTERM start shutdown, where the platform and loop allow it."""
    for signum in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)):
        if signum is None:
            continue
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, _mark_shutdown)


def main() -> None:
    """The command line: parse settings, set up logging and run :func:`main_async`."""
    settings = parse_args()
    setup_logging(settings.log_level)
    if not logger.disabled:
        logger.info("Starting MCP stdio wrapper -> %s", settings.server_url)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    _install_signal_handlers(loop)
    try:
        loop.run_until_complete(main_async(settings))
    finally:
        loop.run_until_complete(asyncio.sleep(0))
        with contextlib.suppress(Exception):
            loop.close()
        if not logger.disabled:
            logger.info("Shutdown complete.")


if __name__ == "__main__":
    main()
