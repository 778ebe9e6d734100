"""Where feeds are parsed: the daemon's threads, a burst worker, or a process pool.

``parse_executor`` chooses from ``settings.poll.parse_workers``: a number N > 0 is a
pool of N processes, each watching the daemon that started it; 0 is the daemon's own
threads; ``auto`` on a small machine is ``BurstExecutor``: the daemon's threads, and
a worker process a core (two at most), at a lower priority, beside them only while a
burst (a first poll) queues work.

This module is also what the forkserver imports once, before it forks any worker:
importing it imports the stages the workers run (``aggregator.poll.poller``:
process_body, with lxml, feedparser, numpy …; trafilatura only on a worker's first
article page), so every worker starts with them already imported and shares those
pages copy-on-write instead of importing them again, and paying for them again, in
each worker.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeVar

import aggregator
import aggregator.poll.poller  # what the pool's workers run: process_body and the stages
from aggregator.poll.body import ProcessCall
from aggregator.poll.burst_worker import (
    READY,
    FrameReader,
    behind_the_daemon,
    send_call,
    widen_pipe,
)

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Below this many feeds a poll's parsing fits in the daemon's own threads (issue 17).
AUTO_WORKERS_MIN_FEEDS = 1000


def parse_workers_for(setting: int | str, *, cores: int, feeds: int) -> int:
    """How many parse processes ``settings.poll.parse_workers`` means here.

    A number is taken as it is. ``auto``: none (parsing in the daemon's threads) on
    two cores or fewer, or below ``AUTO_WORKERS_MIN_FEEDS`` feeds: a forkserver and
    each worker hold their own copy of the parsing stack (60-70 MiB of PSS each, the
    better part of a small server's memory), and on two cores the processes only
    take turns with the daemon anyway. Otherwise one per core but one for the event
    loop and the writer, at most four.
    """
    if setting != "auto":
        return int(setting)
    if cores <= 2 or feeds < AUTO_WORKERS_MIN_FEEDS:
        return 0
    return min(cores - 1, 4)


# Threads that parse in the daemon's own process (``parse_workers`` 0), at most: the
# parse holds the GIL nearly all the time, so more threads than cores only add
# entries parsed at once, each holding feedparser's ~15x the body in memory (the
# event loop's default pool has cores + 4: six on two cores).
MAX_PARSE_THREADS = 2


def cpu_executor(workers: int) -> Executor:
    """Parsing uses the cores through processes; 0 workers means the daemon's own
    threads, in a pool of their own (not the default executor, which the database
    reads of the API and the jobs share) as large as the cores, at most
    ``MAX_PARSE_THREADS``."""
    if workers <= 0:
        threads = max(1, min(os.cpu_count() or 1, MAX_PARSE_THREADS))
        return ThreadPoolExecutor(threads, thread_name_prefix="parse")
    # forkserver: never fork a process that has event-loop and database threads. The
    # forkserver imports the stages once (this module), and every worker forked from
    # it shares those pages (it applies when the forkserver starts: the first pool of
    # the process).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=behind_the_daemon,
        initargs=(os.getpid(),),
    )


def parse_executor(setting: int | str, *, cores: int, feeds: int) -> Executor:
    """The parse executor ``settings.poll.parse_workers`` means here: ``auto`` where it
    chooses no pool (``parse_workers_for``) is a ``BurstExecutor``; a number, or
    ``auto`` on a large machine, is ``cpu_executor`` of that many processes."""
    workers = parse_workers_for(setting, cores=cores, feeds=feeds)
    if setting == "auto" and workers == 0:
        threads = max(1, min(cores, MAX_PARSE_THREADS))
        return BurstExecutor(threads, workers=burst_workers_for(cores))
    return cpu_executor(workers)


def burst_workers_for(cores: int) -> int:
    """Burst workers at most on ``cores`` cores: one a core, at most
    ``MAX_BURST_WORKERS``.

    On two cores one worker was the first poll's pace (the farm's 500 x 50: 10.0 s of
    its CPU in a 10.6 s poll, while the daemon used ~60 % of the other core). A
    second one at the daemon's priority gained 8 % (10.2 against 11.1 s): three busy
    processes on two cores, and the daemon's writer waited for a core (busy 89 % of
    the poll for the same CPU). Behind the daemon (``burst_worker.NICENESS``) the
    workers take what it leaves: 9.2 against 10.6 s, newsboat's pace in the same run
    (docs/benchmarks.md).
    """
    return max(1, min(cores, MAX_BURST_WORKERS))


# A burst: more feed bodies waiting for a parse thread than this. A first poll of a
# few hundred feeds queues a hundred within a second; a tick re-polling a few changed
# feeds queues none.
BURST_BACKLOG = 16
# Seconds the worker waits, idle, for more work before it exits: the gap between two
# claims of one first poll (the daemon claims the next batch as soon as the last one
# is done, ``Daemon._tick``) is shorter; an hourly re-poll's is far longer.
BURST_LINGER = 2.0
# Calls sent to the worker ahead of its answers: the next bodies are already in its
# pipe when it sends an answer, so it does not wait for the daemon's threads, which
# wait for the GIL, to read the answer and send more (2 ahead left it idle for a
# third of a first poll on the farm, 21.6 s against 13.1-13.4 s with 4 and 8).
BURST_AHEAD = 8
# Bodies the daemon's own threads parse at once while the worker is up: none. A
# parse thread holds the GIL, and the writer thread, which lets it go around every
# SQLite statement, then waits up to a switch interval (5 ms) for it each time: with
# one thread parsing beside the worker the writer was busy 91-93 % of a first poll,
# waiting more than working, and that poll was no faster than with the worker alone.
BURST_LOCAL = 0
# Burst workers at most, whatever the cores: each a copy of the parse stack (~35 MiB
# RSS, more while it parses) while a burst lasts, beside the daemon.
MAX_BURST_WORKERS = 2
# After a worker that could not start (it died before saying READY): the daemon's
# threads parse alone this long before another is tried.
BURST_RETRY_AFTER = 60.0


def burst_worker_command() -> list[str]:
    """How the burst worker is started: this interpreter with the daemon's own options
    (``-OO -X no_debug_ranges`` as ``aggregator run`` runs itself, ``aggregator.memory``:
    no docstrings to hold), importing ``aggregator`` from where this process did (a
    checkout the daemon runs from, not whichever is installed)."""
    flags = ["-O"] * sys.flags.optimize
    # -X options as given (CPython's documented ``sys._xoptions``: a value, or True).
    for key, value in sys._xoptions.items():
        flags += ["-X", key if value is True else f"{key}={value}"]
    root = str(Path(aggregator.__file__).resolve().parents[1])
    code = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); "
        "from aggregator.poll.burst_worker import main; main()"
    )
    return [sys.executable, *flags, "-c", code, root]


class _Work:
    """One ``ProcessCall`` and its future, queued until a thread or the worker takes it."""

    __slots__ = ("call", "future", "started")

    def __init__(self, call: ProcessCall, future: Future[Any]) -> None:
        self.call = call
        self.future = future
        self.started = False  # set_running_or_notify_cancel done (only once)

    def start(self) -> bool:
        """Mark it running; False when it was cancelled meanwhile (then drop it)."""
        if self.started:
            return True
        self.started = True
        return self.future.set_running_or_notify_cancel()

    def run_here(self) -> None:
        if not self.start():
            return
        try:
            result = self.call()
        except BaseException as exc:  # handed to the waiting caller, as an executor does
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


class BurstExecutor(Executor):
    """Parse in the daemon's threads; beside them, worker processes during a burst.

    On two cores a parse process beside the daemon all the time costs its memory (a
    copy of the parse stack: ~50 MiB of PSS) for the few seconds an hour it has work.
    A first poll, though, parses hundreds of feeds at once, and the daemon's threads,
    sharing one GIL with the event loop and the writer, use one core of the two. So:
    ``ProcessCall``s queue here; the daemon's threads take them one after the other;
    when more than ``backlog`` wait, a worker process is started
    (``aggregator.poll.burst_worker``: the parse stack only, at a lower priority than
    the daemon), and another while they still wait, up to ``workers``; they take the
    calls too, while ``local`` threads go on parsing beside them; ``linger`` seconds
    after the queue has drained a worker's stdin is closed, it exits, and it is
    reaped. Anything else submitted (page extraction, embedding) runs in the threads.

    A worker that dies (killed, crashed) fails the call it was running with
    ``BrokenProcessPool``, as a process pool does; the calls sent after it go back to
    the queue, and the next burst starts a new worker.
    """

    def __init__(
        self,
        threads: int,
        *,
        backlog: int = BURST_BACKLOG,
        linger: float = BURST_LINGER,
        ahead: int = BURST_AHEAD,
        local: int = BURST_LOCAL,
        workers: int = 1,
        command: Sequence[str] | None = None,
    ) -> None:
        self._threads = max(1, threads)
        self._local_pool = ThreadPoolExecutor(self._threads, thread_name_prefix="parse")
        self._backlog = backlog
        self._linger = linger
        self._ahead = max(1, ahead)
        self._local_in_burst = max(0, min(local, self._threads))
        self._command = list(command) if command is not None else burst_worker_command()
        # One lock for the queue, the worker slot and the counters; the worker's
        # threads wait on it for work.
        self._cond = threading.Condition()
        self._queue: deque[_Work] = deque()
        self._local_busy = 0
        self.max_workers = max(1, workers)
        self._up: list[_BurstWorker] = []  # started and not ended
        self._shutdown = False
        self._retry_at = float("-inf")
        self.workers_started = 0  # for the log and the tests
        self.workers: list[_BurstWorker] = []  # the last few, for the tests

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        if not isinstance(fn, ProcessCall) or args or kwargs:
            with self._cond:
                if self._shutdown:
                    raise RuntimeError("cannot schedule new futures after shutdown")
            return self._local_pool.submit(fn, *args, **kwargs)
        future: Future[T] = Future()
        with self._cond:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.append(_Work(fn, future))
            if (
                len(self._up) < self.max_workers
                and len(self._queue) > self._backlog
                and time.monotonic() >= self._retry_at
            ):
                self._start_worker()
            self._cond.notify_all()
        self._local_pool.submit(self._run_local)
        return future

    @property
    def worker_pid(self) -> int | None:
        """The (first) burst worker's process id while one is up (None between bursts)."""
        with self._cond:
            up = list(self._up)
        return up[0].pid if up else None

    def _start_worker(self) -> None:
        # Under the lock. The process is started by the worker's own thread: the
        # caller is the event loop, which must not wait for a fork.
        worker = _BurstWorker(self)
        self._up.append(worker)
        self.workers_started += 1
        self.workers = [*self.workers[-3:], worker]
        worker.start()

    def _run_local(self) -> None:
        """A parse thread: take queued calls while there are, at most as many threads
        at once as allowed (fewer while the worker is up)."""
        while True:
            with self._cond:
                # Until a worker has imported the parse stack, the threads go on.
                bursting = any(worker.ready for worker in self._up)
                allowed = self._local_in_burst if bursting else self._threads
                if not self._queue or self._local_busy >= allowed:
                    return
                work = self._queue.popleft()
                self._local_busy += 1
            try:
                work.run_here()
            finally:
                with self._cond:
                    self._local_busy -= 1

    def _requeue(self, lost: Sequence[_Work]) -> None:
        """Calls the worker took but will not answer: back to the front of the queue,
        for the threads (under the lock)."""
        self._queue.extendleft(reversed(lost))

    def _wake_threads(self) -> None:
        """After the worker went: the threads take what is left in the queue."""
        for _ in range(self._threads):
            try:
                self._local_pool.submit(self._run_local)
            except RuntimeError:  # shut down: nobody will parse what is left
                with self._cond:
                    left = list(self._queue)
                    self._queue.clear()
                for work in left:
                    if work.start():
                        work.future.set_exception(
                            RuntimeError("cannot parse: the executor was shut down")
                        )
                return

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._cond:
            self._shutdown = True
            if cancel_futures:
                kept = deque(w for w in self._queue if w.started)
                for work in self._queue:
                    if not work.started:
                        work.future.cancel()
                self._queue = kept
            up = list(self._up)
            self._cond.notify_all()
        if wait:
            for worker in up:
                worker.join()
        self._local_pool.shutdown(wait=wait, cancel_futures=cancel_futures)


