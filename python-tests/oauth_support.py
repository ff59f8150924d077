"""Helpers for the sign-in (OAuth) tests: the SDK-built authorization and resource servers of
`oauth/sdk_servers.py` in their own process, the stand-in browser of `oauth/browser.py`, and a
loopback callback listener for clients driven in-process.

    with sdk_servers("--access-ttl", "60") as servers:
        servers.as_url, servers.rs_url     # "http://127.0.0.1:P1", "http://127.0.0.1:P2/mcp"
        servers.records()                  # GET /_test/records
        servers.control("expire-access")   # POST /_test/expire-access
        servers.control("require-scope", scope="mcp:admin")

    browser = browser_env(tmp_path)        # browser.env: BROWSER and BROWSER_LOG
    browser.entries()                      # one dict per time a browser was opened

Everything here waits for something it can observe (a line on stdout, an HTTP answer, a
connection), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx2
import pytest

from support import stop_process

HERE = Path(__file__).resolve().parent
SDK_SERVERS = HERE / "oauth" / "sdk_servers.py"
BROWSER = HERE / "oauth" / "browser.py"
HTTP_TIMEOUT = 10.0


# ---------------------------------------------------------------------------------------------
# plain HTTP (stdlib, so any test can use it, sync)


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def http(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpAnswer:
    """One request, redirects not followed; any HTTP status is an answer (header names are
    lower case)."""
    data: bytes | None = None
    all_headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    elif form is not None:
        data = urlencode(form).encode()
        all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    try:
        with _OPENER.open(request, timeout=HTTP_TIMEOUT) as response:
            return HttpAnswer(
                int(response.status),
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as error:
        return HttpAnswer(
            int(error.code),
            {k.lower(): v for k, v in error.headers.items()},
            error.read() if error.fp is not None else b"",
        )


# ---------------------------------------------------------------------------------------------
# the servers


@dataclass
class SdkServers:
    """The running `sdk_servers.py`: its authorization server (AS) and resource server (RS)."""

    process: subprocess.Popen[bytes]
    as_url: str
    rs_url: str
    stderr: IO[bytes]

    @property
    def rs_origin(self) -> str:
        parts = urlsplit(self.rs_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def prm_url(self) -> str:
        """Where the RS serves its Protected Resource Metadata (RFC 9728 §3.1)."""
        return f"{self.rs_origin}/.well-known/oauth-protected-resource{urlsplit(self.rs_url).path}"

    @property
    def as_metadata_url(self) -> str:
        return f"{self.as_url}/.well-known/oauth-authorization-server"

    def records(self) -> dict[str, Any]:
        """GET /_test/records (the shape is documented in `sdk_servers.Records.snapshot`)."""
        answer = http("GET", f"{self.as_url}/_test/records")
        assert answer.status == 200, answer
        result: dict[str, Any] = answer.json()
        return result

    def control(self, name: str, **params: str) -> dict[str, Any]:
        """POST /_test/<name>?<params>: expire-access, revoke-refresh, as-down, as-up,
        require-scope (scope=X), wrong-state."""
        query = f"?{urlencode(params)}" if params else ""
        answer = http("POST", f"{self.as_url}/_test/{name}{query}")
        assert answer.status == 200, answer
        result: dict[str, Any] = answer.json()
        return result

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)
        self.stderr.close()


def start_sdk_servers(*args: str) -> SdkServers:
    """Start `sdk_servers.py` with `args` and wait for the line that says both listen."""
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 (SdkServers.stop closes it)
    process = subprocess.Popen(
        [sys.executable, str(SDK_SERVERS), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    try:
        ready = json.loads(line)
        return SdkServers(process, ready["as"], ready["rs"], stderr)
    except (ValueError, KeyError, TypeError):
        if process.poll() is None:
            process.kill()
        process.wait()
        stderr.seek(0)
        message = stderr.read().decode(errors="replace")
        stderr.close()
        raise RuntimeError(f"sdk_servers.py did not start: {line!r}\n{message}") from None


@contextmanager
def sdk_servers(*args: str) -> Iterator[SdkServers]:
    servers = start_sdk_servers(*args)
    try:
        yield servers
    finally:
        servers.stop()


# ---------------------------------------------------------------------------------------------
# the browser


@dataclass
class BrowserEnv:
    """$BROWSER and $BROWSER_LOG for a process that opens a browser, and what it logged."""

    log: Path
    env: dict[str, str]

    @property
    def argv_template(self) -> list[str]:
        return shlex.split(self.env["BROWSER"])

    def environ(self, **extra: str) -> dict[str, str]:
        """os.environ with the browser's variables (and `extra`)."""
        return {**os.environ, **self.env, **extra}

    def lines(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def entries(self) -> list[dict[str, Any]]:
        """One dict per opening, oldest first (none if the browser never ran). Written before
        the browser fetched anything: complete as soon as the client has its code."""
        return [e for e in self.lines() if e.get("event") == "opened"]

    def results(self) -> list[dict[str, Any]]:
        """What each opening did (hops, the callback's status and body), once the browser
        process has finished: complete only after `open` returned or the opener was waited
        for."""
        return [e for e in self.lines() if e.get("event") == "followed"]

    async def open(self, url: str) -> int:
        """Run the browser on `url` the way $BROWSER says (for in-process clients); its exit
        status. The event loop keeps running meanwhile, so a callback listener in it answers."""
        argv = [url if part == "%s" else part for part in self.argv_template]
        process = await asyncio.create_subprocess_exec(*argv, env=self.environ())
        return await process.wait()


def browser_env(tmp_path: Path, action: str = "follow", name: str = "browser.log") -> BrowserEnv:
    """`action`: follow (sign in), ignore (never sign in) or fail (exit 1); see browser.py."""
    log = tmp_path / name
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(BROWSER))} %s"
    return BrowserEnv(log, {"BROWSER": command, "BROWSER_LOG": str(log), "BROWSER_ACTION": action})


