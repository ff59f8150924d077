"""A stand-in for the user's browser in the sign-in tests.

Tests put it in $BROWSER:  BROWSER="/abs/python /abs/browser.py %s"

Each invocation appends one JSON line to the file named by $BROWSER_LOG:
    {"url": ..., "argv": [...], "action": ..., "hops": [{"url", "status", "location"}...],
     "callback": {"url", "status", "body"} | null, "error": str | null}
(a callback that could not be reached has status and body null, and the reason in "error").

It opens the URL with a cookie jar and follows redirects (3xx with a Location) while they stay
on loopback or on the first URL's origin (an authorization server with interaction pages that
redirect works too). A redirect to a loopback URL whose path is $BROWSER_CALLBACK_PATH
(default /oauth/callback), the sign-in's redirect_uri, is fetched once more, as the browser
would, and its status and body are recorded; the browser stops there. A callback that answers
400 is recorded too: the exit status is 0 unless the log cannot be written.

$BROWSER_ACTION changes what it does: "follow" (the default) as above; "ignore" only records the
URL (a user who never signs in); "fail" records it and exits 1 (a browser that cannot open).
Every request has a timeout ($BROWSER_TIMEOUT seconds, default 10) and there are at most 20 hops.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urljoin, urlsplit

MAX_HOPS = 20
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
BODY_LIMIT = 4000
# A refused loopback callback is tried this many times, this far apart (see `_get`).
LOOPBACK_TRIES = 50
LOOPBACK_PAUSE = 0.1


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _get(opener: urllib.request.OpenerDirector, url: str, timeout: float) -> tuple[int, Any, str]:
    """Status, headers and (the start of) the body; HTTP errors are answers, not failures.

    Only for the behaviour matrix of other bridges (BROWSER_DETACH=1, benches/e2e): a loopback
    listener that refuses the connection is asked again for a few seconds, as a person's
    browser would be slower than this script; fastmcp opens the browser before its callback
    server listens. The tests never retry: the bridge binds before it opens a browser."""
    tries = LOOPBACK_TRIES if os.environ.get("BROWSER_DETACH") == "1" else 1
    for _ in range(tries - 1):
        try:
            return _get_once(opener, url, timeout)
        except urllib.error.URLError as error:
            refused = isinstance(error.reason, ConnectionRefusedError)
            if not (refused and urlsplit(url).hostname in LOOPBACK):
                raise
            time.sleep(LOOPBACK_PAUSE)
    return _get_once(opener, url, timeout)


def _get_once(
    opener: urllib.request.OpenerDirector, url: str, timeout: float
) -> tuple[int, Any, str]:
    try:
        with opener.open(url, timeout=timeout) as response:
            body = response.read(BODY_LIMIT)
            return int(response.status), response.headers, body.decode(errors="replace")
    except urllib.error.HTTPError as error:
        body = error.read(BODY_LIMIT) if error.fp is not None else b""
        return int(error.code), error.headers, body.decode(errors="replace")


def follow(url: str, callback_path: str = "/oauth/callback", timeout: float = 10) -> dict[str, Any]:
    """Open `url` as a browser would; what happened, for the log line."""
    record: dict[str, Any] = {"hops": [], "callback": None, "error": None}
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect()
    )
    start_origin = _origin(url)
    current = url
    try:
        for _ in range(MAX_HOPS):
            parts = urlsplit(current)
            if parts.hostname in LOOPBACK and parts.path == callback_path:
                record["callback"] = {"url": current, "status": None, "body": None}
                status, _headers, body = _get(opener, current, timeout)
                record["callback"].update(status=status, body=body)
                return record
            status, headers, body = _get(opener, current, timeout)
            location = headers.get("Location") if 300 <= status < 400 else None
            hop: dict[str, Any] = {"url": current, "status": status, "location": location}
            record["hops"].append(hop)
            if location is None:
                hop["body"] = body
                record["error"] = f"stopped at {current}: HTTP {status} without a redirect"
                return record
            target = urljoin(current, location)
            host = urlsplit(target).hostname
            if _origin(target) != start_origin and host not in LOOPBACK:
                record["error"] = f"redirected off the authorization server to {target}"
                return record
            current = target
        record["error"] = f"more than {MAX_HOPS} redirects"
    except (OSError, ValueError) as error:
        record["error"] = f"{type(error).__name__}: {error}"
    return record


def append_log(path: str, entry: dict[str, Any]) -> None:
    line = (json.dumps(entry) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else ""
    action = os.environ.get("BROWSER_ACTION", "follow")
    log = os.environ.get("BROWSER_LOG")
    # The opening is logged before anything is fetched, so it is on record before the client
    # can have received a code: a test that counts openings once a sign-in ended reads them
    # all. What following the URL did is a second line ("followed"), written afterwards.
    opened: dict[str, Any] = {"event": "opened", "url": url, "argv": argv[1:], "action": action}
    if log:
        append_log(log, opened)
    # BROWSER_DETACH=1: return at once and follow in the background, as xdg-open does; for
    # clients that wait for the browser command before they listen for the callback
    # (Python's webbrowser waits for a BROWSER command to exit).
    if os.environ.get("BROWSER_DETACH") == "1" and os.fork() != 0:
        return 0
    entry: dict[str, Any] = {"event": "followed", "url": url, "argv": argv[1:], "action": action}
    if action == "follow" and url:
        entry.update(
            follow(
                url,
                callback_path=os.environ.get("BROWSER_CALLBACK_PATH", "/oauth/callback"),
                timeout=float(os.environ.get("BROWSER_TIMEOUT", "10")),
            )
        )
    elif not url:
        entry["error"] = "no URL given"
    if log:
        append_log(log, entry)
    else:
        sys.stderr.write(json.dumps(entry) + "\n")
    return 1 if action == "fail" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
