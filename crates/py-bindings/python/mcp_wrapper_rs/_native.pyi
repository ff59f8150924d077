# Type stubs of the native module `mcp_wrapper_rs._native` (checked by mypy.stubtest).

import collections.abc
import datetime
import os
from collections.abc import Generator, Iterator, Mapping, MutableMapping, Sequence
from types import TracebackType
from typing import Any, Final, Generic, Literal, TypeAlias, TypeVar, final

from typing_extensions import Self

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
    "_run_bridge_cli",
    "_shutdown",
    "forward_request",
    "run_bridge",
]

__version__: Final[str]

_T_co = TypeVar("_T_co", covariant=True)

_BytesLike: TypeAlias = bytes | bytearray | memoryview
_HeaderItems: TypeAlias = (
    Mapping[str, str] | Mapping[bytes, bytes] | Sequence[tuple[str | bytes, str | bytes]]
)
_Path: TypeAlias = str | os.PathLike[str]

# Exceptions (httpx's names, under one base; each also the builtin users catch).

class McpWrapperError(Exception):
    jsonrpc_error: bytes | None

HTTPError = McpWrapperError

class TransportError(McpWrapperError): ...
class NetworkError(TransportError, ConnectionError): ...
class ConnectError(NetworkError): ...
class ReadError(NetworkError): ...
class TimeoutException(TransportError, TimeoutError): ...
class ConnectTimeout(TimeoutException): ...
class ReadTimeout(TimeoutException): ...
class RemoteProtocolError(TransportError): ...
class TooManyRedirects(McpWrapperError): ...

class HTTPStatusError(McpWrapperError):
    status_code: int
    request: Request | None
    response: Response | None
    def __init__(
        self, message: str, *, request: Request | None = None, response: Response | None = None
    ) -> None: ...

class DecodingError(McpWrapperError, ValueError): ...
class StreamError(McpWrapperError, RuntimeError): ...
class StreamConsumed(StreamError): ...
class StreamClosed(StreamError): ...
class ResponseNotRead(StreamError): ...

# Coroutines: what every async method returns.

@final
class Coroutine(collections.abc.Coroutine[Any, Any, _T_co]):
    @property
    def __name__(self) -> str: ...
    @property
    def __qualname__(self) -> str: ...
    def send(self, value: Any) -> Any: ...
    def throw(self, error: Any, *args: Any) -> Any: ...
    def close(self) -> None: ...
    def __await__(self) -> Generator[Any, None, _T_co]: ...
    def __next__(self) -> Any: ...

# Decoders.

@final
class SseEvent:
    def __new__(
        cls,
        data: str | _BytesLike = "",
        *,
        event: str = "message",
        id: str = "",
        retry: int | None = None,
    ) -> Self: ...
    @property
    def event(self) -> str: ...
    @property
    def data(self) -> str: ...
    @property
    def data_bytes(self) -> bytes: ...
    @property
    def id(self) -> str: ...
    @property
    def retry(self) -> int | None: ...
    def json(self) -> Any: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class SseDecoder:
    def __new__(cls, max_event_bytes: int = 16777216, lenient_eof: bool = False) -> Self: ...
    def feed(self, data: _BytesLike) -> list[SseEvent]: ...
    def finish(self) -> list[SseEvent]: ...
    def feed_messages(self, data: _BytesLike) -> list[bytes]: ...
    def finish_messages(self) -> list[bytes]: ...
    @property
    def last_event_id(self) -> str: ...
    @property
    def retry(self) -> int | None: ...
    @property
    def max_event_bytes(self) -> int: ...
    @property
    def lenient_eof(self) -> bool: ...

@final
class NdjsonDecoder:
    def __new__(cls, max_line_bytes: int = 67108864) -> Self: ...
    def feed(self, data: _BytesLike) -> list[bytes]: ...
    def finish(self) -> list[bytes]: ...
    @property
    def max_line_bytes(self) -> int: ...

# HTTP.

