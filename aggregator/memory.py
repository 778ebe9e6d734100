"""Giving memory back: glibc's allocator settings for a long-running, threaded daemon.

A first poll parses thousands of entries at once; afterwards the daemon is idle for
hours, but the heap those entries went through stays the process's: glibc keeps
freed blocks for reuse, and gives each thread that allocates its own arena (up to
eight per core), each with its own kept free space. For a daemon that should fit a
small server (issue 17) two calls matter:

- ``limit_arenas``: one arena (``mallopt(M_ARENA_MAX, 1)``, what
  ``MALLOC_ARENA_MAX=1`` does), before the threads start: the daemon's threads
  (event loop, writer, parse threads) share the main one instead of each keeping its
  own. Not two: ``malloc_trim`` cuts the free top of the main arena's heap only
  (glibc's ``mtrim``); another arena's top chunk -- the last blocks a burst freed
  there -- stays resident until a free in that arena finds it above the trim
  threshold, which glibc raises to twice the largest block it has unmapped (up to
  64 MiB): 6.1-11.5 MiB in 4 of 10 runs after a first poll of 500 feeds, the daemon's
  "high mode" (153.7-160.6 MiB against 144.6-147.7; ``bench_memory.py --breakdown``:
  "glibc arena 1 ... top chunk"). The threads take small blocks from their own
  caches (glibc's tcache) without the arena's lock, and Python's small objects from
  pymalloc under the GIL: a first poll's CPU per entry was the same with one arena
  as with two (``bench_poll.py``, docs/benchmarks.md);
- ``release_free_memory``: ``malloc_trim(0)`` once a burst of work has ended, handing
  the free pages of every arena back to the system.

Both are glibc's; elsewhere (musl, macOS) they do nothing and say so.

And one the interpreter offers: ``lean_argv`` is the command line the daemon runs again
with, under ``-OO -X no_debug_ranges``. Every module it imports (~1,000: SQLAlchemy,
numpy, pydantic, aiohttp, ours) keeps its docstrings in memory for as long as the
process lives, and 3.11's code objects keep a column table for each instruction (the
``^^^^`` under a traceback's line): ~6 and ~0.6 MiB of a ~150 MiB daemon, measured in
``benchmarks/bench_memory.py``. What goes with them: ``assert`` statements (ours only
narrow types for mypy; the tests run with them) and the two schema descriptions of
``/openapi.json`` that come from docstrings. ``AGGREGATOR_OPTIMIZE=0`` keeps both.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's malloc.h


@cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018  (glibc only: AttributeError elsewhere)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int = 1) -> bool:
    """Cap glibc's malloc arenas; True if done. Call before starting threads."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, arenas) == 1)


def release_free_memory() -> bool:
    """Return the heap's free pages to the system; True if glibc released any."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)


# The interpreter options the daemon runs under (see the module doc), and the variable
# that turns them off. The marker, set for the second run, stops a third whatever the
# flags say.
LEAN_FLAGS = ("-OO", "-X", "no_debug_ranges")
OPTIMIZE_ENV = "AGGREGATOR_OPTIMIZE"
REEXEC_ENV = "AGGREGATOR_LEAN_REEXEC"


def lean_argv(
    *, executable: str, orig_argv: Sequence[str], optimize: int, env: Mapping[str, str]
) -> list[str] | None:
    """The command line to run the daemon again with under ``LEAN_FLAGS``, or None
    when it already is (or was run again once), when ``AGGREGATOR_OPTIMIZE=0``, or
    when the interpreter cannot be named. ``orig_argv`` is ``sys.orig_argv``: the
    interpreter and its own options, then the script (or ``-m module``, ``-c code``)
    and its arguments, all kept."""
    if optimize >= 2 or env.get(REEXEC_ENV) or env.get(OPTIMIZE_ENV, "").strip() == "0":
        return None
    if not executable or len(orig_argv) < 2:
        return None
    return [executable, *LEAN_FLAGS, *orig_argv[1:]]
