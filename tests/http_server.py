"""A tiny threaded HTTP server on 127.0.0.1 for scraper tests (no network, no extra deps).

Routes map an exact path to a ``Resp``, a list of ``Resp`` (served in turn, the last one
repeating), or a callable ``Req -> Resp``. Every request is recorded with its arrival
time so tests can check retries, robots fetches and rate limits.

Faults a ``Resp`` can play: ``delay`` (slow answer), ``length`` (declared Content-Length
larger than the body sent, then the connection closes: a truncated body), ``reset_after``
(send that many body bytes, then reset the connection), ``chunked`` (no Content-Length, so a
size cap must be enforced while reading). A 200 with an ``ETag`` / ``Last-Modified`` header
answers a matching ``If-None-Match`` / ``If-Modified-Since`` with 304 and no body, like a
real origin server (RFC 9110 13.1).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest


@dataclass
class Resp:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (for timeout tests)
    length: int | None = None  # declared Content-Length when it should differ from the body's
    reset_after: int | None = None  # body bytes sent before the connection is reset (RST)
    chunked: bool = False  # Transfer-Encoding: chunked, no Content-Length


def _not_modified(req: Req, resp: Resp) -> bool:
    """True when a conditional GET matches the validators this 200 carries."""
    if resp.status != 200:
        return False
    headers = {k.lower(): v for k, v in resp.headers.items()}
    etag, modified = headers.get("etag"), headers.get("last-modified")
    if etag and "if-none-match" in req.headers:
        return etag in [t.strip() for t in req.headers["if-none-match"].split(",")]
    return bool(modified) and req.headers.get("if-modified-since") == modified


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    raw_path: str
    time: float  # server.clock() at arrival (time.monotonic unless a test injects the client's clock)


Route = Resp | list[Resp] | Callable[[Req], Resp]


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Req] = []
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self.clock: Callable[[], float] = time.monotonic
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # avoid 40 ms delayed-ACK stalls on keep-alive

            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                parts = urlsplit(self.path)
                req = Req(
                    method="GET",
                    path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    raw_path=self.path,
                    time=server.clock(),
                )
                resp = server._respond(req)
                if resp.delay:
                    time.sleep(resp.delay)
                try:
                    self._send(req, resp)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout and size-cap tests)

            def _send(self, req: Req, resp: Resp) -> None:
                body = resp.body.encode() if isinstance(resp.body, str) else resp.body
                if _not_modified(req, resp):
                    resp, body = Resp(304, headers={k: v for k, v in resp.headers.items()
                                                    if k.lower() in ("etag", "last-modified")}), b""
                self.send_response(resp.status)
                for name, value in resp.headers.items():
                    self.send_header(name, value)
                if resp.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                elif resp.status != 304:
                    self.send_header("Content-Length", str(resp.length if resp.length is not None else len(body)))
                self.end_headers()
                if resp.reset_after is not None:
                    self.wfile.write(body[: resp.reset_after])
                    self.wfile.flush()
                    # SO_LINGER 0 and close now (before socketserver's orderly shutdown sends a FIN):
                    # the client sees "connection reset by peer" mid-body
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                elif resp.chunked:
                    step = 1 << 20
                    for i in range(0, len(body), step):
                        piece = body[i : i + step]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(body)
                    if resp.length is not None and resp.length != len(body):
                        self.close_connection = True  # truncated: close before the declared length

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass  # keep test output clean when clients hang up

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def _respond(self, req: Req) -> Resp:
        with self._lock:
            self.requests.append(req)
            route = self.routes.get(req.path)
            n = self._counters.get(req.path, 0)
            self._counters[req.path] = n + 1
        if route is None:
            return Resp(404, b"not found")
        if isinstance(route, Resp):
            return route
        if isinstance(route, list):
            return route[min(n, len(route) - 1)]
        return route(req)

    def route(self, path: str, route: Route) -> None:
        self.routes[path] = route

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}{path}"

    def hits(self, path: str) -> list[Req]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def other_server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


class SleepRecorder:
    """Injected ``sleep``: records requested delays instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class FakeClock:
    """Injected clock + sleep: sleeping advances the clock instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
