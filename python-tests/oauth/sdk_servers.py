"""An OAuth authorization server and an MCP resource server, both built on the official MCP
Python SDK (`mcp` 2.x), in one process, for the sign-in tests.

    python sdk_servers.py [--access-ttl SECONDS] [--scopes-supported "a b"] ...

Both listen on 127.0.0.1, each on a port the system picks. Once both listen, one JSON line goes
to stdout: {"as": "http://127.0.0.1:P1", "rs": "http://127.0.0.1:P2/mcp"}. SIGTERM (or SIGINT)
stops them.

The authorization server (AS) is the SDK's own auth routes (`create_auth_routes`: RFC 8414
metadata, /register, /authorize, /token, /revoke) over an in-memory provider that approves at
once: /authorize redirects straight to the client's redirect_uri with a code and the state.
The resource server (RS) is an `MCPServer` with `AuthSettings`: the SDK serves the Protected
Resource Metadata and the 401s itself. Its tools: `whoami` and `echo`.

Under /_test/ on the AS origin (no auth) the tests read what happened and bend the servers:
    GET  /_test/records                 everything recorded (see `Records.snapshot`)
    POST /_test/expire-access           every access token issued so far is now expired
    POST /_test/revoke-refresh          every refresh token issued so far is now unknown
    POST /_test/as-down, /_test/as-up   the AS answers 503 to everything but /_test/ while down
    POST /_test/require-scope?scope=X   the RS answers 403 insufficient_scope to valid tokens
                                        without X (no `scope` parameter: no such requirement)
    POST /_test/wrong-state             the next /authorize redirects with a state that is not
                                        the client's

Options (see --help): --access-ttl (expires_in, default 3600), --refresh-ttl, --scopes-supported
(AS, default "mcp:tools mcp:admin"), --required-scopes (RS and PRM, default "mcp:tools"),
--no-refresh, --require-resource, --no-validate-resource, --send-iss, --json-response,
--stateless.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import re
import secrets
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.routes import build_resource_metadata_url, create_auth_routes
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

AUTH_CODE_TTL = 300
PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")

# The query (GET) or form (POST) of the AS request being handled, as the client sent it. The
# SDK's handlers do not pass everything on to the provider (the token request's `resource`, or
# whether `code_challenge_method` was sent at all); the provider reads them here.
REQUEST_PARAMS: ContextVar[dict[str, str] | None] = ContextVar("REQUEST_PARAMS", default=None)


@dataclass
class Options:
    access_ttl: int
    refresh_ttl: int | None
    scopes_supported: list[str]
    required_scopes: list[str]
    issue_refresh: bool
    require_resource: bool
    validate_resource: bool
    send_iss: bool
    json_response: bool
    stateless: bool


@dataclass
class Records:
    """What the servers saw, in the order they saw it (the `/_test/records` document)."""

    registrations: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    revocations: list[dict[str, Any]] = field(default_factory=list)
    as_requests: list[dict[str, Any]] = field(default_factory=list)
    rs_requests: list[dict[str, Any]] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        """{
        "registrations": [{redirect_uris, token_endpoint_auth_method, application_type,
            client_name, grant_types, scope, request (the whole body), status, client_id, error}],
        "authorizations": [{method, params (every query/form parameter), status, location,
            error}],
        "tokens": [{grant_type, resource, scope, client_id, client_auth ("none",
            "client_secret_post" or "client_secret_basic"), params (the whole form), status, ok,
            error, error_description, access_token, refresh_token}],
        "revocations": [{token_type_hint, token_kind ("access_token", "refresh_token" or
            "unknown", before revocation), client_id, params, status, error}],
        "as_requests": [{method, path, status}]  (every AS request but /_test/, 503s included),
        "rs": {requests, with_valid_token, with_invalid_token, without_token, status_401,
            status_403, log: [{method, path, token ("valid", "invalid" or "none"), status}]}
        }  (`error` is the OAuth error code of the answer, or null)"""

        def count(**match: Any) -> int:
            return sum(all(r.get(k) == v for k, v in match.items()) for r in self.rs_requests)

        return {
            "registrations": self.registrations,
            "authorizations": self.authorizations,
            "tokens": self.tokens,
            "revocations": self.revocations,
            "as_requests": self.as_requests,
            "rs": {
                "requests": len(self.rs_requests),
                "with_valid_token": count(token="valid"),
                "with_invalid_token": count(token="invalid"),
                "without_token": count(token="none"),
                "status_401": count(status=401),
                "status_403": count(status=403),
                "log": self.rs_requests,
            },
        }


@dataclass
class Controls:
    as_down: bool = False
    required_scope: str | None = None
    wrong_state_next: bool = False


def _same_resource(a: str, b: str) -> bool:
    return a.removesuffix("/") == b.removesuffix("/")


class TestProvider(OAuthAuthorizationServerProvider[AuthorizationCode, RefreshToken, AccessToken]):
    """An in-memory provider that approves every authorization request at once."""

    def __init__(self, options: Options, issuer: str, resource: str, controls: Controls) -> None:
        self.options = options
        self.issuer = issuer
        self.resource = resource
        self.controls = controls
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        # access token -> the refresh token issued with it, to revoke both together
        self.pairs: dict[str, str] = {}

    # registration

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        self.clients[client_info.client_id] = client_info

    # authorization

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        raw = REQUEST_PARAMS.get() or {}
        # The SDK defaults a missing code_challenge_method to S256; OAuth says a missing one
        # means `plain`. Only an explicit S256 is PKCE S256.
        if raw.get("code_challenge_method") != "S256":
            raise AuthorizeError("invalid_request", "code_challenge_method must be S256")
        if not PKCE_CHALLENGE.match(params.code_challenge):
            raise AuthorizeError("invalid_request", "code_challenge is not a base64url SHA-256")
        if params.resource is not None and not _same_resource(params.resource, self.resource):
            raise AuthorizeError("invalid_target", f"unknown resource {params.resource}")
        if params.resource is None and self.options.require_resource:
            raise AuthorizeError("invalid_target", "the resource parameter is required")

        if params.scopes is not None:
            scopes = params.scopes
        elif client.scope:
            scopes = client.scope.split()
        else:
            scopes = list(self.options.required_scopes)

        code = secrets.token_urlsafe(32)
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=scopes,
            expires_at=time.time() + AUTH_CODE_TTL,
            client_id=client.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
        )
        state = params.state
        if self.controls.wrong_state_next:
            self.controls.wrong_state_next = False
            state = "not-your-state-" + secrets.token_urlsafe(8)
        iss = self.issuer if self.options.send_iss else None
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=state, iss=iss)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        code = self.codes.get(authorization_code)
        return code if code is not None and code.client_id == client.client_id else None

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        # the SDK checked PKCE, redirect_uri and expiry before calling this
        resource = self._token_resource(authorization_code.resource)
        del self.codes[authorization_code.code]  # single use
        return self._issue(client.client_id, authorization_code.scopes, resource)

    # refresh

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        token = self.refresh.get(refresh_token)
        return token if token is not None and token.client_id == client.client_id else None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        resource = self._token_resource(refresh_token.resource)
        # rotation: the refresh token presented is spent, and so is its access token
        self.refresh.pop(refresh_token.token, None)
        for access, paired in list(self.pairs.items()):
            if paired == refresh_token.token:
                self.access.pop(access, None)
                del self.pairs[access]
        return self._issue(client.client_id, scopes, resource)

    # tokens

    async def load_access_token(self, token: str) -> AccessToken | None:
        access = self.access.get(token)
        if access is None or (access.expires_at is not None and access.expires_at < time.time()):
            return None
        return access

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        if isinstance(token, AccessToken):
            self.access.pop(token.token, None)
            paired = self.pairs.pop(token.token, None)
            if paired is not None:
                self.refresh.pop(paired, None)
        else:
            self.refresh.pop(token.token, None)
            for access, paired in list(self.pairs.items()):
                if paired == token.token:
                    self.access.pop(access, None)
                    del self.pairs[access]

    # controls

    def expire_access(self) -> int:
        past = int(time.time()) - 1
        for access in self.access.values():
            access.expires_at = past
        return len(self.access)

    def revoke_refresh(self) -> int:
        count = len(self.refresh)
        self.refresh.clear()
        self.pairs.clear()
        return count

    def token_kind(self, token: str) -> str:
        if token in self.access:
            return "access_token"
        if token in self.refresh:
            return "refresh_token"
        return "unknown"

    # helpers

    def _token_resource(self, granted: str | None) -> str | None:
        """The resource of the token request (RFC 8707), checked against the grant's."""
        requested = (REQUEST_PARAMS.get() or {}).get("resource")
        if requested is None:
            if granted is None and self.options.require_resource:
                raise TokenError("invalid_target", "the resource parameter is required")
            return granted
        if not _same_resource(requested, self.resource):
            raise TokenError("invalid_target", f"unknown resource {requested}")
        if granted is not None and not _same_resource(requested, granted):
            raise TokenError("invalid_target", "resource differs from the one authorized")
        return requested

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        now = int(time.time())
        access = "at-" + secrets.token_urlsafe(32)
        self.access[access] = AccessToken(
            token=access,
            client_id=client_id,
            scopes=scopes,
            expires_at=now + self.options.access_ttl,
            resource=resource,
        )
        refresh: str | None = None
        if self.options.issue_refresh:
            refresh = "rt-" + secrets.token_urlsafe(32)
            ttl = self.options.refresh_ttl
            self.refresh[refresh] = RefreshToken(
                token=refresh,
                client_id=client_id,
                scopes=scopes,
                expires_at=now + ttl if ttl is not None else None,
                resource=resource,
            )
            self.pairs[access] = refresh
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=self.options.access_ttl,
            scope=" ".join(scopes) if scopes else None,
            refresh_token=refresh,
        )


