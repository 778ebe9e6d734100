"""Polling throughput on a local feed farm: ours vs lemon24/reader, newsboat and httpx alone.

    python benchmarks/bench_poll.py [--feeds 500] [--items 50] [--latency 0.1-0.3]
                                    [--concurrency 100] [--workers auto] [--rounds 3]
                                    [--baseline-tree /path/to/other/checkout] [--quick]
                                    [--only ours,reader,newsboat,httpx]

Starts the farm (``benchmarks/farm.py``: N feeds x M items, RSS and Atom, 2-6 KB HTML
bodies, validators on ~90 % of the feeds, gzip) in its own process on 127.0.0.1, then
runs the pollers INTERLEAVED, ``--rounds`` times (httpx, ours, reader, newsboat, httpx,
ours, ...), each in a fresh child process, twice per child: the FIRST POLL of the farm
into an empty store, then a RE-POLL of the unchanged farm. On a shared machine the load
drifts over minutes: interleaving gives every poller the same share of it, and the
medians of the rounds, printed with their spread (min-max), are the figures to quote.

Everything is measured from OUTSIDE the poller, by this process: the child sets itself
up (store, workers, warm-up), says READY and waits; the parent resets the farm's
counters, reads the child's process tree from /proc, says GO, samples the tree's RSS
(every 50 ms) and PSS (every second, /proc/PID/smaps_rollup) until the child says DONE,
then reads /proc again. CPU is utime+stime of the tree (the children it reaped
included), so neither the sampler nor the set-up is charged to the poller. Per phase
it prints wall time, entries/s (entries in the farm / seconds), CPU ms per farm entry,
entries stored, bytes the server sent, 200/304 answers, the share of conditional
requests among requests for feeds that gave validators (counted by the farm), peak
RSS and PSS of the tree, and the 1-minute load average beside each figure. Then the
medians and the ratios, in the same run:

* first poll: ours/reader and ours/newsboat entries/s (goals: >= 2x reader, >= newsboat);
  ours' CPU ms per entry (goal <= 0.9);
* re-poll: ours' time / the httpx-only fetch time (goal: <= 2x) and ours' conditional
  share (goal: 100 %).

The pollers:

* ours — ``Poller`` (fetch → hash check → parse + normalize → store), SQLite in a temp
  dir, ``--workers`` parse processes (``auto``: what the daemon would choose here;
  workers are started and warmed up before timing, as in a running daemon),
  ``allow_private_networks``, no per-host gap and a per-host connection limit equal to
  the global one: the farm is ONE host, which a real feed list is not.
  Clustering/matching (the consumer) is not included: the peers do not do it either.
* ours@NAME — with ``--baseline-tree DIR``: the same child, importing ``aggregator``
  from DIR (another checkout, e.g. main's), to compare code in the same run.
* reader — ``update_feeds(workers=W, scheduled=False)`` into its SQLite; W is chosen by
  a calibration run on a subset of the farm (best entries/s of a few counts).
* newsboat — ``newsboat -x reload`` with a urls file, config (``reload-threads`` =
  concurrency) and cache in a temp HOME; the urls all point at 127.0.0.1. newsboat
  2.21 stores validators only from its second reload on, so its re-poll row is its
  third reload (the second is printed in a note). Above 1,000 feeds its re-poll is
  skipped: its two re-poll reloads take ~20x its first poll. Only newsboat's process
  is measured, not the Python wrapper that starts it.
* httpx — the floor: GET every feed at the same concurrency, read the body, nothing
  else; the re-poll sends the validators of the first pass. Two transports: httpx's
  own pool and httpx-aiohttp (what ours uses); the faster one is the floor.

Note: the farm server shares the machine's cores with the poller being measured.
``--quick`` (40 x 20, 3 rounds) takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
# A child measuring another checkout (--baseline-tree) imports aggregator from there.
sys.path.insert(0, os.environ.get("BENCH_POLL_ROOT") or str(HERE.parent))
sys.path.insert(0, str(HERE))

from farm import FarmServer, FarmSettings, parse_latency  # noqa: E402

CONTENDERS = ("httpx", "ours", "reader", "newsboat")
NEWSBOAT_REPOLL_MAX_FEEDS = 1000
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- measuring, from outside the poller --------------------------------------------------


def load1() -> float:
    return os.getloadavg()[0]


def tree(pid: int) -> list[int]:
    """``pid`` and every process descending from it (workers, newsboat, forkserver)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone between listing and reading
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree_cpu(root: int, *, include_root: bool) -> float:
    """CPU seconds of the tree: utime+stime of every live process plus the cutime+cstime
    of the processes they reaped (a newsboat run that has exited, a dead worker). With
    ``include_root`` False the root's own time is left out, its reaped children's not."""
    total = 0
    for pid in tree(root):
        fields = _stat(pid)
        if fields is None:
            continue
        # After ")": state is [0], utime [11], stime [12], cutime [13], cstime [14].
        if pid != root or include_root:
            total += int(fields[11]) + int(fields[12])
        total += int(fields[13]) + int(fields[14])
    return total / TICKS


