"""Alerts sent twice after kill -9: the duplicate rate and the window, before/after.

    python benchmarks/bench_kill_delivery.py            # 2 x 12 trials, ~3 min
    python benchmarks/bench_kill_delivery.py --quick    # 2 x 4 trials, ~1 min

Each trial: a fresh SQLite database with pending webhook alerts; a child process
delivers them through the real Deliverer and WebhookChannel to a receiver on
127.0.0.1 while its writer thread is kept busy by write transactions the size of
poll writes and consumer batches (that is what the daemon's writer does); the child
is killed with SIGKILL at a random moment; a "restarted daemon" (this process) then
delivers whatever is not marked sent. An alert the receiver accepted twice is a
duplicate (the same id both times: receivers that deduplicate by webhook-id drop it).

Two modes, interleaved trial by trial so that machine load hits both alike:

- ``queued`` (before issue 18): the "sent" mark is a job on the writer thread, behind
  the poll writes;
- ``urgent`` (now, SQLite): the mark is its own short transaction, run next on the
  writer thread (``WriterThread.urgent``): it waits for the one write in progress,
  not for the queue. (A second SQLite writer thread would starve: SQLite's busy
  handler loses every race to a thread that begins its next write as it commits.)

Printed per mode: trials with a duplicate, duplicates per alert accepted before the
kill, and the window (receiver's 2xx → the mark committed) median / p90 / max, over
every alert the child marked. Nothing is lost in either mode: every id reaches the
receiver at least once (checked).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import text

from aggregator.alerts.delivery import Deliverer
from aggregator.alerts.message import AlertMessage
from aggregator.alerts.payload import message_to_json
from aggregator.alerts.webhook import WebhookChannel, WebhookSettings
from aggregator.store import Store
from aggregator.store.migrate import upgrade
from aggregator.store.schema import alerts
from aggregator.store.writer import WriterThread

SECRET = "whsec_" + base64.b64encode(b"b" * 32).decode()
MODES = ("queued", "urgent")
# The writer's load: transactions of this length, this many queued at any time
# (measured in the daemon under load: 0.9-1.8 s median between 2xx and mark).
LOAD_TX_SECONDS = 0.25
LOAD_BACKLOG = 4
RECEIVER_DELAY = 0.02  # the receiver's own time before it answers 200


# -- the receiver -------------------------------------------------------------------


@dataclass
class Receiver:
    accepted: list[tuple[str, float]] = field(default_factory=list)  # (id, time of 2xx)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                time.sleep(RECEIVER_DELAY)
                with receiver.lock:
                    receiver.accepted.append((self.headers["webhook-id"], time.time()))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


# -- the database -------------------------------------------------------------------


def make_database(path: Path, n_alerts: int) -> str:
    url = f"sqlite:///{path}"
    store = Store.open(url)
    upgrade(store.engine)
    now = datetime.now(UTC)
    rows = []
    for i in range(n_alerts):
        msg = AlertMessage(
            alert_id=f"bench-{i:04d}",
            rule="r",
            topic="t",
            trigger="new_event",
            created_at=now,
            events=(),
        )
        rows.append(
            {
                "id": msg.alert_id,
                "dedupe_key": f"r:hook:new_event:{i}",
                "rule": "r",
                "channel": "hook",
                "topic": "t",
                "trigger": "new_event",
                "payload": message_to_json(msg),
                "status": "pending",
                "attempts": 0,
                "due_at": now - timedelta(seconds=1),
                "created_at": now,
            }
        )
    with store.engine.begin() as conn:
        conn.execute(alerts.insert(), rows)
        conn.execute(text("CREATE TABLE bench_load (x INTEGER)"))
    store.close()
    return url


# -- the child: a daemon's delivery under writer load, killed -------------------------


async def child(url: str, hook_url: str, mode: str, marks_path: Path) -> None:
    store = Store.open(url)
    writer = WriterThread("writer")
    marks = marks_path.open("a", buffering=1)
    mark = store.mark_alert_sent

    def mark_and_note(alert_id: str, owner: str, now: datetime) -> None:
        mark(alert_id, owner, now)
        marks.write(f"{alert_id} {time.time()}\n")  # committed: note when

    store.mark_alert_sent = mark_and_note  # type: ignore[method-assign]

    def load_tx() -> None:
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO bench_load VALUES (1)"))
            time.sleep(LOAD_TX_SECONDS)  # a poll write / consumer batch holding the lock

    async def load() -> None:
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Future[None]] = set()
        while True:
            while len(pending) < LOAD_BACKLOG:
                pending.add(loop.run_in_executor(writer, load_tx))
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)

    load_task = asyncio.create_task(load())
    async with httpx.AsyncClient() as client:
        hook = WebhookChannel(WebhookSettings(url=hook_url, secret=SECRET, timeout=10), client)
        deliverer = Deliverer(
            store,
            {"hook": hook},
            owner=f"child:{os.getpid()}",
            concurrency=4,
            writer=writer,
            marker=writer if mode == "queued" else writer.urgent,
        )
        print("READY", flush=True)
        while True:
            stats = await deliverer.run_once(limit=8)
            if not (stats.sent or stats.retried):
                await asyncio.sleep(0.05)
    load_task.cancel()  # never reached: the process is killed


# -- the parent -----------------------------------------------------------------------


async def recover(url: str, hook_url: str) -> None:
    """What the restarted daemon does: free the dead one's leases, send the rest."""
    store = Store.open(url)
    store.release_all_leases()
    async with httpx.AsyncClient() as client:
        hook = WebhookChannel(WebhookSettings(url=hook_url, secret=SECRET, timeout=10), client)
        deliverer = Deliverer(store, {"hook": hook}, owner="restarted")
        while (await deliverer.run_once(limit=100)).sent:
            pass
    store.close()


