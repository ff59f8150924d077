"""Server-Sent Events over ``Client``, in the spirit of httpx-sse's ``aconnect_sse``.

>>> async with aconnect_sse(client, "GET", url) as source:  # doctest: +SKIP
...     async for event in source.aiter_sse():
...         print(event.event, event.json())

The request asks for ``text/event-stream`` and no caching; ``aiter_sse()`` raises
``SSEError`` when the server answered with anything else (an error page, a JSON body), which
``Response.aiter_sse()`` alone would read as a stream without events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from mcp_wrapper_rs._native import AsyncStream, Client, Response, SseEvent, TransportError

__all__ = ["EventSource", "SSEError", "aconnect_sse"]


class SSEError(TransportError):
    """The response is not an event stream (its content type is not ``text/event-stream``)."""


class EventSource:
    """The response of ``aconnect_sse``, read as events."""

    def __init__(self, response: Response) -> None:
        self.response = response

    def aiter_sse(
        self, *, max_event_bytes: int = 16777216, lenient_eof: bool = False
    ) -> AsyncStream[SseEvent]:
        content_type = self.response.headers.get("content-type", "")
        media_type = content_type.partition(";")[0].strip().lower()
        if media_type != "text/event-stream":
            raise SSEError(
                "Expected response header Content-Type to contain 'text/event-stream', "
                f"got {content_type!r} (status {self.response.status_code})"
            )
        return self.response.aiter_sse(max_event_bytes=max_event_bytes, lenient_eof=lenient_eof)


@asynccontextmanager
async def aconnect_sse(
    client: Client,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> AsyncIterator[EventSource]:
    """Sends the request with ``Accept: text/event-stream`` and ``Cache-Control: no-store``
    (``headers`` given here win) and yields an ``EventSource`` on its streamed response."""
    given = dict(headers or {})
    names = {name.lower() for name in given}
    defaults = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
    merged = {k: v for k, v in defaults.items() if k.lower() not in names} | given
    async with client.stream(method, url, headers=merged, **kwargs) as response:
        yield EventSource(response)
