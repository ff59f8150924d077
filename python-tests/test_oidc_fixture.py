"""The OAuth fixture of python-tests/oidc: a real authorization server (npm `oidc-provider`) and
an MCP resource server that trusts it. These tests prove, with plain httpx2 (the httpx the MCP
SDK 2.x brings), every flow the bridge's sign-in needs from them; the bridge's tests then rely
on them.

Needs `node` (20 or newer) and `npm ci --prefix python-tests/oidc`. Without them the tests are
skipped, unless MCP_OIDC_REQUIRED=1 (then they fail).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx2
import pytest

from oauth_support import Oidc, start_oidc

HERE = Path(__file__).resolve().parent
OIDC_DIR = HERE / "oidc"
CALLBACK = "http://127.0.0.1:{port}/oauth/callback"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPE = "mcp:tools"


@pytest.fixture
def oidc(tmp_path: Path) -> Iterator[Oidc]:
    """A fresh fixture per test: the switches (expire, revoke, deny) are global to a process."""
    server = start_oidc(tmp_path / "oidc.log")
    yield server
    assert server.stop() == 0, server.log.read_text(errors="replace")


# ---- OAuth client steps, as an MCP client does them ------------------------------------------


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def register(oidc: Oidc, **metadata: Any) -> dict[str, Any]:
    """Dynamic Client Registration (RFC 7591); answers the registered client."""
    response = oidc.http.post(oidc.metadata["registration_endpoint"], json=metadata)
    assert response.status_code == 201, response.text
    client: dict[str, Any] = response.json()
    return client


def register_native(oidc: Oidc, port: int = 33418) -> dict[str, Any]:
    """A public native client with a loopback redirect URI, as the bridge registers itself."""
    return register(
        oidc,
        client_name="mcp-wrapper test",
        application_type="native",
        redirect_uris=[CALLBACK.format(port=port)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )


@dataclass
class Redirect:
    """Where the authorization ended: the redirect to the client's callback."""

    location: str
    params: dict[str, str]


