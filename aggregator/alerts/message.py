"""What an alert says, and how it is rendered for each channel.

An ``AlertMessage`` is built by the delivery job from the outbox row and the events it
names; rendering is pure (no I/O, no clock), so the same row renders to the same bytes
on every retry. Everything in a message came from feeds and is untrusted: the HTML
renderer escapes every value and links only http(s) URLs; the subject is a single line.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
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
    "developing": "event.developing",
    "feed_health": "feed.health",
}

# Thin payloads (Standard Webhooks suggests < 20 kB) and readable mails: an event with
# 300 articles lists what caused the alert, then a few more, and sums the rest up by
# outlet ("Reuters (12), AP (9) …") — never hiding the new article behind "… and N more".
DEFAULT_MAX_ARTICLES = 10
# Outlets named one by one in the summary; the rest are counted.
MAX_OUTLETS_SHOWN = 25

_SUBJECT_MAX = 200


@dataclass(frozen=True, slots=True)
class ArticleRef:
    """One article carrying an event, as shown in an alert."""

    title: str
    url: str | None
    outlet: str
    published: datetime
    id: int | None = None  # the archive's id (its page link), when it has one
    matched_terms: tuple[str, ...] = ()  # the topic's terms this article matched
    link: str | None = None  # its page in the archive (``settings.http.base_url``)


@dataclass(frozen=True, slots=True)
class Change:
    """What a ``developing`` alert reports: how the event grew since the rule's last
    alert for it."""

    outlets_before: int
    articles_before: int
    new_outlets: tuple[str, ...]  # outlets that joined since, in report order


@dataclass(frozen=True, slots=True)
class EventSummary:
    """One real-world event (a cluster) as an alert shows it.

    ``lead`` holds what caused the alert and is always shown first, whatever the
    event's size: the new article (every_article), the matching article with its
    terms (new_event, min_sources), the articles new since the last digest or the last
    alert (digest, developing). ``headline`` is the lead's title when there is one (an
    event's own headline may come from an article the topic excludes).
    """

    cluster_id: int
    headline: str
    first_seen: datetime
    last_updated: datetime
    outlets: tuple[str, ...]  # distinct outlet names, in the order they reported
    article_count: int
    matched_terms: tuple[str, ...]
    articles: tuple[ArticleRef, ...]
    lead: tuple[ArticleRef, ...] = ()
    # articles per outlet, the event's whole (``outlets`` may be cut at MAX_OUTLETS)
    by_outlet: tuple[tuple[str, int], ...] = ()
    outlet_count: int = 0  # 0: len(outlets)
    link: str | None = None  # the event's page in the archive
    change: Change | None = None

    @property
    def outlet_total(self) -> int:
        return self.outlet_count or len(self.outlets)


@dataclass(frozen=True, slots=True)
class FeedHealthNote:
    """One feed's health transition, for a ``feed_health`` alert."""

    feed: str
    url: str
    status: str  # ok | broken | gone | quiet
    previous: str
    reason: str
    since: datetime
    link: str | None = None


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
    topic_link: str | None = None  # the topic's page in the archive
    feeds: tuple[FeedHealthNote, ...] = ()  # feed_health alerts

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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def subject(msg: AlertMessage) -> str:
    """A one-line subject that names what happened.

    ``[topic] <the new / matching article> (N outlets)``; developing stories say how
    they grew (``+5 outlets``); digests count events; feed health names the feed.
    """
    topic = _one_line(msg.topic)
    if msg.trigger == "feed_health":
        notes = msg.feeds
        if len(notes) == 1:
            note = notes[0]
            line = f"[feeds] {_one_line(note.feed)} is {note.status}"
            if note.status == "ok":
                line = f"[feeds] {_one_line(note.feed)} recovered"
        else:
            line = f"[feeds] {_plural(len(notes), 'feed')} changed health"
    elif msg.trigger == "digest":
        new = sum(len(e.lead) for e in msg.events)
        line = f"[{topic}] digest: {_plural(len(msg.events), 'event')}"
        if new:
            line += f", {new} new"
    elif not msg.events:
        line = f"[{topic}] alert"
    else:
        event = msg.events[0]
        n = event.outlet_total
        growth = ""
        if msg.trigger == "developing" and event.change is not None:
            growth = f"+{n - event.change.outlets_before} outlets, "
        line = f"[{topic}] {_one_line(event.headline)} ({growth}{_plural(n, 'outlet')})"
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
    if msg.trigger == "developing":
        event = msg.events[0] if msg.events else None
        if event is None or event.change is None:
            return f"An event matching topic “{msg.topic}” is developing."
        c = event.change
        return (
            f"A story matching topic “{msg.topic}” is developing: "
            f"+{event.outlet_total - c.outlets_before} outlets, "
            f"+{event.article_count - c.articles_before} articles since the last alert."
        )
    if msg.trigger == "feed_health":
        return "Feed health changed."
    new = sum(len(e.lead) for e in msg.events)
    return f"Events matching topic “{msg.topic}” since the last digest: {len(msg.events)}" + (
        f" ({new} new articles, listed first)." if new else "."
    )


