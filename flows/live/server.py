"""The live page's HTTP server: the standard library's, in a daemon thread, read-only.

- ``/`` the page, ``/static/NAME`` its assets (from the installed package, only
  the files it ships: nothing else can be named);
- ``/api/state`` the feed's state as JSON;
- ``/events`` server-sent events: the whole state on connect, then what changed,
  at most a few times a second, only while a page is connected.

Only GET and HEAD (anything else: 405). Every response carries a
Content-Security-Policy that allows no inline script or style and no other origin.
"""

from __future__ import annotations

import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import orjson

from driftline.flows.live.feed import LiveFeed

log = logging.getLogger("driftline")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
PUSH_EVERY = 0.3  # seconds between checks for changes (so at most ~3 messages a second)
KEEPALIVE = 15.0  # seconds of silence before a comment line keeps the connection open
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}


def _assets() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once from the installed package: name -> (bytes, type)."""
    folder = resources.files("driftline.flows.live") / "static"
    out: dict[str, tuple[bytes, str]] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and suffix in _TYPES:
            out[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    feed: LiveFeed
    assets: dict[str, tuple[bytes, str]]
    stopping: threading.Event


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "driftline"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("live page: " + format, *args)

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def _refuse(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        body = b"read-only: GET and HEAD only\n"
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

    def do_HEAD(self) -> None:
        self._get(body=False)

    def do_GET(self) -> None:
        self._get(body=True)

    def _get(self, body: bool) -> None:
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._asset("index.html", body)
        elif path.startswith("/static/"):
            self._asset(path.removeprefix("/static/"), body)
        elif path == "/api/state":
            self._send(orjson.dumps(self.server.feed.state()), "application/json", body)
        elif path == "/events" and body:
            self._events()
        elif path == "/events":
            self._send(b"", "text/event-stream", body=False)
        else:
            self._send(b"not found\n", "text/plain; charset=utf-8", body, HTTPStatus.NOT_FOUND)

    def _asset(self, name: str, body: bool) -> None:
        found = self.server.assets.get(name)  # the shipped names only: no path is resolved
        if found is None:
            self._send(b"not found\n", "text/plain; charset=utf-8", body, HTTPStatus.NOT_FOUND)
        else:
            self._send(found[0], found[1], body)

    def _send(self, data: bytes, kind: str, body: bool, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _events(self) -> None:
        """Server-sent events until the page goes away or the server stops."""
        feed, stopping = self.server.feed, self.server.stopping
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        feed.watchers += 1
        try:
            self.wfile.write(b"retry: 2000\n\n")
            seen, sent_version, quiet_since = 0, -1, time.monotonic()
            while not stopping.is_set():
                if feed.version != sent_version:
                    sent_version = feed.version
                    state = feed.state(seen)
                    seen = state["seq"]
                    self.wfile.write(b"data: " + orjson.dumps(state) + b"\n\n")
                    self.wfile.flush()
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > KEEPALIVE:
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                    quiet_since = time.monotonic()
                stopping.wait(PUSH_EVERY)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the page went away
        finally:
            feed.watchers -= 1


class LivePage:
    """The page's server for one process: :meth:`start` it, :meth:`stop` it at the end."""

    def __init__(self, feed: LiveFeed, host: str, port: int) -> None:
        self.feed = feed
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> str:
        """Bind and serve in a daemon thread; returns the page's URL (port 0: the one bound)."""
        server = _Server((self.host, self.port), _Handler)
        server.feed = self.feed
        server.assets = _assets()
        server.stopping = threading.Event()
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
            name="driftline-live",
        )  # fmt: skip
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Close the event streams, stop serving and release the port."""
        server = self._server
        if server is None:
            return
        self._server = None
        server.stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
