"""What an alert says, and how it is rendered for each channel.

An ``AlertMessage`` is built by the delivery job from the outbox row and the events it
names; rendering is pure (no I/O, no clock), so the same row renders to the same bytes
on every retry. Everything in a message came from feeds and is untrusted: the HTML
renderer escapes every value and links only http(s) URLs; the subject is a single line.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from aggregator.alerts.rules import Trigger

# The id travels in ``webhook-id`` (where Standard Webhooks forbids dots, because the
# signed content is "id.timestamp.body") and in the Message-ID local part (dot-atom
# text). Letters, digits, ``-`` and ``_`` are safe in both.
_ALERT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")

# Standard Webhooks recommends dotted event types; these are ours, one per trigger.
WEBHOOK_TYPES: dict[Trigger, str] = {
    "new_event": "event.new",
    "min_sources": "event.corroborated",
    "every_article": "article.new",
    "digest": "digest",
}

# Thin payloads (Standard Webhooks suggests < 20 kB) and readable mails: an event with
# 300 articles lists the first few and says how many there are in total.
DEFAULT_MAX_ARTICLES = 10

_SUBJECT_MAX = 200


@dataclass(frozen=True, slots=True)
class ArticleRef:
    """One article carrying an event, as shown in an alert."""

    title: str
    url: str | None
    outlet: str
    published: datetime


@dataclass(frozen=True, slots=True)
class EventSummary:
    """One real-world event (a cluster) as an alert shows it."""

    cluster_id: int
    headline: str
    first_seen: datetime
    last_updated: datetime
    outlets: tuple[str, ...]  # distinct outlet names, in the order they reported
    article_count: int
    matched_terms: tuple[str, ...]
    articles: tuple[ArticleRef, ...]


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One alert: one event for new_event/min_sources/every_article, several for a digest.

    ``alert_id`` is the idempotency key: the same on every retry and resend, so receivers
    can drop repeats (``webhook-id``, ``Message-ID``).
    """

    alert_id: str
    rule: str
    topic: str
    trigger: Trigger
    created_at: datetime
    events: tuple[EventSummary, ...]
    timezone: str = "UTC"  # IANA zone for times shown to people (the rule's zone)

    def __post_init__(self) -> None:
        # A bad id or a naive time is a bug in the caller, not a delivery failure.
        if not _ALERT_ID.fullmatch(self.alert_id):
            raise ValueError(f"alert_id must match [A-Za-z0-9_-]{{1,128}}: {self.alert_id!r}")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        if self.trigger not in WEBHOOK_TYPES:
            raise ValueError(f"unknown trigger {self.trigger!r}")
        ZoneInfo(self.timezone)  # raises for an unknown zone


