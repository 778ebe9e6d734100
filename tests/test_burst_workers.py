"""The burst executor (``parse_workers: auto`` on a small machine): the daemon's threads,
and one real worker process beside them while a burst of feeds waits to be parsed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aggregator.poll.body import ProcessCall, ProcessedFeed
from aggregator.poll.poller import _executor_closed
from aggregator.workers import BurstExecutor, cpu_executor, parse_executor
from tests.support.daemon import start_daemon
from tests.support.farm import farm_calls as support_farm_calls
from tests.support.httpserver import LocalServer
from tests.test_daemon_e2e import DATA, daemon_env, wait_for

FETCHED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def farm_calls(feeds: int = 24, items: int = 8) -> list[ProcessCall]:
    return support_farm_calls(FETCHED, feeds=feeds, items=items)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie runs nothing and holds no memory
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def outcomes(futures: list[Future[ProcessedFeed]]) -> list[Any]:
    out: list[Any] = []
    for future in futures:
        try:
            out.append(future.result(timeout=120))
        except Exception as exc:
            out.append(exc)
    return out


def test_a_burst_starts_one_worker_whose_work_lands_as_the_threads_would_parse_it() -> None:
    calls = farm_calls()
    expected = [call() for call in calls]
    pool = BurstExecutor(1, backlog=4, linger=0.2)
    try:
        results = outcomes([pool.submit(call) for call in calls])
        assert results == expected
        assert pool.workers_started == 1
        worker = pool.workers[-1]
        assert worker.answered > 0  # the worker parsed some of them
        # The queue drained: after its linger the worker exits and is reaped.
        assert wait_for(lambda: worker.gone, timeout=60)
        assert pool.worker_pid is None
        assert worker.returncode == 0
        assert worker.pid is not None
        assert not alive(worker.pid)
        # The next burst starts another.
        assert outcomes([pool.submit(call) for call in calls]) == expected
        assert pool.workers_started == 2
    finally:
        pool.shutdown(wait=True)
    assert pool.workers[-1].gone


def test_a_few_feeds_are_parsed_in_the_threads_and_other_calls_never_leave_them() -> None:
    calls = farm_calls(feeds=3)
    pool = BurstExecutor(2, backlog=4)
    try:
        assert outcomes([pool.submit(call) for call in calls]) == [call() for call in calls]
        # Not a ProcessCall: the threads, even in a burst (page extraction, embedding).
        assert pool.submit(os.getpid).result(timeout=30) == os.getpid()
        assert pool.workers_started == 0
    finally:
        pool.shutdown(wait=True)


def test_a_killed_worker_fails_the_feed_it_was_parsing_and_the_rest_is_parsed() -> None:
    calls = farm_calls(feeds=40)
    expected = [call() for call in calls]
    pool = BurstExecutor(1, backlog=2, linger=30.0)
    try:
        futures = [pool.submit(call) for call in calls]
        assert wait_for(lambda: pool.worker_pid is not None and pool.workers[-1].ready, 60)
        killed = pool.workers[-1]
        assert killed.pid is not None
        os.kill(killed.pid, signal.SIGKILL)
        results = outcomes(futures)
        broken = [r for r in results if isinstance(r, BrokenProcessPool)]
        assert len(broken) <= 1  # the one it was parsing, if any
        assert [r for r in results if not isinstance(r, BrokenProcessPool)] == [
            e for e, r in zip(expected, results, strict=True) if not isinstance(r, Exception)
        ]
        assert all(isinstance(r, ProcessedFeed | BrokenProcessPool) for r in results)
        assert wait_for(lambda: killed.gone, timeout=60)
        assert killed.returncode == -signal.SIGKILL
        # The executor carries on, with a new worker while a burst is left (or for
        # the next one).
        assert outcomes([pool.submit(call) for call in calls]) == expected
        assert pool.workers_started >= 2
        assert pool.workers[-1] is not killed
    finally:
        pool.shutdown(wait=True)


def test_a_worker_that_cannot_start_leaves_the_parsing_to_the_threads() -> None:
    calls = farm_calls(feeds=12)
    command = [sys.executable, "-c", "raise SystemExit(3)"]
    pool = BurstExecutor(1, backlog=2, command=command)
    try:
        assert outcomes([pool.submit(call) for call in calls]) == [call() for call in calls]
        assert pool.workers_started == 1
        assert pool.workers[-1].returncode == 3
        # Not tried again at once: the next burst stays in the threads.
        assert outcomes([pool.submit(call) for call in calls]) == [call() for call in calls]
        assert pool.workers_started == 1
    finally:
        pool.shutdown(wait=True)


def test_after_shutdown_the_worker_is_gone_and_submitting_says_so() -> None:
    calls = farm_calls(feeds=12)
    pool = BurstExecutor(1, backlog=2, linger=60.0)
    outcomes([pool.submit(call) for call in calls])
    worker = pool.workers[-1]
    pool.shutdown(wait=True)  # the worker lingers no longer
    assert worker.gone
    assert worker.returncode == 0
    with pytest.raises(RuntimeError) as caught:
        pool.submit(calls[0])
    assert _executor_closed(caught.value)  # what the poller takes for a stopping daemon


def test_the_worker_exits_when_the_daemon_is_killed() -> None:
    # Mid-burst: the worker is parsing (or has bodies in its pipe) when its daemon is
    # SIGKILLed; it must not stay behind.
    script = (
        "import os, signal, sys, time\n"
        "from tests.test_burst_workers import farm_calls\n"
        "from aggregator.workers import BurstExecutor\n"
        "pool = BurstExecutor(1, backlog=2, linger=600.0)\n"
        "futures = [pool.submit(c) for c in farm_calls(feeds=60) * 4]\n"
        "while pool.worker_pid is None or not pool.workers[-1].ready:\n"
        "    time.sleep(0.05)\n"
        "print(pool.worker_pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pid = int(proc.stdout.split()[0])
    assert wait_for(lambda: not alive(pid), timeout=30)


def test_two_workers_run_behind_the_daemon_and_their_work_lands_in_order() -> None:
    calls = farm_calls(feeds=60, items=20)
    expected = [call() for call in calls]
    pool = BurstExecutor(1, backlog=2, linger=30.0, workers=2)
    try:
        futures = [pool.submit(call) for call in calls]
        assert wait_for(lambda: len(pool.workers) == 2 and all(w.ready for w in pool.workers), 60)
        # Each at a lower priority than this process (the daemon): the nice value 10
        # above ours, as far as the kernel's 19 allows.
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        for worker in pool.workers:
            assert worker.pid is not None
            assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(19, mine + 10)
        assert outcomes(futures) == expected
        assert pool.workers_started == 2  # never more than allowed
    finally:
        pool.shutdown(wait=True)
    assert all(worker.gone and worker.returncode == 0 for worker in pool.workers)


def test_a_pools_workers_run_behind_the_daemon_too() -> None:
    pool = cpu_executor(2)
    try:
        niceness = {pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result() for _ in range(8)}
    finally:
        pool.shutdown(wait=True)
    assert niceness == {min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)}


def test_burst_workers_are_one_a_core_and_two_at_most() -> None:
    pools = [parse_executor("auto", cores=cores, feeds=500) for cores in (1, 2, 8)]
    try:
        assert [pool.max_workers for pool in pools if isinstance(pool, BurstExecutor)] == [1, 2, 2]
    finally:
        for pool in pools:
            pool.shutdown(wait=True)


def test_auto_on_a_small_machine_is_the_burst_executor_and_numbers_are_as_before() -> None:
    pools = [
        parse_executor("auto", cores=2, feeds=500),
        parse_executor(0, cores=2, feeds=500),
        parse_executor(2, cores=2, feeds=500),
        parse_executor("auto", cores=8, feeds=5000),
    ]
    try:
        assert isinstance(pools[0], BurstExecutor)
        assert type(pools[1]) is ThreadPoolExecutor  # 0: the threads, never a worker
        assert isinstance(pools[2], ProcessPoolExecutor)
        assert isinstance(pools[3], ProcessPoolExecutor)
    finally:
        for pool in pools:
            pool.shutdown(wait=True)


def test_a_full_claim_is_followed_by_the_next_without_waiting_for_the_tick(
    tmp_path: Path,
) -> None:
    # Two feeds a claim, a tick an hour apart: the six feeds are all polled at start
    # only if each full claim is followed by the next as its polls finish.
    rss = (DATA / "rss20.xml").read_bytes()
    with LocalServer() as server:
        lines = [
            "settings:",
            "  poll: {tick: 1h, concurrency: 2, batch: 2, allow_private_networks: true,",
            "         per_host_min_gap: 0s}",
            "  http: {enabled: false}",
            "feeds:",
        ]
        for i in range(6):
            server.static(f"/feed/{i}", rss, content_type="application/rss+xml")
            lines.append(f"  - {{name: feed {i}, url: '{server.url(f'/feed/{i}')}'}}")
        config = tmp_path / "feeds.yaml"
        config.write_text("\n".join(lines) + "\n")
        env = daemon_env(f"sqlite:///{tmp_path / 'db.sqlite'}")
        proc = start_daemon(config, env)
        try:
            assert server.wait_for_requests(6, timeout=60), [r.path for r in server.requests]
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert sorted({r.path for r in server.requests}) == [f"/feed/{i}" for i in range(6)]
