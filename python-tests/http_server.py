"""A plain Python HTTP/1.1 server for the client tests, run as its own process.

Prints ``LISTENING <port>`` once ready and serves on 127.0.0.1 until stdin closes.

Routes (all methods):
    /echo               JSON: method, path, headers (lower-case, multi-valued), body (text)
    /bytes?n=N&chunk=C  N bytes of b"x", chunked transfer encoding, C bytes per chunk
    /lines              text with LF, CRLF and CR line ends, cut across chunks
    /status/<code>      that status, body "status <code>"
    /headers            repeated Set-Cookie headers
    /slow-body?ms=M     headers at once, then silence for M ms, then "done"
    /redirect           307 to /echo
    /bad-json           application/json body that is not JSON
    /latin1             "café" in ISO-8859-1, with that charset
    /loop               307 to itself, for ever
    /hit/<key>          counts a request under <key>; /hits/<key> says how many there were
    /ticks?n=N[&hold=1] N lines "tick <i>", one chunk each; with hold=1 the body then stays
                        open until the client leaves (bounded: 120 s)
    /open?atmost=K      how many connections are open (this one included), once at most K
                        are (waits for that, bounded: 120 s)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HITS: dict[str, int] = {}
HITS_LOCK = threading.Lock()
OPEN = [0]
# Notified whenever a connection opens or closes (`/open?atmost=` waits on it).
OPEN_CHANGED = threading.Condition(HITS_LOCK)

# How long a route may wait for a client: servers in tests stop by themselves.
WAIT_BOUND_S = 120


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        with OPEN_CHANGED:
            OPEN[0] += 1
            OPEN_CHANGED.notify_all()
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with OPEN_CHANGED:
                OPEN[0] -= 1
                OPEN_CHANGED.notify_all()

    def _body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _chunked(self, pieces: list[bytes] | None = None) -> None:
        for piece in pieces or []:
            self._chunk(piece)
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, piece: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.flush()

    def _route(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self._body()
        if url.path == "/echo":
            headers: dict[str, list[str]] = {}
            for name, value in self.headers.items():
                headers.setdefault(name.lower(), []).append(value)
            answer = {
                "method": self.command,
                "path": self.path,
                "headers": headers,
                "body": body.decode("utf-8", "replace"),
            }
            self._send(200, json.dumps(answer).encode(), "application/json")
        elif url.path == "/bytes":
            total, size = int(query.get("n", "0")), int(query.get("chunk", "65536"))
            self.send_response(200)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            block = b"x" * size
            sent = 0
            while sent < total:
                piece = block[: min(size, total - sent)]
                self._chunk(piece)
                sent += len(piece)
            self._chunked()
        elif url.path == "/lines":
            self.send_response(200)
            self.send_header("content-type", "text/plain; charset=utf-8")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for piece in [b"one\r", b"\ntwo\n", b"thr", b"ee\rfour\r\n\r\nsix \xc3", b"\xa9"]:
                self._chunk(piece)
                time.sleep(0.005)
            self._chunked()
        elif url.path.startswith("/status/"):
            code = int(url.path.rsplit("/", 1)[1])
            # 204 and 304 have no body (one would be read as the next response).
            self._send(code, b"" if code in (204, 304) else f"status {code}".encode())
        elif url.path == "/headers":
            self.send_response(200)
            self.send_header("Set-Cookie", "a=1")
            self.send_header("Set-Cookie", "b=2")
            self.send_header("X-Mixed-Case", "Yes")
            self.send_header("content-length", "0")
            self.end_headers()
        elif url.path == "/slow-body":
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            self._chunk(b"start ")
            time.sleep(int(query.get("ms", "1000")) / 1000)
            try:
                self._chunk(b"done")
                self._chunked()
            except OSError:
                pass
        elif url.path == "/redirect":
            self.send_response(307)
            self.send_header("location", "/echo")
            self.send_header("content-length", "0")
            self.end_headers()
        elif url.path == "/latin1":
            self._send(200, "café".encode("latin-1"), "text/plain; charset=ISO-8859-1")
        elif url.path == "/loop":
            self.send_response(307)
            self.send_header("location", "/loop")
            self.send_header("content-length", "0")
            self.end_headers()
        elif url.path.startswith("/hit/"):
            with HITS_LOCK:
                HITS[url.path[5:]] = HITS.get(url.path[5:], 0) + 1
            self._send(200, b"hit")
        elif url.path.startswith("/hits/"):
            with HITS_LOCK:
                count = HITS.get(url.path[6:], 0)
            self._send(200, str(count).encode())
        elif url.path == "/open":
            atmost = int(query.get("atmost", "1000000"))
            with OPEN_CHANGED:
                OPEN_CHANGED.wait_for(lambda: OPEN[0] <= atmost, timeout=WAIT_BOUND_S)
                count = OPEN[0]
            self._send(200, str(count).encode())
        elif url.path == "/ticks":
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                for i in range(int(query.get("n", "10"))):
                    self._chunk(b"tick %d\n" % i)
                if query.get("hold") == "1":
                    # Until the client leaves: its end of the connection reads as EOF.
                    self.connection.settimeout(WAIT_BOUND_S)
                    self.rfile.read(1)
                else:
                    self._chunked()
            except OSError:
                pass  # The client left: the point of some tests.
        elif url.path == "/bad-json":
            self._send(200, b"{not json", "application/json")
        else:
            self._send(404, b"not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _route

    def do_HEAD(self) -> None:
        self._body()
        self.send_response(200)
        self.send_header("content-length", "42")
        self.end_headers()


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"LISTENING {server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
