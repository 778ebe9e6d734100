"""The single writer thread, with a lane for writes that must not wait in the queue.

SQLite has one writer at a time, so the daemon funnels its writes (poll results,
consumer batches, retention steps, lease renewals) through one thread, one
transaction per job. A second thread writing on its own would not help there: it
waits on SQLite's busy handler, which sleeps and retries and loses every race to a
thread that begins its next transaction the moment it commits. A job submitted to
``urgent`` runs next instead, after the transaction in progress: the "sent" mark of
an alert the receiver has just accepted waits for one write, not for the queue.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_Job = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class WriterThread(Executor):
    """One thread running jobs in order; ``urgent`` jobs go ahead of the queue."""

    def __init__(self, name: str = "writer") -> None:
        self._jobs: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self.urgent: Executor = _UrgentLane(self)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._put(False, fn, args, kwargs)

    def _put(
        self, urgent: bool, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Future[T]:
        future: Future[T] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            job: _Job = (future, fn, args, kwargs)
            if urgent:
                self._jobs.appendleft(job)
            else:
                self._jobs.append(job)
            self._ready.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._jobs and not self._closed:
                    self._ready.wait()
                if not self._jobs:
                    return
                future, fn, args, kwargs = self._jobs.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the waiting caller, as an executor does
                future.set_exception(exc)
            else:
                future.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._ready:
            self._closed = True
            if cancel_futures:
                while self._jobs:
                    self._jobs.pop()[0].cancel()
            self._ready.notify_all()
        if wait and threading.current_thread() is not self._thread:
            self._thread.join()


class _UrgentLane(Executor):
    def __init__(self, writer: WriterThread) -> None:
        self._writer = writer

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._writer._put(True, fn, args, kwargs)