def tree_rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def tree_pss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total


class OutsideSampler:
    """Peak RSS (every ``interval``) and PSS (every ``pss_interval``) of another
    process's tree, read from /proc by a thread of THIS process, so the sampling costs
    the poller nothing. RSS counts a page shared by N processes N times (libraries,
    what a forkserver's children inherit), PSS counts 1/N in each: the PSS sum is the
    memory the tree really holds. smaps_rollup costs too much to read every 50 ms."""

    def __init__(
        self, root: int, *, include_root: bool, interval: float = 0.05, pss_interval: float = 1.0
    ) -> None:
        self.root = root
        self.include_root = include_root
        self.interval = interval
        self.pss_interval = pss_interval
        self.peak = self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _pids(self) -> list[int]:
        pids = tree(self.root)
        return pids if self.include_root else [p for p in pids if p != self.root]

    def _sample(self, pss: bool) -> None:
        pids = self._pids()
        self.peak = max(self.peak, tree_rss(pids))
        if pss:
            self.peak_pss = max(self.peak_pss, tree_pss(pids))

    def _run(self) -> None:
        next_pss = time.monotonic() + self.pss_interval
        while not self._stop.wait(self.interval):
            due = time.monotonic() >= next_pss
            self._sample(due)
            if due:
                next_pss = time.monotonic() + self.pss_interval

    def __enter__(self) -> OutsideSampler:
        self._sample(True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(True)


@dataclass
class Phase:
    seconds: float
    stored: int  # entries in the poller's store after the phase (-1: stores nothing)
    peak_rss: int
    peak_pss: int
    cpu: float  # CPU seconds of the poller's process tree, read from /proc outside it
    load: float  # 1-minute load average at the end of the phase
    server: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


def _http(base: str, path: str, method: str = "GET") -> Any:
    req = urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


# -- where a child's CPU goes, read by the child itself ----------------------------------


def thread_cpu() -> dict[int, float]:
    """CPU seconds (utime+stime) of each live thread of this process, by native id."""
    out: dict[int, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended between listing and reading
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / TICKS
    return out


def thread_role(name: str) -> str:
    """The stage a thread of ours works for, from its Python name."""
    if name == "MainThread":
        return "loop"  # the event loop: fetching, the poller's bookkeeping
    if name.startswith(("parse", "writer")):
        return name.split("_", 1)[0]
    return "other"


class CpuByStage:
    """The CPU of one phase of this process split by thread role (loop, parse, writer,
    other: what the threads that ended took, the resolver's, ...) and the time the
    garbage collector ran, all read by the child around the phase. The parent's
    figure (its whole tree, from outside) stays the one to quote: this says where it
    went. Parse worker processes, when there are any, are not threads of this
    process: their share is the parent's figure minus this process's."""

    def __init__(self) -> None:
        self.gc_seconds = 0.0
        self._gc_started = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        # A collection runs in the thread that triggered it, holding the GIL.
        if phase == "start":
            self._gc_started = time.thread_time()
        else:
            self.gc_seconds += time.thread_time() - self._gc_started

    def measure(self, run: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
        import gc

        before, total0 = thread_cpu(), sum(os.times()[:2])
        gc.callbacks.append(self._on_gc)
        try:
            result = run()
        finally:
            gc.callbacks.remove(self._on_gc)
        after, total = thread_cpu(), sum(os.times()[:2]) - total0
        names = {t.native_id: t.name for t in threading.enumerate()}
        roles = {"loop": 0.0, "parse": 0.0, "writer": 0.0}
        for tid, seconds in after.items():
            role = thread_role(names.get(tid, ""))
            roles[role] = roles.get(role, 0.0) + seconds - before.get(tid, 0.0)
        roles["other"] = total - sum(v for k, v in roles.items() if k != "other")
        roles["gc"] = self.gc_seconds
        return result, {k: round(v, 3) for k, v in roles.items()}


# -- the child side of the handshake -------------------------------------------------


def gate(name: str, run: Callable[[], tuple[int, dict[str, Any]]]) -> None:
    """One measured phase: READY, wait for GO, run, DONE with seconds, stored, extras."""
    print(f"READY {name}", flush=True)
    line = sys.stdin.readline().strip()
    if line != "GO":
        raise SystemExit(f"expected GO, got {line!r}")
    t0 = time.perf_counter()
    stored, extra = run()
    seconds = time.perf_counter() - t0
    print("DONE " + json.dumps({"seconds": seconds, "stored": stored, "extra": extra}), flush=True)


# -- the pollers (each runs in its own child process) ----------------------------------


def child_httpx(urls: list[str], concurrency: int, transport: str) -> None:
    import httpx

    validators: dict[str, tuple[str | None, str | None]] = {}

    def client() -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        if transport == "aiohttp":
            import aiohttp
            from httpx_aiohttp import AiohttpTransport

            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=concurrency), trust_env=False
            )
            return httpx.AsyncClient(
                transport=AiohttpTransport(client=session), timeout=60, trust_env=False
            )
        return httpx.AsyncClient(limits=limits, timeout=60, trust_env=False)

    async def fetch_all(conditional: bool) -> int:
        sem = asyncio.Semaphore(concurrency)
        got = 0
        async with client() as c:

            async def one(url: str) -> None:
                nonlocal got
                headers = {"Accept-Encoding": "gzip, deflate"}
                etag, lm = validators.get(url, (None, None)) if conditional else (None, None)
                if etag:
                    headers["If-None-Match"] = etag
                if lm:
                    headers["If-Modified-Since"] = lm
                async with sem:
                    r = await c.get(url, headers=headers)
                    got += len(r.content)
                validators[url] = (r.headers.get("etag"), r.headers.get("last-modified"))

            await asyncio.gather(*(one(u) for u in urls))
        return got

    def phase(conditional: bool) -> tuple[int, dict[str, Any]]:
        decoded = asyncio.run(fetch_all(conditional))
        return -1, {"bytes_decoded": decoded}

    gate("first", lambda: phase(False))
    gate("again", lambda: phase(True))


class BusyWriter(ThreadPoolExecutor):
    """The poller's writer thread, adding up the wall time its jobs take. Busy for the
    whole phase, it is what the poll waits for; busy much longer than its CPU time,
    it waits inside its jobs (for the GIL after each SQLite step, for the disk)."""

    def __init__(self) -> None:
        super().__init__(1, thread_name_prefix="writer")
        self.busy = 0.0  # read and written by the writer thread only, reset between phases

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return super().submit(self._timed, fn, *args, **kwargs)

    def _timed(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            self.busy += time.monotonic() - started


def child_ours(urls: list[str], concurrency: int, workers_setting: str, tmp: Path) -> None:
    from aggregator import workers as parse_pools
    from aggregator.compose import make_owner, user_agent
    from aggregator.models import FetchSettings
    from aggregator.poll.fetch import Fetcher
    from aggregator.poll.poller import PipelineSettings, Poller, PollSummary, process_body
    from aggregator.store import FeedSpec, Store
    from aggregator.store.migrate import upgrade

    setting: int | str = workers_setting if workers_setting == "auto" else int(workers_setting)
    workers = parse_pools.parse_workers_for(setting, cores=os.cpu_count() or 1, feeds=len(urls))
    store = Store.open(f"sqlite:///{tmp / 'ours.db'}")
    upgrade(store.engine)
    store.sync_feeds(
        [FeedSpec(name=f"farm-{i}", url=u) for i, u in enumerate(urls)], datetime.now(UTC)
    )
    fetch_settings = FetchSettings(
        user_agent=user_agent(),
        allow_private_networks=True,
        max_connections=concurrency,
        # The farm is one host: a real feed list spreads over hundreds.
        per_host_connections=concurrency,
        per_host_min_gap=0.0,
    )
    settings = PipelineSettings(owner=make_owner())
    # The daemon's choice (``parse_executor``: ``auto`` on two cores is the burst
    # executor, whose worker starts during the poll, as in a daemon that was idle); a
    # --baseline-tree from before it has only ``cpu_executor``.
    if hasattr(parse_pools, "parse_executor"):
        cpu = parse_pools.parse_executor(setting, cores=os.cpu_count() or 1, feeds=len(urls))
    else:
        cpu = parse_pools.cpu_executor(workers)
    # Load the parser, the language model and the HTML parser where parsing runs, as a
    # running daemon has: in each worker, or in the parse threads of this process
    # (``cpu_executor(0)`` is a thread pool too, so ``workers * 2`` warmed nothing).
    tiny = (
        b'<rss version="2.0"><channel><title>t</title><item><title>Warm up</title>'
        b"<link>http://127.0.0.1/a</link><description>&lt;p&gt;The workers load "
        b"their models on the first entry they see.&lt;/p&gt;</description></item>"
        b"</channel></rss>"
    )
    warm_args: dict[str, Any] = {
        "url": "http://127.0.0.1/",
        "headers": {},
        "fetched_at": datetime.now(UTC),
        "feed_name": "warm",
        "settings": settings.normalize,
    }
    for f in [cpu.submit(process_body, tiny, **warm_args) for _ in range(max(workers, 1) * 2)]:
        f.result()
    writer = BusyWriter()

    async def poll_all() -> list[PollSummary]:
        async with Fetcher(fetch_settings) as fetcher:
            poller = Poller(store, fetcher, settings, cpu=cpu, writer=writer)
            claimed = await poller.claim(1_000_000, force=True)
            sem = asyncio.Semaphore(concurrency)

            async def one(feed: Any) -> PollSummary:
                async with sem:
                    return await poller.poll(feed)

            return await asyncio.gather(*(one(f) for f in claimed))

    def phase() -> tuple[int, dict[str, Any]]:
        writer.busy = 0.0
        started = time.monotonic()
        summaries, by_stage = CpuByStage().measure(lambda: asyncio.run(poll_all()))
        busy = {"seconds": round(time.monotonic() - started, 3), "busy": round(writer.busy, 3)}
        outcomes: dict[str, int] = {}
        for s in summaries:
            outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
        errors = sorted({s.error for s in summaries if s.error})[:3]
        extra = {"outcomes": outcomes, "errors": errors, "workers": workers, "cpu": by_stage}
        extra["writer"] = busy
        # Burst workers started so far (the burst executor; absent elsewhere).
        extra["burst_workers"] = getattr(cpu, "workers_started", None)
        return store.count_articles(), extra

    try:
        gate("first", phase)
        gate("again", phase)
    finally:
        writer.shutdown()
        if cpu is not None:
            cpu.shutdown()
        store.close()


def child_reader(urls: list[str], workers: int, tmp: Path) -> None:
    from reader import make_reader

    reader = make_reader(str(tmp / "reader.sqlite"))
    for url in urls:
        reader.add_feed(url)

    def phase() -> tuple[int, dict[str, Any]]:
        # scheduled=False: every feed, due or not (reader 3.13+ defaults to due ones).
        reader.update_feeds(workers=workers, scheduled=False)
        broken = sum(1 for f in reader.get_feeds() if f.last_exception is not None)
        return reader.get_entry_counts().total, {"workers": workers, "broken_feeds": broken}

    try:
        gate("first", phase)
        gate("again", phase)
    finally:
        reader.close()


def child_newsboat(urls: list[str], concurrency: int, tmp: Path) -> None:
    exe = shutil.which("newsboat")
    if exe is None:
        raise RuntimeError("newsboat is not installed (apt-get install -y newsboat)")
    home = tmp / "home"
    home.mkdir()
    (home / "urls").write_text("\n".join(urls) + "\n")
    # Threads as concurrent requests; no proxy from the environment; keep every item.
    (home / "config").write_text(
        f"reload-threads {concurrency}\nuse-proxy no\ndownload-timeout 60\nmax-items 0\n"
        "show-read-feeds yes\n"
    )
    cache = home / "cache.db"
    cmd = [exe, "-u", str(home / "urls"), "-C", str(home / "config"), "-c", str(cache)]
    cmd += ["-x", "reload"]
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
    env |= {"XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local")}
    env |= {"no_proxy": "*", "NO_PROXY": "*"}
    version = subprocess.run([exe, "-v"], capture_output=True, text=True).stdout
    version = version.split(" - ", 1)[0].strip()

    def phase() -> tuple[int, dict[str, Any]]:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"newsboat failed ({done.returncode}): {done.stderr[-500:]}")
        with sqlite3.connect(cache) as db:
            (stored,) = db.execute("SELECT count(*) FROM rss_item").fetchone()
        return int(stored), {"version": version}

    gate("first", phase)
    if len(urls) > NEWSBOAT_REPOLL_MAX_FEEDS:
        # Its two re-poll reloads take ~20x its first poll (at 500 feeds: 105 s + 53 s
        # after 26 s): past this size they would dominate the run, so they are skipped.
        return
    # newsboat 2.21 saves a feed's ETag/Last-Modified only when the feed's row already
    # exists, i.e. from its second reload on: that one is unconditional, so the re-poll
    # reported is the third reload.
    gate("second", phase)
    gate("again", phase)


