"""A real HTTP/1.1 server on 127.0.0.1 for tests and benchmarks (stdlib only).

It runs in a background thread on an ephemeral port. Routes map an exact path to a
static :class:`Response` or to a handler ``(RecordedRequest) -> Response``; static
routes made with :meth:`LocalServer.static` (or :meth:`LocalServer.file`) carry an
ETag and a Last-Modified and answer 304 on a matching ``If-None-Match`` /
``If-Modified-Since`` by themselves. Every request is recorded (method, path, query,
headers, body) in a thread-safe list. Routes can be added or replaced while the server
runs, so a test can "publish" a new version of a feed between two polls.

Usage::

    from tests.support.httpserver import LocalServer, Response

    with LocalServer() as server:
        server.static("/feed.xml", b"<rss>...</rss>", content_type="application/rss+xml")
        server.route("/gone", Response(status=410))
        server.route("/slow", Response(body=b"x" * 1000, trickle=(10, 0.5)))
        server.route("/echo", lambda req: Response(body=req.header("user-agent") or b""))
        url = server.url("/feed.xml")  # "http://127.0.0.1:PORT/feed.xml"
        ...  # fetch it
        assert server.requests_for("/feed.xml")[0].header("if-none-match") is None

As a pytest fixture::

    @pytest.fixture
    def server() -> Iterator[LocalServer]:
        with LocalServer() as srv:
            yield srv
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Handler", "LocalServer", "RecordedRequest", "Response", "http_date", "is_not_modified"]


def http_date(when: datetime | float) -> str:
    """Format an IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    ts = when.timestamp() if isinstance(when, datetime) else when
    return email.utils.formatdate(ts, usegmt=True)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str  # without the query string
    query: str  # raw query string, "" when none
    headers: tuple[tuple[str, str], ...]  # as received, in order, original case
    body: bytes = b""
    at: float = 0.0  # time.monotonic() on arrival

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def header_names(self) -> frozenset[str]:
        return frozenset(key.lower() for key, _ in self.headers)

    @property
    def query_params(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)


@dataclass(frozen=True, slots=True)
class Response:
    """What to answer.

    ``body`` is sent verbatim (set ``Content-Encoding`` yourself for pre-compressed
    bodies). ``delay`` sleeps before the status line; ``trickle=(chunk, interval)`` sends
    the body ``chunk`` bytes at a time with ``interval`` seconds between chunks.
    ``etag``/``last_modified`` enable automatic 304s; a Content-Length is always sent
    unless ``content_length`` overrides it (e.g. to promise more than is sent).
    """

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = field(default_factory=dict)
    content_type: str | None = None
    delay: float = 0.0
    trickle: tuple[int, float] | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_length: int | None = None

    def header_items(self) -> list[tuple[str, str]]:
        items = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        return [(str(k), str(v)) for k, v in items]


Handler = Callable[[RecordedRequest], Response]


def _etag_matches(if_none_match: str, etag: str) -> bool:
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    def opaque(tag: str) -> str:
        tag = tag.strip()
        return tag[2:] if tag.startswith("W/") else tag

    if if_none_match.strip() == "*":
        return True
    return any(opaque(candidate) == opaque(etag) for candidate in if_none_match.split(","))


def _not_modified_since(if_modified_since: str, last_modified: str) -> bool:
    try:
        ims = email.utils.parsedate_to_datetime(if_modified_since)
        lm = email.utils.parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        return False
    return lm <= ims


