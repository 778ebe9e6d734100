"""AlertMessage ⇄ JSON, for the outbox.

The message is fixed when the alert is enqueued (same transaction as the match), so
every retry sends the same content and the same id. Fields added later are optional
on read: rows written by an older version still deliver.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from aggregator.alerts.message import (
    AlertMessage,
    ArticleRef,
    Change,
    EventSummary,
    FeedHealthNote,
)
from aggregator.alerts.rules import Trigger


def _ts(value: datetime) -> str:
    return value.isoformat()


def _article(a: ArticleRef) -> dict[str, Any]:
    return {
        "title": a.title,
        "url": a.url,
        "outlet": a.outlet,
        "published": _ts(a.published),
        "id": a.id,
        "matched_terms": list(a.matched_terms),
        "link": a.link,
    }


def _event(e: EventSummary) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cluster_id": e.cluster_id,
        "headline": e.headline,
        "first_seen": _ts(e.first_seen),
        "last_updated": _ts(e.last_updated),
        "outlets": list(e.outlets),
        "article_count": e.article_count,
        "matched_terms": list(e.matched_terms),
        "articles": [_article(a) for a in e.articles],
        "lead": [_article(a) for a in e.lead],
        "by_outlet": [[o, n] for o, n in e.by_outlet],
        "outlet_count": e.outlet_count,
        "link": e.link,
    }
    if e.change is not None:
        out["change"] = {
            "outlets_before": e.change.outlets_before,
            "articles_before": e.change.articles_before,
            "new_outlets": list(e.change.new_outlets),
        }
    return out


def message_to_json(msg: AlertMessage) -> str:
    data = {
        "alert_id": msg.alert_id,
        "rule": msg.rule,
        "topic": msg.topic,
        "trigger": msg.trigger,
        "created_at": _ts(msg.created_at),
        "timezone": msg.timezone,
        "topic_link": msg.topic_link,
        "events": [_event(e) for e in msg.events],
        "feeds": [
            {
                "feed": n.feed,
                "url": n.url,
                "status": n.status,
                "previous": n.previous,
                "reason": n.reason,
                "since": _ts(n.since),
                "link": n.link,
            }
            for n in msg.feeds
        ],
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _ref(a: dict[str, Any]) -> ArticleRef:
    return ArticleRef(
        title=a["title"],
        url=a["url"],
        outlet=a["outlet"],
        published=datetime.fromisoformat(a["published"]),
        id=a.get("id"),
        matched_terms=tuple(a.get("matched_terms") or ()),
        link=a.get("link"),
    )


def _summary(e: dict[str, Any]) -> EventSummary:
    change = e.get("change")
    return EventSummary(
        cluster_id=int(e["cluster_id"]),
        headline=e["headline"],
        first_seen=datetime.fromisoformat(e["first_seen"]),
        last_updated=datetime.fromisoformat(e["last_updated"]),
        outlets=tuple(e["outlets"]),
        article_count=int(e["article_count"]),
        matched_terms=tuple(e["matched_terms"]),
        articles=tuple(_ref(a) for a in e["articles"]),
        lead=tuple(_ref(a) for a in e.get("lead") or ()),
        by_outlet=tuple((str(o), int(n)) for o, n in e.get("by_outlet") or ()),
        outlet_count=int(e.get("outlet_count") or 0),
        link=e.get("link"),
        change=(
            Change(
                outlets_before=int(change["outlets_before"]),
                articles_before=int(change["articles_before"]),
                new_outlets=tuple(change["new_outlets"]),
            )
            if change
            else None
        ),
    )


def message_from_json(raw: str) -> AlertMessage:
    data: dict[str, Any] = json.loads(raw)
    return AlertMessage(
        alert_id=data["alert_id"],
        rule=data["rule"],
        topic=data["topic"],
        trigger=cast(Trigger, data["trigger"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        timezone=data.get("timezone", "UTC"),
        topic_link=data.get("topic_link"),
        events=tuple(_summary(e) for e in data["events"]),
        feeds=tuple(
            FeedHealthNote(
                feed=n["feed"],
                url=n["url"],
                status=n["status"],
                previous=n["previous"],
                reason=n["reason"],
                since=datetime.fromisoformat(n["since"]),
                link=n.get("link"),
            )
            for n in data.get("feeds") or ()
        ),
    )