class StoreTokenVerifier:
    """The RS's token verifier: the provider's own memory (same process)."""

    def __init__(self, provider: TestProvider) -> None:
        self.provider = provider

    async def verify_token(self, token: str) -> AccessToken | None:
        return await self.provider.load_access_token(token)


# ---------------------------------------------------------------------------------------------
# ASGI plumbing


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _basic_client_id(authorization: str | None) -> str | None:
    if not authorization or not authorization.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:]).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return unquote(decoded.split(":", 1)[0])


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


async def _send_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class AuthServerRecorder:
    """Around the SDK's auth routes: records each request as the client sent it and the answer
    it got, answers 503 while the AS is down, and hands the raw parameters to the provider."""

    def __init__(
        self, app: ASGIApp, records: Records, controls: Controls, provider: TestProvider
    ) -> None:
        self.app = app
        self.records = records
        self.controls = controls
        self.provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_test/"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        entry: dict[str, Any] = {"method": method, "path": path, "status": None}
        self.records.as_requests.append(entry)
        if self.controls.as_down:
            entry["status"] = 503
            await _send_json(
                send,
                503,
                {"error": "temporarily_unavailable", "error_description": "the AS is down"},
                [(b"retry-after", b"0")],
            )
            return

        body = await _read_body(receive)
        query = dict(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True))
        content_type = _header(scope, b"content-type") or ""
        form: dict[str, str] = {}
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
        params = {**query, **form}

        status = 0
        location: str | None = None
        response = bytearray()

        async def recording_send(message: Message) -> None:
            nonlocal status, location
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers", []):
                    if key.lower() == b"location":
                        location = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                response.extend(message.get("body", b""))
            await send(message)

        # what the token belongs to, before the handler revokes it
        token_kind = (
            self.provider.token_kind(params.get("token", "")) if path == "/revoke" else None
        )

        reset = REQUEST_PARAMS.set(params)
        try:
            await self.app(scope, _replay(body, receive), recording_send)
        finally:
            REQUEST_PARAMS.reset(reset)
        entry["status"] = status
        parsed = _json_or_none(bytes(response))
        answer: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        error = answer.get("error")

        if path == "/register" and method == "POST":
            request = _json_or_none(body)
            request = request if isinstance(request, dict) else {}
            self.records.registrations.append(
                {
                    "redirect_uris": request.get("redirect_uris"),
                    "token_endpoint_auth_method": request.get("token_endpoint_auth_method"),
                    "application_type": request.get("application_type"),
                    "client_name": request.get("client_name"),
                    "grant_types": request.get("grant_types"),
                    "scope": request.get("scope"),
                    "request": request,
                    "status": status,
                    "client_id": answer.get("client_id"),
                    "error": error,
                }
            )
        elif path == "/authorize":
            redirect = dict(parse_qsl(urlsplit(location).query)) if location else {}
            self.records.authorizations.append(
                {
                    "method": method,
                    "params": params,
                    "status": status,
                    "location": location,
                    "error": redirect.get("error") or error,
                }
            )
        elif path == "/token" and method == "POST":
            authorization = _header(scope, b"authorization")
            basic_client = _basic_client_id(authorization)
            if basic_client is not None:
                client_auth = "client_secret_basic"
            elif "client_secret" in params:
                client_auth = "client_secret_post"
            else:
                client_auth = "none"
            self.records.tokens.append(
                {
                    "grant_type": params.get("grant_type"),
                    "resource": params.get("resource"),
                    "scope": params.get("scope"),
                    "client_id": params.get("client_id") or basic_client,
                    "client_auth": client_auth,
                    "params": params,
                    "status": status,
                    "ok": status == 200,
                    "error": error,
                    "error_description": answer.get("error_description"),
                    "access_token": answer.get("access_token"),
                    "refresh_token": answer.get("refresh_token"),
                }
            )
        elif path == "/revoke" and method == "POST":
            self.records.revocations.append(
                {
                    "token_type_hint": params.get("token_type_hint"),
                    "token_kind": token_kind,
                    "client_id": params.get("client_id")
                    or _basic_client_id(_header(scope, b"authorization")),
                    "params": params,
                    "status": status,
                    "error": error,
                }
            )


