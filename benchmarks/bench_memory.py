"""Memory of the whole real daemon (every process, PSS summed) after a first poll and idle.

    python benchmarks/bench_memory.py [--feeds 500,2000] [--items 50] [--latency 0.1-0.3]
        [--variants default,workers2,keepdocs] [--idle 60] [--quick] [--breakdown [--trace N]]
        [--timeline]

For each farm size it starts the feed farm (``farm.py``), then, one variant after the
other, a real daemon (``aggregator run``) on a fresh SQLite archive with every farm
feed in its configuration and otherwise the **default configuration** (the API on,
the default parse workers), apart from what a farm on 127.0.0.1 needs
(``allow_private_networks``, no per-host gap, 50 connections per host) and the API's
port (0: any free one, so a daemon already on 8080 does not stop the run; the API is
still served). The schema is migrated first by ``aggregator db upgrade``, as the
shipped systemd unit and ``make run`` do:

- **default**: the configuration as shipped;
- **workers2**: ``parse_workers: 2`` (the default before issue 17: a forkserver and
  two parse processes beside the daemon);
- **keepdocs**: the default, its interpreter kept as started (``AGGREGATOR_OPTIMIZE=0``):
  the daemon otherwise replaces itself by its run under ``-OO -X no_debug_ranges``
  (``aggregator.memory.lean_argv``), which leaves out the imported modules' docstrings.

The daemon's process tree is read from ``/proc`` by this process (never inside the
one measured): PSS (a page shared by N processes counts 1/N in each, so the sum is
what the tree really holds) and RSS, every second during the poll (peak) and once
the first poll is stored and processed ("after the first poll"), then again after
``--idle`` seconds of idling. Load average beside every figure. Goal (issue 17):
<= 150 MiB PSS for the whole daemon after the first poll of 500 x 50 and after idling.
Beside each figure, its two parts: the anonymous memory (the heaps, the daemon's
alone) and the files' pages (its libraries), whose PSS divides each page among every
process on the machine mapping it: another Python importing numpy, lxml, pydantic or
CLD2 (a test run, a second daemon) lowers the daemon's PSS by up to half of their
~28 MiB, with no change in the daemon. Compare runs by the anonymous figure and RSS;
run as root, it also prints the PSS the daemon would have on a quiet machine, with
only the farm and this benchmark beside it: each of its resident pages (their
frames, from ``/proc/PID/pagemap``) divided among the processes of those three that
map it, whatever else runs.

``--breakdown`` explains the figure after idling: the daemon's PSS by mapping (the
anonymous heap, the interpreter, each package's shared libraries, other files), read
from ``/proc/PID/smaps``, the anonymous memory by holder (glibc's main arena, its
other arenas, pymalloc's arenas and large blocks, thread stacks), glibc's figures
arena by arena (``malloc_info``), and what its Python heap holds -- the modules it imported by
top-level package, the largest types by ``sys.getsizeof`` -- reported by the daemon
itself on SIGUSR2 (it runs under ``_memprobe.py``, which is ``python -m
aggregator.cli`` plus that handler). ``--trace N`` adds tracemalloc's top allocation
sites (N frames), which inflates the daemon's memory: read its PSS figures as such.
``--timeline`` (under ``_memprobe.py`` too) has the daemon write its anonymous RSS beside
pymalloc's and glibc's totals every 5 s, printed after the breakdown: whether a peak
was live objects or memory freed and kept until the next ``malloc_trim``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_idle import tree
from farm import FarmServer, FarmSettings, feed_path, parse_latency

VARIANTS = {"default": "", "workers2": "    parse_workers: 2\n", "keepdocs": ""}
# A variant's environment: ``keepdocs`` is the daemon as started, with its docstrings
# (``AGGREGATOR_OPTIMIZE=0``: no run again under -OO, aggregator.memory.lean_argv).
VARIANT_ENV = {"keepdocs": {"AGGREGATOR_OPTIMIZE": "0"}}


@dataclass(frozen=True)
class Sample:
    pss: float  # MiB, the tree
    rss: float
    processes: int
    detail: str
    # The tree's anonymous memory (its heaps: counted whole, nobody else maps it) and
    # its files' pages (libraries: PSS shares each page among every process on the
    # machine mapping it, other Pythons importing numpy, lxml, ... included, so
    # their PSS moves with what else runs; RSS counts them whole).
    anon: float = 0.0
    file_pss: float = 0.0
    file_rss: float = 0.0

    def split(self) -> str:
        return (
            f"anonymous {self.anon:.1f}, files' pages PSS {self.file_pss:.1f} of "
            f"RSS {self.file_rss:.1f}"
        )


def sample(root: int) -> Sample:
    pss = rss = anon = file_pss = 0.0
    parts = []
    pids = tree(root)
    for pid in pids:
        p = r = 0.0
        fields: dict[str, float] = {}
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    head = line.split()
                    if head[0] in ("Pss:", "Rss:", "Anonymous:", "Pss_File:"):
                        fields[head[0]] = int(head[1]) / 1024
            p, r = fields.get("Pss:", 0.0), fields.get("Rss:", 0.0)
            with open(f"/proc/{pid}/cmdline") as f:
                cmd = f.read().replace("\0", " ")
        except OSError:
            continue
        kind = (
            "daemon"
            if pid == root
            else "resource tracker"
            if "resource_tracker" in cmd
            else "forkserver"
            if "forkserver" in cmd
            else "worker"
        )
        parts.append(f"{kind} {p:.0f}")
        pss += p
        rss += r
        anon += fields.get("Anonymous:", 0.0)
        file_pss += fields.get("Pss_File:", 0.0)
    return Sample(pss, rss, len(pids), ", ".join(parts), anon, file_pss, rss - anon)


PAGE = os.sysconf("SC_PAGE_SIZE")


def _frames(pid: int) -> set[int]:
    """The physical frames of ``pid``'s resident pages (``/proc/PID/pagemap``; they
    read as 0 without CAP_SYS_ADMIN, then the set is empty)."""
    frames: set[int] = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in maps:
            head = line.split()
            if head[1].startswith("---") or line.rstrip().endswith("[vsyscall]"):
                continue
            start, end = (int(x, 16) for x in head[0].split("-"))
            pagemap.seek(start // PAGE * 8)
            data = pagemap.read((end - start) // PAGE * 8)
            for (entry,) in struct.iter_unpack("<Q", data):
                if entry >> 63:  # present
                    frames.add(entry & ((1 << 55) - 1))
    frames.discard(0)
    return frames


def quiet_pss(root: int, beside: list[int]) -> float | None:
    """The tree's PSS (MiB) as it would be with only ``beside`` (the farm and this
    benchmark) on the machine: each of its resident pages divided among the
    processes of the tree and of ``beside`` mapping it, not among every process that
    happens to run (another daemon, a test suite importing numpy and lxml). None
    when the frames cannot be read (not root)."""
    try:
        tree_frames = [_frames(pid) for pid in tree(root)]
        other = [_frames(pid) for pid in beside]
    except OSError:
        return None
    if not any(tree_frames):
        return None
    everyone = tree_frames + other
    total = 0.0
    for frames in tree_frames:
        for frame in frames:
            total += 1.0 / sum(frame in f for f in everyone)
    return total * PAGE / 2**20


def smaps_split(pid: int) -> dict[str, tuple[float, float]]:
    """PSS and RSS (MiB) of one process by mapping: heap, interpreter, each package's
    shared libraries (by its directory under site-packages), other files."""
    split: dict[str, list[float]] = {}
    name = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split(maxsplit=5)
            if "-" in head[0] and not head[0].endswith(":"):
                path = head[5].strip() if len(head) > 5 else ""
                if not path or path == "[heap]":
                    name = "anonymous (malloc heap, arenas, mmap)"
                elif path.startswith("["):
                    name = path
                elif "site-packages/" in path:
                    name = "lib " + path.split("site-packages/", 1)[1].split("/", 1)[0]
                elif "/python3" in path or "libpython" in path:
                    name = "python " + Path(path).name
                else:
                    name = "file " + Path(path).name
            elif head[0] in ("Pss:", "Rss:"):
                entry = split.setdefault(name, [0.0, 0.0])
                entry[0 if head[0] == "Pss:" else 1] += int(head[1]) / 1024
    return {k: (v[0], v[1]) for k, v in split.items()}


HEAP_MAX = 64 << 20  # glibc's non-main arena heaps: mmapped, aligned to their maximum size


def anon_split(pid: int) -> dict[str, float]:
    """RSS (MiB) of the daemon's anonymous memory by what holds it, from its mappings:
    glibc's main arena (the brk ``[heap]``), its other arenas' heaps (mappings aligned
    to 64 MiB), thread stacks (8 MiB), and the rest (pymalloc's 1 MiB arenas, glibc's
    and numpy's large blocks in mappings of their own)."""
    split: dict[str, float] = {}
    name = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split(maxsplit=5)
            if "-" in head[0] and not head[0].endswith(":"):
                start, end = (int(x, 16) for x in head[0].split("-"))
                path = head[5].strip() if len(head) > 5 else ""
                if path == "[heap]":
                    name = "glibc main arena ([heap])"
                elif path:
                    name = ""
                elif start % HEAP_MAX == 0 and end - start <= HEAP_MAX:
                    name = "glibc other arena heaps"
                elif (8 << 20) - (64 << 10) <= end - start <= 8 << 20:
                    name = "thread stacks"
                else:
                    name = "other anonymous (pymalloc arenas, large blocks)"
            elif head[0] == "Rss:" and name:
                split[name] = split.get(name, 0.0) + int(head[1]) / 1024
    return split


def breakdown(pid: int, out: Path) -> None:
    """Print where the daemon's memory is: smaps by mapping, then its own report."""
    split = sorted(smaps_split(pid).items(), key=lambda kv: -kv[1][0])
    print("  breakdown, PSS (RSS) MiB by mapping:")
    for name, (p, r) in split[:25]:
        print(f"    {p:7.1f} ({r:7.1f})  {name}")
    rest = split[25:]
    print(f"    {sum(v[0] for _, v in rest):7.1f}            {len(rest)} more mappings")
    print("  anonymous RSS by holder (MiB): ", end="")
    print(", ".join(f"{k} {v:.1f}" for k, v in sorted(anon_split(pid).items())))
    out.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR2)
    # Walking millions of objects (and tracemalloc's snapshot) takes the daemon's
    # main thread minutes on a loaded machine.
    for _ in range(1200):
        if out.exists():
            break
        time.sleep(0.5)
    else:
        print("  (the daemon wrote no report)")
        return
    report = json.loads(out.read_text())
    packages: dict[str, int] = {}
    for module in report["modules"]:
        top = module.split(".", 1)[0]
        packages[top] = packages.get(top, 0) + 1
    top = sorted(packages.items(), key=lambda kv: -kv[1])
    print(f"  {len(report['modules'])} modules imported; by package: ", end="")
    print(", ".join(f"{k} {v}" for k, v in top[:30]))
    print(f"  {report['gc_objects']} objects tracked by gc; largest types (count, MiB):")
    for name, count, size in report["types"][:25]:
        print(f"    {size / 2**20:7.2f} {count:>9}  {name}")
    pym = report.get("pymalloc", {})
    if pym:
        print(
            f"  pymalloc (small objects): arenas {pym.get('arenas_bytes', 0) / 2**20:.1f} MiB "
            f"(high-water {pym.get('arenas_highwater', 0)} arenas), in use "
            f"{pym.get('allocated_blocks', 0) / 2**20:.1f}, free in used pools "
            f"{pym.get('available_blocks', 0) / 2**20:.1f}, unused pools "
            f"{pym.get('unused_pools', 0) / 2**20:.1f}"
        )
    libc = report.get("glibc", {})
    if libc:
        print(
            f"  glibc malloc (all arenas): in use {libc['in_use'] / 2**20:.1f} MiB, free but "
            f"kept {libc['free'] / 2**20:.1f} (of {libc['arena'] / 2**20:.1f} in its heaps; "
            f"malloc_trim hands free whole pages back), own mmaps {libc['mmap'] / 2**20:.1f} "
            f"in {libc['mmap_blocks']} blocks"
        )
    for i, arena in enumerate(report.get("arenas", [])):
        m = 2**20
        print(
            f"  glibc arena {i}: from the system {arena.get('system_current', 0) / m:.1f} MiB "
            f"(max {arena.get('system_max', 0) / m:.1f}), free in chunks "
            f"{(arena.get('free_fast', 0) + arena.get('free_rest', 0)) / m:.1f} "
            f"(<= 4 KiB {arena.get('free_small', 0) / m:.1f}, larger "
            f"{arena.get('free_large', 0) / m:.1f}; top chunk {arena.get('top', 0) / m:.1f})"
        )
    trims = report.get("trims")
    if trims:
        print(
            f"  malloc_trim calls by the daemon: {trims['count']}, "
            f"{trims['cpu'] * 1000:.0f} ms CPU in all"
        )
    if "sqlite_bytes" in report:
        print(
            f"  SQLite's own memory (page caches of every connection): "
            f"{report['sqlite_bytes'] / 2**20:.1f} MiB"
        )
    garbage = report.get("garbage")
    if garbage:
        print(
            f"  cyclic garbage not yet collected: {garbage['objects']} objects "
            f"({garbage['bytes'] / 2**20:.1f} MiB by getsizeof; "
            + ", ".join(f"{k} {n}" for k, n in garbage["types"])
            + f"); anonymous RSS {garbage['anon_before'] / 2**20:.1f} MiB, after a full "
            f"collection and a trim {garbage['anon_after'] / 2**20:.1f}"
        )
    if "trace" in report:
        print(f"  tracemalloc: {report['traced_total'] / 2**20:.1f} MiB traced; by file:")
        for where, size, count in report["trace_files"][:25]:
            print(f"    {size / 2**20:7.2f} {count:>9}  {where}")
        print("  by line:")
        for where, size, count in report["trace"][:40]:
            print(f"    {size / 2**20:7.2f} {count:>9}  {where}")