def run_child(args: argparse.Namespace) -> int:
    index = _http(args.base, "/_index")
    if args.limit:
        index = index[: args.limit]
    urls = [args.base + row["path"] for row in index]
    with tempfile.TemporaryDirectory(prefix=f"bench-{args.child}-") as d:
        tmp = Path(d)
        if args.child in ("httpx", "httpx-aiohttp"):
            transport = "aiohttp" if args.child == "httpx-aiohttp" else "httpx"
            child_httpx(urls, args.concurrency, transport)
        elif args.child == "ours":
            child_ours(urls, args.concurrency, args.workers, tmp)
        elif args.child == "reader":
            child_reader(urls, int(args.workers), tmp)
        elif args.child == "newsboat":
            child_newsboat(urls, args.concurrency, tmp)
        else:
            raise SystemExit(f"unknown poller {args.child!r}")
    print("BYE", flush=True)
    return 0


# -- the orchestrator ------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One contender: its label, the child to run, and how."""

    name: str
    child: str
    workers: str = "0"
    root: str | None = None  # BENCH_POLL_ROOT for the child (another checkout)
    include_root: bool = True  # False: only the processes the child starts count


def _expect(stdout: IO[str], prefix: str) -> str:
    line = stdout.readline()
    if not line.startswith(prefix):
        raise RuntimeError(f"child said {line.strip()[:200]!r}, expected {prefix!r}")
    return line[len(prefix) :].strip()


