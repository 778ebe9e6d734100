"""Giving memory back: glibc's allocator settings for a long-running, threaded daemon.

A first poll parses thousands of entries at once; afterwards the daemon is idle for
hours, but the heap those entries went through stays the process's: glibc keeps
freed blocks for reuse, and gives each thread that allocates its own arena (up to
eight per core), each with its own kept free space. For a daemon that should fit a
small server (issue 17) two calls matter:

- ``limit_arenas``: at most two arenas (``mallopt(M_ARENA_MAX, 2)``, what
  ``MALLOC_ARENA_MAX=2`` does), before the threads start: the daemon's threads
  (event loop, writer, parse threads) share them instead of each keeping its own;
- ``release_free_memory``: ``malloc_trim(0)`` once a burst of work has ended, handing
  the free pages of every arena back to the system.

Both are glibc's; elsewhere (musl, macOS) they do nothing and say so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
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


def limit_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas; True if done. Call before starting threads."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, arenas) == 1)


def release_free_memory() -> bool:
    """Return the heap's free pages to the system; True if glibc released any."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)
