"""Identical searches in flight at once are answered once (issue 17).

A thousand clients asking the same search at the same moment used to run a thousand
identical database reads, each behind FastAPI's parameter parsing (about half the
event loop's time per request under load). Here, a ``GET /api/v1/articles`` whose
query string is byte for byte that of one already running waits for that one's
response and is sent a copy of it: same status, headers and body.

Honest by construction:

- only a response still being made is shared, never a finished one: nothing is
  cached, the next request after it reads again;
- only with a request that arrived while this process had committed no write since
  the shared read began (the engine's :class:`~aggregator.store.engine.WriteGeneration`),
  so a client never gets an answer older than a write this daemon made before it asked;
- a query with ``since``/``until`` is never shared: an age such as ``3d`` is read
  from the clock when the request is served;
- if the first request fails without an answer (an error, a cancelled task), each
  waiting request is served on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SHARED_PATHS = frozenset({"/api/v1/articles"})
_CLOCK_PARAMS = (b"since=", b"until=")
_CLOCK_NAMES = frozenset({b"since", b"until"})


class SharedReads:
    """ASGI middleware: GET requests to ``paths`` with the same query string, in
    flight together with no write in between, share one response."""

    def __init__(
        self, app: ASGIApp, generation: Callable[[], int], paths: frozenset[str] = SHARED_PATHS
    ) -> None:
        self.app = app
        self.generation = generation
        self.paths = paths
        self._in_flight: dict[tuple[str, bytes], tuple[int, asyncio.Future[list[Message]]]] = {}
        self.shared = 0  # requests answered with another's response (tests read it)

    def _shareable(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] not in self.paths:
            return False
        query: bytes = scope.get("query_string", b"")
        if b"%" not in query:
            if b"+" not in query:
                return not any(p in query for p in _CLOCK_PARAMS)
            # A "+" (a query's space) decodes to " ", which no clock name has, and
            # with no "%" nothing else is decoded: the raw names are Starlette's names
            # for this question (parse_qsl cost ~2 µs a search; most queries have two
            # words, hence a "+").
            return not any(field.partition(b"=")[0] in _CLOCK_NAMES for field in query.split(b"&"))
        # an escaped name (sinc%65=3d) is still since: read the names as Starlette does
        names = {k for k, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)}
        return not names & {"since", "until"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._shareable(scope):
            await self.app(scope, receive, send)
            return
        key = (scope["path"], scope.get("query_string", b""))
        generation = self.generation()
        found = self._in_flight.get(key)
        if found is not None and found[0] == generation:
            try:
                # shield: this request going away must not cancel the one it waits for
                messages = await asyncio.shield(found[1])
            except Exception:
                messages = None
            if messages is not None:
                self.shared += 1
                for message in messages:
                    await send(message)
                return
            await self.app(scope, receive, send)
            return
        answer: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()
        entry = (generation, answer)
        self._in_flight[key] = entry
        recorded: list[Message] = []

        async def recording(message: Message) -> None:
            recorded.append(message)
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            if self._in_flight.get(key) is entry:
                del self._in_flight[key]
            complete = (
                len(recorded) >= 2
                and recorded[0]["type"] == "http.response.start"
                and recorded[-1]["type"] == "http.response.body"
                and not recorded[-1].get("more_body", False)
            )
            if complete:
                answer.set_result(recorded)
            else:
                answer.set_exception(RuntimeError("the shared request ended without an answer"))
                answer.exception()  # retrieved: no one may be waiting
