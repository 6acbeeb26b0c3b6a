"""A tiny threaded HTTP server on 127.0.0.1 for scraper tests (no network, no extra deps).

Routes map an exact path to a ``Resp``, a list of ``Resp`` (served in turn, the last one
repeating), or a callable ``Req -> Resp``. Every request is recorded with its arrival
time so tests can check retries, robots fetches and rate limits.
"""

from __future__ import annotations

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


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    raw_path: str
    time: float  # time.monotonic() at arrival


Route = Resp | list[Resp] | Callable[[Req], Resp]


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Req] = []
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
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
                    time=time.monotonic(),
                )
                resp = server._respond(req)
                if resp.delay:
                    time.sleep(resp.delay)
                body = resp.body.encode() if isinstance(resp.body, str) else resp.body
                try:
                    self.send_response(resp.status)
                    for name, value in resp.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

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
