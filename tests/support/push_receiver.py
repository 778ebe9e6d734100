"""A real push-service receiver on 127.0.0.1 for the Apprise channel tests.

It answers as the services Apprise talks to would — a JSON endpoint (``json://``),
an ntfy server (``ntfy://``), a Gotify server (``gotify://``) — records what arrived,
and can be "down" (answering 503) for a while:

    with PushReceiver() as push:
        url = push.apprise_url("gotify")      # gotify://127.0.0.1:PORT/TOKEN
        push.down = True                      # every request answered 503
        ...
        assert push.messages("gotify")[0]["message"].startswith(...)
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

GOTIFY_TOKEN = "AbCdEfGhIjKlMnO"  # Gotify app tokens are 15 characters


@dataclass(frozen=True)
class Push:
    service: str  # json | ntfy | gotify
    path: str
    headers: dict[str, str]
    body: bytes
    accepted: bool

    def json(self) -> Any:
        return json.loads(self.body)


class PushReceiver:
    def __init__(self) -> None:
        self.received: list[Push] = []
        self.down = False
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                service = receiver._service(self.path)
                accepted = not receiver.down and service != "unknown"
                with receiver._lock:
                    receiver.received.append(
                        Push(
                            service,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            accepted,
                        )
                    )
                status = 200 if accepted else (503 if receiver.down else 404)
                answer = b'{"id": 1}' if accepted else b'{"error": "unavailable"}'
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_PUT = do_POST

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @staticmethod
    def _service(path: str) -> str:
        if path.startswith("/message"):
            return "gotify"
        if path.startswith("/json"):
            return "json"
        if path == "/" or path.startswith("/alerts"):
            return "ntfy"  # ntfy posts JSON to the server root, the topic in the body
        return "unknown"

    def apprise_url(self, service: str) -> str:
        host = f"127.0.0.1:{self.port}"
        return {
            "json": f"json://{host}/json",
            "ntfy": f"ntfy://{host}/alerts",
            "gotify": f"gotify://{host}/{GOTIFY_TOKEN}",
        }[service]

    def delivered(self, service: str | None = None) -> list[Push]:
        with self._lock:
            return [p for p in self.received if p.accepted and service in (None, p.service)]

    def __enter__(self) -> PushReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
