"""Client, Response, Headers and the async iterators, against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest

import mcp_wrapper_rs as m

from support import Server, request, stream_call


async def echo(client: m.Client, server: Server, **kwargs: Any) -> dict[str, Any]:
    response = await client.post(f"{server.base}/echo", **kwargs)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


class TestRequests:
    async def test_post_json_reads_the_whole_response(self, mcp_server: Server) -> None:
        async with m.Client() as client:
            response = await client.post(mcp_server.url, json=request(1, "ping"))
            assert response.status_code == 200
            assert response.reason_phrase == "OK"
            assert response.is_success
            assert response.http_version == "HTTP/1.1"
            assert response.url == mcp_server.url
            assert response.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
            assert json.loads(response.content) == json.loads(response.text)
            assert repr(response) == "<Response [200 OK]>"

    async def test_bodies_content_data_and_json(self, http_server: Server) -> None:
        async with m.Client() as client:
            sent = await echo(client, http_server, content=b"raw \x00 bytes")
            assert sent["body"] == "raw \x00 bytes"
            assert "content-type" not in sent["headers"]
            sent = await echo(client, http_server, content="text é")
            assert sent["body"] == "text é"
            sent = await echo(client, http_server, data={"a": "1 2", "b": ["x", "y&"]})
            assert sent["body"] == "a=1+2&b=x&b=y%26"
            assert sent["headers"]["content-type"] == ["application/x-www-form-urlencoded"]
            sent = await echo(client, http_server, json={"k": "é", "n": [1, 2.5, None]})
            assert sent["body"] == '{"k":"é","n":[1,2.5,null]}'
            assert sent["headers"]["content-type"] == ["application/json"]
            with pytest.raises(TypeError, match="at most one"):
                await client.post(f"{http_server.base}/echo", content=b"a", json={})

    async def test_headers_client_defaults_and_per_request(self, http_server: Server) -> None:
        async with m.Client(headers={"X-Team": "blue", "Authorization": "Bearer t"}) as client:
            sent = await echo(
                client, http_server, headers=[("x-team", "red"), ("X-Multi", "1"), ("X-Multi", "2")]
            )
            assert sent["headers"]["x-team"] == ["red"]
            assert sent["headers"]["authorization"] == ["Bearer t"]
            assert sent["headers"]["x-multi"] == ["1", "2"]
            assert sent["headers"]["user-agent"][0].startswith("mcp-wrapper-rs/")
            sent = await echo(client, http_server, json={}, headers={"Content-Type": "text/x"})
            assert sent["headers"]["content-type"] == ["text/x"]

    async def test_get_delete_and_request(self, http_server: Server) -> None:
        async with m.Client() as client:
            assert (await client.get(f"{http_server.base}/echo")).json()["method"] == "GET"
            assert (await client.delete(f"{http_server.base}/echo")).json()["method"] == "DELETE"
            response = await client.request("put", f"{http_server.base}/echo", content=b"x")
            assert response.json()["method"] == "PUT"

    async def test_response_headers_are_case_insensitive_and_multi_valued(
        self, http_server: Server
    ) -> None:
        async with m.Client() as client:
            headers = (await client.get(f"{http_server.base}/headers")).headers
        assert headers["SET-COOKIE"] == "a=1, b=2"
        assert headers.get_list("set-cookie") == ["a=1", "b=2"]
        assert headers["x-mixed-case"] == headers["X-Mixed-Case"] == "Yes"
        assert "X-MIXED-CASE" in headers
        assert "nope" not in headers
        assert headers.get("nope") is None
        assert headers.get("nope", "d") == "d"
        assert ("set-cookie", "b=2") in headers.multi_items()
        assert "set-cookie" in list(headers)
        assert len(headers) == len(headers.keys())
        assert dict(headers.items())["set-cookie"] == "a=1, b=2"
        assert isinstance(headers, Mapping)
        with pytest.raises(KeyError):
            headers["nope"]
        assert m.Headers({"A": "1"}) == m.Headers([("a", "1")]) == {"a": "1"}
        assert repr(m.Headers({"A": "1"})) == "Headers([('a', '1')])"
        # As httpx does for credentials, and the session id too (issue 12 item 16).
        secret = m.Headers({"Authorization": "Bearer s", "Mcp-Session-Id": "sid", "B": "2"})
        assert repr(secret) == (
            "Headers([('authorization', '[secure]'), ('mcp-session-id', '[secure]'), ('b', '2')])"
        )
        assert secret["authorization"] == "Bearer s"

    async def test_redirects_are_followed_only_when_asked(self, http_server: Server) -> None:
        async with m.Client() as client:
            response = await client.get(f"{http_server.base}/redirect")
            assert response.status_code == 307
            assert response.headers["location"] == "/echo"
        async with m.Client(follow_redirects=True) as client:
            response = await client.post(f"{http_server.base}/redirect", content=b"kept")
            assert response.json()["body"] == "kept"

    async def test_raise_for_status(self, http_server: Server) -> None:
        async with m.Client() as client:
            ok = await client.get(f"{http_server.base}/status/204")
            assert ok.raise_for_status() is ok
            response = await client.get(f"{http_server.base}/status/503")
        assert not response.is_success
        assert response.text == "status 503"
        with pytest.raises(m.HTTPStatusError) as caught:
            response.raise_for_status()
        assert caught.value.status_code == 503
        assert caught.value.response is response
        assert str(caught.value) == (
            f"Server error '503 Service Unavailable' for url '{http_server.base}/status/503'"
        )

    async def test_raise_for_status_hides_the_query_and_userinfo(self, http_server: Server) -> None:
        # Issue 12 item 16: a query string often carries a token.
        host = http_server.base.removeprefix("http://")
        async with m.Client() as client:
            response = await client.get(f"http://u:pw-secret@{host}/status/503?token=q-secret")
        with pytest.raises(m.HTTPStatusError) as caught:
            response.raise_for_status()
        assert str(caught.value) == (
            f"Server error '503 Service Unavailable' for url '{http_server.base}/status/503?…'"
        )

    async def test_invalid_arguments_raise_value_and_type_errors(self) -> None:
        async with m.Client() as client:
            with pytest.raises(ValueError, match="scheme"):
                client.stream("POST", "ftp://127.0.0.1/")
            with pytest.raises(ValueError, match="invalid URL"):
                await client.post("not a url")
            with pytest.raises(ValueError, match="method"):
                client.stream("BAD METHOD", "http://127.0.0.1/")
            with pytest.raises(TypeError):
                await client.post("http://127.0.0.1/", headers={"a": 1})  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout"):
            m.Client(timeout=-1)
        with pytest.raises(ValueError, match="CA bundle"):
            m.Client(verify="/nonexistent/ca.pem")

    async def test_a_closed_client_refuses_new_requests(self, mcp_server: Server) -> None:
        client = m.Client()
        assert not client.is_closed
        await client.aclose()
        assert client.is_closed
        with pytest.raises(RuntimeError, match="closed"):
            await client.post(mcp_server.url, json=request(1, "ping"))


class TestStreaming:
    async def test_aiter_sse_yields_events_as_they_arrive(self, mcp_server: Server) -> None:
        async with (
            m.Client() as client,
            client.stream("POST", mcp_server.url, json=stream_call(1, 3, 20)) as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            events = [event async for event in response.aiter_sse()]
        assert [e.event for e in events] == ["message"] * 4
        assert [e.json().get("method") for e in events[:3]] == ["notifications/progress"] * 3
        assert events[3].json()["id"] == 1

    @pytest.mark.parametrize(
        "fault",
        [
            {"chunk_size": 1},
            {"line_ending": "cr", "split_at": [3, 17, 40]},
            {"line_ending": "cr_lf", "multiline_data": True, "sse_comments": True},
            {"gzip": True, "event_ids": True},
        ],
        ids=["1-byte chunks", "cr", "crlf multiline comments", "gzip ids"],
    )
    async def test_aiter_messages_frames_any_sse_body(
        self, mcp_server: Server, fault: dict[str, Any]
    ) -> None:
        async with (
            m.Client() as client,
            client.stream("POST", mcp_server.url, json=stream_call(7, 2, **fault)) as response,
        ):
            messages = [message async for message in response.aiter_messages()]
        assert len(messages) == 3
        assert all(b"\n" not in message and b"\r" not in message for message in messages)
        assert json.loads(messages[-1])["id"] == 7

    @pytest.mark.parametrize("fmt", ["ndjson", "text_plain", "no_content_type", "json"])
    async def test_aiter_messages_follows_the_content_type(
        self, mcp_server: Server, fmt: str
    ) -> None:
        message = request(3, "tools/call", {"name": "echo", "arguments": {"x": 1}}, format=fmt)
        async with (
            m.Client() as client,
            client.stream("POST", mcp_server.url, json=message) as response,
        ):
            messages = [json.loads(m_) async for m_ in response.aiter_messages()]
        assert [msg["id"] for msg in messages] == [3]

    async def test_aiter_messages_raises_decoding_error_for_invalid_json(
        self, mcp_server: Server
    ) -> None:
        async with (
            m.Client() as client,
            client.stream("POST", mcp_server.url, json=request(4, "ping", invalid_json=True)) as r,
        ):
            with pytest.raises(m.DecodingError, match="invalid JSON"):
                async for _ in r.aiter_messages():
                    pass

    async def test_aiter_messages_limits_message_size_and_goes_on(self, mcp_server: Server) -> None:
        body = stream_call(5, 2, format="ndjson", message_bytes=4096)
        async with m.Client() as client, client.stream("POST", mcp_server.url, json=body) as r:
            iterator = r.aiter_messages(max_message_bytes=1024)
            first = await iterator.__anext__()
            assert json.loads(first)["method"] == "notifications/progress"
            await iterator.__anext__()
            with pytest.raises(m.DecodingError, match="limit of 1024 bytes"):
                await iterator.__anext__()
            with pytest.raises(StopAsyncIteration):
                await iterator.__anext__()

    async def test_aiter_lines_splits_at_lf_crlf_and_cr(self, http_server: Server) -> None:
        async with (
            m.Client() as client,
            client.stream("GET", f"{http_server.base}/lines") as response,
        ):
            lines = [line async for line in response.aiter_lines()]
        assert lines == ["one", "two", "three", "four", "", "six é"]

    async def test_aiter_lines_raises_for_an_over_long_line_and_goes_on(
        self, http_server: Server
    ) -> None:
        async with (
            m.Client() as client,
            client.stream("GET", f"{http_server.base}/lines") as response,
        ):
            iterator = response.aiter_lines(max_line_bytes=4)
            got: list[str | type[m.DecodingError]] = []
            while True:
                try:
                    got.append(await iterator.__anext__())
                except m.DecodingError:
                    got.append(m.DecodingError)
                except StopAsyncIteration:
                    break
        assert got == ["one", "two", m.DecodingError, "four", "", m.DecodingError]

    async def test_aiter_bytes_then_the_body_is_consumed(self, http_server: Server) -> None:
        async with (
            m.Client() as client,
            client.stream("GET", f"{http_server.base}/bytes?n=100000&chunk=1000") as response,
        ):
            total = 0
            async for chunk in response.aiter_bytes():
                assert isinstance(chunk, bytes)
                total += len(chunk)
            assert total == 100_000
            with pytest.raises(RuntimeError, match="consumed"):
                response.aiter_lines()
            with pytest.raises(RuntimeError, match="consumed"):
                await response.aread()
            with pytest.raises(RuntimeError, match="not read"):
                response.json()
            assert response.is_closed

    async def test_aread_then_iterators_replay_the_content(self, mcp_server: Server) -> None:
        async with (
            m.Client() as client,
            client.stream("POST", mcp_server.url, json=stream_call(2, 1)) as response,
        ):
            with pytest.raises(RuntimeError, match="not read"):
                _ = response.content
            content = await response.aread()
            assert await response.aread() == content == response.content
            assert b"".join([c async for c in response.aiter_bytes()]) == content
            assert len([e async for e in response.aiter_sse()]) == 2

    async def test_leaving_the_block_closes_the_response(self, http_server: Server) -> None:
        async with m.Client() as client:
            async with client.stream("GET", f"{http_server.base}/bytes?n=10000000") as response:
                iterator = response.aiter_bytes()
                await iterator.__anext__()
            assert response.is_closed
            with pytest.raises(RuntimeError, match="closed"):
                await iterator.__anext__()
            # The client goes on.
            assert (await client.get(f"{http_server.base}/echo")).status_code == 200

    def test_streaming_256_mib_keeps_memory_bounded(self, http_server: Server) -> None:
        # Peak RSS is a process-wide high-water mark that an earlier test may have raised
        # already: measure in a fresh interpreter, where only this body can raise it. A
        # client that held the whole body would add 256 MiB to the peak.
        size = 256 * 1024 * 1024
        echo_url = f"{http_server.base}/echo"
        bytes_url = f"{http_server.base}/bytes?n={size}&chunk=262144"
        # The child leaves with os._exit once it has printed: under load, a program that ends
        # right after using a Client can crash in interpreter finalization (a runtime thread
        # releasing the GIL, SIGABRT; reported separately), which is not what this measures.
        script = f"""