def _lead_label(msg: AlertMessage) -> str:
    return {
        "every_article": "New article",
        "digest": "New since the last digest",
        "developing": "New since the last alert",
    }.get(msg.trigger, "Matching article")


def _outlet_summary(event: EventSummary) -> str:
    pairs = event.by_outlet or tuple((o, 0) for o in event.outlets)
    shown = [f"{_one_line(o)} ({n})" if n else _one_line(o) for o, n in pairs[:MAX_OUTLETS_SHOWN]]
    rest = event.outlet_total - len(shown)
    if rest > 0:
        shown.append(f"and {rest} more")
    return ", ".join(shown)


def _others(event: EventSummary, max_articles: int) -> tuple[list[ArticleRef], int]:
    """The articles listed after the lead, and how many of the event are not listed."""
    lead = set(event.lead)
    room = max(max_articles - len(event.lead), 0)
    others = [a for a in event.articles if a not in lead][:room]
    return others, max(event.article_count - len(event.lead) - len(others), 0)


def _article_line(art: ArticleRef) -> str:
    return f"{_one_line(art.title)} ({_one_line(art.outlet)})"


def render_text(msg: AlertMessage, *, max_articles: int = DEFAULT_MAX_ARTICLES) -> str:
    """The plain-text body (also the text/plain part of the email)."""
    lines = [_one_line(_intro(msg)), ""]
    for note in msg.feeds:
        lines.append(f"{_one_line(note.feed)}: {note.previous} → {note.status}")
        lines.append(f"  {_one_line(note.reason)}")
        lines.append(f"  since {_human(note.since, msg.timezone)} · {_one_line(note.url)}")
        if safe_link(note.link):
            lines.append(f"  {note.link}")
        lines.append("")
    for event in msg.events:
        lines.append(_one_line(event.headline))
        lines.append("=" * min(len(lines[-1]), 72))
        if event.lead:
            lines.append(f"{_lead_label(msg)}:")
            for art in event.lead[:max_articles]:
                lines.append(f"  * {_article_line(art)}")
                if art.matched_terms:
                    terms = ", ".join(map(_one_line, art.matched_terms))
                    lines.append(f"    Matched terms: {terms}")
                for link in (safe_link(art.url), safe_link(art.link)):
                    if link:
                        lines.append(f"    {_one_line(link)}")
            if len(event.lead) > max_articles:
                lines.append(f"  … and {len(event.lead) - max_articles} more new")
        if event.change is not None and event.change.new_outlets:
            new = ", ".join(_one_line(o) for o in event.change.new_outlets[:MAX_OUTLETS_SHOWN])
            lines.append(f"New outlets: {new}")
        lines.append(f"First reported: {_human(event.first_seen, msg.timezone)}")
        lines.append(f"Last updated:   {_human(event.last_updated, msg.timezone)}")
        lines.append(f"Outlets ({event.outlet_total}): {_outlet_summary(event)}")
        if event.matched_terms:
            lines.append("Matched terms:  " + ", ".join(_one_line(t) for t in event.matched_terms))
        lines.append(f"Articles: {event.article_count}")
        others, hidden = _others(event, max_articles)
        for art in others:
            lines.append(f"  - {_article_line(art)}")
            link = safe_link(art.url)
            if link:
                lines.append(f"    {_one_line(link)}")
        if hidden > 0:
            lines.append(f"  … and {hidden} more (counted by outlet above)")
        if safe_link(event.link):
            lines.append(f"Event: {event.link}")
        lines.append("")
    if safe_link(msg.topic_link):
        lines.append(f"Topic: {msg.topic_link}")
    lines.append(f"Rule: {_one_line(msg.rule)} · alert {msg.alert_id}")
    return "\n".join(lines) + "\n"


