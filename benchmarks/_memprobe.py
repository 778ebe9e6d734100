"""Runs ``aggregator`` as ``python -m aggregator.cli`` would, plus a report on SIGUSR2.

    python benchmarks/_memprobe.py --config feeds.yaml run

Used by ``bench_memory.py --breakdown`` only: on SIGUSR2 the daemon writes to
``$AGGREGATOR_MEMPROBE_OUT`` (JSON) what lives in its Python heap -- the imported
modules, the object count and ``sys.getsizeof`` total of each type, and, when
``$AGGREGATOR_MEMPROBE_TRACE`` is set (tracemalloc started before anything is
imported, which itself costs memory and time: never in the measured run), the top
allocation sites by file:line. The figures of a measured run come from ``/proc``
outside the daemon; this only explains them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import json
import os
import runpy
import signal
import sys
import tracemalloc
from types import FrameType


def _report(_sig: int, _frame: FrameType | None) -> None:
    out = os.environ["AGGREGATOR_MEMPROBE_OUT"]
    counts: dict[str, list[int]] = {}
    for obj in gc.get_objects():
        kind = type(obj)
        # str(): a metaclass's instances may answer with a descriptor instead
        name = f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', '?')}"
        entry = counts.setdefault(name, [0, 0])
        entry[0] += 1
        with contextlib.suppress(TypeError):
            entry[1] += sys.getsizeof(obj)
    report: dict[str, object] = {
        "modules": sorted(sys.modules),
        "types": sorted(([k, v[0], v[1]] for k, v in counts.items()), key=lambda r: -int(r[2]))[
            :40
        ],
        "gc_objects": sum(v[0] for v in counts.values()),
    }
    sqlite = sys.modules.get("_sqlite3")
    if sqlite is not None:
        # SQLite's own allocations (every connection's page cache): outside the
        # Python heap, in the process's libsqlite3
        with contextlib.suppress(OSError, AttributeError):
            lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
            lib.sqlite3_memory_used.restype = ctypes.c_int64
            report["sqlite_bytes"] = lib.sqlite3_memory_used()
    if tracemalloc.is_tracing():
        snap = tracemalloc.take_snapshot()
        stats = snap.statistics("lineno")
        report["traced_total"] = sum(s.size for s in stats)
        report["trace"] = [[str(s.traceback), s.size, s.count] for s in stats[:60]]
        files = snap.statistics("filename")
        report["trace_files"] = [[str(s.traceback), s.size, s.count] for s in files[:40]]
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f)
    os.replace(tmp, out)


if __name__ == "__main__":
    if os.environ.get("AGGREGATOR_MEMPROBE_TRACE"):
        tracemalloc.start(int(os.environ["AGGREGATOR_MEMPROBE_TRACE"]))
    signal.signal(signal.SIGUSR2, _report)
    sys.argv[0] = "aggregator"
    runpy.run_module("aggregator.cli", run_name="__main__", alter_sys=True)