# ---------------------------------------------------------------------------------------------
# a loopback redirect_uri listener, for clients driven in-process


@dataclass
class CallbackListener:
    """An HTTP listener on 127.0.0.1 that takes authorization responses at /oauth/callback.

    async with CallbackListener() as listener:
        listener.redirect_uri                 # http://127.0.0.1:P/oauth/callback
        params = await listener.next()        # the query of the next callback
    """

    path: str = "/oauth/callback"
    port: int = 0
    _server: asyncio.Server | None = None
    _queue: asyncio.Queue[dict[str, str]] = field(default_factory=asyncio.Queue)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def next(self) -> dict[str, str]:
        return await self._queue.get()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
            parts = urlsplit(target)
            params = dict(parse_qsl(parts.query))
            if parts.path == self.path and ("code" in params or "error" in params):
                status, body = "200 OK", b"signed in\n"
                self._queue.put_nowait(params)
            else:
                status, body = "400 Bad Request", b"not an authorization response\n"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, IndexError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> CallbackListener:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


# ---------------------------------------------------------------------------------------------
# a sign-in without any client library


def pkce_pair() -> tuple[str, str]:
    """A PKCE code_verifier and its S256 code_challenge."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def register_client(
    servers: SdkServers,
    redirect_uri: str = "http://127.0.0.1:9/oauth/callback",
    **metadata: Any,
) -> dict[str, Any]:
    """Dynamic client registration (a public client unless `metadata` says otherwise)."""
    body = {
        "redirect_uris": [redirect_uri],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "oauth_support",
        **metadata,
    }
    answer = http("POST", f"{servers.as_url}/register", json_body=body)
    assert answer.status == 201, answer
    result: dict[str, Any] = answer.json()
    return result


def sign_in(
    servers: SdkServers,
    client: dict[str, Any] | None = None,
    scope: str | None = None,
    resource: str | None = "",
) -> dict[str, Any]:
    """Register (unless `client` is given), authorize and exchange the code, by hand: the token
    response. `resource` "" means the RS's URL; None leaves it out."""
    client = client or register_client(servers)
    redirect_uri = client["redirect_uris"][0]
    resource = servers.rs_url if resource == "" else resource
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if scope is not None:
        query["scope"] = scope
    if resource is not None:
        query["resource"] = resource
    answer = http("GET", f"{servers.as_url}/authorize?{urlencode(query)}")
    assert answer.status == 302, answer
    redirect = dict(parse_qsl(urlsplit(answer.headers["location"]).query))
    assert redirect.get("state") == state, redirect
    form = {
        "grant_type": "authorization_code",
        "code": redirect["code"],
        "redirect_uri": redirect_uri,
        "client_id": client["client_id"],
        "code_verifier": verifier,
    }
    if resource is not None:
        form["resource"] = resource
    token = http("POST", f"{servers.as_url}/token", form=form)
    assert token.status == 200, token
    result: dict[str, Any] = token.json()
    result["client_id"] = client["client_id"]
    return result


def refresh(
    servers: SdkServers, client_id: str, refresh_token: str, resource: str | None = ""
) -> HttpAnswer:
    """A refresh grant by hand (the answer, whatever it is)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    resource = servers.rs_url if resource == "" else resource
    if resource is not None:
        form["resource"] = resource
    return http("POST", f"{servers.as_url}/token", form=form)


# ---------------------------------------------------------------------------------------------
# oidc-provider (python-tests/oidc/server.mjs)

OIDC_DIR = HERE / "oidc"


@dataclass
class Oidc:
    """A running server.mjs: its URLs (the JSON line it printed) and its process."""

    process: subprocess.Popen[bytes]
    issuer: str
    rs: str
    prm: str
    control: str
    log: Path
    http: httpx2.Client = field(default_factory=lambda: httpx2.Client(timeout=30))
    _metadata: dict[str, Any] | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        """The issuer's OpenID Connect Discovery document."""
        if self._metadata is None:
            response = self.http.get(f"{self.issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            self._metadata = response.json()
        return self._metadata

    def records(self) -> dict[str, Any]:
        response = self.http.get(f"{self.control}/records")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def post_control(self, name: str, **params: str) -> dict[str, Any]:
        response = self.http.post(f"{self.control}/{name}", params=params)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> int:
        """SIGTERM, then its exit status (0 when it stopped as asked)."""
        self.http.close()
        return stop_process(self.process)


def start_oidc(log: Path, *args: str) -> Oidc:
    """Starts server.mjs and waits for its JSON line (the sign that both ports listen)."""
    node = shutil.which("node")
    installed = (OIDC_DIR / "node_modules" / "oidc-provider").is_dir()
    if node is None or not installed:
        why = "node not found" if node is None else "run `npm ci --prefix python-tests/oidc`"
        if os.environ.get("MCP_OIDC_REQUIRED") == "1":
            pytest.fail(f"OAuth fixture unavailable: {why}", pytrace=False)
        pytest.skip(f"OAuth fixture unavailable: {why}")
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [node, "server.mjs", *args],
            cwd=OIDC_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    try:
        urls = json.loads(line)
    except json.JSONDecodeError:
        process.kill()
        process.wait()
        raise RuntimeError(
            f"server.mjs did not start: {line!r}\n{log.read_text(errors='replace')}"
        ) from None
    return Oidc(process, urls["issuer"], urls["rs"], urls["prm"], urls["control"], log)
