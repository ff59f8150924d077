"""What an httpx user expects of `Client`, `Response`, `Request`, the exceptions and the SSE
helper (issue 13 part D), against real servers on 127.0.0.1."""

from __future__ import annotations

import datetime
import json
import os
import ssl
import subprocess
import sys
import textwrap
from collections.abc import MutableMapping

import pytest

import mcp_wrapper_rs as m
from mcp_wrapper_rs.sse import SSEError, aconnect_sse

from support import Server, stream_call


async def test_every_method_reaches_the_server(http_server: Server) -> None:
    async with m.Client() as client:
        url = f"{http_server.base}/echo"
        for call, method in [
            (client.put(url, content=b"x"), "PUT"),
            (client.patch(url, json={"a": 1}), "PATCH"),
            (client.options(url), "OPTIONS"),
            (client.delete(url), "DELETE"),
            (client.get(url), "GET"),
            (client.post(url), "POST"),
        ]:
            assert (await call).json()["method"] == method
        head = await client.head(url)
        assert head.status_code == 200
        assert head.headers["content-length"] == "42"
        assert head.content == b""


async def test_params_merge_into_the_query(http_server: Server) -> None:
    async with m.Client() as client:
        answer = await client.get(
            f"{http_server.base}/echo?a=1&keep=yes", params={"a": 2, "b": [True, None], "c": "x y"}
        )
        assert answer.json()["path"] == "/echo?a=2&keep=yes&b=true&b=&c=x+y"
        pairs = await client.get(f"{http_server.base}/echo", params=[("k", "1"), ("k", "2")])
        assert pairs.json()["path"] == "/echo?k=1&k=2"


async def test_base_url_joins_relative_urls(http_server: Server) -> None:
    async with m.Client(base_url=f"{http_server.base}/ignored/..") as client:
        assert client.base_url == f"{http_server.base}/"
        assert (await client.get("/echo?q=1")).json()["path"] == "/echo?q=1"
        assert (await client.get("echo")).json()["path"] == "/echo"
        # An absolute URL is used as is.
        assert (await client.get(f"{http_server.base}/echo")).status_code == 200


async def test_per_request_timeout_replaces_the_clients(http_server: Server) -> None:
    """The body stays silent for a minute: the request's own timeout ends the wait."""
    async with m.Client(timeout=600) as client:
        with pytest.raises(m.ReadTimeout):
            await client.get(f"{http_server.base}/ticks?n=0&hold=1", timeout=0.2)


async def test_client_headers_can_be_replaced_between_requests(http_server: Server) -> None:
    async with m.Client(headers={"Authorization": "Bearer one"}) as client:
        first = await client.get(f"{http_server.base}/echo")
        client.headers = {"Authorization": "Bearer two", "X-Extra": "1"}
        second = await client.get(f"{http_server.base}/echo", headers={"X-Extra": "2"})
        assert client.headers["authorization"] == "Bearer two"
    assert first.json()["headers"]["authorization"] == ["Bearer one"]
    assert second.json()["headers"]["authorization"] == ["Bearer two"]
    assert second.json()["headers"]["x-extra"] == ["2"]


async def test_client_headers_change_in_place(http_server: Server) -> None:
    """A token refresh as httpx users write it: `client.headers[...] = ...`."""
    async with m.Client(headers={"Authorization": "Bearer one", "X-Gone": "1"}) as client:
        headers = client.headers
        assert isinstance(headers, MutableMapping)
        headers["Authorization"] = "Bearer two"
        del client.headers["x-gone"]
        client.headers.update({"X-New": "n"})
        with pytest.raises(KeyError):
            del client.headers["x-gone"]
        assert dict(client.headers.items()) == {"authorization": "Bearer two", "x-new": "n"}
        assert "Bearer two" not in repr(client.headers)
        sent = (await client.get(f"{http_server.base}/echo")).json()["headers"]
    assert sent["authorization"] == ["Bearer two"]
    assert sent["x-new"] == ["n"]
    assert "x-gone" not in sent


async def test_follow_redirects_per_request(http_server: Server) -> None:
    url = f"{http_server.base}/redirect"
    async with m.Client() as client:
        assert (await client.get(url)).status_code == 307
        assert (await client.get(url, follow_redirects=True)).json()["path"] == "/echo"
    async with m.Client(follow_redirects=True) as client:
        assert (await client.get(url, follow_redirects=False)).status_code == 307
        assert (await client.get(url)).json()["path"] == "/echo"