def spawn(spec: Spec, base: str, *, concurrency: int, limit: int = 0) -> dict[str, Phase]:
    """Run one child through its phases, measuring each from here."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", spec.child, "--base", base]
    cmd += ["--concurrency", str(concurrency), "--workers", spec.workers, "--limit", str(limit)]
    env = dict(os.environ)
    if spec.root:
        env["BENCH_POLL_ROOT"] = spec.root
        env["PYTHONPATH"] = spec.root
    with tempfile.TemporaryFile(mode="w+") as err:
        phases, returncode = _drive(spec, cmd, env, err, base)
        if returncode != 0 or "first" not in phases:
            err.seek(0)
            tail = err.read().strip().splitlines()[-3:]
            raise RuntimeError(f"{spec.name} failed (exit {returncode}): " + " | ".join(tail))
    return phases


def _drive(
    spec: Spec, cmd: list[str], env: dict[str, str], err: IO[str], base: str
) -> tuple[dict[str, Phase], int]:
    """The parent side of the handshake: each READY is measured from GO to DONE."""
    phases: dict[str, Phase] = {}
    with subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, env=env
    ) as proc:
        stdin, stdout = proc.stdin, proc.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("no pipes to the child")
        try:
            while True:
                line = stdout.readline()
                if line.startswith("BYE") or not line:
                    break
                if not line.startswith("READY "):
                    continue  # anything a library prints
                name = line[len("READY ") :].strip()
                _http(base, "/_reset", "POST")
                cpu0 = tree_cpu(proc.pid, include_root=spec.include_root)
                with OutsideSampler(proc.pid, include_root=spec.include_root) as mem:
                    stdin.write("GO\n")
                    stdin.flush()
                    done = json.loads(_expect(stdout, "DONE "))
                cpu = tree_cpu(proc.pid, include_root=spec.include_root) - cpu0
                phases[name] = Phase(
                    done["seconds"],
                    done["stored"],
                    mem.peak,
                    mem.peak_pss,
                    cpu,
                    load1(),
                    _http(base, "/_stats"),
                    done["extra"],
                )
            stdin.close()
            proc.wait(600)
        except BaseException:
            # Interrupted: SIGTERM lets the child shut its worker processes down.
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    return phases, proc.returncode


def conditional_share(server: dict[str, Any]) -> float | None:
    n = server.get("on_validator_feeds", 0)
    return server["conditional"] / n if n else None


HEADER = (
    f"{'poller':<22} {'phase':<6} {'seconds':>8} {'entries/s':>9} {'CPU s':>7} "
    f"{'ms/entry':>8} {'stored':>8} {'MB sent':>7} {'200/304':>13} {'cond.':>6} "
    f"{'RSS MiB':>7} {'PSS MiB':>7} {'load':>5}"
)


def fmt_row(name: str, phase_name: str, entries: int, p: Phase) -> str:
    share = conditional_share(p.server)
    cond = f"{share:6.1%}" if share is not None else "     -"
    stored = f"{p.stored:>8,}" if p.stored >= 0 else "       -"
    # 0: the poller ran too briefly for a PSS sample (they come once a second).
    pss = f"{p.peak_pss / 2**20:.0f}" if p.peak_pss else "-"
    return (
        f"{name:<22} {phase_name:<6} {p.seconds:8.2f} {entries / p.seconds:9.0f} {p.cpu:7.2f} "
        f"{1000 * p.cpu / entries:8.3f} {stored} {p.server['body_bytes'] / 1e6:7.1f} "
        f"{p.server['ok']:>6}/{p.server['not_modified']:<6} {cond} {p.peak_rss / 2**20:7.0f} "
        f"{pss:>7} {p.load:5.2f}"
    )


def fmt_stages(cpu: dict[str, float], entries: int) -> str:
    """The child's own split of its CPU, ms per farm entry."""
    parts = ", ".join(f"{k} {1000 * v / entries:.3f}" for k, v in cpu.items() if k != "gc")
    return f"CPU ms/entry by thread: {parts} (of which gc {1000 * cpu.get('gc', 0) / entries:.3f})"