def print_timeline(path: Path) -> None:
    """The daemon's own figures every 5 s (``--timeline``), MiB."""
    print(
        "  timeline (MiB): s, anonymous RSS | pymalloc arenas, in use "
        "| glibc in use, free, mmap | trims"
    )
    for line in path.read_text().splitlines():
        r = json.loads(line)
        m = 2**20
        print(
            f"    {r['t']:6.0f} {r['anon'] / m:7.1f} | {r.get('py_arenas_bytes', 0) / m:6.1f} "
            f"{r.get('py_allocated_blocks', 0) / m:6.1f} | {r.get('c_in_use', 0) / m:6.1f} "
            f"{r.get('c_free', 0) / m:6.1f} {r.get('c_mmap', 0) / m:6.1f} | {r.get('trims', 0)}"
        )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def config(base: str, feeds: int, variant: str) -> str:
    lines = [
        "settings:",
        "  http:",
        "    port: 0",
        "  poll:",
        "    allow_private_networks: true",
        "    per_host_min_gap: 0s",
        "    per_host_connections: 50",
        VARIANTS[variant].rstrip("\n"),
        "feeds:",
    ]
    for i in range(feeds):
        lines.append(f"  - {{name: feed {i}, url: '{base}{feed_path(i)}'}}")
    return "\n".join(line for line in lines if line) + "\n"