@dataclass
class Trial:
    mode: str
    accepted_before_kill: int
    duplicates: int
    windows: list[float]
    lost: int


def run_trial(mode: str, n_alerts: int, rng: random.Random, workdir: Path) -> Trial:
    receiver = Receiver()
    server, hook_url = receiver.serve()
    db = workdir / f"{mode}-{rng.randrange(10**9)}.sqlite"
    marks_path = db.with_suffix(".marks")
    url = make_database(db, n_alerts)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", url, hook_url, mode, str(marks_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "READY":
            raise RuntimeError("child did not start")
        time.sleep(rng.uniform(1.0, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with receiver.lock:
            before_kill = list(receiver.accepted)
        asyncio.run(recover(url, hook_url))
    finally:
        if proc.poll() is None:
            proc.kill()
        server.shutdown()
        server.server_close()
    counts = Counter(i for i, _ in receiver.accepted)
    accepted_at = dict(before_kill)
    windows = []
    if marks_path.exists():
        for line in marks_path.read_text().splitlines():
            alert_id, at = line.split()
            if alert_id in accepted_at:
                windows.append(float(at) - accepted_at[alert_id])
    return Trial(
        mode=mode,
        accepted_before_kill=len({i for i, _ in before_kill}),
        duplicates=sum(c - 1 for c in counts.values()),
        windows=windows,
        lost=n_alerts - len(counts),
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--trials", type=int, help="per mode")
    parser.add_argument("--alerts", type=int, default=60)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--child", nargs=4, metavar=("URL", "HOOK", "MODE", "MARKS"))
    args = parser.parse_args()
    if args.child:
        url, hook_url, mode, marks = args.child
        asyncio.run(child(url, hook_url, mode, Path(marks)))
        return
    per_mode = args.trials or (4 if args.quick else 12)
    rng = random.Random(args.seed)
    results: dict[str, list[Trial]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as tmp:
        for i in range(per_mode * len(MODES)):
            mode = MODES[i % len(MODES)]  # interleaved: load hits both alike
            trial = run_trial(mode, args.alerts, rng, Path(tmp))
            results[mode].append(trial)
            print(
                f"trial {i + 1:2d} {mode:6s} accepted before kill {trial.accepted_before_kill:3d}"
                f"  duplicates {trial.duplicates}  lost {trial.lost}",
                flush=True,
            )
    print()
    print(
        f"{'mark':8s} {'trials':>6s} {'with dup':>8s} {'dups':>5s} {'accepted':>8s} "
        f"{'dup rate':>8s} {'window median':>13s} {'p90':>7s} {'max':>7s} {'lost':>4s}"
    )
    summary = {}
    for mode in MODES:
        trials = results[mode]
        dups = sum(t.duplicates for t in trials)
        accepted = sum(t.accepted_before_kill for t in trials)
        windows = [w for t in trials for w in t.windows]
        lost = sum(t.lost for t in trials)
        rate = dups / accepted if accepted else 0.0
        median = statistics.median(windows) if windows else float("nan")
        print(
            f"{mode:8s} {len(trials):6d} {sum(t.duplicates > 0 for t in trials):8d} {dups:5d} "
            f"{accepted:8d} {rate:8.2%} {median:12.3f}s {percentile(windows, 0.9):6.3f}s "
            f"{max(windows, default=float('nan')):6.3f}s {lost:4d}"
        )
        summary[mode] = {"dup_rate": rate, "window_median": median, "lost": lost}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