def fmt_writer(extra: dict[str, Any]) -> str:
    """How long the writer thread's jobs took (wall) beside the phase and its CPU."""
    w = extra["writer"]
    share = w["busy"] / w["seconds"] if w["seconds"] else 0.0
    return (
        f"writer thread busy {w['busy']:.2f} s of {w['seconds']:.2f} s ({share:.0%}), "
        f"its CPU {extra['cpu']['writer']:.2f} s"
    )


@dataclass(frozen=True)
class Stat:
    median: float
    low: float
    high: float

    @staticmethod
    def of(values: list[float]) -> Stat:
        return Stat(statistics.median(values), min(values), max(values))

    def fmt(self, spec: str) -> str:
        return f"{self.median:{spec}} ({self.low:{spec}}-{self.high:{spec}})"


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--feeds", type=int, default=None, help="default 500 (--quick: 40)")
    ap.add_argument("--items", type=int, default=None, help="default 50 (--quick: 20)")
    ap.add_argument("--latency", type=parse_latency, default=(0.1, 0.3), help="e.g. 0.1-0.3")
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--workers", default="auto", help="our parse worker processes, or auto")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    ap.add_argument("--reader-workers", default=None, help="counts to try, e.g. 4,16,32")
    ap.add_argument(
        "--baseline-tree",
        action="append",
        default=[],
        metavar="DIR",
        help="also run ours from this checkout, as ours@<dir name> (repeatable)",
    )
    ap.add_argument(
        "--only", default=",".join(CONTENDERS), help="subset of " + ",".join(CONTENDERS)
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="40 feeds x 20 items, ~1 min")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the farm, the children and their workers stop.
    signal.signal(signal.SIGTERM, _interrupted)
    if args.child:
        return run_child(args)

    feeds = args.feeds or (40 if args.quick else 500)
    items = args.items or (20 if args.quick else 50)
    entries = feeds * items
    only = [c.strip() for c in args.only.split(",") if c.strip()]
    reader_counts = [int(x) for x in (args.reader_workers or "").split(",") if x] or (
        [4, 16] if args.quick else [4, 16, 32]
    )
    settings = FarmSettings(feeds=feeds, items=items, seed=args.seed, latency=args.latency)
    notes: list[str] = []
    failed = False
    t_start = time.monotonic()
    lat = f"{args.latency[0]:g}-{args.latency[1]:g} s"
    print(
        f"farm: {feeds} feeds x {items} items, latency {lat}, concurrency {args.concurrency}, "
        f"{args.rounds} interleaved rounds, {os.cpu_count()} cores"
    )
    print("      (one host, 127.0.0.1; the farm server shares the machine's cores)")
    specs: list[Spec] = []
    if "httpx" in only:
        specs += [Spec("httpx", "httpx"), Spec("httpx-aiohttp", "httpx-aiohttp")]
    if "ours" in only:
        specs.append(Spec("ours", "ours", workers=args.workers))
        for tree_dir in args.baseline_tree:
            root = str(Path(tree_dir).resolve())
            specs.append(Spec(f"ours@{Path(root).name}", "ours", workers=args.workers, root=root))
    runs: dict[str, list[dict[str, Phase]]] = {}
    with FarmServer(settings) as farm:
        print(f"      {farm.banner}", flush=True)
        base = farm.base_url
        if "reader" in only and importlib.util.find_spec("reader") is None:
            notes.append("reader: NOT INSTALLED (pip install reader): skipped")
            print(notes[-1])
        elif "reader" in only:
            best = _calibrate_reader(base, reader_counts, feeds, items, args, notes)
            if best is None:
                failed = True
            else:
                specs.append(Spec(f"reader (workers={best})", "reader", workers=str(best)))
        if "newsboat" in only:
            if shutil.which("newsboat") is None:
                notes.append("newsboat: NOT INSTALLED (apt-get install -y newsboat): skipped")
                print(notes[-1])
            else:
                specs.append(Spec("newsboat", "newsboat", include_root=False))
        print("\n" + HEADER + "\n" + "-" * len(HEADER), flush=True)
        for round_no in range(1, args.rounds + 1):
            print(f"round {round_no}/{args.rounds}", flush=True)
            for spec in specs:
                try:
                    phases = spawn(spec, base, concurrency=args.concurrency)
                except Exception as exc:
                    failed = True
                    print(f"  {spec.name}: FAILED: {exc}", flush=True)
                    continue
                runs.setdefault(spec.name, []).append(phases)
                # Each row as soon as it is measured: a long run can be read live.
                for i, (pname, p) in enumerate(phases.items()):
                    print(fmt_row("" if i else spec.name, pname, entries, p), flush=True)
                if "cpu" in phases["first"].extra:
                    print(f"{'':<22} first  {fmt_stages(phases['first'].extra['cpu'], entries)}")
                if "writer" in phases["first"].extra:
                    print(f"{'':<22} first  {fmt_writer(phases['first'].extra)}")

    print(
        "(entries/s = entries in the farm / seconds; ms/entry = CPU ms of the poller's "
        "process tree per farm entry;\n MB sent = body bytes the server sent, gzip when "
        "asked; cond. = conditional share of requests for feeds with validators;\n RSS and "
        "PSS: peaks of the tree, sampled from outside; load = 1-min load average at the "
        "end of the phase)"
    )
    _report(runs, specs, notes, entries)
    print(f"\ntotal {time.monotonic() - t_start:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "feeds": feeds,
                    "items": items,
                    "latency": args.latency,
                    "concurrency": args.concurrency,
                    "rounds": {
                        k: [{p: asdict(v) for p, v in r.items()} for r in rs]
                        for k, rs in runs.items()
                    },
                    "notes": notes,
                },
                indent=1,
            )
        )
    return 1 if failed else 0


