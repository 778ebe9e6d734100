"""Polling throughput on a local feed farm: ours vs lemon24/reader, newsboat and httpx alone.

    python benchmarks/bench_poll.py [--feeds 500] [--items 50] [--latency 0.1-0.3]
                                    [--concurrency 100] [--workers 2] [--quick]
                                    [--only ours,reader,newsboat,httpx]

Starts the farm (``benchmarks/farm.py``: N feeds x M items, RSS and Atom, 2-6 KB HTML
bodies, validators on ~90 % of the feeds, gzip) in its own process on 127.0.0.1, then
runs each poller in a fresh child process, twice: the FIRST POLL of the farm into an
empty store, then a RE-POLL of the unchanged farm. For each it prints wall time,
feeds/s, entries/s (entries in the farm / seconds), entries stored, bytes sent by the
server, 200/304 answers, the share of conditional requests among requests for feeds
that gave validators (counted server-side), and the peak RSS (sampled every 50 ms) and
PSS (every second) of the poller's process tree, itself plus its workers: RSS counts a
shared page in every process, PSS shares it out. Then the ratios, in the same run:

* first poll: ours/reader and ours/newsboat entries/s (goal: >= 2x reader);
* re-poll: ours' time / the httpx-only fetch time (goal: <= 2x) and ours' conditional
  share (goal: 100 %).

The pollers:

* ours — ``Poller`` (fetch → hash check → parse + normalize in a process pool →
  store), SQLite in a temp dir, ``parse_workers`` processes (warmed up before timing, as
  in the running daemon), ``allow_private_networks``, no per-host gap and a per-host
  connection limit equal to the global one: the farm is ONE host, which a real feed
  list is not. Clustering/matching (the consumer) is not included: the peers do not
  do it either.
* reader — ``update_feeds(workers=W, scheduled=False)`` into its SQLite; W is chosen by
  a calibration run on a subset of the farm (best entries/s of a few counts).
* newsboat — ``newsboat -x reload`` with a urls file, config (``reload-threads`` =
  concurrency) and cache in a temp HOME; the urls all point at 127.0.0.1. newsboat
  2.21 stores validators only from its second reload on, so its re-poll row is its
  third reload (the second is printed in a note). Above 1,000 feeds its re-poll is
  skipped: its two re-poll reloads take ~20x its first poll.
* httpx — the floor: GET every feed at the same concurrency, read the body, nothing
  else; the re-poll sends the validators of the first pass. Two transports: httpx's
  own pool and httpx-aiohttp (what ours uses); the faster one is the floor.

Note: the farm server shares the machine's cores with the poller being measured.
A full run took 15 min at 500 x 50 on a 2-core machine busy with other jobs (ours'
first poll is most of it) and about 4x that at 2,000 x 50 (``--reader-workers 32`` skips
the calibration); ``--quick`` (40 x 20) takes under a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import sqlite3
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
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from farm import FarmServer, FarmSettings, parse_latency  # noqa: E402

CONTENDERS = ("httpx", "ours", "reader", "newsboat")
NEWSBOAT_REPOLL_MAX_FEEDS = 1000


# -- measuring -------------------------------------------------------------------------


class PeakRSS:
    """Samples the summed RSS of a process tree every ``interval`` seconds, and its
    summed PSS every ``pss_interval``: RSS counts a page shared by N processes N
    times (libraries, and what a forkserver's children inherit), PSS counts 1/N in
    each, so the PSS sum is the memory the tree really holds. PSS reads
    /proc/PID/smaps_rollup, which costs too much to do every 50 ms."""

    def __init__(
        self, include_self: bool = True, interval: float = 0.05, pss_interval: float = 1.0
    ) -> None:
        import psutil

        self._psutil = psutil
        self._me = psutil.Process()
        self.include_self = include_self
        self.interval = interval
        self.pss_interval = pss_interval
        self.peak = 0
        self.peak_pss = 0
        self.cpu_start = self.cpu = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _tree(self) -> list[Any]:
        procs: list[Any] = self._me.children(recursive=True)
        return [*procs, self._me] if self.include_self else procs

    def sample(self) -> int:
        total = 0
        for p in self._tree():
            # A worker may exit between listing and reading it.
            with contextlib.suppress(self._psutil.Error):
                total += p.memory_info().rss
        return total

    def sample_pss(self) -> int:
        total = 0
        for p in self._tree():
            with contextlib.suppress(self._psutil.Error):
                total += p.memory_full_info().pss
        return total

    def cpu_seconds(self) -> float:
        """CPU used so far by the tree: live processes, plus the children they reaped."""
        total = 0.0
        for p in self._me.children(recursive=True):
            with contextlib.suppress(self._psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        t = self._me.cpu_times()
        total += t.children_user + t.children_system
        if self.include_self:
            total += t.user + t.system
        return total

    def _run(self) -> None:
        next_pss = time.monotonic() + self.pss_interval
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            if time.monotonic() >= next_pss:
                self.peak_pss = max(self.peak_pss, self.sample_pss())
                next_pss = time.monotonic() + self.pss_interval
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = self.sample()
        self.peak_pss = self.sample_pss()
        self.cpu_start = self.cpu_seconds()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self.sample())
        self.peak_pss = max(self.peak_pss, self.sample_pss())
        self.cpu = self.cpu_seconds() - self.cpu_start


@dataclass
class Phase:
    seconds: float
    stored: int  # entries in the poller's store after the phase (-1: stores nothing)
    peak_rss: int
    peak_pss: int
    cpu: float  # CPU seconds of the poller's process tree (robust to a busy machine)
    server: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


def _http(base: str, path: str, method: str = "GET") -> Any:
    req = urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def measure(
    base: str,
    run: Callable[[], tuple[int, dict[str, Any]]],
    *,
    include_self: bool = True,
) -> Phase:
    """Time ``run`` (which returns entries stored and extras) with server stats and RSS."""
    _http(base, "/_reset", "POST")
    with PeakRSS(include_self) as rss:
        t0 = time.perf_counter()
        stored, extra = run()
        seconds = time.perf_counter() - t0
    return Phase(seconds, stored, rss.peak, rss.peak_pss, rss.cpu, _http(base, "/_stats"), extra)


# -- the pollers (each runs in its own child process) ----------------------------------


def child_httpx(
    base: str, urls: list[str], concurrency: int, transport: str
) -> tuple[Phase, Phase]:
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

    return measure(base, lambda: phase(False)), measure(base, lambda: phase(True))


def child_ours(
    base: str, urls: list[str], concurrency: int, workers: int, tmp: Path
) -> tuple[Phase, Phase]:
    from aggregator.compose import make_owner, user_agent
    from aggregator.models import FetchSettings
    from aggregator.poll.fetch import Fetcher
    from aggregator.poll.poller import PipelineSettings, Poller, PollSummary, process_body
    from aggregator.store import FeedSpec, Store
    from aggregator.store.migrate import upgrade
    from aggregator.workers import cpu_executor

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
    cpu = cpu_executor(workers)
    if cpu is not None:
        # Start the workers and import the parser in them, as a running daemon has.
        # One real entry, so the language model and HTML parser load too.
        tiny = (
            b'<rss version="2.0"><channel><title>t</title><item><title>Warm up</title>'
            b"<link>http://127.0.0.1/a</link><description>&lt;p&gt;The workers load "
            b"their models on the first entry they see.&lt;/p&gt;</description></item>"
            b"</channel></rss>"
        )
        now = datetime.now(UTC)
        warm = [
            cpu.submit(
                process_body,
                tiny,
                url="http://127.0.0.1/",
                headers={},
                fetched_at=now,
                feed_name="warm",
                settings=settings.normalize,
            )
            for _ in range(workers * 2)
        ]
        for f in warm:
            f.result()
    writer = ThreadPoolExecutor(1, thread_name_prefix="writer")

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
        summaries = asyncio.run(poll_all())
        outcomes: dict[str, int] = {}
        for s in summaries:
            outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
        errors = sorted({s.error for s in summaries if s.error})[:3]
        return store.count_articles(), {"outcomes": outcomes, "errors": errors}

    try:
        return measure(base, phase), measure(base, phase)
    finally:
        writer.shutdown()
        if cpu is not None:
            cpu.shutdown()
        store.close()


def child_reader(base: str, urls: list[str], workers: int, tmp: Path) -> tuple[Phase, Phase]:
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
        return measure(base, phase), measure(base, phase)
    finally:
        reader.close()


def child_newsboat(base: str, urls: list[str], concurrency: int, tmp: Path) -> tuple[Phase, Phase]:
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

    def phase() -> tuple[int, dict[str, Any]]:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"newsboat failed ({done.returncode}): {done.stderr[-500:]}")
        with sqlite3.connect(cache) as db:
            (stored,) = db.execute("SELECT count(*) FROM rss_item").fetchone()
        return int(stored), {"version": _newsboat_version(exe)}

    # Only newsboat's own process counts, not this Python wrapper.
    first = measure(base, phase, include_self=False)
    if len(urls) > NEWSBOAT_REPOLL_MAX_FEEDS:
        # Its two re-poll reloads take ~20x its first poll (at 500 feeds: 105 s + 53 s
        # after 26 s): past this size they would dominate the run, so they are skipped.
        skipped = f"re-poll not measured above {NEWSBOAT_REPOLL_MAX_FEEDS} feeds (slow)"
        nan = float("nan")
        server = dict.fromkeys(("body_bytes", "ok", "not_modified", "on_validator_feeds"), 0)
        server["conditional"] = 0
        return first, Phase(nan, first.stored, 0, 0, nan, server, {"skipped": skipped})
    # newsboat 2.21 saves a feed's ETag/Last-Modified only when the feed's row already
    # exists, i.e. from its second reload on: that one is unconditional, so the re-poll
    # reported is the third reload (the second is kept in the extras).
    second = measure(base, phase, include_self=False)
    third = measure(base, phase, include_self=False)
    third.extra["second_reload_seconds"] = round(second.seconds, 2)
    third.extra["second_reload_conditional"] = second.server["conditional"]
    return first, third


def _newsboat_version(exe: str) -> str:
    out = subprocess.run([exe, "-v"], capture_output=True, text=True).stdout
    return out.split(" - ", 1)[0].strip()


def run_child(args: argparse.Namespace) -> int:
    index = _http(args.base, "/_index")
    if args.limit:
        index = index[: args.limit]
    urls = [args.base + row["path"] for row in index]
    with tempfile.TemporaryDirectory(prefix=f"bench-{args.child}-") as d:
        tmp = Path(d)
        if args.child in ("httpx", "httpx-aiohttp"):
            transport = "aiohttp" if args.child == "httpx-aiohttp" else "httpx"
            first, again = child_httpx(args.base, urls, args.concurrency, transport)
        elif args.child == "ours":
            first, again = child_ours(args.base, urls, args.concurrency, args.workers, tmp)
        elif args.child == "reader":
            first, again = child_reader(args.base, urls, args.workers, tmp)
        elif args.child == "newsboat":
            first, again = child_newsboat(args.base, urls, args.concurrency, tmp)
        else:
            raise SystemExit(f"unknown poller {args.child!r}")
    print("RESULT " + json.dumps({"first": asdict(first), "again": asdict(again)}))
    return 0


# -- the orchestrator ------------------------------------------------------------------


@dataclass
class Result:
    name: str
    feeds: int
    entries: int  # entries in the farm (the part polled)
    first: Phase | None = None
    again: Phase | None = None
    error: str | None = None


def spawn(
    name: str, base: str, *, concurrency: int, workers: int = 0, limit: int = 0
) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--base", base]
    cmd += ["--concurrency", str(concurrency), "--workers", str(workers), "--limit", str(limit)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            out, err = proc.communicate(timeout=7200)
        except BaseException:
            # Interrupted: SIGTERM lets the child shut its worker processes down.
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    lines = [x for x in out.splitlines() if x.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (err or out).strip().splitlines()[-3:]
        raise RuntimeError(f"{name} failed (exit {proc.returncode}): " + " | ".join(tail))
    data: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return data


def as_result(name: str, feeds: int, entries: int, data: dict[str, Any]) -> Result:
    return Result(name, feeds, entries, Phase(**data["first"]), Phase(**data["again"]))


def conditional_share(server: dict[str, Any]) -> float | None:
    n = server.get("on_validator_feeds", 0)
    return server["conditional"] / n if n else None


def fmt_row(name: str, phase_name: str, r: Result, p: Phase) -> str:
    if p.extra.get("skipped"):
        return f"{name:<22} {phase_name:<6} {p.extra['skipped']}"
    share = conditional_share(p.server)
    cond = f"{share:6.1%}" if share is not None else "     -"
    stored = f"{p.stored:>8,}" if p.stored >= 0 else "       -"
    # 0: the poller ran too briefly for a PSS sample (they come once a second).
    pss = f"{p.peak_pss / 2**20:.0f}" if p.peak_pss else "-"
    return (
        f"{name:<22} {phase_name:<6} {p.seconds:8.2f} {r.feeds / p.seconds:8.1f} "
        f"{r.entries / p.seconds:9.0f} {stored} {p.server['body_bytes'] / 1e6:8.1f} "
        f"{p.server['ok']:>6}/{p.server['not_modified']:<6} {cond} {p.peak_rss / 2**20:8.0f} "
        f"{pss:>8} {p.cpu:7.1f}"
    )


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


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
    ap.add_argument("--workers", type=int, default=2, help="our parse worker processes")
    ap.add_argument("--reader-workers", default=None, help="counts to try, e.g. 4,16,32")
    ap.add_argument(
        "--only", default=",".join(CONTENDERS), help="subset of " + ",".join(CONTENDERS)
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="40 feeds x 20 items, < 1 min")
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
    only = [c.strip() for c in args.only.split(",") if c.strip()]
    reader_counts = [int(x) for x in (args.reader_workers or "").split(",") if x] or (
        [4, 16] if args.quick else [4, 16, 32]
    )
    settings = FarmSettings(feeds=feeds, items=items, seed=args.seed, latency=args.latency)
    results: dict[str, Result] = {}
    notes: list[str] = []
    failed = False
    t_start = time.monotonic()
    lat = f"{args.latency[0]:g}-{args.latency[1]:g} s"
    print(f"farm: {feeds} feeds x {items} items, latency {lat}, concurrency {args.concurrency}")
    print("      (one host, 127.0.0.1; the farm server shares the machine's cores)")
    with FarmServer(settings) as farm:
        print(f"      {farm.banner}", flush=True)
        base = farm.base_url
        entries = feeds * items

        def attempt(name: str, call: Callable[[], Result]) -> None:
            nonlocal failed
            print(f"running {name} ...", flush=True)
            try:
                results[name] = r = call()
                # Each poller's rows as soon as it is done: a long run can be read live.
                if r.first is not None and r.again is not None:
                    print(fmt_row(r.name, "first", r, r.first), flush=True)
                    print(fmt_row("", "again", r, r.again), flush=True)
            except Exception as exc:
                failed = True
                results[name] = Result(name, feeds, entries, error=str(exc))
                print(f"  {name}: FAILED: {exc}", flush=True)

        if "httpx" in only:
            for name in ("httpx", "httpx-aiohttp"):
                attempt(
                    name,
                    lambda n=name: as_result(  # type: ignore[misc]
                        n, feeds, entries, spawn(n, base, concurrency=args.concurrency)
                    ),
                )
        if "ours" in only:
            attempt(
                "ours",
                lambda: as_result(
                    "ours",
                    feeds,
                    entries,
                    spawn("ours", base, concurrency=args.concurrency, workers=args.workers),
                ),
            )
        if "reader" in only and importlib.util.find_spec("reader") is None:
            notes.append("reader: NOT INSTALLED (pip install reader): skipped")
            print(notes[-1])
        elif "reader" in only:
            best = _calibrate_reader(base, reader_counts, feeds, items, args, notes)
            if best is None:
                failed = True
                results["reader"] = Result("reader", feeds, entries, error=notes[-1])
            else:
                attempt(
                    "reader",
                    lambda: as_result(
                        f"reader (workers={best})",
                        feeds,
                        entries,
                        spawn("reader", base, concurrency=args.concurrency, workers=best),
                    ),
                )
        if "newsboat" in only:
            if shutil.which("newsboat") is None:
                notes.append("newsboat: NOT INSTALLED (apt-get install -y newsboat): skipped")
                print(notes[-1])
            else:
                attempt(
                    "newsboat",
                    lambda: as_result(
                        "newsboat",
                        feeds,
                        entries,
                        spawn("newsboat", base, concurrency=args.concurrency),
                    ),
                )

    _report(results, notes, feeds, entries)
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
                    "results": {k: asdict(v) for k, v in results.items()},
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
        print(f"running reader calibration, workers={n}, {subset} feeds ...", flush=True)
        try:
            data = spawn("reader", base, concurrency=args.concurrency, workers=n, limit=subset)
        except Exception as exc:
            notes.append(f"reader: FAILED: {exc}")
            print(notes[-1])
            return None
        rates[n] = subset * items / data["first"]["seconds"]
    best = max(rates, key=lambda n: rates[n])
    tried = ", ".join(f"{n}: {r:,.0f}" for n, r in rates.items())
    notes.append(f"reader workers tried on {subset} feeds (entries/s) — {tried}; best {best}")
    return best


def _report(results: dict[str, Result], notes: list[str], feeds: int, entries: int) -> None:
    print()
    print(
        f"{'poller':<22} {'phase':<6} {'seconds':>8} {'feeds/s':>8} {'entries/s':>9} "
        f"{'stored':>8} {'MB sent':>8} {'200/304':>13} {'cond.':>6} {'peak RSS':>8} "
        f"{'peak PSS':>8} {'CPU s':>7}"
    )
    print("-" * 127)
    for r in results.values():
        if r.error or r.first is None or r.again is None:
            print(f"{r.name:<22} FAILED: {r.error}")
            continue
        print(fmt_row(r.name, "first", r, r.first))
        print(fmt_row("", "again", r, r.again))
    print("(entries/s = entries in the farm / seconds; MB sent = body bytes the server sent,")
    print(" gzip when asked; cond. = conditional share of requests for feeds with validators;")
    print(
        " peak RSS and PSS in MiB and CPU seconds: the poller's process plus its workers;"
        " RSS counts shared pages once per process, PSS shares them out)"
    )
    for note in notes:
        print(note)

    ours = results.get("ours")
    if ours is None or ours.first is None or ours.again is None:
        return
    print("\nratios (same run):")
    for key in ("reader", "newsboat"):
        peer = results.get(key)
        if peer and peer.first:
            goal = "   (goal >= 2x)" if key == "reader" else ""
            print(
                f"  first poll, ours / {peer.name:<20} "
                f"{ratio(peer.first.seconds, ours.first.seconds)} entries/s{goal}"
            )
    cpu = [
        f"{r.name} {1000 * r.first.cpu / entries:.2f}"
        for r in results.values()
        if r.first is not None and r.first.stored >= 0
    ]
    print(f"  first poll CPU seconds per 1,000 entries: {', '.join(cpu)}")
    floors = {
        k: r.again.seconds
        for k, r in results.items()
        if k.startswith("httpx") and r.again is not None
    }
    if floors:
        fk = min(floors, key=lambda k: floors[k])
        print(
            f"  re-poll, ours / httpx-only fetch ({fk}, {floors[fk]:.2f} s): "
            f"{ratio(ours.again.seconds, floors[fk])} time   (goal <= 2x)"
        )
    share = conditional_share(ours.again.server)
    if share is not None:
        print(f"  re-poll conditional share (ours, server-side): {share:.1%}   (goal 100 %)")
    print(f"  ours re-poll outcomes: {ours.again.extra.get('outcomes')}")
    nb = results.get("newsboat")
    if nb is not None and nb.again is not None and not nb.again.extra.get("skipped"):
        print(
            "  newsboat's 'again' row is its third reload: 2.21 saves validators only from "
            f"its second on (that one took {nb.again.extra.get('second_reload_seconds')} s, "
            f"{nb.again.extra.get('second_reload_conditional')} conditional requests)"
        )
    if ours.first.stored != entries:
        print(f"  NOTE: ours stored {ours.first.stored:,} of {entries:,} farm entries")
    errors = ours.first.extra.get("errors") or ours.again.extra.get("errors")
    if errors:
        print(f"  ours errors (first 3): {errors}")


if __name__ == "__main__":
    sys.exit(main())
