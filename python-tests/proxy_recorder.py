"""A proxy.py plugin for test_proxy.py: appends one line per request the proxy lets through
to the file named by $MCP_PROXY_RECORD, `CONNECT 127.0.0.1:PORT` for an https tunnel or
`POST 127.0.0.1:PORT` for a forwarded http request, and flushes it at once, so a test can
wait for it. proxy.py runs its authentication plugin first: a request it refuses with 407 is
never recorded. Loaded by proxy.py from its own venv (`--plugins proxy_recorder.Recorder`)."""

from __future__ import annotations

import os
from typing import Any

from proxy.http.proxy import HttpProxyBasePlugin  # type: ignore[import-not-found]


class Recorder(HttpProxyBasePlugin):  # type: ignore[misc]
    def handle_client_request(self, request: Any) -> Any:
        method = bytes(request.method or b"?").decode("ascii", "replace")
        host = bytes(request.host or b"?").decode("ascii", "replace")
        with open(os.environ["MCP_PROXY_RECORD"], "a", encoding="utf-8") as record:
            record.write(f"{method} {host}:{request.port}\n")
        return request
