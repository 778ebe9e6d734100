"""Alert assembly, once for every trigger: what an event looks like in an alert
(``event_summary``) and the outbox rows a decision writes (``outbox_rows``).

Used by the consumer (new_event, min_sources, every_article, developing), the digest
job and the feed-health job. Pure: the callers hand in what they read from the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

from aggregator.alerts.message import (
    AlertMessage,
    ArticleRef,
    Change,
    EventSummary,
    FeedHealthNote,
)
from aggregator.alerts.payload import message_to_json
from aggregator.alerts.rules import AlertRuleSpec, Trigger
from aggregator.store import ClusterArticle, OutboxRow


class EventReads(Protocol):
    """The two reads an event's facts need: a ``Store``, or the consumer's answers for
    one batch (``process.consumer``), which asks the store once per event."""

    def cluster_articles(
        self, cluster_ids: Sequence[int], limit: int = 50
    ) -> list[ClusterArticle]: ...

    def cluster_outlets(
        self, cluster_ids: Sequence[int]
    ) -> list[tuple[str, int, datetime | None]]: ...


@dataclass(frozen=True, slots=True)
class Links:
    """Pages of the archive's web interface, from ``settings.http.base_url``."""

    base: str

    def event(self, cluster_id: int) -> str:
        return f"{self.base.rstrip('/')}/events/{cluster_id}"

    def topic(self, name: str) -> str:
        return f"{self.base.rstrip('/')}/topics/{quote(name, safe='')}"

    def article(self, article_id: int) -> str:
        return f"{self.base.rstrip('/')}/articles/{article_id}"

    def feeds(self) -> str:
        return f"{self.base.rstrip('/')}/feeds"


def links_for(base_url: str | None) -> Links | None:
    return Links(base_url) if base_url else None


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What the store (and the batch in hand) knows of one event."""

    cluster_id: int
    headline: str
    first_seen: datetime
    last_updated: datetime
    article_count: int
    outlet_count: int
    # every outlet with its article count, in report order: the whole event
    by_outlet: tuple[tuple[str, int], ...]
    # some of its articles, oldest first (a bounded sample, the lead is added to it)
    articles: tuple[ArticleRef, ...]


def linked(ref: ArticleRef, links: Links | None) -> ArticleRef:
    if links is None or ref.id is None or ref.link:
        return ref
    return ArticleRef(
        title=ref.title,
        url=ref.url,
        outlet=ref.outlet,
        published=ref.published,
        id=ref.id,
        matched_terms=ref.matched_terms,
        link=links.article(ref.id),
    )


def event_summary(
    facts: EventFacts,
    *,
    lead: Sequence[ArticleRef] = (),
    matched_terms: Sequence[str] = (),
    links: Links | None = None,
    max_articles: int = 50,
    change: Change | None = None,
) -> EventSummary:
    """The event as an alert shows it: ``lead`` (what caused the alert) first and
    whole, then the event's other articles up to ``max_articles``, and every outlet
    counted. The headline is the lead's: a cluster's own headline may come from an
    article the topic excludes."""
    lead_refs = tuple(linked(a, links) for a in lead)
    lead_keys = {(a.outlet, a.title, a.published) for a in lead_refs}
    others = [a for a in facts.articles if (a.outlet, a.title, a.published) not in lead_keys]
    room = max(max_articles - len(lead_refs), 0)
    outlets = tuple(o for o, _ in facts.by_outlet)
    return EventSummary(
        cluster_id=facts.cluster_id,
        headline=lead_refs[0].title if lead_refs else facts.headline,
        first_seen=facts.first_seen,
        last_updated=facts.last_updated,
        outlets=outlets,
        article_count=max(facts.article_count, len(lead_refs)),
        matched_terms=tuple(matched_terms),
        articles=tuple(linked(a, links) for a in others[:room]),
        lead=lead_refs,
        by_outlet=facts.by_outlet,
        outlet_count=max(facts.outlet_count, len(outlets)),
        link=links.event(facts.cluster_id) if links else None,
        change=change,
    )


def load_event_facts(
    store: EventReads,
    cluster_ids: Sequence[int],
    *,
    headline: str,
    first_seen: datetime,
    last_updated: datetime,
    article_count: int,
    outlet_count: int,
    limit: int,
    pending: Sequence[ArticleRef] = (),
) -> EventFacts:
    """An event's facts from the store: two bounded reads (a sample of its articles,
    one row per outlet), plus ``pending``: its articles in the batch not committed yet.
    ``cluster_ids`` names the event under every id it had (merges)."""
    sample = [ref_from(a) for a in store.cluster_articles(list(cluster_ids), limit)]
    refs = sorted([*sample, *pending], key=lambda r: (r.published, r.outlet))[:limit]
    counts: dict[str, int] = {}
    for name, n, _ in store.cluster_outlets(list(cluster_ids)):
        counts[name] = counts.get(name, 0) + n
    for ref in sorted(pending, key=lambda r: r.published):
        counts[ref.outlet] = counts.get(ref.outlet, 0) + 1
    return EventFacts(
        cluster_id=cluster_ids[0],
        headline=headline,
        first_seen=first_seen,
        last_updated=last_updated,
        article_count=article_count,
        outlet_count=outlet_count,
        by_outlet=tuple(counts.items()),
        articles=tuple(refs),
    )


def ref_from(a: ClusterArticle, terms: Sequence[str] = ()) -> ArticleRef:
    return ArticleRef(
        title=a.title,
        url=a.url,
        outlet=a.feed,
        published=a.published,
        id=a.id,
        matched_terms=tuple(terms),
    )


def outbox_rows(
    rule: AlertRuleSpec,
    *,
    trigger: Trigger,
    topic: str,
    subject_key: str,
    created_at: datetime,
    due_at: datetime,
    events: Sequence[EventSummary] = (),
    feeds: Sequence[FeedHealthNote] = (),
    links: Links | None = None,
    cluster_id: int | None = None,
    article_id: int | None = None,
) -> list[OutboxRow]:
    """One outbox row per channel of ``rule``, each with its own id and the message.

    The dedupe key (rule, channel, trigger, ``subject_key``) makes "never twice" a
    database constraint: a batch processed again after a crash writes nothing new.
    """
    rows = []
    for channel in rule.channels:
        alert_id = uuid.uuid4().hex
        message = AlertMessage(
            alert_id=alert_id,
            rule=rule.name,
            topic=topic,
            trigger=trigger,
            created_at=created_at,
            events=tuple(events),
            timezone=rule.timezone,
            topic_link=links.topic(topic) if links and topic else None,
            feeds=tuple(feeds),
        )
        rows.append(
            OutboxRow(
                id=alert_id,
                dedupe_key=f"{rule.name}:{channel}:{trigger}:{subject_key}",
                rule=rule.name,
                channel=channel,
                topic=topic,
                trigger=trigger,
                cluster_id=cluster_id,
                article_id=article_id,
                payload=message_to_json(message),
                due_at=due_at,
            )
        )
    return rows


__all__ = [
    "EventFacts",
    "EventReads",
    "Links",
    "event_summary",
    "linked",
    "links_for",
    "load_event_facts",
    "outbox_rows",
    "ref_from",
]