def safe_link(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) link, else None (no javascript:, data:, …)."""
    if not url:
        return None
    url = url.strip()
    # Whitespace or control characters inside a URL are never legitimate and would
    # survive html.escape into an href.
    if any(c.isspace() or not c.isprintable() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _one_line(text: str) -> str:
    # Feed text may carry newlines and control characters; in a header they would end
    # the header (injection), in a subject they just look broken.
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _iso(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("datetimes in alerts must be timezone-aware")
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _human(when: datetime, zone: str) -> str:
    return when.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def subject(msg: AlertMessage) -> str:
    """A one-line subject: ``[topic] headline (N outlets)`` or ``[topic] digest: N events``."""
    topic = _one_line(msg.topic)
    if msg.trigger == "digest":
        n = len(msg.events)
        line = f"[{topic}] digest: {n} event{'s' if n != 1 else ''}"
    elif not msg.events:
        line = f"[{topic}] alert"
    else:
        event = msg.events[0]
        n = len(event.outlets)
        line = f"[{topic}] {_one_line(event.headline)} ({n} outlet{'s' if n != 1 else ''})"
    if len(line) > _SUBJECT_MAX:
        line = line[: _SUBJECT_MAX - 1].rstrip() + "…"
    return line


def _intro(msg: AlertMessage) -> str:
    if msg.trigger == "new_event":
        return f"A new event matches topic “{msg.topic}”."
    if msg.trigger == "min_sources":
        return f"An event matching topic “{msg.topic}” is now carried by several outlets."
    if msg.trigger == "every_article":
        return f"A new article matches topic “{msg.topic}”."
    return f"Events matching topic “{msg.topic}” since the last digest: {len(msg.events)}."


def render_text(msg: AlertMessage, *, max_articles: int = DEFAULT_MAX_ARTICLES) -> str:
    """The plain-text body (also the text/plain part of the email)."""
    lines = [_one_line(_intro(msg)), ""]
    for event in msg.events:
        lines.append(_one_line(event.headline))
        lines.append("=" * min(len(lines[-1]), 72))
        lines.append(f"First reported: {_human(event.first_seen, msg.timezone)}")
        lines.append(f"Last updated:   {_human(event.last_updated, msg.timezone)}")
        outlets = ", ".join(_one_line(o) for o in event.outlets)
        lines.append(f"Outlets ({len(event.outlets)}): {outlets}")
        if event.matched_terms:
            lines.append("Matched terms:  " + ", ".join(_one_line(t) for t in event.matched_terms))
        lines.append(f"Articles: {event.article_count}")
        for art in event.articles[:max_articles]:
            lines.append(f"  - {_one_line(art.title)} ({_one_line(art.outlet)})")
            link = safe_link(art.url)
            if link:
                lines.append(f"    {_one_line(link)}")
        hidden = event.article_count - min(len(event.articles), max_articles)
        if hidden > 0:
            lines.append(f"  … and {hidden} more")
        lines.append("")
    lines.append(f"Rule: {_one_line(msg.rule)} · alert {msg.alert_id}")
    return "\n".join(lines) + "\n"


def render_html(msg: AlertMessage, *, max_articles: int = DEFAULT_MAX_ARTICLES) -> str:
    """The HTML body. Every feed-supplied value is escaped; only http(s) links are links."""

    def esc(text: str) -> str:
        return html.escape(_one_line(text), quote=True)

    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>',
        esc(subject(msg)),
        "</title></head><body>",
        f"<p>{esc(_intro(msg))}</p>",
    ]
    for event in msg.events:
        parts.append(f"<h2>{esc(event.headline)}</h2>")
        parts.append("<ul>")
        parts.append(f"<li>First reported: {esc(_human(event.first_seen, msg.timezone))}</li>")
        parts.append(f"<li>Last updated: {esc(_human(event.last_updated, msg.timezone))}</li>")
        outlets = ", ".join(esc(o) for o in event.outlets)
        parts.append(f"<li>Outlets ({len(event.outlets)}): {outlets}</li>")
        if event.matched_terms:
            terms = ", ".join(f"<b>{esc(t)}</b>" for t in event.matched_terms)
            parts.append(f"<li>Matched terms: {terms}</li>")
        parts.append(f"<li>Articles: {event.article_count}</li>")
        parts.append("</ul><ol>")
        for art in event.articles[:max_articles]:
            link = safe_link(art.url)
            title = esc(art.title)
            if link:
                title = f'<a href="{html.escape(link, quote=True)}">{title}</a>'
            parts.append(f"<li>{title} <i>({esc(art.outlet)})</i></li>")
        parts.append("</ol>")
        hidden = event.article_count - min(len(event.articles), max_articles)
        if hidden > 0:
            parts.append(f"<p>… and {hidden} more</p>")
    parts.append(f"<p><small>Rule: {esc(msg.rule)} · alert {esc(msg.alert_id)}</small></p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def webhook_payload(
    msg: AlertMessage, *, max_articles: int = DEFAULT_MAX_ARTICLES
) -> dict[str, Any]:
    """The JSON body: ``{type, timestamp, data}`` as Standard Webhooks recommends.

    ``timestamp`` is when the alert was created (the event time), not this attempt's
    time, so every retry sends the same body.
    """
    events = [
        {
            "cluster_id": e.cluster_id,
            "headline": e.headline,
            "first_seen": _iso(e.first_seen),
            "last_updated": _iso(e.last_updated),
            "outlets": list(e.outlets),
            "article_count": e.article_count,
            "matched_terms": list(e.matched_terms),
            "articles": [
                {
                    "title": a.title,
                    "url": safe_link(a.url),
                    "outlet": a.outlet,
                    "published": _iso(a.published),
                }
                for a in e.articles[:max_articles]
            ],
        }
        for e in msg.events
    ]
    return {
        "type": WEBHOOK_TYPES[msg.trigger],
        "timestamp": _iso(msg.created_at),
        "data": {
            "alert_id": msg.alert_id,
            "rule": msg.rule,
            "topic": msg.topic,
            "trigger": msg.trigger,
            "events": events,
        },
    }


def sample_message(
    rule: str,
    topic: str,
    trigger: Trigger,
    now: datetime,
    *,
    alert_id: str | None = None,
    timezone: str = "UTC",
) -> AlertMessage:
    """A realistic message for ``aggregator alerts test RULE`` (a real send, fake event).

    The id is unique per call time unless given, so a test send is never dropped as a
    duplicate of an earlier one by an idempotent receiver.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    stamp = now.astimezone(UTC)
    outlets = ("Example Wire", "Example Daily", "Example Radio")
    articles = tuple(
        ArticleRef(
            title=f"Test alert from the aggregator ({outlet})",
            url=f"https://example.org/test-alert/{i}",
            outlet=outlet,
            published=stamp - timedelta(minutes=10 * (len(outlets) - i)),
        )
        for i, outlet in enumerate(outlets)
    )
    event = EventSummary(
        cluster_id=0,
        headline="Test alert: this is what an event looks like",
        first_seen=articles[0].published,
        last_updated=articles[-1].published,
        outlets=outlets,
        article_count=len(articles),
        matched_terms=("test",),
        articles=articles,
    )
    events = (event, event) if trigger == "digest" else (event,)
    return AlertMessage(
        alert_id=alert_id or f"test-{stamp.strftime('%Y%m%dT%H%M%S%f')}",
        rule=rule,
        topic=topic,
        trigger=trigger,
        created_at=stamp,
        events=events,
        timezone=timezone,
    )