class ResourceServerGuard:
    """Around the RS app: counts requests by the token they carry and the status they got, and
    answers 403 insufficient_scope while `/_test/require-scope` asks for a scope."""

    def __init__(
        self,
        app: ASGIApp,
        records: Records,
        controls: Controls,
        provider: TestProvider,
        resource: str,
        required_scopes: list[str],
        validate_resource: bool,
    ) -> None:
        self.app = app
        self.records = records
        self.controls = controls
        self.provider = provider
        self.resource = resource
        self.required_scopes = required_scopes
        self.validate_resource = validate_resource
        self.metadata_url = str(build_resource_metadata_url(AnyHttpUrl(resource)))

    async def _verify(self, scope: Scope) -> tuple[str, AccessToken | None]:
        authorization = _header(scope, b"authorization")
        if not authorization or not authorization.lower().startswith("bearer "):
            return "none", None
        token = await self.provider.load_access_token(authorization[7:])
        if token is None:
            return "invalid", None
        if self.validate_resource and not _same_resource(token.resource or "", self.resource):
            return "invalid", None
        return "valid", token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind, token = await self._verify(scope)
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "token": kind,
            "status": None,
        }
        self.records.rs_requests.append(entry)

        required = self.controls.required_scope
        rs_path = urlsplit(self.resource).path
        if (
            token is not None
            and required is not None
            and scope["path"].rstrip("/") == rs_path.rstrip("/")
            and required not in token.scopes
        ):
            needed = " ".join(dict.fromkeys([*self.required_scopes, required]))
            challenge = (
                f'Bearer error="insufficient_scope", scope="{needed}", '
                f'resource_metadata="{self.metadata_url}", '
                f'error_description="Required scope: {required}"'
            )
            entry["status"] = 403
            await _send_json(
                send,
                403,
                {"error": "insufficient_scope", "error_description": f"Required scope: {required}"},
                [(b"www-authenticate", challenge.encode())],
            )
            return

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, recording_send)


