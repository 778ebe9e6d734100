"""The Apprise channel against real loopback receivers (json://, ntfy://, gotify://):
what arrives, bodies fitted to each service's limit, failures recorded with Apprise's
reason, and a receiver down then up delivering each alert once — through the outbox
on both backends. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from aggregator.alerts.apprise import AppriseChannel, AppriseDeliveryError, AppriseSettings, fit
from aggregator.alerts.delivery import Deliverer
from aggregator.alerts.message import sample_message, subject
from aggregator.alerts.rules import AlertRuleSpec
from aggregator.errors import ConfigError
from aggregator.process.consumer import Consumer
from aggregator.query import parse_query
from aggregator.store import Store
from tests.factories import NOW
from tests.support.push_receiver import GOTIFY_TOKEN, PushReceiver
from tests.test_consumer import KURSK, OTHER_EVENT, ingest, outlet_reports
from tests.test_delivery import Clock, drain

SERVICES = ("json", "ntfy", "gotify")


def channel(push: PushReceiver, *services: str) -> AppriseChannel:
    urls = tuple(push.apprise_url(s) for s in services or SERVICES)
    return AppriseChannel(AppriseSettings(urls=urls, timeout=5))


async def test_each_service_receives_the_alert_led_by_its_article() -> None:
    msg = sample_message("nk-every", "nk", "every_article", datetime.now(UTC))
    with PushReceiver() as push:
        await channel(push).send(msg)
        got = {p.service: p.json() for p in push.delivered()}
    assert sorted(got) == sorted(SERVICES)
    lead = msg.events[0].lead[0].title
    for service, body in got.items():
        assert body["title"] == subject(msg), service
        # What caused the alert is the first line, its link right after.
        first, second = body["message"].splitlines()[:2]
        assert lead in first, service
        assert second.strip() == msg.events[0].lead[0].url
    assert got["ntfy"]["topic"] == "alerts"


async def test_a_refused_notify_is_a_failure_with_apprises_reason() -> None:
    msg = sample_message("r", "nk", "new_event", datetime.now(UTC))
    with PushReceiver() as push:
        push.down = True
        with pytest.raises(AppriseDeliveryError) as failed:
            await channel(push, "gotify").send(msg)
        assert len(push.received) == 1
    assert "Gotify" in failed.value.reason
    assert "503" in failed.value.reason
    assert GOTIFY_TOKEN not in failed.value.reason


async def test_a_retry_sends_only_to_the_urls_that_have_not_taken_the_alert() -> None:
    msg = sample_message("partial", "nk", "new_event", datetime.now(UTC))
    other = sample_message("other", "nk", "new_event", datetime.now(UTC))
    with PushReceiver() as push:
        # The second URL's path is one the receiver refuses (404): it never takes it.
        refused = f"json://127.0.0.1:{push.port}/nowhere"
        urls = (push.apprise_url("gotify"), refused)
        ch = AppriseChannel(AppriseSettings(urls=urls, timeout=5))
        for _ in range(2):
            with pytest.raises(AppriseDeliveryError) as failed:
                await ch.send(msg)
            assert "urls[1]" in failed.value.reason
            assert "urls[0]" not in failed.value.reason
        # Gotify took it on the first send and was not sent it again; the refusing URL
        # was tried each time; another alert still goes to both.
        assert [p.service for p in push.received] == ["gotify", "unknown", "unknown"]
        with pytest.raises(AppriseDeliveryError):
            await ch.send(other)
        assert [p.service for p in push.received][3:] == ["gotify", "unknown"]


def test_bodies_fit_each_services_limit_and_keep_the_lead() -> None:
    msg = sample_message("r", "nk", "developing", datetime.now(UTC))
    lead = msg.events[0].lead[0].title
    for body_max, title_max in ((2000, 256), (4096, 0), (160, 0)):
        title, body = fit(msg, body_max, title_max)
        assert len(body) <= body_max
        assert len(title) <= max(title_max, 0)
        assert lead[:60] in body or lead[:60] in title
    # A service without titles gets the subject as the first line.
    assert fit(msg, 4096, 0)[1].startswith(subject(msg))


def test_unknown_urls_are_refused_without_echoing_the_secret() -> None:
    with pytest.raises(ConfigError) as bad:
        AppriseSettings(urls=("json://127.0.0.1/x", "nosuchservice://token-s3cret@host"))
    (problem,) = bad.value.problems
    assert problem.startswith("urls[1]: ")
    assert "nosuchservice" in problem
    assert "s3cret" not in problem
    assert "s3cret" not in repr(AppriseSettings(urls=("json://u:s3cret@127.0.0.1/",)))


async def test_receiver_down_then_up_delivers_each_alert_once(store: Store) -> None:
    rule = AlertRuleSpec(name="r", topic="nk", trigger="new_event", channels=("push",))
    topic = parse_query('("north korean" OR pyongyang) AND (kursk OR putin)')
    Consumer(store, topics={"nk": topic}, rules=[rule], clock=lambda: NOW).process_pending()
    ingest(store, [*outlet_reports(KURSK, 4), *outlet_reports(OTHER_EVENT, 3, start=20)])
    Consumer(store, topics={"nk": topic}, rules=[rule], clock=lambda: NOW).process_pending()
    assert len(store.list_alerts()) == 2
    clock = Clock()
    with PushReceiver() as push:
        deliverer = Deliverer(
            store,
            {"push": channel(push)},
            owner="t",
            clock=clock,
            rng=random.Random(3),
            concurrency=1,
        )
        push.down = True
        stats = await deliverer.run_once()
        assert (stats.sent, stats.retried) == (0, 2)
        failed = store.list_alerts()
        assert all(a.status == "pending" and a.attempts == 1 for a in failed)
        assert all("503" in (a.last_error or "") for a in failed)
        push.down = False
        await drain(deliverer, clock, store)
        delivered = push.delivered()
    assert all(a.status == "sent" for a in store.list_alerts())
    # One delivery per alert and service: two alerts, three services.
    per_service = {s: [p.json()["title"] for p in delivered if p.service == s] for s in SERVICES}
    for titles in per_service.values():
        assert len(titles) == 2
        assert len(set(titles)) == 2
