"""Identical reads in flight at once are computed once, off the event loop.

A thousand clients asking the same search at the same moment used to queue a
thousand identical database queries behind the thread pool; here the first request
runs the read in a worker thread and the others, arriving while it runs, wait for
its answer.

Only a read still in flight is shared, never a finished one, and only with a request
that arrived while this process had committed no write since the read began (the
engine's :class:`~aggregator.store.engine.WriteGeneration`): a client never gets an
answer older than a write it could have seen. Nothing is cached: once the read is
done the next request reads again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

T = TypeVar("T")


class Coalescer(Generic[T]):
    """Runs ``read()`` in a worker thread, at most ``workers`` at a time, sharing the
    result of an identical read (same ``key``) already in flight."""

    def __init__(self, generation: Callable[[], int], workers: int) -> None:
        self._generation = generation
        self._workers = workers
        self._limiter: CapacityLimiter | None = None  # made in the loop that uses it
        self._in_flight: dict[Hashable, tuple[int, asyncio.Future[T]]] = {}
        self.shared = 0  # requests answered by another's read (for tests and metrics)

    async def run(self, key: Hashable, read: Callable[[], T]) -> T:
        generation = self._generation()
        found = self._in_flight.get(key)
        if found is not None and found[0] == generation:
            self.shared += 1
            # shield: a client that goes away must not cancel the read the others await
            return await asyncio.shield(found[1])
        if self._limiter is None:
            self._limiter = CapacityLimiter(self._workers)
        limiter = self._limiter
        # A task of its own, so the read completes (and answers the others) even if
        # the request that started it is cancelled.
        task = asyncio.ensure_future(anyio.to_thread.run_sync(read, limiter=limiter))
        entry = (generation, task)
        self._in_flight[key] = entry

        def forget(done: asyncio.Future[T]) -> None:
            if self._in_flight.get(key) is entry:
                del self._in_flight[key]
            if not done.cancelled():
                done.exception()  # retrieved: every waiter may have gone away

        task.add_done_callback(forget)
        return await asyncio.shield(task)
