"""A real HTTP server on 127.0.0.1 that serves feed files, for the offline demo and the tests.

It answers conditional GETs the way outlets' CDNs do (strong ETag from the body, Last-Modified,
304 when either validator matches). A route is either bytes (served as a feed) or a callable
that takes the request handler and misbehaves however a test needs; a callable route also
takes POSTs (a webhook receiver for alerts).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Behaviour = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Document:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    #: HTTP date of the last change; feeds get one so If-Modified-Since works
    last_modified: str | None = None
    conditional: bool = True
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'


class FeedServer:
    """``with FeedServer() as server: server.add("/feed.xml", body); server.url("/feed.xml")``."""

    def __init__(self, port: int = 0) -> None:
        self.routes: dict[str, Document | Behaviour] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", port), _handler_class(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, route: Document | Behaviour | bytes, **kwargs: Any) -> str:
        with self._lock:
            self.routes[path] = Document(route, **kwargs) if isinstance(route, bytes) else route
        return self.url(path)

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.requests if p == path)

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _route(self, path: str, headers: dict[str, str]) -> Document | Behaviour | None:
        with self._lock:
            self.requests.append((path, headers))
            return self.routes.get(path.split("?", 1)[0]) or self.routes.get(path)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up early (a deadline, a size cap) is expected here


def _handler_class(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in separate writes; without this, Nagle + delayed ACK add 40 ms
        disable_nagle_algorithm = True
        server_version = "tracker-localserver/1"

        def do_GET(self) -> None:
            route = server._route(self.path, {k.lower(): v for k, v in self.headers.items()})
            if route is None:
                send_status(self, 404)
            elif isinstance(route, Document):
                serve_document(self, route)
            else:
                route(self)

        def do_POST(self) -> None:
            # a webhook receiver (alert tests): only a callable route takes a POST
            route = server._route(self.path, {k.lower(): v for k, v in self.headers.items()})
            if route is None:
                send_status(self, 404)
            elif isinstance(route, Document):
                send_status(self, 405, {"Allow": "GET"})
            else:
                route(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # requests are recorded in server.requests; stderr stays quiet

    return Handler


def serve_document(handler: BaseHTTPRequestHandler, doc: Document) -> None:
    if doc.conditional and _not_modified(handler, doc):
        handler.send_response(304)
        handler.send_header("ETag", doc.etag)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return
    handler.send_response(200)
    handler.send_header("Content-Type", doc.content_type)
    handler.send_header("Content-Length", str(len(doc.body)))
    if doc.conditional:
        handler.send_header("ETag", doc.etag)
        if doc.last_modified:
            handler.send_header("Last-Modified", doc.last_modified)
    for name, value in doc.headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(doc.body)


def send_status(
    handler: BaseHTTPRequestHandler,
    status: int,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _not_modified(handler: BaseHTTPRequestHandler, doc: Document) -> bool:
    if_none_match = handler.headers.get("If-None-Match")
    if if_none_match is not None:
        return doc.etag in [tag.strip() for tag in if_none_match.split(",")]
    since = handler.headers.get("If-Modified-Since")
    if since and doc.last_modified:
        try:
            return parsedate_to_datetime(doc.last_modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def http_date(when: Any) -> str:
    return format_datetime(when, usegmt=True)


def serve_directory(directory: str, port: int) -> None:
    """Serve every file of a directory at /NAME until interrupted (used by bench/)."""
    from pathlib import Path

    server = FeedServer(port)
    for path in sorted(Path(directory).iterdir()):
        if path.is_file():
            server.add(
                f"/{path.name}", path.read_bytes(), last_modified="Mon, 25 Aug 2025 00:00:00 GMT"
            )
    server.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    import sys

    serve_directory(sys.argv[1], int(sys.argv[2]))
