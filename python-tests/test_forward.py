"""forward_request: one message to an MCP server as the bridge sends it, every body format."""

from __future__ import annotations

import json
from pathlib import Path
from socket import socket
from typing import Any

import pytest

import mcp_wrapper_rs as m

from support import Server, request, stream_call


def refused_url() -> str:
    with socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mcp/"


async def test_forward_request_json_answer(mcp_server: Server) -> None:
    response = await m.forward_request(mcp_server.url, request(1, "ping"))
    assert response.status_code == 200
    assert response.http_version == "HTTP/1.1"
    assert response.headers["content-type"] == "application/json"
    assert response.messages == [b'{"id":1,"jsonrpc":"2.0","result":{}}']
    assert response.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert response.session_id is None
    assert repr(response) == "<ForwardResponse [200] messages=1 session_id=None>"


@pytest.mark.parametrize(
    "fault",
    [{}, {"format": "ndjson"}, {"chunk_size": 3, "line_ending": "cr"}, {"multiline_data": True}],
    ids=["sse", "ndjson", "sse cr 3-byte chunks", "sse multiline"],
)
async def test_forward_request_streams_every_message(
    mcp_server: Server, fault: dict[str, Any]
) -> None:
    response = await m.forward_request(mcp_server.url, stream_call(2, 3, **fault))
    parsed = [json.loads(message) for message in response.messages]
    assert [p.get("method") for p in parsed] == ["notifications/progress"] * 3 + [None]
    assert all(b"\n" not in message for message in response.messages)
    assert response.json()["id"] == 2


async def test_forward_request_of_a_notification_gets_202_and_no_messages(
    mcp_server: Server,
) -> None:
    notification = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
    response = await m.forward_request(mcp_server.url, notification)
    assert response.status_code == 202
    assert response.messages == []
    assert response.json() is None


async def test_forward_request_accepts_str_bytes_and_dict(mcp_server: Server) -> None:
    for message in (
        '{"jsonrpc":"2.0","id":"s","method":"ping"}',
        bytearray(b'{"jsonrpc":"2.0","id":"s","method":"ping"}'),
        {"jsonrpc": "2.0", "id": "s", "method": "ping"},
    ):
        assert (await m.forward_request(mcp_server.url, message)).json()["id"] == "s"
    with pytest.raises(ValueError, match="JSON"):
        await m.forward_request(mcp_server.url, b"{not json")


async def test_forward_request_keeps_and_sends_the_session(session_server: Server) -> None:
    async with m.Client() as client:
        init = request(
            1,
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        )
        response = await m.forward_request(session_server.url, init, client=client)
        session = response.session_id
        assert session
        # Issue 12 item 16: whoever holds the session id can act in the session.
        assert session not in repr(response)
        assert "session_id=<redacted>" in repr(response)
        assert session not in repr(response.headers)
        assert response.json()["result"]["protocolVersion"] == "2025-06-18"
        headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
        listed = await m.forward_request(
            session_server.url, request(2, "tools/list"), client=client, headers=headers
        )
        assert [tool["name"] for tool in listed.json()["result"]["tools"]][:1] == ["echo"]
        with pytest.raises(m.HTTPStatusError) as caught:
            await m.forward_request(
                session_server.url,
                request(3, "tools/list"),
                client=client,
                headers={"Mcp-Session-Id": "unknown"},
            )
        assert caught.value.status_code == 404


async def test_forward_request_http_error_answers_with_a_jsonrpc_error(
    mcp_server: Server,
) -> None:
    message = request(5, "tools/call", {"name": "echo"}, status=500)
    with pytest.raises(m.HTTPStatusError) as caught:
        await m.forward_request(mcp_server.url, message)
    error = caught.value
    assert error.status_code == 500
    assert "HTTP 500" in str(error)
    assert error.jsonrpc_error is not None
    answer = json.loads(error.jsonrpc_error)
    assert answer["id"] == 5
    assert answer["error"]["code"] == -32000
    assert answer["error"]["message"] == "HTTP 500 Internal Server Error"