def authorize(
    oidc: Oidc,
    client_id: str,
    redirect_uri: str,
    challenge: str,
    state: str,
    **extra: str,
) -> Redirect:
    """Follows the authorization URL with a cookie-keeping user agent until the redirect to
    `redirect_uri` (not followed: nothing listens there)."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
        "resource": oidc.rs,
        "scope": SCOPE,
        **extra,
    }
    url = f"{oidc.metadata['authorization_endpoint']}?{urlencode(query)}"
    with httpx2.Client(timeout=30, follow_redirects=False) as agent:
        for _ in range(10):
            response = agent.get(url)
            assert response.is_redirect, (response.status_code, response.text)
            url = urljoin(url, response.headers["location"])
            if url.startswith(redirect_uri):
                params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
                return Redirect(url, params)
    raise AssertionError(f"no redirect to {redirect_uri}")


def token_request(oidc: Oidc, data: dict[str, str], **kwargs: Any) -> httpx2.Response:
    return oidc.http.post(oidc.metadata["token_endpoint"], data=data, **kwargs)


def grant(oidc: Oidc, data: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    response = token_request(oidc, data, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def code_grant(
    client_id: str, code: str, redirect_uri: str, verifier: str, resource: str
) -> dict[str, str]:
    """The form of an authorization_code grant with PKCE and a resource indicator."""
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": client_id,
        "resource": resource,
    }


def sign_in(oidc: Oidc, client: dict[str, Any], port: int = 33418) -> dict[str, Any]:
    """Authorization code + PKCE S256 + resource, then the code exchange; the token response."""
    verifier, challenge = pkce_pair()
    redirect_uri = CALLBACK.format(port=port)
    redirect = authorize(oidc, client["client_id"], redirect_uri, challenge, "st-1")
    assert redirect.params["state"] == "st-1"
    return grant(
        oidc,
        code_grant(client["client_id"], redirect.params["code"], redirect_uri, verifier, oidc.rs),
    )


def refresh(oidc: Oidc, client_id: str, refresh_token: str) -> httpx2.Response:
    return token_request(
        oidc,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "resource": oidc.rs,
        },
    )


# ---- MCP at the resource server --------------------------------------------------------------


def rpc(
    oidc: Oidc,
    method: str,
    params: dict[str, Any] | None = None,
    token: str | None = None,
    id: int | None = 1,
    session: str | None = None,
) -> httpx2.Response:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        message["id"] = id
    if params is not None:
        message["params"] = params
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if session is not None:
        headers["Mcp-Session-Id"] = session
    return oidc.http.post(oidc.rs, json=message, headers=headers)


def whoami(oidc: Oidc, token: str) -> dict[str, Any]:
    response = rpc(oidc, "tools/call", {"name": "whoami", "arguments": {}}, token=token)
    assert response.status_code == 200, (response.status_code, response.headers, response.text)
    assert response.headers["content-type"].startswith("application/json")
    result = response.json()["result"]
    who: dict[str, Any] = json.loads(result["content"][0]["text"])
    return who


def auth_params(challenge: str) -> dict[str, str]:
    """The auth-params of a `Bearer` challenge (quoted strings without escapes)."""
    scheme, _, rest = challenge.partition(" ")
    assert scheme == "Bearer"
    params = {}
    for part in rest.split('", '):
        key, _, value = part.partition("=")
        params[key.strip()] = value.strip().strip('"')
    return params


# ---- the tests -------------------------------------------------------------------------------


def test_metadata_prm_and_401(oidc: Oidc) -> None:
    meta = oidc.metadata
    assert meta["issuer"] == oidc.issuer
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    for grant_type in ("authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT):
        assert grant_type in meta["grant_types_supported"]
    for endpoint in (
        "registration_endpoint",
        "device_authorization_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ):
        assert meta[endpoint].startswith(oidc.issuer + "/")
    # RFC 8414 metadata is not served (only with --oauth-metadata): clients must fall back.
    origin = oidc.issuer.removesuffix("/oidc")
    assert oidc.http.get(f"{origin}/.well-known/oauth-authorization-server/oidc").status_code == 404

    prm = oidc.http.get(oidc.prm)
    assert prm.status_code == 200
    assert prm.json()["resource"] == oidc.rs
    assert prm.json()["authorization_servers"] == [oidc.issuer]
    assert prm.json()["scopes_supported"] == [SCOPE]

    init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t"}}
    missing = rpc(oidc, "initialize", init)
    assert missing.status_code == 401
    params = auth_params(missing.headers["www-authenticate"])
    assert params["resource_metadata"] == oidc.prm
    assert "error" not in params
    bad = rpc(oidc, "initialize", init, token="not-a-token")
    assert bad.status_code == 401
    params = auth_params(bad.headers["www-authenticate"])
    assert params["error"] == "invalid_token"
    assert params["resource_metadata"] == oidc.prm
    assert [(r["token"], r["status"]) for r in oidc.records()["unauthorized"]] == [
        ("missing", 401),
        ("invalid", 401),
    ]


def test_rfc8414_metadata_on_request(tmp_path: Path) -> None:
    server = start_oidc(tmp_path / "oidc.log", "--oauth-metadata")
    try:
        origin = server.issuer.removesuffix("/oidc")
        response = server.http.get(f"{origin}/.well-known/oauth-authorization-server/oidc")
        assert response.status_code == 200
        assert response.json()["issuer"] == server.issuer
    finally:
        server.stop()


def test_authorization_code_flow_and_mcp(oidc: Oidc) -> None:
    client = register_native(oidc, port=33418)
    assert client["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in client
    # A native client's loopback redirect URI matches on any port (RFC 8252 section 7.3).
    verifier, challenge = pkce_pair()
    redirect_uri = CALLBACK.format(port=45671)
    redirect = authorize(oidc, client["client_id"], redirect_uri, challenge, "xyz")
    assert redirect.location.startswith(redirect_uri + "?")
    assert redirect.params["state"] == "xyz"
    assert redirect.params["iss"] == oidc.issuer
    assert "code" in redirect.params

    tokens = grant(
        oidc,
        code_grant(client["client_id"], redirect.params["code"], redirect_uri, verifier, oidc.rs),
    )
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == SCOPE
    assert "refresh_token" in tokens
    access = tokens["access_token"]

    init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t"}}
    response = rpc(oidc, "initialize", init, token=access)
    assert response.status_code == 200
    assert response.json()["result"]["protocolVersion"] == "2025-06-18"
    assert response.json()["result"]["capabilities"] == {"tools": {}}
    session = response.headers["mcp-session-id"]
    notified = rpc(oidc, "notifications/initialized", token=access, id=None, session=session)
    assert notified.status_code == 202
    listed = rpc(oidc, "tools/list", token=access, session=session)
    assert [t["name"] for t in listed.json()["result"]["tools"]] == ["whoami", "echo"]
    echo = rpc(oidc, "tools/call", {"name": "echo", "arguments": {"text": "hi"}}, token=access)
    assert echo.json()["result"]["content"][0]["text"] == "hi"
    who = whoami(oidc, access)
    assert who == {
        "client_id": client["client_id"],
        "scope": SCOPE,
        "aud": oidc.rs,
        "sub": "test-user",
        "iss": oidc.issuer,
    }

    records = oidc.records()
    assert records["registrations"][0]["request"]["application_type"] == "native"
    assert records["registrations"][0]["client_id"] == client["client_id"]
    first = records["authorize"][0]
    assert first["route"] == "authorization"
    assert first["params"]["resource"] == oidc.rs
    assert first["params"]["code_challenge_method"] == "S256"
    assert [r["prompt"] for r in records["interactions"]] == ["login", "consent"]
    [exchange] = records["token"]
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["resource"] == oidc.rs
    assert exchange["ok"] is True
    assert exchange["issued"]["access_token_format"] == "jwt"
    assert exchange["issued"]["refresh_token"] is True
    assert {r["token"] for r in records["rs"]} == {"valid"}


def test_pkce_is_required(oidc: Oidc) -> None:
    client = register_native(oidc)
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": CALLBACK.format(port=33418),
        "state": "s",
        "resource": oidc.rs,
        "scope": SCOPE,
    }
    response = oidc.http.get(f"{oidc.metadata['authorization_endpoint']}?{urlencode(query)}")
    assert response.is_redirect
    params = parse_qs(urlsplit(response.headers["location"]).query)
    assert params["error"] == ["invalid_request"]
    assert params["iss"] == [oidc.issuer]


def test_refresh_rotation_and_reuse(oidc: Oidc) -> None:
    client = register_native(oidc)
    first = sign_in(oidc, client)
    second = refresh(oidc, client["client_id"], first["refresh_token"])
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]
    assert whoami(oidc, rotated["access_token"])["aud"] == oidc.rs

    # The rotated-out refresh token is rejected, and its reuse revokes the whole grant
    # (oidc-provider's reuse detection): the newest refresh token dies with it.
    reused = refresh(oidc, client["client_id"], first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    after = refresh(oidc, client["client_id"], rotated["refresh_token"])
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"

    refreshes = [r for r in oidc.records()["token"] if r["grant_type"] == "refresh_token"]
    assert [(r["ok"], r.get("error")) for r in refreshes] == [
        (True, None),
        (False, "invalid_grant"),
        (False, "invalid_grant"),
    ]
    assert all(r["resource"] == oidc.rs for r in refreshes)


def test_revoke_refresh_control(oidc: Oidc) -> None:
    client = register_native(oidc)
    tokens = sign_in(oidc, client)
    assert oidc.post_control("revoke-refresh") == {"revoked": 1}
    response = refresh(oidc, client["client_id"], tokens["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    # The access token still works: only refresh tokens were revoked.
    assert whoami(oidc, tokens["access_token"])["client_id"] == client["client_id"]


def test_expire_access_control(oidc: Oidc) -> None:
    client = register_native(oidc)
    tokens = sign_in(oidc, client)
    assert whoami(oidc, tokens["access_token"])["sub"] == "test-user"
    oidc.post_control("expire-access")
    expired = rpc(oidc, "tools/list", token=tokens["access_token"])
    assert expired.status_code == 401
    params = auth_params(expired.headers["www-authenticate"])
    assert params["error"] == "invalid_token"
    assert params["resource_metadata"] == oidc.prm
    renewed = refresh(oidc, client["client_id"], tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert whoami(oidc, renewed.json()["access_token"])["sub"] == "test-user"


def test_access_ttl_option(tmp_path: Path) -> None:
    server = start_oidc(tmp_path / "oidc.log", "--access-ttl", "5")
    try:
        tokens = sign_in(server, register_native(server))
        assert tokens["expires_in"] == 5
    finally:
        server.stop()


def test_device_flow(oidc: Oidc) -> None:
    client = register(
        oidc,
        application_type="native",
        grant_types=[DEVICE_GRANT, "refresh_token"],
        response_types=[],
        token_endpoint_auth_method="none",
    )
    started = oidc.http.post(
        oidc.metadata["device_authorization_endpoint"],
        data={"client_id": client["client_id"], "scope": SCOPE, "resource": oidc.rs},
    )
    assert started.status_code == 200, started.text
    device = started.json()
    assert set(device) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
    }
    assert device["verification_uri"] == f"{oidc.issuer}/device"
    poll = {"grant_type": DEVICE_GRANT, "device_code": device["device_code"]}
    poll |= {"client_id": client["client_id"], "resource": oidc.rs}
    pending = token_request(oidc, poll)
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"

    approved = oidc.post_control("approve-device", user_code=device["user_code"])
    assert approved["approved"] is True
    tokens = grant(oidc, poll)
    assert tokens["scope"] == SCOPE
    assert "refresh_token" in tokens
    assert whoami(oidc, tokens["access_token"])["client_id"] == client["client_id"]
    again = token_request(oidc, poll)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"

    records = oidc.records()
    assert records["device_authorizations"][0]["user_code"] == device["user_code"]
    device_grants = [r for r in records["token"] if r["grant_type"] == DEVICE_GRANT]
    assert [r.get("error") for r in device_grants] == [
        "authorization_pending",
        None,
        "invalid_grant",
    ]


def test_client_credentials(oidc: Oidc) -> None:
    client = register(
        oidc,
        grant_types=["client_credentials"],
        response_types=[],
        token_endpoint_auth_method="client_secret_basic",
    )
    auth = (client["client_id"], client["client_secret"])
    tokens = grant(
        oidc,
        {"grant_type": "client_credentials", "scope": SCOPE, "resource": oidc.rs},
        auth=auth,
    )
    assert tokens["scope"] == SCOPE
    assert "refresh_token" not in tokens
    who = whoami(oidc, tokens["access_token"])
    assert who["client_id"] == client["client_id"]
    assert who["sub"] == client["client_id"]
    assert who["aud"] == oidc.rs
    # Without a resource the token is opaque, for the AS only: the RS refuses it.
    opaque = grant(oidc, {"grant_type": "client_credentials"}, auth=auth)
    refused = rpc(oidc, "tools/list", token=opaque["access_token"])
    assert refused.status_code == 401
    assert auth_params(refused.headers["www-authenticate"])["error"] == "invalid_token"


def test_resource_quirks(oidc: Oidc) -> None:
    client = register_native(oidc)
    # An unknown resource is refused at the authorization endpoint (redirected error).
    _, challenge = pkce_pair()
    redirect_uri = CALLBACK.format(port=33418)
    redirect = authorize(
        oidc, client["client_id"], redirect_uri, challenge, "s", resource=oidc.rs + "/"
    )
    assert redirect.params["error"] == "invalid_target"
    # With `openid` in the scope, a code exchange without `resource` gets an opaque token
    # for userinfo, which the RS refuses.
    verifier, challenge = pkce_pair()
    redirect = authorize(
        oidc, client["client_id"], redirect_uri, challenge, "s", scope=f"openid {SCOPE}"
    )
    tokens = grant(
        oidc,
        {
            "grant_type": "authorization_code",
            "code": redirect.params["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": client["client_id"],
        },
    )
    assert "id_token" in tokens
    assert tokens["access_token"].count(".") != 2
    assert rpc(oidc, "tools/list", token=tokens["access_token"]).status_code == 401
    # ... while the refresh with `resource` gets a JWT for the RS.
    renewed = refresh(oidc, client["client_id"], tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert whoami(oidc, renewed.json()["access_token"])["scope"] == SCOPE


def test_deny_mode(oidc: Oidc) -> None:
    client = register_native(oidc)
    oidc.post_control("interaction-mode", mode="deny")
    _, challenge = pkce_pair()
    redirect_uri = CALLBACK.format(port=33418)
    redirect = authorize(oidc, client["client_id"], redirect_uri, challenge, "s")
    assert redirect.params["error"] == "access_denied"
    assert redirect.params["state"] == "s"
    assert redirect.params["iss"] == oidc.issuer


def test_root_issuer_and_device_interval(tmp_path: Path) -> None:
    server = start_oidc(tmp_path / "oidc.log", "--issuer-path", "/", "--device-interval", "1")
    try:
        assert urlsplit(server.issuer).path == ""
        assert server.metadata["issuer"] == server.issuer
        client = register_native(server)
        _, challenge = pkce_pair()
        redirect_uri = CALLBACK.format(port=33418)
        redirect = authorize(server, client["client_id"], redirect_uri, challenge, "s")
        assert redirect.params["iss"] == server.issuer
        device_client = register(
            server,
            application_type="native",
            grant_types=[DEVICE_GRANT],
            response_types=[],
            token_endpoint_auth_method="none",
        )
        started = server.http.post(
            server.metadata["device_authorization_endpoint"],
            data={"client_id": device_client["client_id"], "resource": server.rs},
        )
        assert started.status_code == 200, started.text
        assert started.json()["interval"] == 1
    finally:
        server.stop()


def callback_listener() -> tuple[HTTPServer, list[dict[str, str]]]:
    """A loopback redirect_uri listener, as the bridge runs one, and the queries it gets."""
    queries: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            queries.append({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
            body = b"signed in, you can close this page"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return HTTPServer(("127.0.0.1", 0), Handler), queries


def test_browse_control_delivers_the_code(oidc: Oidc) -> None:
    listener, queries = callback_listener()
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        client = register_native(oidc)
        verifier, challenge = pkce_pair()
        redirect_uri = CALLBACK.format(port=listener.server_address[1])
        query = {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "b1",
            "resource": oidc.rs,
            "scope": SCOPE,
        }
        url = f"{oidc.metadata['authorization_endpoint']}?{urlencode(query)}"
        # As a browser opener would: the URL in a form body; the answer comes once the
        # callback has answered, so the listener has the query by then.
        browsed = oidc.http.post(f"{oidc.control}/browse", data={"url": url})
        assert browsed.status_code == 200, browsed.text
        assert browsed.json()["status"] == 200
        assert browsed.json()["url"].startswith(redirect_uri)
        [got] = queries
        assert got["state"] == "b1"
        assert got["iss"] == oidc.issuer
    finally:
        listener.shutdown()
        listener.server_close()
        thread.join()
    tokens = grant(
        oidc,
        code_grant(client["client_id"], got["code"], redirect_uri, verifier, oidc.rs),
    )
    assert whoami(oidc, tokens["access_token"])["client_id"] == client["client_id"]

    # stop_at: the redirect is reported, not fetched.
    _, challenge = pkce_pair()
    query["code_challenge"] = challenge
    url = f"{oidc.metadata['authorization_endpoint']}?{urlencode(query)}"
    stopped = oidc.post_control("browse", url=url, stop_at=redirect_uri)
    assert stopped["status"] is None
    assert "code" in parse_qs(urlsplit(stopped["url"]).query)