@final
class Headers(Mapping[str, str]):
    def __new__(cls, headers: _HeaderItems | None = None) -> Self: ...
    def __getitem__(self, name: str, /) -> str: ...
    def __contains__(self, name: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def get(self, name: str, default: Any = None) -> Any: ...
    def get_list(self, name: str) -> list[str]: ...
    def keys(self) -> list[str]: ...  # type: ignore[override]
    def values(self) -> list[str]: ...  # type: ignore[override]
    def items(self) -> list[tuple[str, str]]: ...  # type: ignore[override]
    def multi_items(self) -> list[tuple[str, str]]: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class ClientHeaders(MutableMapping[str, str]):
    def __getitem__(self, name: str, /) -> str: ...
    def __setitem__(self, name: str, value: str, /) -> None: ...
    def __delitem__(self, name: str, /) -> None: ...
    def __contains__(self, name: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def get(self, name: str, default: Any = None) -> Any: ...
    def get_list(self, name: str) -> list[str]: ...
    def keys(self) -> list[str]: ...  # type: ignore[override]
    def values(self) -> list[str]: ...  # type: ignore[override]
    def items(self) -> list[tuple[str, str]]: ...  # type: ignore[override]
    def multi_items(self) -> list[tuple[str, str]]: ...
    def update(self, headers: _HeaderItems) -> None: ...  # type: ignore[override]
    def __eq__(self, other: object, /) -> bool: ...

@final
class AsyncStream(Generic[_T_co]):
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Coroutine[_T_co]: ...
    def aclose(self) -> Coroutine[None]: ...

@final
class Request:
    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def content(self) -> bytes: ...

@final
class Response:
    @property
    def status_code(self) -> int: ...
    @property
    def reason_phrase(self) -> str: ...
    @property
    def http_version(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def request(self) -> Request: ...
    @property
    def is_success(self) -> bool: ...
    @property
    def is_error(self) -> bool: ...
    @property
    def is_client_error(self) -> bool: ...
    @property
    def is_server_error(self) -> bool: ...
    @property
    def is_redirect(self) -> bool: ...
    @property
    def is_closed(self) -> bool: ...
    @property
    def elapsed(self) -> datetime.timedelta: ...
    @property
    def encoding(self) -> str: ...
    @encoding.setter
    def encoding(self, encoding: str) -> None: ...
    @property
    def content(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...
    def raise_for_status(self) -> Self: ...
    def aread(self) -> Coroutine[bytes]: ...
    def aclose(self) -> Coroutine[None]: ...
    def aiter_bytes(self, chunk_size: int | None = None) -> AsyncStream[bytes]: ...
    def aiter_raw(self) -> AsyncStream[bytes]: ...
    def aiter_text(self) -> AsyncStream[str]: ...
    def aiter_lines(self, *, max_line_bytes: int = 67108864) -> AsyncStream[str]: ...
    def aiter_sse(
        self, *, max_event_bytes: int = 16777216, lenient_eof: bool = False
    ) -> AsyncStream[SseEvent]: ...
    def aiter_messages(self, *, max_message_bytes: int = 67108864) -> AsyncStream[bytes]: ...
    def __aenter__(self) -> Coroutine[Self]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Coroutine[bool]: ...

@final
class StreamContext:
    def __aenter__(self) -> Coroutine[Response]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Coroutine[bool]: ...

_Content: TypeAlias = str | _BytesLike | None
_Data: TypeAlias = Mapping[str, Any] | str | bytes | None
_Params: TypeAlias = Mapping[str, Any] | Sequence[tuple[str, Any]] | str | None

@final
class Client:
    def __new__(
        cls,
        *,
        timeout: float | None = 60.0,
        connect_timeout: float | None = 15.0,
        verify: bool | _Path = True,
        cert: _Path | tuple[_Path, _Path] | tuple[_Path] | None = None,
        http2: bool = True,
        headers: _HeaderItems | None = None,
        max_retries: int = 5,
        follow_redirects: bool = False,
        base_url: str | None = None,
    ) -> Self: ...
    @property
    def headers(self) -> ClientHeaders: ...
    @headers.setter
    def headers(self, headers: _HeaderItems) -> None: ...
    @property
    def base_url(self) -> str | None: ...
    def build_request(
        self,
        method: str,
        url: str,
        *,
        content: _Content = None,
        data: _Data = None,
        json: Any = None,
        params: _Params = None,
        headers: _HeaderItems | None = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
    ) -> Request: ...
    def send(self, request: Request, *, stream: bool = False) -> Coroutine[Response]: ...
    def stream(
        self,
        method: str,
        url: str,
        *,
        content: _Content = None,
        data: _Data = None,
        json: Any = None,
        params: _Params = None,
        headers: _HeaderItems | None = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
    ) -> StreamContext: ...
    def request(
        self,
        method: str,
        url: str,
        *,
        content: _Content = None,
        data: _Data = None,
        json: Any = None,
        params: _Params = None,
        headers: _HeaderItems | None = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
    ) -> Coroutine[Response]: ...
    def get(
        self,
        url: str,
        *,
        params: _Params = None,
        headers: _HeaderItems | None = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
    ) -> Coroutine[Response]: ...
    def head(
        self,
        url: str,
        *,
        params: _Params = None,
        headers: _HeaderItems | None = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
    ) -> Coroutine[Response]: ...
    def options(
        self,
        url: str,
        *,
        params: _Params = None,
        headers: _HeaderItems | None = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
    ) -> Coroutine[Response]: ...
    def delete(
        self,
        url: str,
        *,
        params: _Params = None,
        headers: _HeaderItems | None = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
    ) -> Coroutine[Response]: ...
    def post(
        self,
        url: str,
        *,
        content: _Content = None,
        data: _Data = None,
        json: Any = None,
        params: _Params = None,
        headers: _HeaderItems | None = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
    ) -> Coroutine[Response]: ...
    def put(
        self,
        url: str,
        *,
        content: _Content = None,
        data: _Data = None,
        json: Any = None,
        params: _Params = None,
        headers: _HeaderItems | None = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
    ) -> Coroutine[Response]: ...
    def patch(
        self,
        url: str,
        *,
        content: _Content = None,
        data: _Data = None,
        json: Any = None,
        params: _Params = None,
        headers: _HeaderItems | None = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
    ) -> Coroutine[Response]: ...
    @property
    def is_closed(self) -> bool: ...
    def aclose(self) -> Coroutine[None]: ...
    def __aenter__(self) -> Coroutine[Self]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Coroutine[None]: ...

# Forwarding.

@final
class ForwardResponse:
    @property
    def status_code(self) -> int: ...
    @property
    def http_version(self) -> str: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def messages(self) -> list[bytes]: ...
    def json(self) -> Any: ...

def forward_request(
    url: str,
    message: str | _BytesLike | Mapping[str, Any] | list[Any],
    *,
    client: Client | None = None,
    headers: _HeaderItems | None = None,
) -> Coroutine[ForwardResponse]: ...
def run_bridge(
    url: str,
    *,
    auth: str | None = None,
    timeout: float = 60.0,
    concurrency: int = 10,
    headers: Mapping[str, str] | None = None,
    connect_timeout: float = 15.0,
    insecure: bool | None = None,
    ca_bundle: str | os.PathLike[str] | None = None,
    client_cert: str | os.PathLike[str] | None = None,
    client_key: str | os.PathLike[str] | None = None,
    max_message_bytes: int = 67108864,
    proxy: str | None = None,
    log_level: str = "INFO",
    log_format: Literal["text", "json"] = "text",
    log_file: str | os.PathLike[str] | None = None,
    oauth: bool = True,
    oauth_client_id: str | None = None,
    oauth_client_secret_file: str | os.PathLike[str] | None = None,
    oauth_client_metadata_url: str | None = None,
    oauth_scope: str | None = None,
    oauth_params: Mapping[str, str] | None = None,
    oauth_resource: bool = True,
    oauth_callback_port: int | None = None,
    oauth_browser: bool = True,
    oauth_client_credentials: bool = False,
    oauth_timeout: float = 300.0,
    allow_tools: Sequence[str] | None = None,
    deny_tools: Sequence[str] | None = None,
    keep_alive: float | None = None,
    transport: str = "auto",
    protocol: str = "auto",
) -> int: ...
def _run_bridge_cli(argv: Sequence[str]) -> int: ...
def _shutdown() -> None: ...
