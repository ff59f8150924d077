"""The sign-in fixtures are real: `oauth/sdk_servers.py` (the MCP Python SDK's own authorization
and resource servers) signs in the SDK's own OAuth client, with `oauth/browser.py` as the
browser; and each /_test/ control does what it says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.exceptions import OAuthFlowError
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl

from oauth_support import (
    BrowserEnv,
    CallbackListener,
    SdkServers,
    browser_env,
    http,
    pkce_pair,
    refresh,
    register_client,
    sdk_servers,
    sign_in,
)


@pytest.fixture
def servers() -> Iterator[SdkServers]:
    """Servers of the test's own (its records are all its own)."""
    with sdk_servers() as running:
        yield running


@pytest.fixture(scope="module")
def shared_servers() -> Iterator[SdkServers]:
    """Servers for tests that tell their records apart by client_id."""
    with sdk_servers() as running:
        yield running


class MemoryStorage:
    """The SDK client's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def sdk_oauth(
    servers: SdkServers, listener: CallbackListener, browser: BrowserEnv, storage: MemoryStorage
) -> OAuthClientProvider:
    """The SDK's OAuth client: it opens browser.py through $BROWSER, the browser delivers the
    authorization response to `listener`."""

    async def redirect_handler(url: str) -> None:
        assert await browser.open(url) == 0

    async def callback_handler() -> AuthorizationCodeResult:
        params = await listener.next()
        return AuthorizationCodeResult(
            code=params.get("code", ""), state=params.get("state"), iss=params.get("iss")
        )

    metadata = OAuthClientMetadata(
        redirect_uris=[AnyUrl(listener.redirect_uri)],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        client_name="sdk-fixture-test",
    )
    return OAuthClientProvider(
        server_url=servers.rs_url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )


@asynccontextmanager
async def sdk_client(oauth: OAuthClientProvider, url: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(auth=oauth, timeout=httpx2.Timeout(30)) as http_client,
        Client(streamable_http_client(url, http_client=http_client), mode="legacy") as client,
    ):
        yield client


async def call(client: Client, name: str, **arguments: Any) -> Any:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result
    return result.structured_content


def expire_on_both_sides(servers: SdkServers, oauth: OAuthClientProvider) -> None:
    """The RS no longer takes the access token, and the client knows it is spent. (The SDK
    client refreshes only when its own clock says the token expired; on a 401 it signs in
    again from scratch.)"""
    servers.control("expire-access")
    oauth.context.token_expiry_time = 1.0  # 1970 (0 would read as "no expiry")


async def test_sdk_client_signs_in_refreshes_and_signs_in_again(
    servers: SdkServers, tmp_path: Path
) -> None:
    browser = browser_env(tmp_path)
    storage = MemoryStorage()
    async with CallbackListener() as listener:
        oauth = sdk_oauth(servers, listener, browser, storage)
        async with sdk_client(oauth, servers.rs_url) as client:
            # sign-in
            me = await call(client, "whoami")
            assert storage.client_info is not None
            client_id = storage.client_info.client_id
            assert me == {
                "client_id": client_id,
                "scopes": ["mcp:tools"],
                "resource": servers.rs_url,
            }

            [opened] = browser.results()
            assert opened["url"].startswith(f"{servers.as_url}/authorize?")
            assert opened["callback"]["status"] == 200, opened
            assert opened["callback"]["url"].startswith(listener.redirect_uri + "?")

            records = servers.records()
            [registration] = records["registrations"]
            assert registration["redirect_uris"] == [listener.redirect_uri]
            assert registration["token_endpoint_auth_method"] == "none"
            assert registration["application_type"] == "native"
            assert registration["client_name"] == "sdk-fixture-test"
            assert registration["client_id"] == client_id
            [authorization] = records["authorizations"]
            params = authorization["params"]
            assert params["code_challenge_method"] == "S256"
            assert len(params["code_challenge"]) == 43
            assert params["resource"] == servers.rs_url
            assert params["redirect_uri"] == listener.redirect_uri
            assert authorization["status"] == 302
            location = dict(parse_qsl(urlsplit(authorization["location"]).query))
            assert location["state"] == params["state"]
            [code_grant] = records["tokens"]
            assert code_grant["grant_type"] == "authorization_code"
            assert code_grant["resource"] == servers.rs_url
            assert code_grant["client_id"] == client_id
            assert code_grant["client_auth"] == "none"
            assert code_grant["ok"]
            assert "code_verifier" in code_grant["params"]
            rs = records["rs"]
            assert rs["status_401"] >= 1
            assert rs["with_valid_token"] >= 1

            # the access token expires: a refresh grant, with rotation
            expire_on_both_sides(servers, oauth)
            assert await call(client, "echo", text="after refresh") == {"result": "after refresh"}
            tokens = servers.records()["tokens"]
            assert [t["grant_type"] for t in tokens] == ["authorization_code", "refresh_token"]
            refreshed = tokens[1]
            assert refreshed["ok"]
            assert refreshed["resource"] == servers.rs_url
            assert refreshed["params"]["refresh_token"] == code_grant["refresh_token"]
            assert refreshed["refresh_token"] not in (None, code_grant["refresh_token"])
            assert len(browser.entries()) == 1

            # the refresh token is revoked: invalid_grant, then a new sign-in in the browser
            servers.control("revoke-refresh")
            expire_on_both_sides(servers, oauth)
            assert (await call(client, "whoami"))["client_id"] == client_id
            records = servers.records()
            tokens = records["tokens"]
            assert [(t["grant_type"], t["error"]) for t in tokens] == [
                ("authorization_code", None),
                ("refresh_token", None),
                ("refresh_token", "invalid_grant"),
                ("authorization_code", None),
            ]
            assert tokens[2]["status"] == 400
            assert len(records["authorizations"]) == 2
            assert len(records["registrations"]) == 1
            assert len(browser.entries()) == 2


async def test_wrong_state_is_caught_by_the_sdk_client(servers: SdkServers, tmp_path: Path) -> None:
    servers.control("wrong-state")
    async with CallbackListener() as listener:
        oauth = sdk_oauth(servers, listener, browser_env(tmp_path), MemoryStorage())
        with pytest.raises(Exception) as caught:  # noqa: PT011 (the SDK wraps it in groups)
            async with sdk_client(oauth, servers.rs_url) as client:
                await call(client, "whoami")
    assert _contains(caught.value, OAuthFlowError), caught.value
    [authorization] = servers.records()["authorizations"]
    location = dict(parse_qsl(urlsplit(authorization["location"]).query))
    assert location["state"] != authorization["params"]["state"]
    assert location["state"].startswith("not-your-state-")
    # only the next authorization is bent
    again = sign_in(servers)
    assert again["access_token"]


def _contains(error: BaseException, kind: type[BaseException]) -> bool:
    if isinstance(error, kind):
        return True
    children: list[BaseException] = list(getattr(error, "exceptions", []))
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            children.append(linked)
    return any(_contains(child, kind) for child in children)


def test_rs_challenges_with_resource_metadata_naming_the_as(servers: SdkServers) -> None:
    answer = http("POST", servers.rs_url, json_body={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert answer.status == 401
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{servers.prm_url}"' in challenge

    prm = http("GET", servers.prm_url)
    assert prm.status == 200
    document = prm.json()
    assert document["resource"] == servers.rs_url
    assert document["authorization_servers"] == [servers.as_url]
    assert document["scopes_supported"] == ["mcp:tools"]

    metadata = http("GET", servers.as_metadata_url).json()
    assert metadata["issuer"] == servers.as_url
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["registration_endpoint"] == f"{servers.as_url}/register"

    rs = servers.records()["rs"]
    assert rs["without_token"] == 2
    assert rs["status_401"] == 1


def test_tokens_work_rotate_and_expire(servers: SdkServers) -> None:
    tokens = sign_in(servers)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    accept = {"Accept": "application/json, text/event-stream"}
    assert http("POST", servers.rs_url, json_body=ping, headers={**bearer, **accept}).status != 401

    rotated = refresh(servers, tokens["client_id"], tokens["refresh_token"])
    assert rotated.status == 200
    # the spent refresh token and its access token are gone
    again = refresh(servers, tokens["client_id"], tokens["refresh_token"])
    assert (again.status, again.json()["error"]) == (400, "invalid_grant")
    assert http("POST", servers.rs_url, json_body=ping, headers={**bearer, **accept}).status == 401

    fresh = {"Authorization": f"Bearer {rotated.json()['access_token']}", **accept}
    assert http("POST", servers.rs_url, json_body=ping, headers=fresh).status != 401
    assert servers.control("expire-access")["expired"] == 1
    assert http("POST", servers.rs_url, json_body=ping, headers=fresh).status == 401

    rs = servers.records()["rs"]
    assert rs["with_valid_token"] == 2
    assert rs["with_invalid_token"] == 2
    assert rs["status_401"] == 2


def test_as_down_and_up(servers: SdkServers) -> None:
    servers.control("as-down")
    assert http("GET", servers.as_metadata_url).status == 503
    assert http("POST", f"{servers.as_url}/token", form={"grant_type": "x"}).status == 503
    servers.control("as-up")
    assert http("GET", servers.as_metadata_url).status == 200
    statuses = [r["status"] for r in servers.records()["as_requests"]]
    assert statuses == [503, 503, 200]


def test_require_scope_answers_403_insufficient_scope(servers: SdkServers) -> None:
    tokens = sign_in(servers, scope="mcp:tools")
    headers = {
        "Authorization": f"Bearer {tokens['access_token']}",
        "Accept": "application/json, text/event-stream",
    }
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    servers.control("require-scope", scope="mcp:admin")
    answer = http("POST", servers.rs_url, json_body=ping, headers=headers)
    assert answer.status == 403
    challenge = answer.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="mcp:tools mcp:admin"' in challenge
    assert f'resource_metadata="{servers.prm_url}"' in challenge

    wider = sign_in(servers, scope="mcp:tools mcp:admin")
    headers["Authorization"] = f"Bearer {wider['access_token']}"
    assert http("POST", servers.rs_url, json_body=ping, headers=headers).status != 403
    servers.control("require-scope")
    headers["Authorization"] = f"Bearer {tokens['access_token']}"
    assert http("POST", servers.rs_url, json_body=ping, headers=headers).status != 403
    assert servers.records()["rs"]["status_403"] == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge_method": None}, "invalid_request"),
        ({"resource": "http://127.0.0.1:1/elsewhere"}, "invalid_target"),
        ({"redirect_uri": "http://127.0.0.1:9/other"}, "invalid_request"),
    ],
)
def test_authorize_checks_pkce_resource_and_redirect_uri(
    shared_servers: SdkServers, change: dict[str, str | None], error: str
) -> None:
    servers = shared_servers
    client = register_client(servers)
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uris"][0],
        "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "resource": servers.rs_url,
    }
    for key, value in change.items():
        if value is None:
            del query[key]
        else:
            query[key] = value
    answer = http("GET", f"{servers.as_url}/authorize?" + urlencode(query))
    [record] = [
        record
        for record in servers.records()["authorizations"]
        if record["params"].get("client_id") == client["client_id"]
    ]
    assert record["error"] == error, (answer, record)


def test_code_grant_checks_pkce_verifier(shared_servers: SdkServers) -> None:
    servers = shared_servers
    client = register_client(servers)
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uris"][0],
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": servers.rs_url,
    }
    answer = http("GET", f"{servers.as_url}/authorize?" + urlencode(query))
    code = dict(parse_qsl(urlsplit(answer.headers["location"]).query))["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client["redirect_uris"][0],
        "client_id": client["client_id"],
        "code_verifier": "not-the-verifier-" + "x" * 40,
        "resource": servers.rs_url,
    }
    token = http("POST", f"{servers.as_url}/token", form=form)
    assert (token.status, token.json()["error"]) == (400, "invalid_grant")
    form["code_verifier"] = verifier
    form["resource"] = "http://127.0.0.1:1/elsewhere"
    token = http("POST", f"{servers.as_url}/token", form=form)
    assert (token.status, token.json()["error"]) == (400, "invalid_target")
    form["resource"] = servers.rs_url
    assert http("POST", f"{servers.as_url}/token", form=form).status == 200