def _calibrate_reader(
    base: str,
    counts: list[int],
    feeds: int,
    items: int,
    args: argparse.Namespace,
    notes: list[str],
) -> int | None:
    """reader's best worker count: first-poll entries/s on a subset of the farm."""
    if len(counts) == 1:
        return counts[0]
    subset = min(feeds, 20 if args.quick else 100)
    rates: dict[int, float] = {}
    for n in counts:
        print(f"reader calibration, workers={n}, {subset} feeds ...", flush=True)
        try:
            phases = spawn(
                Spec("reader", "reader", workers=str(n)),
                base,
                concurrency=args.concurrency,
                limit=subset,
            )
        except Exception as exc:
            notes.append(f"reader: FAILED: {exc}")
            print(notes[-1])
            return None
        rates[n] = subset * items / phases["first"].seconds
    best = max(rates, key=lambda n: rates[n])
    tried = ", ".join(f"{n}: {r:,.0f}" for n, r in rates.items())
    notes.append(f"reader workers tried on {subset} feeds (entries/s) — {tried}; best {best}")
    return best


def _report(
    runs: dict[str, list[dict[str, Phase]]], specs: list[Spec], notes: list[str], entries: int
) -> None:
    print("\nmedians (min-max) of the interleaved rounds:")
    print(
        f"{'poller':<22} {'phase':<6} {'n':>2} {'seconds':>20} {'entries/s':>20} "
        f"{'CPU ms/entry':>20} {'peak PSS MiB':>14} {'load':>11}"
    )
    stats: dict[tuple[str, str], dict[str, Stat]] = {}
    for spec in specs:
        rounds = runs.get(spec.name, [])
        for pname in ("first", "again"):
            ps = [r[pname] for r in rounds if pname in r]
            if not ps:
                continue
            s = {
                "seconds": Stat.of([p.seconds for p in ps]),
                "rate": Stat.of([entries / p.seconds for p in ps]),
                "cpu_ms": Stat.of([1000 * p.cpu / entries for p in ps]),
                "pss": Stat.of([p.peak_pss / 2**20 for p in ps]),
                "load": Stat.of([p.load for p in ps]),
            }
            stats[spec.name, pname] = s
            print(
                f"{spec.name if pname == 'first' else '':<22} {pname:<6} {len(ps):>2} "
                f"{s['seconds'].fmt('6.2f'):>20} {s['rate'].fmt('6.0f'):>20} "
                f"{s['cpu_ms'].fmt('6.3f'):>20} {s['pss'].median:>14.0f} "
                f"{s['load'].low:5.2f}-{s['load'].high:<5.2f}"
            )
    for note in notes:
        print(note)

    for spec in specs:
        splits = [
            r["first"].extra["cpu"] for r in runs.get(spec.name, []) if "cpu" in r["first"].extra
        ]
        if splits:
            median = {k: statistics.median(s.get(k, 0.0) for s in splits) for k in splits[0]}
            print(f"{spec.name:<22} first  medians, {fmt_stages(median, entries)}")
        shares = [
            r["first"].extra["writer"]["busy"] / r["first"].extra["writer"]["seconds"]
            for r in runs.get(spec.name, [])
            if r["first"].extra.get("writer", {}).get("seconds")
        ]
        if shares:
            print(
                f"{spec.name:<22} first  writer thread busy, share of the phase: "
                f"{Stat.of(shares).fmt('.0%')}"
            )
    ours = stats.get(("ours", "first"))
    if ours is None:
        return
    print("\nratios of the medians (same run):")
    for spec in specs:
        if spec.child in ("reader", "newsboat") and (spec.name, "first") in stats:
            peer = stats[spec.name, "first"]
            goal = "   (goal >= 2x)" if spec.child == "reader" else "   (goal >= 1x)"
            print(
                f"  first poll, ours / {spec.name:<20} "
                f"{ours['rate'].median / peer['rate'].median:.2f}x entries/s{goal}"
            )
    cpu = ", ".join(
        f"{name} {s['cpu_ms'].median:.3f}"
        for (name, pname), s in stats.items()
        if pname == "first" and not name.startswith("httpx")
    )
    print(f"  first poll CPU ms per entry: {cpu}   (goal, ours: <= 0.9)")
    floors = {
        name: s["seconds"].median
        for (name, pname), s in stats.items()
        if name.startswith("httpx") and pname == "again"
    }
    again = stats.get(("ours", "again"))
    if floors and again is not None:
        fk = min(floors, key=lambda k: floors[k])
        print(
            f"  re-poll, ours / httpx-only fetch ({fk}, {floors[fk]:.2f} s): "
            f"{again['seconds'].median / floors[fk]:.2f}x time   (goal <= 2x)"
        )
    ours_rounds = runs["ours"]
    shares = [conditional_share(r["again"].server) for r in ours_rounds if "again" in r]
    if shares and all(s is not None for s in shares):
        low = min(s for s in shares if s is not None)
        print(f"  re-poll conditional share (ours, server-side, lowest round): {low:.1%}")
    last = ours_rounds[-1]
    print(
        f"  ours: parse workers {last['first'].extra.get('workers')} (burst workers started: "
        f"{last['first'].extra.get('burst_workers')}); re-poll outcomes "
        f"{last['again'].extra.get('outcomes') if 'again' in last else None}"
    )
    for r in ours_rounds:
        if r["first"].stored != entries:
            print(f"  NOTE: ours stored {r['first'].stored:,} of {entries:,} farm entries")
        errors = r["first"].extra.get("errors") or (r.get("again") or r["first"]).extra.get(
            "errors"
        )
        if errors:
            print(f"  ours errors (first 3): {errors}")
    for name, rounds in runs.items():
        seconds = [r["second"].seconds for r in rounds if "second" in r]
        if seconds:
            print(
                f"  {name}'s 'again' row is its third reload: 2.21 saves validators only "
                f"from its second on (that one: {', '.join(f'{s:.1f}' for s in seconds)} s)"
            )


if __name__ == "__main__":
    sys.exit(main())