def is_not_modified(request: RecordedRequest, etag: str | None, last_modified: str | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since when both are sent."""
    inm = request.header("if-none-match")
    if inm is not None:
        return etag is not None and _etag_matches(inm, etag)
    ims = request.header("if-modified-since")
    if ims is not None and last_modified is not None:
        return _not_modified_since(ims, last_modified)
    return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Handler threads may be parked in a long trickle; don't join them on close.
    block_on_close = False
    # The benchmark opens hundreds of connections at once; the default backlog is 5.
    request_queue_size = 1024
    owner: LocalServer


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean

    def _handle(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query=split.query,
            headers=tuple((k, v) for k, v in self.headers.items()),
            body=body,
            at=time.monotonic(),
        )
        owner._record(request)
        response = owner._respond(request)
        try:
            self._send(request, response)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            # The client gave up (timeouts, size caps): that is what many tests provoke.
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def _send(self, request: RecordedRequest, response: Response) -> None:
        owner = self.server.owner
        delay = response.delay + owner.latency
        if delay > 0 and owner._stopping.wait(delay):
            self.close_connection = True
            return
        status = response.status
        body = response.body
        if status == 200 and is_not_modified(request, response.etag, response.last_modified):
            status, body = 304, b""
        self.send_response(status)
        sent = {name.lower() for name, _ in response.header_items()}
        for name, value in response.header_items():
            self.send_header(name, value)
        if response.content_type and "content-type" not in sent:
            self.send_header("Content-Type", response.content_type)
        if response.etag and "etag" not in sent:
            self.send_header("ETag", response.etag)
        if response.last_modified and "last-modified" not in sent:
            self.send_header("Last-Modified", response.last_modified)
        no_body = status == 304 or status < 200 or status == 204
        if not no_body and "content-length" not in sent:
            length = response.content_length if response.content_length is not None else len(body)
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if no_body or request.method == "HEAD":
            return
        if response.trickle is None:
            self.wfile.write(body)
        else:
            chunk, interval = response.trickle
            for start in range(0, len(body), max(1, chunk)):
                if start and owner._stopping.wait(interval):
                    break
                self.wfile.write(body[start : start + chunk])
                self.wfile.flush()
        if response.content_length is not None and response.content_length != len(body):
            self.close_connection = True


class LocalServer:
    """HTTP/1.1 server on 127.0.0.1 with recorded requests; see the module docstring.

    ``latency`` adds a delay (seconds) before every response, to imitate real servers.
    """

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._routes: dict[str, Response | Handler] = {}
        self._requests: list[RecordedRequest] = []
        self.errors: list[Exception] = []  # exceptions raised by handlers
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> LocalServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="LocalServer",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addressing -------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        """Absolute URL for ``path`` (which may carry a query string)."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # -- routes -----------------------------------------------------------------
    def route(self, path: str, response: Response | Handler) -> None:
        """Register or replace the answer for exactly ``path`` (query ignored)."""
        with self._lock:
            self._routes[path] = response

    def remove(self, path: str) -> None:
        with self._lock:
            self._routes.pop(path, None)

    def static(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        etag: str | bool | None = True,
        last_modified: str | datetime | bool | None = True,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Serve ``body`` with validators and automatic 304s; returns the Response.

        ``etag=True`` derives a strong ETag from the body; ``last_modified=True`` uses the
        current time (to the second). Pass a string to set them exactly, or False/None
        to omit them. Calling it again for the same path publishes a new version.
        """
        if etag is True:
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if last_modified is True:
            last_modified = http_date(time.time())
        elif isinstance(last_modified, datetime):
            last_modified = http_date(last_modified)
        response = Response(
            body=body,
            content_type=content_type,
            etag=etag or None,
            last_modified=last_modified or None,
            headers=dict(headers or {}),
        )
        self.route(path, response)
        return response

    def file(self, path: str, file_path: str | Path, *, content_type: str | None = None) -> None:
        """Serve a file from disk, with ETag and Last-Modified from its content/mtime."""
        fp = Path(file_path)
        if content_type is None:
            content_type = _guess_type(fp.name)
        self.static(
            path,
            fp.read_bytes(),
            content_type=content_type,
            last_modified=http_date(fp.stat().st_mtime),
        )

    def directory(self, prefix: str, directory: str | Path) -> None:
        """Serve every file under ``directory`` at ``prefix/relative/path``."""
        root = Path(directory)
        for fp in sorted(root.rglob("*")):
            if fp.is_file():
                self.file(prefix.rstrip("/") + "/" + fp.relative_to(root).as_posix(), fp)

    # -- recorded requests --------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def wait_for_requests(self, count: int, path: str | None = None, timeout: float = 10.0) -> bool:
        """Block until ``count`` requests (to ``path``, if given) arrived; False on timeout.

        For things that call *us* asynchronously (webhook deliveries, a daemon's polls).
        """

        def enough() -> bool:
            return sum(1 for r in self._requests if path is None or r.path == path) >= count

        with self._arrived:
            return self._arrived.wait_for(enough, timeout)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- internals --------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()

    def _respond(self, request: RecordedRequest) -> Response:
        with self._lock:
            target = self._routes.get(request.path)
        if target is None:
            return Response(status=404, body=b"not found", content_type="text/plain")
        if isinstance(target, Response):
            return target
        try:
            return target(request)
        except Exception as exc:  # a broken test handler must show up, not hang the client
            with self._lock:
                self.errors.append(exc)
            return Response(status=500, body=repr(exc).encode(), content_type="text/plain")


_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".json": "application/feed+json",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


def _guess_type(name: str) -> str:
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return _TYPES.get(suffix, "application/octet-stream")
