"""The parse workers: a process pool, each worker watching the daemon that started it.

This module is also what the forkserver imports once, before it forks any worker:
importing it imports the stages the workers run (``aggregator.poll.poller``:
process_body, with lxml, feedparser, numpy …; trafilatura only on a worker's first
article page), so every worker starts with them already imported and shares those
pages copy-on-write instead of importing them again, and paying for them again, in
each worker.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import aggregator.poll.poller  # noqa: F401  (what the workers run: process_body and the stages)

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
        initializer=watch_parent,
        initargs=(os.getpid(),),
    )


def watch_parent(pid: int) -> None:
    """Pool initializer: the worker exits when process ``pid`` (the daemon) is gone.

    Parse workers are children of the forkserver, not of the daemon, and they wait
    on a queue whose write end they hold themselves: a daemon killed with SIGKILL
    (or by the OOM killer) would leave them, and the forkserver, running for ever.
    systemd kills the whole control group; a daemon started any other way needs this.
    """

    def watch() -> None:
        try:
            fd = os.pidfd_open(pid)  # readable once the process has exited
        except (OSError, AttributeError):  # AttributeError: not Linux
            fd = None
        if fd is not None:
            select.select([fd], [], [])
        else:  # no pidfd (old kernel): poll
            while True:
                time.sleep(2.0)
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                except PermissionError:
                    continue
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
