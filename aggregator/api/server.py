"""Run the app with uvicorn inside the daemon's own event loop.

Nothing here imports the application's stack (FastAPI, Starlette, pydantic's request
models): the daemon serves a ``FirstRequestApp``, which builds the application when
the first request comes (issue 17).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import uvicorn

log = logging.getLogger(__name__)

# ASGI's shapes, spelled out here so that this module needs no Starlette.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class FirstRequestApp:
    """An ASGI application built by the first request that reaches it.

    The daemon's web application costs ~10 MiB of heap that stays for as long as the
    daemon runs (FastAPI and what it imports, OpenTelemetry's hooks included, its
    routes' pydantic models; issue 17). A daemon nobody asks over HTTP never pays it.
    The build (imports and ``create_app``, ~0.2 s of CPU) runs on the event loop, as
    it did at start: it is one step between two awaits, so whatever the loop changes
    (a reload's topics) is seen either before it or after it, never half. A build that
    fails answers that request with uvicorn's 500, and the next request tries again.
    ``lifespan`` is off in ``serve``: the server sends nothing before a request.
    """

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self.app: ASGIApp | None = None  # the application, once built

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            self.app = self._build()
        await self.app(scope, receive, send)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals alone: the daemon owns SIGTERM/SIGINT."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started()


async def serve(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    stop: asyncio.Event,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` until ``stop`` is set, then shut down gracefully.

    ``port`` 0 picks a free port; ``on_ready`` gets the bound port once listening.
    A port already in use raises OSError (the daemon reports it and exits).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and
    # without it Nagle + delayed ACK add ~40 ms to every keep-alive response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    config = uvicorn.Config(
        app,
        log_config=None,  # the daemon configures logging
        access_log=False,
        lifespan="off",
        server_header=False,
        # X-Forwarded-Proto/For from loopback would rewrite the scheme and client;
        # behind a proxy, http.base_url says what the public URL is.
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )

    def started() -> None:
        if on_ready is not None:
            on_ready(sock.getsockname()[1])

    server = _Server(config, started)

    async def watch() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(watch())
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
        sock.close()
