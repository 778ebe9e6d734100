"""The outbox worker against real servers: faults, retries, exactly-once per id."""

from __future__ import annotations

import base64
import random
from datetime import timedelta

import httpx
import pytest

from aggregator.alerts.delivery import Deliverer
from aggregator.alerts.email import EmailChannel, EmailSettings
from aggregator.alerts.retry import RetrySettings
from aggregator.alerts.rules import AlertRuleSpec
from aggregator.alerts.webhook import WebhookChannel, WebhookSettings
from aggregator.process.consumer import Consumer
from aggregator.query import parse_query
from aggregator.store import Store
from tests.factories import NOW
from tests.support.smtpserver import SMTPTestServer
from tests.support.webhook_receiver import Reply, WebhookReceiver
from tests.test_consumer import KURSK, OTHER_EVENT, ingest, outlet_reports

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


def enqueue_two_events(store: Store, channels: tuple[str, ...]) -> None:
    rule = AlertRuleSpec(name="r", topic="nk", trigger="new_event", channels=channels)
    topic = parse_query('("north korean" OR pyongyang) AND (kursk OR putin)')
    consumer = Consumer(store, topics={"nk": topic}, rules=[rule], clock=lambda: NOW)
    ingest(store, [*outlet_reports(KURSK, 6), *outlet_reports(OTHER_EVENT, 3, start=20)])
    consumer.process_pending()
    assert len(store.list_alerts()) == 2 * len(channels)


async def drain(deliverer: Deliverer, clock: Clock, store: Store, rounds: int = 20) -> None:
    """Run the worker, jumping the clock to each retry time, until nothing is pending."""
    for _ in range(rounds):
        await deliverer.run_once()
        pending = [a for a in store.list_alerts(limit=100) if a.status == "pending"]
        if not pending:
            return
        clock.now = max(clock.now, min(a.due_at for a in pending))


async def test_webhook_faults_then_success_each_id_delivered_once(store: Store) -> None:
    enqueue_two_events(store, ("hook",))
    clock = Clock()
    with WebhookReceiver(SECRET, tolerance=10**10) as receiver:
        receiver.script(Reply(500), Reply(hang=3), Reply(429, retry_after="120"), Reply(200))
        async with httpx.AsyncClient() as client:
            hook = WebhookChannel(
                WebhookSettings(url=receiver.url, secret=SECRET, timeout=1.0),
                client,
                clock=clock,
            )
            deliverer = Deliverer(
                store, {"hook": hook}, owner="t", clock=clock, rng=random.Random(1), concurrency=1
            )
            await drain(deliverer, clock, store)
        ids = {a.id for a in store.list_alerts()}
        assert sorted(receiver.delivered_ids) == sorted(ids)  # each once, with its id
        assert all(r.signature_valid for r in receiver.requests)
        assert len(receiver.requests) >= 5  # the failures were real attempts
    assert {a.status for a in store.list_alerts()} == {"sent"}
    # the 429's Retry-After was honoured: nothing was retried sooner than 120 s after it
    assert clock.now >= NOW + timedelta(seconds=120)


async def test_smtp_down_then_up(store: Store) -> None:
    enqueue_two_events(store, ("mail",))
    clock = Clock()
    server = SMTPTestServer()  # port reserved, nothing listening: connections refused
    mail = EmailChannel(
        EmailSettings(
            host=server.host,
            port=server.port,
            security="none",
            sender="alerts@example.org",
            to=("desk@example.org",),
            timeout=5,
        )
    )
    deliverer = Deliverer(store, {"mail": mail}, owner="t", clock=clock, rng=random.Random(2))
    await deliverer.run_once()
    assert {a.status for a in store.list_alerts()} == {"pending"}
    assert all(a.attempts == 1 and a.last_error for a in store.list_alerts())
    with server:
        await drain(deliverer, clock, store)
        ids = {f"<alert-{a.id}@example.org>" for a in store.list_alerts()}
        got = [m.message["Message-ID"] for m in server.messages]
    assert sorted(got) == sorted(ids)
    assert {a.status for a in store.list_alerts()} == {"sent"}