def progress(db: Path, feeds: int) -> tuple[int, int]:
    """(feeds polled, articles still unprocessed); (0, 0) before the tables exist."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            polled = con.execute(
                "SELECT count(*) FROM feeds WHERE last_polled_at IS NOT NULL"
            ).fetchone()[0]
            waiting = con.execute(
                "SELECT count(*) FROM articles WHERE processed_at IS NULL"
            ).fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0, 0
    return int(polled), int(waiting)


def run_variant(
    base: str,
    feeds: int,
    variant: str,
    idle: float,
    tmp: Path,
    probe: bool,
    trace: int,
    timeline: bool,
    beside: list[int],
) -> None:
    db = tmp / f"{variant}-{feeds}.db"
    cfg = tmp / f"{variant}-{feeds}.yaml"
    cfg.write_text(config(base, feeds, variant))
    log = tmp / f"{variant}-{feeds}.log"
    env = dict(
        os.environ, AGGREGATOR_DATABASE_URL=f"sqlite:///{db}", **VARIANT_ENV.get(variant, {})
    )
    env.pop("NOTIFY_SOCKET", None)
    # The daemon runs this checkout's code: `_memprobe.py` runs as a script, so without
    # this its `import aggregator` would find whatever checkout is installed (editable);
    # and `python -m aggregator.cli` puts its working directory first on sys.path, before
    # PYTHONPATH, so it runs from this checkout too (the bench of another checkout,
    # started from this one, measured this one's daemon).
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    report = tmp / f"{variant}-{feeds}.json"
    command = [sys.executable, "-m", "aggregator.cli"]
    if probe:
        command = [sys.executable, str(Path(__file__).resolve().parent / "_memprobe.py")]
        env["AGGREGATOR_MEMPROBE_OUT"] = str(report)
        if trace:
            env["AGGREGATOR_MEMPROBE_TRACE"] = str(trace)
        if timeline:
            env["AGGREGATOR_MEMPROBE_TIMELINE"] = str(tmp / f"{variant}-{feeds}.timeline")
    # As the shipped systemd unit (ExecStartPre) and `make run` do: the schema is
    # brought up to date by `aggregator db upgrade` before the daemon starts, so the
    # daemon finds it at head and never imports Alembic.
    subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "--config", str(cfg), "db", "upgrade"],
        env=env,
        cwd=root,
        check=True,
        capture_output=True,
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*command, "--config", str(cfg), "run"],
            env=env,
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        t0 = time.monotonic()
        peak = Sample(0, 0, 0, "")
        while True:
            time.sleep(1.0)
            if proc.poll() is not None:
                raise SystemExit(f"daemon exited: {log.read_text(errors='replace')[-2000:]}")
            s = sample(proc.pid)
            if s.pss > peak.pss:
                peak = s
            polled, waiting = progress(db, feeds)
            if polled >= feeds and waiting == 0:
                break
            if time.monotonic() - t0 > 1800:
                raise SystemExit(f"first poll not done after 30 min: {polled}/{feeds}")
        took = time.monotonic() - t0
        after = sample(proc.pid)
        print(
            f"{feeds:>5} feeds  {variant:<9} first poll done in {took:5.0f} s; peak PSS "
            f"{peak.pss:6.1f} MiB; after it PSS {after.pss:6.1f} MiB (RSS {after.rss:6.1f}; "
            f"{after.split()}), {after.processes} processes: {after.detail}   (load {load()})",
            flush=True,
        )
        quiet_after = quiet_pss(proc.pid, beside)
        time.sleep(idle)
        later = sample(proc.pid)
        quiet_later = quiet_pss(proc.pid, beside)
        goal = "met" if max(after.pss, later.pss) <= 150 else "NOT met"
        print(
            f"{feeds:>5} feeds  {variant:<9} after {idle:.0f} s idle: PSS {later.pss:6.1f} MiB "
            f"(RSS {later.rss:6.1f}; {later.split()}), {later.detail}   [<= 150 MiB: {goal}]   "
            f"(load {load()})",
            flush=True,
        )
        if quiet_after is not None and quiet_later is not None:
            # The figure a quiet machine would show: what else runs here does not
            # share the daemon's library pages (see the module doc).
            goal = "met" if max(quiet_after, quiet_later) <= 150 else "NOT met"
            print(
                f"{feeds:>5} feeds  {variant:<9} PSS beside the farm and this benchmark only: "
                f"after the first poll {quiet_after:6.1f} MiB, after idling {quiet_later:6.1f} "
                f"[<= 150 MiB: {goal}]",
                flush=True,
            )
        if probe:
            breakdown(proc.pid, report)
        if timeline:
            print_timeline(tmp / f"{variant}-{feeds}.timeline")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", default="500,2000")
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--latency", default="0.1-0.3")
    ap.add_argument("--variants", default="default,workers2")
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--quick", action="store_true", help="500 feeds, 20 s idle")
    ap.add_argument("--breakdown", action="store_true", help="where the memory is, after idle")
    ap.add_argument("--trace", type=int, default=0, help="with --breakdown: tracemalloc frames")
    ap.add_argument(
        "--timeline",
        action="store_true",
        help="the daemon's anonymous RSS, pymalloc's and glibc's figures every 5 s",
    )
    args = ap.parse_args()
    if args.quick:
        args.feeds, args.idle = "500", 20.0
    variants = args.variants.split(",")
    print(f"daemon memory, {os.cpu_count()} cores, load {load()}", flush=True)
    for n in (int(x) for x in args.feeds.split(",")):
        settings = FarmSettings(feeds=n, items=args.items, latency=parse_latency(args.latency))
        with FarmServer(settings) as farm, tempfile.TemporaryDirectory(prefix="bench-mem-") as t:
            for variant in variants:
                run_variant(
                    farm.base_url.rstrip("/"),
                    n,
                    variant,
                    args.idle,
                    Path(t),
                    args.breakdown or bool(args.trace) or args.timeline,
                    args.trace,
                    args.timeline,
                    [pid for pid in (farm.pid, os.getpid()) if pid is not None],
                )


if __name__ == "__main__":
    main()