# ---------------------------------------------------------------------------------------------
# the apps


def build_test_routes(records: Records, controls: Controls, provider: TestProvider) -> list[Route]:
    async def get_records(request: Request) -> Response:
        return JSONResponse(records.snapshot())

    async def expire_access(request: Request) -> Response:
        return JSONResponse({"ok": True, "expired": provider.expire_access()})

    async def revoke_refresh(request: Request) -> Response:
        return JSONResponse({"ok": True, "revoked": provider.revoke_refresh()})

    async def as_down(request: Request) -> Response:
        controls.as_down = True
        return JSONResponse({"ok": True, "as_down": True})

    async def as_up(request: Request) -> Response:
        controls.as_down = False
        return JSONResponse({"ok": True, "as_down": False})

    async def require_scope(request: Request) -> Response:
        controls.required_scope = request.query_params.get("scope") or None
        return JSONResponse({"ok": True, "required_scope": controls.required_scope})

    async def wrong_state(request: Request) -> Response:
        controls.wrong_state_next = True
        return JSONResponse({"ok": True, "wrong_state_next": True})

    return [
        Route("/_test/records", get_records, methods=["GET"]),
        Route("/_test/expire-access", expire_access, methods=["POST"]),
        Route("/_test/revoke-refresh", revoke_refresh, methods=["POST"]),
        Route("/_test/as-down", as_down, methods=["POST"]),
        Route("/_test/as-up", as_up, methods=["POST"]),
        Route("/_test/require-scope", require_scope, methods=["POST"]),
        Route("/_test/wrong-state", wrong_state, methods=["POST"]),
    ]