async def test_dead_letter_retry_and_410_disables(store: Store) -> None:
    enqueue_two_events(store, ("hook",))
    clock = Clock()
    with WebhookReceiver(SECRET, tolerance=10**10) as receiver:
        receiver.script(Reply(410))
        async with httpx.AsyncClient() as client:
            hook = WebhookChannel(WebhookSettings(url=receiver.url, secret=SECRET), client)
            deliverer = Deliverer(
                store,
                {"hook": hook},
                owner="t",
                clock=clock,
                retry=RetrySettings(max_attempts=3),
                concurrency=1,  # one at a time: the 410 stops the rest of the batch
            )
            await deliverer.run_once()
            statuses = sorted(a.status for a in store.list_alerts())
            assert statuses == ["dead", "dead"]  # 410 disables the channel for both
            assert "hook" in store.disabled_channels()
            assert len(receiver.requests) == 1
            # The operator fixes the endpoint, re-enables it and retries one alert.
            store.enable_channel("hook")
            dead = store.list_alerts()[0]
            assert store.retry_alert(dead.id, clock.now)
            await deliverer.run_once()
        assert receiver.delivered_ids == [dead.id]


async def test_a_claimed_alert_whose_worker_died_is_sent_after_the_lease(store: Store) -> None:
    enqueue_two_events(store, ("hook",))
    # A worker claims everything, then dies before sending (no mark).
    claimed = store.claim_due_alerts(NOW, owner="dead-worker", lease_seconds=60, limit=10)
    assert len(claimed) == 2
    clock = Clock()
    with WebhookReceiver(SECRET, tolerance=10**10) as receiver:
        async with httpx.AsyncClient() as client:
            hook = WebhookChannel(WebhookSettings(url=receiver.url, secret=SECRET), client)
            deliverer = Deliverer(store, {"hook": hook}, owner="t", clock=clock)
            assert (await deliverer.run_once()).sent == 0  # still leased
            clock.now = NOW + timedelta(seconds=61)
            assert (await deliverer.run_once()).sent == 2
        assert sorted(receiver.delivered_ids) == sorted(a.id for a in claimed)


@pytest.mark.parametrize("channel", ["nope"])
async def test_unknown_channel_is_dead_lettered_with_a_reason(store: Store, channel: str) -> None:
    enqueue_two_events(store, (channel,))
    deliverer = Deliverer(store, {}, owner="t", clock=Clock())
    assert (await deliverer.run_once()).dead == 2
    assert all("not configured" in (a.last_error or "") for a in store.list_alerts())


def test_cli_enables_a_disabled_channel_and_retries_an_alert(
    tmp_path: object, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from aggregator.cli import main

    store = Store.open(database_url)
    try:
        enqueue_two_events(store, ("hook",))
        alert = store.list_alerts()[0]
        store.mark_alert_failed(alert.id, "t", "410 Gone", None)
        store.disable_channel("hook", "410 Gone: endpoint gone", NOW)
    finally:
        store.close()
    config = Path(str(tmp_path)) / "feeds.yaml"
    config.write_text("feeds: []\n")
    monkeypatch.setenv("AGGREGATOR_DATABASE_URL", database_url)
    assert main(["--config", str(config), "alerts", "enable", "hook"]) == 0
    assert main(["--config", str(config), "alerts", "enable", "hook"]) == 2  # not disabled
    assert main(["--config", str(config), "alerts", "retry", alert.id]) == 0
    assert main(["--config", str(config), "alerts", "retry", "nope"]) == 2
    store = Store.open(database_url)
    try:
        assert store.disabled_channels() == {}
        retried = next(a for a in store.list_alerts() if a.id == alert.id)
        assert (retried.status, retried.attempts) == ("pending", 0)
    finally:
        store.close()
