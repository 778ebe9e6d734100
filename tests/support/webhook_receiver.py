"""A real webhook receiver on 127.0.0.1 for tests: verifies signatures, records ids.

Answers are scripted: ``receiver.script(Reply(500), Reply(hang=5), Reply(429,
retry_after="2"), Reply(200))``; once the script is used up it answers 200. A request
whose Standard Webhooks signature does not verify is answered 401 whatever the script
says, as a real receiver would.

    with WebhookReceiver(secret) as receiver:
        ... POST to receiver.url ...
        assert receiver.delivered_ids == ["alert-1"]
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from aggregator.alerts.webhook import verify_signature


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``hang`` seconds of silence first (to provoke a timeout)."""

    status: int = 200
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    signature_valid: bool
    status: int | None  # what we answered; None when we hung up without answering

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self, secret: str, *, tolerance: int = 300) -> None:
        self.secret = secret
        self.tolerance = tolerance
        self.requests: list[Received] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()  # set on stop: hanging handlers give up
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval keeps shutdown (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    @property
    def delivered_ids(self) -> list[str]:
        """ids answered 2xx with a valid signature, in order (repeats included)."""
        with self._lock:
            return [
                r.webhook_id or ""
                for r in self.requests
                if r.signature_valid and r.status is not None and 200 <= r.status < 300
            ]

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else Reply()

    def _record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                valid = verify_signature(receiver.secret, headers, body, receiver.tolerance)
                reply = receiver._next_reply()
                status = reply.status if valid else 401
                if reply.hang and valid:
                    # Recorded on arrival (status None: never answered), then silence
                    # until the client gives up or the receiver stops.
                    receiver._record(Received(self.path, headers, body, valid, None))
                    receiver._release.wait(reply.hang)
                    self.close_connection = True
                    return
                receiver._record(Received(self.path, headers, body, valid, status))
                self.send_response(status)
                if reply.retry_after is not None:
                    self.send_header("Retry-After", reply.retry_after)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

        return Handler
