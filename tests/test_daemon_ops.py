"""Operating the daemon: systemd's notify protocol, and several daemons on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from aggregator.compose import load_config
from aggregator.daemon import Daemon
from aggregator.store.schema import metadata, polls
from tests.support.daemon import kill_if_running, start_daemon
from tests.support.httpserver import LocalServer, Response
from tests.test_daemon_e2e import DATA, wait_for

pytestmark = pytest.mark.e2e

RSS = (DATA / "rss20.xml").read_bytes()


def test_systemd_notify_ready_watchdog_stopping(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(60)
    with LocalServer() as server:
        server.static("/feed", RSS, content_type="application/rss+xml")
        config = tmp_path / "feeds.yaml"
        config.write_text(
            "settings:\n  poll: {tick: 0.2s, allow_private_networks: true}\n  http: {port: 0}\n"
            f"feeds:\n  - {{name: one, url: '{server.url('/feed')}'}}\n"
        )
        env = dict(os.environ)
        env.update(
            AGGREGATOR_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
            NOTIFY_SOCKET=str(sock_path),
            WATCHDOG_USEC="1000000",  # ping every 0.5 s
        )
        proc = start_daemon(config, env)
        messages: list[str] = []
        try:
            while not any("WATCHDOG=1" in m for m in messages):
                messages.append(sock.recv(4096).decode())
            assert "READY=1" in messages[0]
            assert messages.index(next(m for m in messages if "READY=1" in m)) < messages.index(
                next(m for m in messages if "WATCHDOG=1" in m)
            )
            proc.send_signal(signal.SIGTERM)
            while not any("STOPPING=1" in m for m in messages):
                messages.append(sock.recv(4096).decode())
            _, err = proc.communicate(timeout=15)
        finally:
            kill_if_running(proc)
            sock.close()
    assert proc.returncode == 0, err
    assert any(m.startswith("STATUS=") or "\nSTATUS=" in m for m in messages)


@pytest.fixture
def pg_url(pg_database_url: str) -> str:
    engine = create_engine(pg_database_url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return pg_database_url


def test_three_daemons_share_500_feeds_and_take_over_a_killed_ones_leases(
    tmp_path: Path, pg_url: str
) -> None:
    n = 500
    with LocalServer() as server:
        # Slow answers keep polls in flight, so the killed daemon dies holding leases.
        for i in range(n):
            body = RSS.replace(b"wire-100", f"feed{i}-".encode())
            server.route(
                f"/f/{i}",
                Response(body=body, content_type="application/rss+xml", delay=0.3),
            )
        lines = [
            "settings:",
            "  poll: {tick: 0.2s, allow_private_networks: true, per_host_connections: 40,",
            "         per_host_min_gap: 0s, concurrency: 40, batch: 20, lease: 4s,",
            "         parse_workers: 0}",
            "  http: {enabled: false}",
            "feeds:",
        ]
        lines += [
            f"  - {{name: f{i}, url: '{server.url(f'/f/{i}')}', interval: 1h}}" for i in range(n)
        ]
        config = tmp_path / "feeds.yaml"
        config.write_text("\n".join(lines) + "\n")
        env = dict(os.environ, AGGREGATOR_DATABASE_URL=pg_url)
        env.pop("NOTIFY_SOCKET", None)
        daemons = [start_daemon(config, env) for _ in range(3)]
        engine = create_engine(pg_url)

        def stored_polls() -> int:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(polls)).scalar_one())

        try:
            # Kill one daemon while it holds leases on polls in flight.
            assert wait_for(lambda: len(server.requests) >= 60, timeout=90)
            victim = daemons[0]
            victim.send_signal(signal.SIGKILL)
            victim.communicate(timeout=10)
            assert wait_for(lambda: stored_polls() >= n, timeout=180), stored_polls()
            time.sleep(1.0)  # anything polled twice would show up now
            with engine.connect() as conn:
                per_feed = Counter(conn.execute(select(polls.c.feed_id)).scalars())
                leases = conn.execute(
                    text("SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL")
                ).scalar_one()
            for d in daemons[1:]:
                d.send_signal(signal.SIGTERM)
            for d in daemons[1:]:
                _, err = d.communicate(timeout=20)
                assert d.returncode == 0, err
                assert "Traceback" not in err
        finally:
            for d in daemons:
                if d.poll() is None:
                    d.kill()
                    d.communicate()
            engine.dispose()
    # Every feed stored exactly one poll in this period (interval 1 h): none twice, and
    # the feeds the killed daemon held were taken over after its leases expired.
    assert len(per_feed) == n
    assert set(per_feed.values()) == {1}
    assert leases == 0
    requests = Counter(r.path for r in server.requests)
    assert set(requests) == {f"/f/{i}" for i in range(n)}
    refetched = [p for p, c in requests.items() if c > 1]
    # Only feeds in flight at the kill were fetched again, at most one batch's worth.
    assert len(refetched) <= 40


async def test_a_job_cancelled_by_the_shutdown_ends_quietly() -> None:
    # asyncio.run cancels jobs still awaiting the writer when the daemon returns;
    # APScheduler logged that CancelledError as a crashed job, with a traceback.
    loaded = load_config(None, text="feeds: []\n", env={})
    daemon = Daemon(loaded)
    started = asyncio.Event()

    async def job() -> None:
        started.set()
        await asyncio.sleep(3600)

    running = asyncio.create_task(daemon._guarded(job)())
    await started.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):  # not stopping: cancellation propagates
        await running
    started.clear()
    stopping = asyncio.create_task(daemon._guarded(job)())
    await started.wait()
    daemon.stopping.set()
    stopping.cancel()
    await stopping  # the shutdown's cancellation: the job ends without an error
    assert not stopping.cancelled()


def test_parse_workers_exit_when_the_daemon_is_killed() -> None:
    # Workers are the forkserver's children and hold their own queue's write end:
    # without watch_parent they, and the forkserver, outlive a SIGKILLed daemon.
    script = (
        "import os, signal\n"
        "from aggregator.workers import cpu_executor\n"
        "ex = cpu_executor(2)\n"
        "pids = {ex.submit(os.getpid).result() for _ in range(8)}\n"
        "pids |= {ex.submit(os.getppid).result() for _ in range(8)}\n"
        "print(' '.join(map(str, sorted(pids))), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pids = [int(p) for p in proc.stdout.split()]
    assert pids  # the workers and their forkserver

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie is gone for our purpose: it runs nothing and holds no memory.
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"

    assert wait_for(lambda: not any(alive(p) for p in pids), timeout=20), [
        p for p in pids if alive(p)
    ]
