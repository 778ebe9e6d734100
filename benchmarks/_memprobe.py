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
import re
import runpy
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType


def _pymalloc() -> dict[str, int]:
    """pymalloc's totals (``sys._debugmallocstats``, which writes to the C stderr):
    its arenas hold the small objects; one is given back only when every block in it
    is free, so what a burst left scattered keeps its arena."""
    import tempfile

    with tempfile.TemporaryFile("w+") as f:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(f.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read()
    found: dict[str, int] = {}
    for key, pattern in (
        ("arenas_bytes", r"^\d+ arenas \* \d+ bytes/arena\s+=\s+([\d,]+)"),
        ("allocated_blocks", r"^# bytes in allocated blocks\s+=\s+([\d,]+)"),
        ("available_blocks", r"^# bytes in available blocks\s+=\s+([\d,]+)"),
        ("unused_pools", r"^\d+ unused pools \* \d+ bytes\s+=\s+([\d,]+)"),
        ("arenas_highwater", r"^# arenas highwater mark\s+=\s+([\d,]+)"),
    ):
        m = re.search(pattern, text, re.M)
        if m:
            found[key] = int(m.group(1).replace(",", ""))
    return found


# The daemon's trims (aggregator.memory.release_free_memory), counted by the wrapper
# installed before the daemon imports it: how many, and their CPU time in seconds.
_TRIMS = {"count": 0, "cpu": 0.0}


def _count_trims() -> None:
    import time

    import aggregator.memory

    release = aggregator.memory.release_free_memory

    def counted() -> bool:
        t0 = time.thread_time()
        try:
            return release()
        finally:
            _TRIMS["count"] += 1
            _TRIMS["cpu"] += time.thread_time() - t0

    aggregator.memory.release_free_memory = counted


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _glibc() -> dict[str, int]:
    """glibc malloc's totals (``mallinfo2``, glibc >= 2.33): bytes in use, bytes free
    but kept in its arenas, bytes in blocks of their own (mmap)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
    except (OSError, AttributeError):
        return {}
    info = libc.mallinfo2()
    return {
        "arena": info.arena,
        "in_use": info.uordblks,
        "free": info.fordblks,
        "mmap": info.hblkhd,
        "mmap_blocks": info.hblks,
    }


def _arenas() -> list[dict[str, int]]:
    """glibc's figures arena by arena (``malloc_info``'s XML, one ``<heap>`` each;
    arena 0 is the main one, in the brk heap): what it has from the system, what of
    it is free in chunks (fast bins, the rest), the top chunk that a trim can cut.
    Free chunks may already be handed back by ``malloc_trim``'s ``MADV_DONTNEED``: the
    resident share is in the smaps split of ``bench_memory.py --breakdown``."""
    import tempfile

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    except (OSError, AttributeError):
        return []
    with tempfile.NamedTemporaryFile(suffix=".xml") as tmp:
        fp = libc.fopen(tmp.name.encode(), b"w")
        if not fp:
            return []
        libc.malloc_info(0, fp)
        libc.fclose(fp)
        text = Path(tmp.name).read_text()
    arenas = []
    for body in re.findall(r'<heap nr="\d+">(.*?)</heap>', text, re.S):
        row: dict[str, int] = {}
        for kind, size in re.findall(r'<total type="(\w+)" count="\d+" size="(\d+)"', body):
            row[f"free_{kind}"] = int(size)
        for kind, size in re.findall(r'<system type="(\w+)" size="(\d+)"', body):
            row[f"system_{kind}"] = int(size)
        for kind, size in re.findall(r'<aspace type="(\w+)" size="(\d+)"', body):
            row[f"aspace_{kind}"] = int(size)
        # chunks by size: the largest free ones (the top chunk is not listed)
        sizes = [
            (int(hi), int(total), int(count))
            for hi, total, count in re.findall(
                r'<size from="\d+" to="(\d+)" total="(\d+)" count="(\d+)"', body
            )
        ]
        # the top chunk is counted in the totals, not among the sizes: a trim cuts it
        # in the main arena only (glibc's mtrim); another arena's stays resident
        row["top"] = row.get("free_fast", 0) + row.get("free_rest", 0) - sum(t for _, t, _ in sizes)
        row["free_small"] = sum(t for hi, t, _ in sizes if hi <= 4096)
        row["free_large"] = sum(t for hi, t, _ in sizes if hi > 4096)
        arenas.append(row)
    return arenas


def _anon() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def _garbage() -> dict[str, object]:
    """What a full collection would find unreachable now (cycles left since the last
    one that reached the oldest generation), by type, and the anonymous RSS before
    and after that collection and a ``malloc_trim``: how much of the heap is garbage
    waiting for the collector. Last in the report: it changes the heap."""
    before = _anon()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        found = gc.collect()
        kinds: dict[str, int] = {}
        for obj in gc.garbage:
            name = type(obj).__qualname__
            kinds[name] = kinds.get(name, 0) + 1
        size = sum(sys.getsizeof(obj) for obj in gc.garbage)
        gc.garbage.clear()
    finally:
        gc.set_debug(0)
    gc.collect()
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.malloc_trim(0)
    top = sorted(kinds.items(), key=lambda kv: -kv[1])[:12]
    return {
        "objects": found,
        "bytes": size,
        "types": top,
        "anon_before": before,
        "anon_after": _anon(),
    }


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
    report["pymalloc"] = _pymalloc()
    report["glibc"] = _glibc()
    report["arenas"] = _arenas()
    report["trims"] = dict(_TRIMS)
    sqlite = sys.modules.get("_sqlite3")
    if sqlite is not None:
        # SQLite's own allocations (every connection's page cache): outside the
        # Python heap, in the process's libsqlite3
        with contextlib.suppress(OSError, AttributeError):
            lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
            lib.sqlite3_memory_used.restype = ctypes.c_int64
            report["sqlite_bytes"] = lib.sqlite3_memory_used()
    report["garbage"] = _garbage()
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


def _timeline(path: str, every: float) -> None:
    """Every ``every`` seconds, one JSON line: the process's anonymous RSS beside what
    pymalloc and glibc hold, in use and free (``$AGGREGATOR_MEMPROBE_TIMELINE``): was
    the peak live objects, or memory freed and kept?"""
    import threading
    import time

    def run() -> None:
        t0 = time.monotonic()
        while True:
            anon = 0
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        anon = int(line.split()[1]) * 1024
            row = {"t": round(time.monotonic() - t0, 1), "anon": anon, "trims": _TRIMS["count"]}
            row.update({f"py_{k}": v for k, v in _pymalloc().items()})
            row.update({f"c_{k}": v for k, v in _glibc().items()})
            with open(path, "a") as out:
                out.write(json.dumps(row) + "\n")
            time.sleep(every)

    threading.Thread(target=run, name="memprobe", daemon=True).start()


def _timeline_after_arena_cap(path: str, every: float) -> None:
    """Start the timeline's thread once the daemon has capped glibc's arenas
    (``limit_arenas``), not before: a thread's first allocation picks its arena, and
    one started earlier got an arena of its own beyond the cap, which the daemon's
    threads then shared with the main one -- the measured daemon's heap laid out as no
    daemon's is."""
    import aggregator.memory

    limit = aggregator.memory.limit_arenas

    def then_start(*args: int) -> bool:
        done = limit(*args)
        _timeline(path, every)
        return done

    aggregator.memory.limit_arenas = then_start  # type: ignore[assignment]


if __name__ == "__main__":
    if os.environ.get("AGGREGATOR_MEMPROBE_TIMELINE"):
        _timeline_after_arena_cap(os.environ["AGGREGATOR_MEMPROBE_TIMELINE"], 5.0)
    if os.environ.get("AGGREGATOR_MEMPROBE_TRACE"):
        tracemalloc.start(int(os.environ["AGGREGATOR_MEMPROBE_TRACE"]))
    _count_trims()
    signal.signal(signal.SIGUSR2, _report)
    sys.argv[0] = "aggregator"
    runpy.run_module("aggregator.cli", run_name="__main__", alter_sys=True)
