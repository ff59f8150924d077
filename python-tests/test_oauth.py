"""Sign-in (OAuth 2.1) through the bridge, end to end, against real authorization servers: the
MCP Python SDK's own auth routes (oauth/sdk_servers.py) and npm oidc-provider (oidc/server.mjs).

The bridge is the built `mcp-wrapper` binary on real pipes; `BROWSER` is oauth/browser.py, which
follows the authorize URL to the bridge's loopback callback and logs every opening. Every
assertion reads the servers' records, the browser log, the bridge's stdout lines or the
credentials directory; every wait is for a line or an exit (bounded only against hangs).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from oauth_support import (
    BrowserEnv,
    Oidc,
    SdkServers,
    browser_env,
    start_oidc,
    start_sdk_servers,
)

from support import matrix_rows, wrapper_binary

# Only against hangs: every wait below ends on an observable event long before.
HANG = 60.0

INITIALIZE_PARAMS: dict[str, Any] = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "oauth-tests", "version": "0"},
}


@dataclass
class LineBridge:
    """`mcp-wrapper` as a subprocess: JSON lines in, JSON lines out; its stderr is copied to
    a file and can be waited on line by line."""

    process: asyncio.subprocess.Process
    stderr_path: Path
    lines: list[bytes] = field(default_factory=list)
    next_id: int = 1
    log: list[str] = field(default_factory=list)
    logged: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def copy_stderr(self) -> None:
        assert self.process.stderr is not None
        with self.stderr_path.open("w", encoding="utf-8") as copy:
            while line := await self.process.stderr.readline():
                text = line.decode(errors="replace")
                copy.write(text)
                copy.flush()
                async with self.logged:
                    self.log.append(text)
                    self.logged.notify_all()

    async def wait_for_log(self, pattern: str) -> re.Match[str]:
        """The first stderr line matching `pattern`, once the bridge has written it."""
        async with self.logged:
            while True:
                for line in self.log:
                    if found := re.search(pattern, line):
                        return found
                await asyncio.wait_for(self.logged.wait(), HANG)

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sends a request and returns its answer (any server message before it is kept)."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.next_id += 1
        await self.send(message)
        while True:
            answer = await self.read()
            if answer.get("id") == message["id"] and ("result" in answer or "error" in answer):
                return answer

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await self.process.stdin.drain()

    async def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), HANG)
        assert line, f"the bridge closed stdout\n{self.stderr()}"
        self.lines.append(line)
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    async def initialize(self) -> dict[str, Any]:
        answer = await self.request("initialize", INITIALIZE_PARAMS)
        if "result" in answer:
            await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    async def whoami(self) -> dict[str, Any]:
        return await self.request("tools/call", {"name": "whoami", "arguments": {}})

    def stderr(self) -> str:
        return "".join(self.log)

    def stdout(self) -> bytes:
        return b"".join(self.lines)


@dataclass
class Desk:
    """One user's machine: a credentials directory and a browser."""

    auth_dir: Path
    browser: BrowserEnv
    logs: Path
    count: int = 0

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.logs),
            "MCP_WRAPPER_AUTH_DIR": str(self.auth_dir),
            "MCP_WRAPPER_LOG_LEVEL": "DEBUG",
            "RUST_BACKTRACE": "1",
            **self.browser.env,
            **extra,
        }

    @asynccontextmanager
    async def bridge(
        self, url: str, *args: str, program: tuple[str, ...] = (), **env: str
    ) -> AsyncIterator[LineBridge]:
        """The bridge on `url`: the binary with `args`, or `program` (ending in the URL)."""
        self.count += 1
        stderr_path = self.logs / f"bridge-{self.count}.log"
        argv = program or (str(wrapper_binary()), "--url", url, *args)
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env(**env),
        )
        bridge = LineBridge(process, stderr_path)
        copying = asyncio.ensure_future(bridge.copy_stderr())
        try:
            yield bridge
        finally:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), HANG)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
            await copying
            print(f"--- {stderr_path.name} ---\n{bridge.stderr()[-6000:]}")

    def run(
        self, *args: str, program: tuple[str, ...] = (), **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`mcp-wrapper ARGS` (or `program`) to the end: login, logout, auth status."""
        return subprocess.run(
            list(program) or [str(wrapper_binary()), *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=HANG,
            check=False,
        )

    def files(self) -> list[Path]:
        return sorted(p for p in self.auth_dir.iterdir() if p.is_file())


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return Desk(tmp_path / "auth", browser_env(tmp_path), tmp_path)


@pytest.fixture
def sdk() -> Iterator[SdkServers]:
    servers = start_sdk_servers()
    yield servers
    servers.stop()


def text_of(answer: dict[str, Any]) -> str:
    assert "result" in answer, answer
    content = answer["result"]["content"]
    return "".join(part.get("text", "") for part in content)


def token_requests(records: dict[str, Any]) -> list[dict[str, Any]]:
    """The token endpoint's records (`tokens` in sdk_servers.py, `token` in server.mjs)."""
    found: list[dict[str, Any]] = records.get("tokens", records.get("token", []))
    return found


def planted(records: dict[str, Any]) -> set[str]:
    """Every token the authorization server issued."""
    found: set[str] = set()
    for token in token_requests(records):
        for name in ("access_token", "refresh_token"):
            if token.get(name):
                found.add(token[name])
    return found


def grants(records: dict[str, Any], grant_type: str) -> list[dict[str, Any]]:
    return [t for t in token_requests(records) if t["grant_type"] == grant_type]


# ---- the MCP SDK's authorization server ------------------------------------------------------


async def test_first_sign_in_then_a_restart_reuses_the_tokens(sdk: SdkServers, desk: Desk) -> None:
    async with desk.bridge(sdk.rs_url) as bridge:
        answer = await bridge.initialize()
        assert answer["result"]["serverInfo"], answer
        who = text_of(await bridge.whoami())
    records = sdk.records()
    assert len(records["registrations"]) == 1
    registration = records["registrations"][0]
    assert registration["application_type"] == "native"
    assert "refresh_token" in registration["grant_types"]
    assert registration["redirect_uris"][0].startswith("http://127.0.0.1:")
    assert registration["redirect_uris"][0].endswith("/oauth/callback")
    (authorize,) = records["authorizations"]
    assert authorize["params"]["code_challenge_method"] == "S256"
    assert authorize["params"]["resource"] == sdk.rs_url
    assert authorize["params"]["scope"] == "mcp:tools"
    (code,) = grants(records, "authorization_code")
    assert code["ok"]
    assert code["resource"] == sdk.rs_url
    assert registration["client_id"] in who
    (opened,) = desk.browser.entries()
    assert opened["url"].startswith(f"{sdk.as_url}/authorize?"), opened
    # The host saw no 401, and no token crossed stdout or the log.
    assert records["rs"]["status_401"] >= 1
    for secret in planted(records):
        assert secret.encode() not in bridge.stdout()
        assert secret not in bridge.stderr()
    # Private files, a private directory.
    assert stat.S_IMODE(desk.auth_dir.stat().st_mode) == 0o700
    for path in desk.files():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    async with desk.bridge(sdk.rs_url) as again:
        assert "result" in await again.initialize()
        assert registration["client_id"] in text_of(await again.whoami())
    records = sdk.records()
    assert len(desk.browser.entries()) == 1, "a restart opened a browser"
    assert len(records["authorizations"]) == 1
    assert len(records["registrations"]) == 1

    status = desk.run("auth", "status")
    assert status.returncode == 0, status.stderr
    assert sdk.rs_url in status.stdout
    assert sdk.as_url in status.stdout
    for secret in planted(records):
        assert secret not in status.stdout + status.stderr
    out = desk.run("logout", "--url", sdk.rs_url)
    assert out.returncode == 0, out
    assert "signed out" in out.stdout, out
    assert "(none)" in desk.run("auth", "status").stdout
    # The protocol-era verdict (eras.json) is no credential: it stays.
    assert not [p for p in desk.files() if p.suffix == ".json" and p.name != "eras.json"]


async def test_an_expired_token_is_refreshed_without_a_browser(sdk: SdkServers, desk: Desk) -> None:
    async with desk.bridge(sdk.rs_url) as bridge:
        assert "result" in await bridge.initialize()
        assert sdk.control("expire-access")["expired"] >= 1
        assert "result" in await bridge.whoami()
        assert sdk.control("expire-access")["expired"] >= 1
        assert "result" in await bridge.whoami()
    records = sdk.records()
    refreshes = grants(records, "refresh_token")
    assert [r["ok"] for r in refreshes] == [True, True], refreshes
    assert all(r["resource"] == sdk.rs_url for r in refreshes)
    assert len(desk.browser.entries()) == 1


async def test_a_revoked_refresh_token_leads_to_exactly_one_new_sign_in(
    sdk: SdkServers, desk: Desk
) -> None:
    async with desk.bridge(sdk.rs_url) as bridge:
        assert "result" in await bridge.initialize()
        sdk.control("revoke-refresh")
        sdk.control("expire-access")
        assert "result" in await bridge.whoami()
        assert "result" in await bridge.whoami()
    records = sdk.records()
    refreshes = grants(records, "refresh_token")
    assert [r["error"] for r in refreshes] == ["invalid_grant"], refreshes
    assert len(records["authorizations"]) == 2
    assert len(desk.browser.entries()) == 2
    assert len(records["registrations"]) == 1, "the registration is reused"


async def test_two_bridges_started_together_sign_in_once(sdk: SdkServers, desk: Desk) -> None:
    async with desk.bridge(sdk.rs_url) as one, desk.bridge(sdk.rs_url) as two:
        first, second = await asyncio.gather(one.initialize(), two.initialize())
        assert "result" in first
        assert "result" in second
        assert "result" in await one.whoami()
        assert "result" in await two.whoami()
    records = sdk.records()
    assert len(desk.browser.entries()) == 1
    assert len(records["authorizations"]) == 1
    assert len(records["registrations"]) == 1


async def test_insufficient_scope_steps_up_to_the_union_of_scopes(desk: Desk) -> None:
    servers = start_sdk_servers("--scopes-supported", "mcp:tools mcp:admin")
    try:
        async with desk.bridge(servers.rs_url) as bridge:
            assert "result" in await bridge.initialize()
            servers.control("require-scope", scope="mcp:admin")
            who = text_of(await bridge.whoami())
            assert "mcp:admin" in who
        records = servers.records()
        scopes = [set(a["params"]["scope"].split()) for a in records["authorizations"]]
        assert scopes == [{"mcp:tools"}, {"mcp:tools", "mcp:admin"}], scopes
        # The tools/call met the 403; the GET listen stream, opened at about the same time,
        # may meet it too: both wait for the one step-up (the scopes above).
        assert records["rs"]["status_403"] >= 1
    finally:
        servers.stop()


async def test_authorization_server_down_is_a_clear_error_and_the_bridge_keeps_serving(
    sdk: SdkServers, desk: Desk
) -> None:
    async with desk.bridge(sdk.rs_url) as bridge:
        assert "result" in await bridge.initialize()
        sdk.control("as-down")
        sdk.control("expire-access")
        failed = await bridge.whoami()
        assert failed["error"]["code"] == -32000, failed
        assert failed["error"]["message"].startswith("Sign-in failed:"), failed
        assert "503" in failed["error"]["message"], failed
        sdk.control("as-up")
        assert "result" in await bridge.whoami()
    assert len(desk.browser.entries()) == 1


async def test_a_redirect_with_a_wrong_state_is_rejected(sdk: SdkServers, desk: Desk) -> None:
    sdk.control("wrong-state")
    async with desk.bridge(sdk.rs_url, "--oauth-timeout", "2") as bridge:
        answer = await bridge.initialize()
        await bridge.wait_for_log("a redirect with another state was refused")
    assert len(desk.browser.entries()) == 1
    assert "error" in answer, answer
    message = answer["error"]["message"]
    assert "sign in at http://127.0.0.1:" in message, message
    assert "/authorize?" in message
    assert grants(sdk.records(), "authorization_code") == [], "no code reached the token endpoint"


async def test_a_sign_in_nobody_finishes_opens_one_browser_a_minute(
    sdk: SdkServers, tmp_path: Path
) -> None:
    """The breaker: a user who never signs in (a laptop asleep) gets one tab, not one per
    request; the URL is still printed and each request is answered with it."""
    desk = Desk(tmp_path / "auth", browser_env(tmp_path, action="ignore"), tmp_path)
    async with desk.bridge(sdk.rs_url, "--oauth-timeout", "1") as bridge:
        first = await bridge.initialize()
        second = await bridge.initialize()
        await bridge.wait_for_log("not opening another")
    for answer in (first, second):
        assert "sign in at http://127.0.0.1:" in answer["error"]["message"], answer
    assert len(desk.browser.entries()) == 1
    assert len(sdk.records()["authorizations"]) == 0, "nobody followed the URL"


async def test_login_ahead_of_time_then_the_bridge_needs_no_browser(
    sdk: SdkServers, desk: Desk
) -> None:
    out = desk.run("login", "--url", sdk.rs_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("signed in:"), out.stdout
    assert len(desk.browser.entries()) == 1
    async with desk.bridge(sdk.rs_url) as bridge:
        assert "result" in await bridge.initialize()
        assert "result" in await bridge.whoami()
    assert len(desk.browser.entries()) == 1
    assert sdk.records()["rs"]["status_401"] == 0, "the bridge sent its token from the start"


async def test_no_oauth_leaves_the_401_as_the_answer(sdk: SdkServers, desk: Desk) -> None:
    async with desk.bridge(sdk.rs_url, "--no-oauth") as bridge:
        answer = await bridge.initialize()
    assert answer["error"]["code"] == -32000, answer
    assert "401" in answer["error"]["message"], answer
    assert desk.browser.entries() == []
    assert sdk.records()["registrations"] == []


async def test_run_bridge_signs_in_with_its_oauth_keywords(sdk: SdkServers, desk: Desk) -> None:
    script = (
        "import sys, mcp_wrapper_rs\n"
        "sys.exit(mcp_wrapper_rs.run_bridge(sys.argv[1], oauth_scope='mcp:tools',"
        " oauth_params={'prompt': 'consent'}, oauth_timeout=30, log_level='DEBUG'))"
    )
    program = (sys.executable, "-c", script, sdk.rs_url)
    async with desk.bridge(sdk.rs_url, program=program) as bridge:
        assert "result" in await bridge.initialize()
        assert "result" in await bridge.whoami()
    (authorize,) = sdk.records()["authorizations"]
    assert authorize["params"]["prompt"] == "consent"
    assert len(desk.browser.entries()) == 1
    # `python -m mcp_wrapper_rs` takes the commands too.
    status = desk.run(program=(sys.executable, "-m", "mcp_wrapper_rs", "auth", "status"))
    assert sdk.rs_url in status.stdout, status


async def test_run_bridge_oauth_false_leaves_the_401(sdk: SdkServers, desk: Desk) -> None:
    script = (
        "import sys, mcp_wrapper_rs\nsys.exit(mcp_wrapper_rs.run_bridge(sys.argv[1], oauth=False))"
    )
    program = (sys.executable, "-c", script, sdk.rs_url)
    async with desk.bridge(sdk.rs_url, program=program) as bridge:
        answer = await bridge.initialize()
    assert "401" in answer["error"]["message"], answer
    assert desk.browser.entries() == []


def test_the_sign_in_rows_of_the_behaviour_matrix_pass_for_mcp_wrapper(tmp_path: Path) -> None:
    """`e2e matrix`'s sign-in rows (benches/e2e/matrix/oauth.rs) against our bridge: every
    cell as a user wants it. (benches/tests/matrix.rs runs the other rows under cargo.)"""
    rows = matrix_rows("oauth_", tmp_path / "matrix.json", E2E_OAUTH_PYTHON=sys.executable)
    assert len(rows) == 5, rows
    for row in rows:
        assert row["cells"][0]["good"], row


# ---- oidc-provider, a third-party authorization server ---------------------------------------


@pytest.fixture
def oidc(tmp_path: Path) -> Iterator[Oidc]:
    server = start_oidc(tmp_path / "oidc.log", "--device-interval", "1")
    yield server
    server.stop()


async def test_oidc_provider_sign_in_and_rotating_refresh(oidc: Oidc, desk: Desk) -> None:
    async with desk.bridge(oidc.rs) as bridge:
        assert "result" in await bridge.initialize()
        assert "result" in await bridge.whoami()
        for _ in range(2):
            oidc.post_control("expire-access")
            assert "result" in await bridge.whoami()
    records = oidc.records()
    (registration,) = records["registrations"]
    assert registration["request"]["token_endpoint_auth_method"] == "none"
    refreshes = grants(records, "refresh_token")
    assert [r["ok"] for r in refreshes] == [True, True], refreshes
    assert all(r["resource"] == oidc.rs for r in refreshes)
    assert len(desk.browser.entries()) == 1
    for secret in planted(records):
        assert secret.encode() not in bridge.stdout()
        assert secret not in bridge.stderr()


async def test_oidc_provider_device_flow_without_a_browser(oidc: Oidc, desk: Desk) -> None:
    async with desk.bridge(oidc.rs, "--oauth-no-browser") as bridge:
        pending = asyncio.ensure_future(bridge.initialize())
        user_code = (await bridge.wait_for_log(r"enter the code (\S+)")).group(1)
        oidc.post_control("approve-device", user_code=user_code)
        assert "result" in await pending
        assert "result" in await bridge.whoami()
    assert desk.browser.entries() == []
    assert len(grants(oidc.records(), "urn:ietf:params:oauth:grant-type:device_code")) >= 1


async def test_oidc_provider_client_credentials(oidc: Oidc, desk: Desk) -> None:
    registration = httpx2.post(
        oidc.metadata["registration_endpoint"],
        json={
            "client_name": "machine",
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": "client_secret_post",
        },
        timeout=HANG,
    ).json()
    secret_file = desk.logs / "secret"
    secret_file.write_text(registration["client_secret"] + "\n")
    async with desk.bridge(
        oidc.rs,
        "--oauth-client-credentials",
        # `=`: a random client id may start with `-` and would be read as an option.
        f"--oauth-client-id={registration['client_id']}",
        "--oauth-client-secret-file",
        str(secret_file),
    ) as bridge:
        assert "result" in await bridge.initialize()
        assert registration["client_id"] in text_of(await bridge.whoami())
    assert desk.browser.entries() == []
    (granted,) = grants(oidc.records(), "client_credentials")
    assert granted["ok"]
    assert granted["resource"] == oidc.rs
    assert registration["client_secret"] not in bridge.stderr()
