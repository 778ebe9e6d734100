"""What alerts say (issue 15), through the real consumer on both backends: each message
leads with the article that caused it, never with one the topic excludes, links to the
archive, sums a long event up by outlet, and a developing story is followed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from aggregator.alerts.digest import run_digests
from aggregator.alerts.message import AlertMessage, render_html, render_text, subject
from aggregator.alerts.payload import message_from_json
from aggregator.alerts.rules import AlertRuleSpec
from aggregator.alerts.webhook import encode_body
from aggregator.process.consumer import Consumer, ConsumerSettings
from aggregator.query import parse_query
from aggregator.store import Store
from tests.factories import NOW, article
from tests.test_consumer import KURSK, TOPIC, ingest, outlet_reports

BASE = "https://news.example.org/monitor"


class Clock:
    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def rule(trigger: str, **kw: object) -> AlertRuleSpec:
    return AlertRuleSpec(
        name=f"r-{trigger}",
        topic="nk",
        trigger=trigger,  # type: ignore[arg-type]
        channels=("hook",),
        **kw,  # type: ignore[arg-type]
    )


def make(
    store: Store, rules: Sequence[AlertRuleSpec], clock: Clock, topic: object = TOPIC
) -> Consumer:
    return Consumer(
        store,
        topics={"nk": topic},  # type: ignore[dict-item]
        rules=rules,
        settings=ConsumerSettings(base_url=BASE),
        clock=clock,
    )


def messages(store: Store, trigger: str | None = None) -> list[AlertMessage]:
    out = [message_from_json(a.payload) for a in store.list_alerts(limit=1000)]
    out = [m for m in out if trigger is None or m.trigger == trigger]
    return sorted(out, key=lambda m: m.created_at)


def test_every_article_leads_with_the_new_article_even_as_the_sixtieth(store: Store) -> None:
    clock = Clock()
    c = make(store, [rule("every_article")], clock)
    ingest(store, outlet_reports(KURSK, 59))
    c.process_pending()
    assert len(messages(store)) == 59
    clock.at += timedelta(minutes=30)
    newest = "North Korean soldiers in Kursk region suffer heavy losses, NATO confirms"
    ingest(
        store,
        [
            (
                "Outlet 99",
                article(
                    newest,
                    guid="sixtieth",
                    feed="Outlet 99",
                    text=f"{newest}. {KURSK[0]}",
                    published=NOW + timedelta(hours=2),
                ),
            )
        ],
    )
    c.process_pending()
    msg = messages(store)[-1]
    (event,) = msg.events
    assert event.article_count == 60
    assert event.lead[0].title == newest
    assert event.lead[0].outlet == "Outlet 99"
    assert event.lead[0].matched_terms  # the terms it matched, shown beside it
    assert newest in subject(msg)
    text = render_text(msg)
    # It is named before any other article, not hidden behind "… and N more".
    assert text.index(newest) < text.index("Outlets (60)")
    # Every outlet counted: the first ones named with their articles, the rest summed.
    assert ("Outlet 99", 1) in event.by_outlet
    assert len(event.by_outlet) == 60
    assert "Outlet 00 (1)" in text
    assert "and 35 more" in text
    data = json.loads(encode_body(msg))["data"]
    assert data["article"]["title"] == newest
    assert data["article"]["link"] == f"{BASE}/articles/{event.lead[0].id}"
    assert data["events"][0]["new_articles"][0]["title"] == newest
    assert data["events"][0]["outlet_count"] == 60
    assert newest in render_html(msg)


def test_corroboration_is_headed_by_a_matching_article_never_an_excluded_one(
    store: Store,
) -> None:
    clock = Clock()
    topic = parse_query('("north korean" OR pyongyang) AND (troops OR soldiers) -armistice')
    c = make(store, [rule("min_sources", min_sources=3)], clock, topic)
    armistice = "Koreas mark armistice anniversary as North Korean troops reach Kursk"
    first = [
        (
            "Outlet A",
            article(
                armistice,
                guid="arm",
                feed="Outlet A",
                text=f"{armistice}. {KURSK[0]}",
                published=NOW - timedelta(hours=1),
            ),
        )
    ]
    ingest(store, [*first, *outlet_reports(KURSK, 3)])
    c.process_pending()
    (msg,) = messages(store)
    (event,) = msg.events
    assert event.outlet_total >= 3
    assert "armistice" not in event.headline.lower()
    assert "armistice" not in subject(msg).lower()
    assert event.lead
    assert "armistice" not in event.lead[0].title.lower()
    assert event.matched_terms  # never [] for a matching article
    assert event.lead[0].matched_terms == event.matched_terms


def test_links_to_the_event_and_topic_pages(store: Store) -> None:
    clock = Clock()
    c = make(store, [rule("new_event")], clock)
    ingest(store, outlet_reports(KURSK, 2))
    c.process_pending()
    (msg,) = messages(store)
    (event,) = msg.events
    assert event.link == f"{BASE}/events/{event.cluster_id}"
    assert msg.topic_link == f"{BASE}/topics/nk"
    text = render_text(msg)
    assert f"Event: {event.link}" in text
    assert f"Topic: {msg.topic_link}" in text
    assert f'href="{event.link}"' in render_html(msg)


def test_developing_3_then_8_then_30_outlets_gives_two_updates_with_min_gap(
    store: Store,
) -> None:
    clock = Clock()
    dev = rule("developing", min_sources=3, new_outlets=5, min_gap=timedelta(hours=1))
    c = make(store, [dev], clock)
    ingest(store, outlet_reports(KURSK, 3))
    c.process_pending()  # 3 outlets: the first alert
    assert len(messages(store)) == 1
    clock.at += timedelta(minutes=30)
    ingest(store, outlet_reports(KURSK, 4, start=3))
    c.process_pending()  # 7 outlets: +4, not enough
    clock.at += timedelta(minutes=40)
    ingest(store, outlet_reports(KURSK, 1, start=7))
    c.process_pending()  # 8 outlets, 70 minutes after the first alert: the first update
    # Grows to 29 within the hour: held back by min_gap, several times.
    for start in (8, 15, 22):
        clock.at += timedelta(minutes=10)
        ingest(store, outlet_reports(KURSK, 7, start=start))
        c.process_pending()
    assert len(messages(store)) == 2
    clock.at += timedelta(minutes=45)  # past min_gap since the first update
    ingest(store, outlet_reports(KURSK, 1, start=29))
    c.process_pending()  # 30 outlets: the second update
    clock.at += timedelta(minutes=5)
    c.process_pending()
    msgs = messages(store, "developing")
    updates = [m for m in msgs if m.events[0].change is not None]
    assert len(msgs) == 3
    assert len(updates) == 2
    first, second = updates
    assert first.events[0].change is not None
    assert second.events[0].change is not None
    assert (first.events[0].change.outlets_before, first.events[0].outlet_total) == (3, 8)
    assert (second.events[0].change.outlets_before, second.events[0].outlet_total) == (8, 30)
    assert second.created_at - first.created_at >= timedelta(hours=1)
    # The message says what changed and names the new headlines and outlets.
    assert "+5 outlets" in subject(first)
    assert "+22 outlets" in subject(second)
    assert set(first.events[0].change.new_outlets) == {f"Outlet {i:02d}" for i in range(3, 8)}
    assert {a.outlet for a in first.events[0].lead} == {f"Outlet {i:02d}" for i in range(3, 8)}
    assert first.created_at - msgs[0].created_at >= timedelta(hours=1)
    assert "Outlet 29" in {a.outlet for a in second.events[0].lead}
    assert "New since the last alert" in render_text(second)


def test_developing_new_articles_threshold(store: Store) -> None:
    clock = Clock()
    dev = rule("developing", min_sources=1, new_articles=4)
    c = make(store, [dev], clock)
    ingest(store, outlet_reports(KURSK, 1))
    c.process_pending()
    clock.at += timedelta(hours=2)
    ingest(store, outlet_reports(KURSK, 3, start=1))
    c.process_pending()  # +3 articles: not yet
    assert len(messages(store)) == 1
    clock.at += timedelta(hours=2)
    ingest(store, outlet_reports(KURSK, 1, start=4))
    c.process_pending()  # +4
    assert len(messages(store)) == 2


def test_digest_lists_what_is_new_since_the_last_digest_first(store: Store) -> None:
    clock = Clock(NOW - timedelta(days=1))
    digest = rule("digest", digest_cron="0 8 * * *")
    c = make(store, [digest], clock)
    assert run_digests(store, [digest], clock=clock) == 0  # baseline
    ingest(store, outlet_reports(KURSK, 3))
    c.process_pending()
    first_tick = NOW.replace(hour=8, minute=0) + timedelta(days=1)
    clock.at = first_tick + timedelta(minutes=1)
    assert run_digests(store, [digest], clock=clock) == 1
    clock.at += timedelta(hours=1)
    ingest(store, outlet_reports(KURSK, 2, start=3))
    c.process_pending()
    clock.at = first_tick + timedelta(days=1, minutes=1)
    assert run_digests(store, [digest], clock=clock) == 1
    latest = messages(store, "digest")[-1]
    (event,) = latest.events
    assert {a.outlet for a in event.lead} == {"Outlet 03", "Outlet 04"}
    text = render_text(latest)
    assert text.index("New since the last digest") < text.index("Outlet 00")
    assert "2 new" in subject(latest)
