"""AlertMessage ⇄ JSON, for the outbox.

The message is fixed when the alert is enqueued (same transaction as the match), so
every retry sends the same content and the same id.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from aggregator.alerts.message import AlertMessage, ArticleRef, EventSummary
from aggregator.alerts.rules import Trigger


def _ts(value: datetime) -> str:
    return value.isoformat()


def message_to_json(msg: AlertMessage) -> str:
    data = {
        "alert_id": msg.alert_id,
        "rule": msg.rule,
        "topic": msg.topic,
        "trigger": msg.trigger,
        "created_at": _ts(msg.created_at),
        "timezone": msg.timezone,
        "events": [
            {
                "cluster_id": e.cluster_id,
                "headline": e.headline,
                "first_seen": _ts(e.first_seen),
                "last_updated": _ts(e.last_updated),
                "outlets": list(e.outlets),
                "article_count": e.article_count,
                "matched_terms": list(e.matched_terms),
                "articles": [
                    {
                        "title": a.title,
                        "url": a.url,
                        "outlet": a.outlet,
                        "published": _ts(a.published),
                    }
                    for a in e.articles
                ],
            }
            for e in msg.events
        ],
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def message_from_json(raw: str) -> AlertMessage:
    data: dict[str, Any] = json.loads(raw)
    return AlertMessage(
        alert_id=data["alert_id"],
        rule=data["rule"],
        topic=data["topic"],
        trigger=cast(Trigger, data["trigger"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        timezone=data.get("timezone", "UTC"),
        events=tuple(
            EventSummary(
                cluster_id=int(e["cluster_id"]),
                headline=e["headline"],
                first_seen=datetime.fromisoformat(e["first_seen"]),
                last_updated=datetime.fromisoformat(e["last_updated"]),
                outlets=tuple(e["outlets"]),
                article_count=int(e["article_count"]),
                matched_terms=tuple(e["matched_terms"]),
                articles=tuple(
                    ArticleRef(
                        title=a["title"],
                        url=a["url"],
                        outlet=a["outlet"],
                        published=datetime.fromisoformat(a["published"]),
                    )
                    for a in e["articles"]
                ),
            )
            for e in data["events"]
        ),
    )