async def test_forward_request_forwards_the_servers_jsonrpc_error_body(
    mcp_server: Server,
) -> None:
    message = request(
        6,
        "tools/call",
        {"name": "echo"},
        status=400,
        error_body={"kind": "jsonrpc", "code": -32602, "message": "bad params"},
    )
    with pytest.raises(m.HTTPStatusError) as caught:
        await m.forward_request(mcp_server.url, message)
    assert caught.value.jsonrpc_error is not None
    answer = json.loads(caught.value.jsonrpc_error)
    assert answer == {"jsonrpc": "2.0", "id": 6, "error": {"code": -32602, "message": "bad params"}}


async def test_forward_request_retries_503_then_succeeds(mcp_server: Server) -> None:
    message = request(
        "retry-503", "tools/call", {"name": "echo"}, status=503, times=1, retry_after="0"
    )
    response = await m.forward_request(mcp_server.url, message)
    assert response.json()["id"] == "retry-503"


@pytest.mark.parametrize(
    ("fault", "cls", "code"),
    [
        ({"invalid_json": True}, m.DecodingError, -32700),
        ({"end_without_response": True}, m.RemoteProtocolError, -32000),
        ({"message_bytes": 4096}, m.DecodingError, -32603),
    ],
    ids=["invalid json", "stream ended", "too large"],
)
async def test_forward_request_failures_map_to_classes_and_jsonrpc_errors(
    mcp_server: Server, fault: dict[str, Any], cls: type[m.McpWrapperError], code: int
) -> None:
    # The message size limit is the transport's 64 MiB; pad past it only in the oversize case.
    if "message_bytes" in fault:
        fault["message_bytes"] = 65 * 1024 * 1024
    with pytest.raises(cls) as caught:
        await m.forward_request(mcp_server.url, request(7, "tools/call", {"name": "echo"}, **fault))
    assert caught.value.jsonrpc_error is not None
    answer = json.loads(caught.value.jsonrpc_error)
    assert (answer["id"], answer["error"]["code"]) == (7, code)


async def test_forward_request_timeout_is_a_read_timeout(mcp_server: Server) -> None:
    async with m.Client(timeout=0.3, max_retries=0) as client:
        with pytest.raises(TimeoutError) as caught:
            await m.forward_request(
                mcp_server.url,
                request(8, "tools/call", {"name": "sleep", "arguments": {"ms": 60_000}}),
                client=client,
            )
    assert isinstance(caught.value, m.ReadTimeout)
    assert caught.value.jsonrpc_error is not None
    assert json.loads(caught.value.jsonrpc_error)["error"]["code"] == -32001


async def test_forward_request_refused_is_a_connect_error(mcp_server: Server) -> None:
    async with m.Client(max_retries=0) as client:
        with pytest.raises(ConnectionError) as caught:
            await m.forward_request(refused_url(), request(9, "ping"), client=client)
    assert isinstance(caught.value, m.ConnectError)
    assert caught.value.jsonrpc_error is not None
    assert json.loads(caught.value.jsonrpc_error)["error"]["message"].startswith(
        "Connection failed"
    )
    # A notification has no answer to stand in for.
    async with m.Client(max_retries=0) as client:
        with pytest.raises(m.ConnectError) as caught:
            await m.forward_request(
                refused_url(), {"jsonrpc": "2.0", "method": "notifications/x"}, client=client
            )
    assert caught.value.jsonrpc_error is None


async def test_forward_request_over_tls_with_the_clients_settings(tls_server: Server) -> None:
    assert tls_server.cert_dir is not None
    async with m.Client(verify=tls_server.cert_dir / "ca.pem") as client:
        response = await m.forward_request(tls_server.url, request(10, "ping"), client=client)
    assert response.json()["id"] == 10
    assert response.http_version == "HTTP/2"


async def test_forward_request_with_a_client_certificate_in_one_file(
    mtls_server: Server, tmp_path: Path
) -> None:
    certs = mtls_server.cert_dir
    assert certs is not None
    combined = tmp_path / "identity.pem"
    combined.write_bytes(
        (certs / "client.pem").read_bytes() + (certs / "client-key.pem").read_bytes()
    )
    async with m.Client(verify=certs / "ca.pem", cert=combined) as client:
        assert (await client.post(mtls_server.url, json=request(11, "ping"))).status_code == 200
        response = await m.forward_request(mtls_server.url, request(12, "ping"), client=client)
    assert response.json()["id"] == 12