def build_apps(options: Options, as_port: int, rs_port: int) -> tuple[ASGIApp, ASGIApp]:
    as_base = f"http://127.0.0.1:{as_port}"
    rs_url = f"http://127.0.0.1:{rs_port}/mcp"
    records = Records()
    controls = Controls()
    provider = TestProvider(options, as_base, rs_url, controls)

    # From strings: AuthSettings keeps a path-less issuer without a trailing slash (a bare
    # AnyHttpUrl would add one, and the metadata's issuer would then not be the PRM's server).
    settings = AuthSettings.model_validate(
        {
            "issuer_url": as_base,
            "resource_server_url": rs_url,
            "required_scopes": options.required_scopes or None,
            "validate_token_resource": options.validate_resource,
        }
    )
    auth_routes = create_auth_routes(
        provider=provider,
        issuer_url=settings.issuer_url,
        client_registration_options=ClientRegistrationOptions(
            enabled=True,
            valid_scopes=options.scopes_supported or None,
            # a client that registers without `scope` may still ask for any supported scope
            default_scopes=options.scopes_supported or None,
        ),
        revocation_options=RevocationOptions(enabled=True),
    )
    auth_app = Starlette(routes=[*build_test_routes(records, controls, provider), *auth_routes])

    mcp = MCPServer("sdk-oauth-test", token_verifier=StoreTokenVerifier(provider), auth=settings)

    @mcp.tool()
    def whoami() -> dict[str, Any]:
        """The client and scopes of the access token this call came with."""
        token = get_access_token()
        if token is None:
            return {"client_id": None, "scopes": [], "resource": None}
        return {"client_id": token.client_id, "scopes": token.scopes, "resource": token.resource}

    @mcp.tool()
    def echo(text: str) -> str:
        """Returns `text`."""
        return text

    rs_app = mcp.streamable_http_app(
        json_response=options.json_response, stateless_http=options.stateless
    )
    return (
        AuthServerRecorder(auth_app, records, controls, provider),
        ResourceServerGuard(
            rs_app,
            records,
            controls,
            provider,
            rs_url,
            options.required_scopes,
            options.validate_resource,
        ),
    )


# ---------------------------------------------------------------------------------------------
# serving


class _Server(uvicorn.Server):
    """A uvicorn server that says when it listens and leaves the signals to `serve`."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(options: Options) -> None:
    as_sock, rs_sock = _listen(), _listen()
    as_port, rs_port = as_sock.getsockname()[1], rs_sock.getsockname()[1]
    as_app, rs_app = build_apps(options, as_port, rs_port)

    def config(app: ASGIApp) -> uvicorn.Config:
        return uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="auto",
            timeout_graceful_shutdown=1,
        )

    servers = [_Server(config(as_app)), _Server(config(rs_app))]
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)

    tasks = [
        asyncio.create_task(servers[0].serve(sockets=[as_sock])),
        asyncio.create_task(servers[1].serve(sockets=[rs_sock])),
    ]
    listening = asyncio.gather(*(server.listening.wait() for server in servers))
    waiting: list[asyncio.Future[Any]] = [listening, *tasks]
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if listening in done:
        line = {"as": f"http://127.0.0.1:{as_port}", "rs": f"http://127.0.0.1:{rs_port}/mcp"}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
    else:
        listening.cancel()
        stop()
    await asyncio.gather(*tasks)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--access-ttl", type=int, default=3600, help="access token expires_in")
    parser.add_argument("--refresh-ttl", type=int, default=None, help="refresh token lifetime")
    parser.add_argument(
        "--scopes-supported",
        default="mcp:tools mcp:admin",
        help="the AS's scopes (metadata scopes_supported; what DCR accepts and defaults to)",
    )
    parser.add_argument(
        "--required-scopes",
        default="mcp:tools",
        help="scopes the RS requires of every token (also the PRM's scopes_supported); '' none",
    )
    parser.add_argument(
        "--no-refresh", action="store_true", help="the token endpoint issues no refresh tokens"
    )
    parser.add_argument(
        "--require-resource",
        action="store_true",
        help="/authorize and the code grant refuse requests without `resource` (invalid_target)",
    )
    parser.add_argument(
        "--no-validate-resource",
        action="store_true",
        help="the RS accepts tokens issued for any resource (or none)",
    )
    parser.add_argument(
        "--send-iss", action="store_true", help="add iss (RFC 9207) to the authorization response"
    )
    parser.add_argument("--json-response", action="store_true", help="RS answers JSON, not SSE")
    parser.add_argument("--stateless", action="store_true", help="RS issues no Mcp-Session-Id")
    args = parser.parse_args(argv)
    return Options(
        access_ttl=args.access_ttl,
        refresh_ttl=args.refresh_ttl,
        scopes_supported=args.scopes_supported.split(),
        required_scopes=args.required_scopes.split(),
        issue_refresh=not args.no_refresh,
        require_resource=args.require_resource,
        validate_resource=not args.no_validate_resource,
        send_iss=args.send_iss,
        json_response=args.json_response,
        stateless=args.stateless,
    )


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