class _BurstWorker:
    """One burst worker process and the two threads that talk to it: one sends calls
    (at most ``ahead`` unanswered), one reads the answers. Two, because a body and an
    answer can each be larger than a pipe holds: one thread doing both would wait
    on its write while the worker waits on its own."""

    def __init__(self, owner: BurstExecutor) -> None:
        self.owner = owner
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.sent: deque[_Work] = deque()  # answers awaited, in order
        self.ready = False  # it said READY: it takes calls
        self.answered = 0  # calls it answered (for the log and the tests)
        self.gone = False  # the process has exited (or never started)
        self.returncode: int | None = None
        self._sender = threading.Thread(target=self._send, name="burst-send", daemon=True)
        self._receiver = threading.Thread(target=self._receive, name="burst-receive", daemon=True)

    def start(self) -> None:
        self._sender.start()

    def join(self) -> None:
        self._sender.join()
        if self._receiver.ident is not None:
            self._receiver.join()

    def _send(self) -> None:
        owner = self.owner
        try:
            # Unbuffered: frames are written and read whole (send_call, FrameReader).
            proc = subprocess.Popen(
                owner._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
            )
        except OSError as exc:
            log.error("parse worker not started (%s): parsing in the daemon's threads", exc)
            self._ended(started=False)
            return
        self.proc, self.pid = proc, proc.pid
        assert proc.stdin is not None
        assert proc.stdout is not None
        widen_pipe(proc.stdin.fileno())
        widen_pipe(proc.stdout.fileno())
        self._receiver.start()
        log.info("burst: parse worker %d started beside the daemon's threads", proc.pid)
        try:
            self._feed(proc.stdin)
        finally:  # this thread alone writes to the pipe, and closes it
            with contextlib.suppress(OSError):
                proc.stdin.close()

    def _feed(self, stdin: IO[bytes]) -> None:
        owner, cond = self.owner, self.owner._cond
        idle_since: float | None = None
        while True:
            work: _Work | None = None
            with cond:
                while work is None:
                    if self.gone:
                        return
                    if owner._queue and len(self.sent) < owner._ahead:
                        candidate = owner._queue.popleft()
                        if candidate.start():
                            work = candidate
                            self.sent.append(work)
                            idle_since = None
                        continue
                    if self.sent or owner._queue:
                        idle_since = None
                        cond.wait()
                        continue
                    # Nothing queued, nothing awaited: linger, then end.
                    now = time.monotonic()
                    idle_since = now if idle_since is None else idle_since
                    left = owner._linger - (now - idle_since)
                    if left <= 0 or owner._shutdown:
                        if self in owner._up:
                            owner._up.remove(self)
                        break
                    cond.wait(left)
            if work is None:  # the burst is over: closing stdin ends the worker
                return
            try:
                send_call(stdin.fileno(), work.call)
            except (OSError, ValueError):  # it died: the receiver hands the calls back
                return

    def _receive(self) -> None:
        proc = self.proc
        assert proc is not None
        assert proc.stdout is not None
        reader = FrameReader(proc.stdout)
        first = reader.next()
        started = first is not None and bytes(first) == READY
        del first
        if started:
            with self.owner._cond:
                self.ready = True
        while started:
            data = reader.next()
            if data is None:
                break
            with self.owner._cond:
                work = self.sent.popleft()
                self.answered += 1
                self.owner._cond.notify_all()
            try:
                ok, value = pickle.loads(data)
            except Exception as exc:
                ok, value = False, RuntimeError(f"unreadable answer from the parse worker: {exc}")
            del data  # the view of the reader's buffer, before it reads the next
            if ok:
                work.future.set_result(value)
            else:
                work.future.set_exception(value)
        reader.close()
        proc.stdout.close()
        self.returncode = proc.wait()
        self._ended(started=started)

    def _ended(self, *, started: bool) -> None:
        """The process is gone: answer for what it took, hand the rest back."""
        owner = self.owner
        with owner._cond:
            self.gone = True
            if self in owner._up:
                owner._up.remove(self)
            lost = list(self.sent)
            self.sent.clear()
            head = lost.pop(0) if lost and started else None
            owner._requeue(lost)
            if not started:
                owner._retry_at = time.monotonic() + BURST_RETRY_AFTER
            owner._cond.notify_all()
        code = self.returncode
        if head is not None:
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"code {code}"
            log.error("parse worker %s died (%s) while parsing a feed", self.pid, how)
            head.future.set_exception(
                BrokenProcessPool(f"the parse worker process ended ({how}) while parsing")
            )
        elif not started:
            log.error("parse worker %s could not start: parsing in the daemon's threads", self.pid)
        if lost or not started:
            owner._wake_threads()
        elif self.pid is not None:
            log.info(
                "burst over: parse worker %d ended (%s) after %d feeds",
                self.pid,
                code,
                self.answered,
            )