def render_html(msg: AlertMessage, *, max_articles: int = DEFAULT_MAX_ARTICLES) -> str:
    """The HTML body. Every feed-supplied value is escaped; only http(s) links are links."""

    def esc(text: str) -> str:
        return html.escape(_one_line(text), quote=True)

    def anchor(text: str, url: str | None) -> str:
        link = safe_link(url)
        if link:
            return f'<a href="{html.escape(link, quote=True)}">{esc(text)}</a>'
        return esc(text)

    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>',
        esc(subject(msg)),
        "</title></head><body>",
        f"<p>{esc(_intro(msg))}</p>",
    ]
    if msg.feeds:
        parts.append("<ul>")
        for note in msg.feeds:
            parts.append(
                f"<li>{anchor(note.feed, note.link)}: {esc(note.previous)} → "
                f"<b>{esc(note.status)}</b> — {esc(note.reason)} "
                f"(since {esc(_human(note.since, msg.timezone))})</li>"
            )
        parts.append("</ul>")
    for event in msg.events:
        parts.append(f"<h2>{anchor(event.headline, event.link)}</h2>")
        if event.lead:
            parts.append(f"<p><b>{esc(_lead_label(msg))}:</b></p><ul>")
            for art in event.lead[:max_articles]:
                terms = ""
                if art.matched_terms:
                    terms = " — " + ", ".join(f"<b>{esc(t)}</b>" for t in art.matched_terms)
                archive = ""
                if safe_link(art.link):
                    archive = f" [{anchor('archive', art.link)}]"
                title = anchor(art.title, art.url)
                parts.append(f"<li>{title} <i>({esc(art.outlet)})</i>{terms}{archive}</li>")
            parts.append("</ul>")
        parts.append("<ul>")
        if event.change is not None and event.change.new_outlets:
            new = ", ".join(esc(o) for o in event.change.new_outlets[:MAX_OUTLETS_SHOWN])
            parts.append(f"<li>New outlets: {new}</li>")
        parts.append(f"<li>First reported: {esc(_human(event.first_seen, msg.timezone))}</li>")
        parts.append(f"<li>Last updated: {esc(_human(event.last_updated, msg.timezone))}</li>")
        parts.append(f"<li>Outlets ({event.outlet_total}): {esc(_outlet_summary(event))}</li>")
        if event.matched_terms:
            terms = ", ".join(f"<b>{esc(t)}</b>" for t in event.matched_terms)
            parts.append(f"<li>Matched terms: {terms}</li>")
        parts.append(f"<li>Articles: {event.article_count}</li>")
        parts.append("</ul><ol>")
        others, hidden = _others(event, max_articles)
        for art in others:
            parts.append(f"<li>{anchor(art.title, art.url)} <i>({esc(art.outlet)})</i></li>")
        parts.append("</ol>")
        if hidden > 0:
            parts.append(f"<p>… and {hidden} more (counted by outlet above)</p>")
        if safe_link(event.link):
            parts.append(f"<p>{anchor('The event in the archive', event.link)}</p>")
    if safe_link(msg.topic_link):
        parts.append(f"<p>{anchor('The topic in the archive', msg.topic_link)}</p>")
    parts.append(f"<p><small>Rule: {esc(msg.rule)} · alert {esc(msg.alert_id)}</small></p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _article_json(a: ArticleRef) -> dict[str, Any]:
    return {
        "id": a.id,
        "title": a.title,
        "url": safe_link(a.url),
        "outlet": a.outlet,
        "published": _iso(a.published),
        "matched_terms": list(a.matched_terms),
        "link": safe_link(a.link),
    }


def webhook_payload(
    msg: AlertMessage, *, max_articles: int = DEFAULT_MAX_ARTICLES
) -> dict[str, Any]:
    """The JSON body: ``{type, timestamp, data}`` as Standard Webhooks recommends.

    ``timestamp`` is when the alert was created (the event time), not this attempt's
    time, so every retry sends the same body. ``data.article`` is the article that
    caused the alert (every_article, and the matching article of new_event and
    min_sources); each event's ``new_articles`` are what it is about, never cut.
    """
    events = []
    for e in msg.events:
        others, _ = _others(e, max_articles)
        item: dict[str, Any] = {
            "cluster_id": e.cluster_id,
            "headline": e.headline,
            "link": safe_link(e.link),
            "first_seen": _iso(e.first_seen),
            "last_updated": _iso(e.last_updated),
            "outlets": list(e.outlets),
            "outlet_count": e.outlet_total,
            "by_outlet": [{"outlet": o, "articles": n} for o, n in e.by_outlet],
            "article_count": e.article_count,
            "matched_terms": list(e.matched_terms),
            "new_articles": [_article_json(a) for a in e.lead],
            "articles": [_article_json(a) for a in [*e.lead, *others]],
        }
        if e.change is not None:
            item["change"] = {
                "outlets_before": e.change.outlets_before,
                "articles_before": e.change.articles_before,
                "new_outlets": e.outlet_total - e.change.outlets_before,
                "new_article_count": e.article_count - e.change.articles_before,
                "new_outlet_names": list(e.change.new_outlets),
            }
        events.append(item)
    data: dict[str, Any] = {
        "alert_id": msg.alert_id,
        "rule": msg.rule,
        "topic": msg.topic,
        "topic_link": safe_link(msg.topic_link),
        "trigger": msg.trigger,
        "events": events,
    }
    if msg.trigger in ("every_article", "new_event", "min_sources") and msg.events:
        lead = msg.events[0].lead
        data["article"] = _article_json(lead[0]) if lead else None
    if msg.trigger == "feed_health":
        data["feeds"] = [
            {
                "feed": n.feed,
                "url": n.url,
                "status": n.status,
                "previous": n.previous,
                "reason": n.reason,
                "since": _iso(n.since),
                "link": safe_link(n.link),
            }
            for n in msg.feeds
        ]
    return {
        "type": WEBHOOK_TYPES[msg.trigger],
        "timestamp": _iso(msg.created_at),
        "data": data,
    }


def render_short(msg: AlertMessage, limit: int) -> str:
    """A plain-text body of at most ``limit`` characters for chat and push services.

    What caused the alert comes first, so a service that keeps only a few hundred
    characters (SMS, Discord, Telegram) still says what happened; then the links, then
    as much of the event as fits, cut at a line.
    """
    head: list[str] = []
    for note in msg.feeds:
        reason = _one_line(note.reason)
        head.append(f"{_one_line(note.feed)}: {note.previous} → {note.status}. {reason}")
    for event in msg.events:
        for art in event.lead[:3]:
            head.append(f"• {_article_line(art)}")
            link = safe_link(art.url)
            if link:
                head.append(f"  {link}")
        if len(event.lead) > 3:
            head.append(f"  … and {len(event.lead) - 3} more new")
        if safe_link(event.link):
            head.append(f"Event: {event.link}")
    if safe_link(msg.topic_link):
        head.append(f"Topic: {msg.topic_link}")
    full = render_text(msg).splitlines()
    lines: list[str] = []
    used = 0
    for line in [*head, "", *full]:
        cost = len(line) + 1
        if used + cost > limit:
            break
        lines.append(line)
        used += cost
    if not lines:  # even the first line is too long: cut it
        return _one_line(head[0] if head else subject(msg))[: max(limit - 1, 0)] + "…"
    return "\n".join(lines).rstrip()


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
    lead = (replace(articles[-1], matched_terms=("test",)),)
    event = EventSummary(
        cluster_id=0,
        headline=lead[0].title,
        first_seen=articles[0].published,
        last_updated=articles[-1].published,
        outlets=outlets,
        article_count=len(articles),
        matched_terms=("test",),
        articles=articles,
        lead=lead,
        by_outlet=tuple((o, 1) for o in outlets),
        change=Change(1, 1, outlets[1:]) if trigger == "developing" else None,
    )
    events: tuple[EventSummary, ...] = (event, event) if trigger == "digest" else (event,)
    feeds: tuple[FeedHealthNote, ...] = ()
    if trigger == "feed_health":
        events = ()
        feeds = (
            FeedHealthNote(
                feed="Example Wire",
                url="https://example.org/feed.xml",
                status="broken",
                previous="ok",
                reason="test alert: HTTP 503 on the last 10 polls",
                since=stamp,
            ),
        )
    return AlertMessage(
        alert_id=alert_id or f"test-{stamp.strftime('%Y%m%dT%H%M%S%f')}",
        rule=rule,
        topic=topic,
        trigger=trigger,
        created_at=stamp,
        events=events,
        timezone=timezone,
        feeds=feeds,
    )