async def test_client_headers_reach_forward_request(mcp_server: Server) -> None:
    async with m.Client(headers={"X-Tenant": "a"}) as client:
        answer = await m.forward_request(
            mcp_server.url, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, client=client
        )
        assert answer.json()["id"] == 1


async def test_build_request_and_send(http_server: Server) -> None:
    async with m.Client(headers={"X-Client": "c"}) as client:
        request = client.build_request(
            "POST", f"{http_server.base}/echo", json={"a": 1}, params={"p": 1}
        )
        assert request.method == "POST"
        assert request.url == f"{http_server.base}/echo?p=1"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-client"] == "c"
        assert request.content == b'{"a":1}'
        response = await client.send(request)
        assert response.json()["body"] == '{"a":1}'
        assert response.request.url == request.url
        streamed = await client.send(request, stream=True)
        with pytest.raises(m.ResponseNotRead):
            _ = streamed.content
        assert json.loads(await streamed.aread())["body"] == '{"a":1}'


async def test_data_as_bytes_or_str_is_content_with_a_deprecation_warning(
    http_server: Server,
) -> None:
    async with m.Client() as client:
        with pytest.warns(DeprecationWarning, match="content="):
            request = client.build_request("POST", f"{http_server.base}/echo", data=b"raw")
        assert (await client.send(request)).json()["body"] == "raw"
        form = await client.post(f"{http_server.base}/echo", data={"a": "b c", "n": [1, 2]})
        assert form.json()["body"] == "a=b+c&n=1&n=2"


async def test_status_predicates(http_server: Server) -> None:
    async with m.Client() as client:
        for code, flags in [
            (200, (False, False, False, False)),
            (404, (True, True, False, False)),
            (503, (True, False, True, False)),
        ]:
            r = await client.get(f"{http_server.base}/status/{code}")
            assert (r.is_error, r.is_client_error, r.is_server_error, r.is_redirect) == flags
        redirect = await client.get(f"{http_server.base}/redirect")
        assert redirect.status_code == 307
        assert redirect.is_redirect


async def test_encoding_follows_the_charset(http_server: Server) -> None:
    async with m.Client() as client:
        latin = await client.get(f"{http_server.base}/latin1")
        assert latin.encoding == "ISO-8859-1"
        assert latin.text == "café"
        utf8 = await client.get(f"{http_server.base}/lines")
        assert utf8.encoding == "utf-8"
        assert utf8.text.endswith("six é")
        latin.encoding = "utf-8"
        with pytest.raises(LookupError):
            latin.encoding = "no-such-codec"


async def test_content_and_headers_are_the_same_objects(http_server: Server) -> None:
    async with m.Client() as client:
        r = await client.get(f"{http_server.base}/bytes?n=1000")
        assert r.content is r.content
        assert r.headers is r.headers
        assert r.request is r.request


async def test_elapsed_is_known_once_the_body_ended(http_server: Server) -> None:
    async with m.Client() as client, client.stream("GET", f"{http_server.base}/bytes?n=10") as r:
        with pytest.raises(RuntimeError, match="elapsed"):
            _ = r.elapsed
        await r.aread()
        assert isinstance(r.elapsed, datetime.timedelta)
        assert r.elapsed > datetime.timedelta(0)


async def test_aiter_text_keeps_a_character_cut_across_chunks(http_server: Server) -> None:
    async with m.Client() as client:
        async with client.stream("GET", f"{http_server.base}/lines") as r:
            pieces = [piece async for piece in r.aiter_text()]
        # The server cuts "é" (0xC3 0xA9) into two chunks: no piece holds half of it.
        assert "".join(pieces) == "one\r\ntwo\nthree\rfour\r\n\r\nsix é"
        assert all("\ufffd" not in piece for piece in pieces)


async def test_aiter_bytes_in_pieces_of_a_size(http_server: Server) -> None:
    async with m.Client() as client:
        async with client.stream("GET", f"{http_server.base}/bytes?n=1000&chunk=64") as r:
            sizes = [len(piece) async for piece in r.aiter_bytes(chunk_size=300)]
        assert sizes == [300, 300, 300, 100]
        async with client.stream("GET", f"{http_server.base}/bytes?n=100") as r:
            with pytest.raises(ValueError, match="chunk_size"):
                r.aiter_bytes(chunk_size=0)
            assert b"".join([piece async for piece in r.aiter_raw()]) == b"x" * 100