import asyncio, os, resource, sys
import mcp_wrapper_rs as m

async def main() -> None:
    async with m.Client() as client:
        # Warm up (runtime threads, connection pool) before the baseline.
        assert (await client.get({echo_url!r})).status_code == 200
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        total = 0
        async with client.stream("GET", {bytes_url!r}) as response:
            async for chunk in response.aiter_bytes():
                total += len(chunk)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(total, after - before)

asyncio.run(main())
sys.stdout.flush()
os._exit(0)
"""
        run = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, timeout=110, check=False
        )
        assert run.returncode == 0, run.stderr.decode()
        total, grown_kib = (int(n) for n in run.stdout.split())
        assert total == size
        assert grown_kib < 64 * 1024, f"peak RSS grew by {grown_kib / 1024:.0f} MiB"

    async def test_cancelling_the_task_cancels_the_read(self, http_server: Server) -> None:
        async with (
            m.Client(timeout=30) as client,
            client.stream("GET", f"{http_server.base}/slow-body?ms=3000") as response,
        ):
            iterator = response.aiter_bytes()
            assert await iterator.__anext__() == b"start "
            # The read is in flight from here: `__anext__()` spawned it on the runtime, and
            # the server stays silent for 3 s.
            task = asyncio.ensure_future(iterator.__anext__())
            assert not task.done()
            assert task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The read was dropped, not lost: the next call resumes the same body.
            assert await asyncio.wait_for(iterator.__anext__(), 10) == b"done"

    async def test_concurrent_requests_share_the_client(self, mcp_server: Server) -> None:
        async with m.Client() as client:
            responses = await asyncio.gather(
                *(client.post(mcp_server.url, json=request(i, "ping")) for i in range(32))
            )
        assert sorted(r.json()["id"] for r in responses) == list(range(32))


class TestFailures:
    async def test_connection_refused_is_a_connect_error(self, http_server: Server) -> None:
        from socket import socket

        with socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        async with m.Client(max_retries=0) as client:
            with pytest.raises(ConnectionError) as caught:
                await client.post(f"http://127.0.0.1:{port}/mcp/", content=b"{}")
        assert isinstance(caught.value, m.ConnectError)
        assert f"127.0.0.1:{port}" in str(caught.value)
        assert "refused" in str(caught.value).lower()

    async def test_connect_error_hides_the_query_and_userinfo(self) -> None:
        # Issue 12 item 16: reqwest's error text names the URL, query string included.
        from socket import socket

        with socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://u:pw-secret@127.0.0.1:{port}/mcp/?token=q-secret"
        async with m.Client(max_retries=0) as client:
            with pytest.raises(m.ConnectError) as caught:
                await client.post(url, content=b"{}")
            with pytest.raises(m.ConnectError) as forwarded:
                await m.forward_request(url, request(1, "ping"), client=client)
        for error in (caught.value, forwarded.value):
            assert f"127.0.0.1:{port}/mcp/" in str(error)
            assert "q-secret" not in str(error)
            assert "pw-secret" not in str(error)
        assert forwarded.value.jsonrpc_error is not None
        assert b"q-secret" not in forwarded.value.jsonrpc_error

    async def test_silence_before_headers_is_a_read_timeout(self, mcp_server: Server) -> None:
        async with m.Client(timeout=0.3) as client:
            with pytest.raises(TimeoutError) as caught:
                # Silent for a minute: the 0.3 s timeout fires first however loaded the machine.
                await client.post(mcp_server.url, json=request(1, "ping", delay_headers_ms=60_000))
        assert isinstance(caught.value, m.ReadTimeout)

    async def test_silence_in_the_body_is_a_read_timeout(self, http_server: Server) -> None:
        async with (
            m.Client(timeout=0.3) as client,
            client.stream("GET", f"{http_server.base}/slow-body?ms=60000") as response,
        ):
            iterator = response.aiter_bytes()
            await iterator.__anext__()
            with pytest.raises(m.ReadTimeout):
                await iterator.__anext__()
            with pytest.raises(StopAsyncIteration):
                await iterator.__anext__()

    async def test_a_reset_mid_body_is_a_read_error(self, mcp_server: Server) -> None:
        """As in httpx: `ReadError`, a `NetworkError` (and a `ConnectionError`)."""
        body = stream_call(1, 50, format="sse", reset_after_bytes=300, chunk_size=100)
        async with m.Client() as client, client.stream("POST", mcp_server.url, json=body) as r:
            with pytest.raises(m.ReadError) as caught:
                async for _ in r.aiter_sse():
                    pass
            assert isinstance(caught.value, m.NetworkError)
            assert isinstance(caught.value, ConnectionError)

    async def test_a_refused_connection_is_a_connect_error(self) -> None:
        """After the retries `max_retries` allows (the core's retry tests count them:
        `crates/jsonrpc-forward/src/retry.rs`), a refused connection is a `ConnectError`."""
        from socket import socket

        with socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        async with m.Client(max_retries=2) as client:
            with pytest.raises(m.ConnectError):
                await client.post(f"http://127.0.0.1:{port}/", content=b"")


class TestTls:
    async def test_verify_with_a_ca_bundle_and_http2_by_alpn(self, tls_server: Server) -> None:
        assert tls_server.cert_dir is not None
        async with m.Client(verify=tls_server.cert_dir / "ca.pem") as client:
            response = await client.post(tls_server.url, json=request(1, "ping"))
        assert response.json()["id"] == 1
        assert response.http_version == "HTTP/2"
        async with m.Client(verify=str(tls_server.cert_dir / "ca.pem"), http2=False) as client:
            response = await client.post(tls_server.url, json=request(1, "ping"))
        assert response.http_version == "HTTP/1.1"

    async def test_an_unknown_ca_is_a_connect_error(self, tls_server: Server) -> None:
        async with m.Client(max_retries=0) as client:
            with pytest.raises(m.ConnectError, match=r"(?i)certificate"):
                await client.post(tls_server.url, json=request(1, "ping"))

    async def test_verify_false_accepts_any_certificate(self, tls_server: Server) -> None:
        async with m.Client(verify=False) as client:
            response = await client.post(tls_server.url, json=request(1, "ping"))
        assert response.status_code == 200

    async def test_client_certificates(self, mtls_server: Server) -> None:
        certs = mtls_server.cert_dir
        assert certs is not None
        ca = certs / "ca.pem"
        async with m.Client(verify=ca, cert=(certs / "client.pem", certs / "client-key.pem")) as c:
            assert (await c.post(mtls_server.url, json=request(1, "ping"))).status_code == 200
        async with m.Client(verify=ca, max_retries=0) as client:
            with pytest.raises(m.TransportError):
                await client.post(mtls_server.url, json=request(1, "ping"))


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is POSIX only")
def test_client_works_under_uvloop(mcp_server: Server) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> Any:
        async with m.Client() as client:
            response = await client.post(mcp_server.url, json=request(9, "ping"))
            return response.json()

    assert uvloop.run(main())["id"] == 9
