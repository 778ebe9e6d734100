"""Issue 18, A: an accepted alert is marked sent at once, and a restarted SQLite daemon
frees the leases its killed predecessor left, so a crash re-sends at most what was in
flight (at-least-once with a stable id, the duplicate window bounded by one send)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from aggregator.alerts.delivery import Deliverer
from aggregator.alerts.message import AlertMessage
from aggregator.alerts.webhook import WebhookChannel, WebhookSettings
from aggregator.store import FeedSpec, Store
from aggregator.store.migrate import upgrade
from aggregator.store.writer import WriterThread
from tests.factories import NOW
from tests.support.daemon import kill_if_running, start_daemon
from tests.support.httpserver import LocalServer
from tests.support.webhook_receiver import WebhookReceiver
from tests.test_daemon_e2e import wait_for
from tests.test_daemon_ops import RSS
from tests.test_delivery import SECRET, enqueue_two_events


class _WriterGetsBusy:
    """The real webhook channel, but the writer thread is taken by a long write (a
    poll, a consumer batch) just as the alert goes out: the moment of the crash
    window."""

    def __init__(self, inner: WebhookChannel, writer: ThreadPoolExecutor) -> None:
        self.inner = inner
        self.writer = writer
        self.release = threading.Event()

    async def send(self, msg: AlertMessage) -> None:
        self.writer.submit(self.release.wait, 30)
        await self.inner.send(msg)


async def test_an_accepted_alert_is_marked_sent_without_waiting_for_the_writer(
    store: Store,
) -> None:
    enqueue_two_events(store, ("hook",))
    writer = ThreadPoolExecutor(1)
    with WebhookReceiver(SECRET, tolerance=10**10) as receiver:
        async with httpx.AsyncClient() as client:
            hook = WebhookChannel(WebhookSettings(url=receiver.url, secret=SECRET), client)
            busy = _WriterGetsBusy(hook, writer)
            deliverer = Deliverer(
                store, {"hook": busy}, owner="t", clock=lambda: NOW, writer=writer
            )
            try:
                # With the writer held, the marks must still land: the run ends.
                stats = await asyncio.wait_for(deliverer.run_once(), timeout=20)
                statuses = {a.status for a in store.list_alerts()}
            finally:
                busy.release.set()
                writer.shutdown()
    assert stats.sent == 2
    assert statuses == {"sent"}
    assert len(receiver.delivered_ids) == 2


def test_writer_thread_runs_an_urgent_job_next() -> None:
    writer = WriterThread("test-writer")
    order: list[str] = []
    held = threading.Event()
    try:
        writer.submit(held.wait, 30)
        queued = [writer.submit(order.append, f"poll {i}") for i in range(3)]
        urgent = writer.urgent.submit(order.append, "mark")
        held.set()
        for future in [*queued, urgent]:
            future.result(timeout=30)
    finally:
        writer.shutdown()
    assert order == ["mark", "poll 0", "poll 1", "poll 2"]
    failing = WriterThread("test-writer-2")
    try:
        assert isinstance(failing.submit(int, "x").exception(timeout=30), ValueError)
    finally:
        failing.shutdown()


class _LaneThatReleases(Executor):
    """The urgent lane; the held write ends only once the mark is queued, so the
    order below does not depend on timing."""

    def __init__(self, writer: WriterThread, held: threading.Event) -> None:
        self.writer = writer
        self.held = held

    def submit(self, fn: Callable[..., object], /, *args: object, **kw: object) -> Future[object]:
        future = self.writer.urgent.submit(fn, *args, **kw)
        self.held.set()
        return future


async def test_on_the_writer_thread_the_mark_goes_ahead_of_queued_writes(
    store: Store,
) -> None:
    enqueue_two_events(store, ("hook",))
    writer = WriterThread("test-writer")
    order: list[str] = []
    held = threading.Event()
    mark = store.mark_alert_sent

    def noted_mark(alert_id: str, owner: str, now: datetime) -> None:
        mark(alert_id, owner, now)
        order.append("mark")

    store.mark_alert_sent = noted_mark  # type: ignore[method-assign]

    class Busy:
        async def send(self, msg: AlertMessage) -> None:
            # A long write in progress and three more queued, as the receiver accepts
            # (after the writes queued for the previous alert have run).
            await asyncio.get_running_loop().run_in_executor(writer, order.copy)
            held.clear()
            writer.submit(held.wait, 30)
            for _ in range(3):
                writer.submit(order.append, "poll")
            await inner.send(msg)

    with WebhookReceiver(SECRET, tolerance=10**10) as receiver:
        async with httpx.AsyncClient() as client:
            inner = WebhookChannel(WebhookSettings(url=receiver.url, secret=SECRET), client)
            deliverer = Deliverer(
                store,
                {"hook": Busy()},
                owner="t",
                clock=lambda: NOW,
                writer=writer,
                marker=_LaneThatReleases(writer, held),
                concurrency=1,
            )
            try:
                stats = await asyncio.wait_for(deliverer.run_once(), timeout=60)
            finally:
                held.set()
                writer.shutdown()
    assert stats.sent == 2
    # Each mark ran right after the write in progress, before the writes queued.
    assert order == ["mark", "poll", "poll", "poll", "mark", "poll", "poll", "poll"]


def test_release_all_leases_frees_feeds_and_alerts(store: Store) -> None:
    enqueue_two_events(store, ("hook",))
    store.sync_feeds([FeedSpec("wire", "https://wire.example/feed")], NOW)
    assert store.claim_due_feeds(NOW, owner="dead", lease_seconds=3600, limit=10)
    assert len(store.claim_due_alerts(NOW, owner="dead", lease_seconds=3600, limit=10)) == 2
    assert store.lease_owners() == {"dead"}
    assert store.release_all_leases(["someone-else"]) == (0, 0)
    assert store.release_all_leases(["dead"]) == (1, 2)
    assert store.release_all_leases() == (0, 0)
    later = NOW + timedelta(seconds=1)
    assert len(store.claim_due_alerts(later, owner="new", lease_seconds=60, limit=10)) == 2


def test_stale_lease_owners_are_dead_processes_or_other_hosts() -> None:
    from aggregator.service import stale_lease_owners

    owners = ["here:10:a", "here:11:b", "there:10:c", "here:x:d"]
    stale = stale_lease_owners(owners, hostname="here", alive=lambda pid: pid == 10)
    # pid 10 runs here (a one-off poll): its leases stay; the rest cannot be running.
    assert stale == ["here:11:b", "here:x:d", "there:10:c"]


def test_sqlite_daemon_frees_its_killed_predecessors_leases_at_start(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    with LocalServer() as server:
        server.static("/feed", RSS, content_type="application/rss+xml")
        store = Store.open(f"sqlite:///{db}")
        upgrade(store.engine)
        now = datetime.now(UTC)
        store.sync_feeds([FeedSpec("one", server.url("/feed"))], now)
        # A daemon killed mid-poll: its lease runs for an hour more.
        assert store.claim_due_feeds(now, owner="killed:1:x", lease_seconds=3600, limit=10)
        store.close()
        config = tmp_path / "feeds.yaml"
        config.write_text(
            "settings:\n  poll: {tick: 0.2s, allow_private_networks: true}\n  http: {port: 0}\n"
            f"feeds:\n  - {{name: one, url: '{server.url('/feed')}'}}\n"
        )
        env = dict(os.environ, AGGREGATOR_DATABASE_URL=f"sqlite:///{db}")
        proc = start_daemon(config, env)
        try:
            polled = wait_for(lambda: server.requests_for("/feed"), 90)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=90)
        finally:
            kill_if_running(proc)
    assert polled, err
    assert "released stale leases at start: 1 feeds" in err