async def test_http_status_error_is_constructible_as_in_httpx(http_server: Server) -> None:
    async with m.Client() as client:
        response = await client.get(f"{http_server.base}/status/404")
    error = m.HTTPStatusError("nope", request=response.request, response=response)
    assert str(error) == "nope"
    assert error.status_code == 404
    assert error.request is response.request
    assert error.response is response
    with pytest.raises(m.HTTPStatusError) as caught:
        response.raise_for_status()
    assert caught.value.request is response.request
    assert m.HTTPError is m.McpWrapperError
    assert issubclass(m.StreamClosed, m.StreamError)
    assert issubclass(m.StreamError, RuntimeError)


async def test_too_many_redirects(http_server: Server) -> None:
    async with m.Client(follow_redirects=True) as client:
        assert (await client.get(f"{http_server.base}/redirect")).json()["path"] == "/echo"
        with pytest.raises(m.TooManyRedirects):
            await client.get(f"{http_server.base}/loop")


def test_verify_takes_no_ssl_context() -> None:
    with pytest.raises(TypeError, match="SSLContext"):
        m.Client(verify=ssl.create_default_context())  # type: ignore[arg-type]


def test_ssl_cert_file_adds_a_trusted_bundle(tls_server: Server) -> None:
    """Without `verify=`, the system's trust store decides; `SSL_CERT_FILE` is part of it."""
    assert tls_server.cert_dir is not None
    script = textwrap.dedent(
        """
        import asyncio, sys
        import mcp_wrapper_rs as m

        async def main():
            async with m.Client() as client:
                try:
                    r = await client.post(sys.argv[1], json={"jsonrpc": "2.0", "id": 1,
                                                             "method": "ping"})
                    print("ok", r.status_code)
                except m.ConnectError:
                    print("untrusted")

        asyncio.run(main())
        """
    )
    runs = {}
    for name, extra in [
        ("without", {}),
        ("with", {"SSL_CERT_FILE": str(tls_server.cert_dir / "ca.pem")}),
    ]:
        env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"} | extra
        proc = subprocess.run(
            [sys.executable, "-c", script, tls_server.url],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=True,
        )
        runs[name] = proc.stdout.strip()
    assert runs == {"without": "untrusted", "with": "ok 200"}


async def test_aconnect_sse_asks_for_events_and_rejects_other_bodies(
    mcp_server: Server, http_server: Server
) -> None:
    async with m.Client() as client:
        body = stream_call(1, 3, format="sse")
        async with aconnect_sse(client, "POST", mcp_server.url, json=body) as source:
            events = [event async for event in source.aiter_sse()]
        assert events[-1].json()["id"] == 1
        async with aconnect_sse(client, "GET", f"{http_server.base}/echo") as source:
            sent = (await source.response.aread()).decode()
            assert '"accept": ["text/event-stream"]' in sent
            assert '"cache-control": ["no-store"]' in sent
        async with aconnect_sse(client, "GET", f"{http_server.base}/echo") as source:
            with pytest.raises(SSEError, match="text/event-stream"):
                source.aiter_sse()


def test_request_building_follows_httpx() -> None:
    """Details an httpx user relies on: a client's Content-Type wins over the body's, a
    merged query key keeps its place, a query string as `params`, a fragment of a relative
    URL, `base_url` with its trailing `/`."""
    client = m.Client(
        headers={"Content-Type": "application/json-rpc"}, base_url="http://127.0.0.1:9/api"
    )
    assert client.base_url == "http://127.0.0.1:9/api/"
    r = client.build_request("POST", "/echo", json={"a": 1})
    assert r.headers.get_list("content-type") == ["application/json-rpc"]
    assert m.Client().build_request("POST", "http://h/", json=1).headers["content-type"] == (
        "application/json"
    )
    r = client.build_request("GET", "http://h/echo?a=1&b=2&a=9", params={"a": "3"})
    assert r.url == "http://h/echo?a=3&b=2"
    r = client.build_request("GET", "http://h/echo?keep=1", params="x=1&y=2")
    assert r.url == "http://h/echo?keep=1&x=1&y=2"
    assert client.build_request("GET", "x?q=1#frag").url == "http://127.0.0.1:9/api/x?q=1#frag"
