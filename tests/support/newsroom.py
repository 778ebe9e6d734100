"""A morning's archive for the web page's tests: 31 outlets, a 1,000-article event that
unfolds within one hour, dozens of smaller events, alerts that went out and failed.

Built through SQLAlchemy Core in a few bulk inserts (a thousand single-row
transactions would dominate the test's time on both backends).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine, insert

from aggregator.store.schema import alerts, articles, channel_state, clusters, feeds, matches
from tests.support.archive_data import T0

BIG = 100  # the id of the 1,000-article event
BIG_ARTICLES = 1000
COPIES = 40  # of them, word-for-word copies of another outlet's article
OUTLETS = 31
SMALL_EVENTS = 45
# Two outlets whose feeds both call themselves "Korea Herald": the page must tell them
# apart by their configured names.
SHARED_TITLE = "Korea Herald"

PARAGRAPHS = (
    "North Korean troops crossed into the Kursk region overnight, officials said, "
    "the first confirmed deployment of the units on Russian soil.",
    "The defence ministry in Seoul said it was tracking the movements and would brief "
    "lawmakers later on Tuesday.",
    "Analysts said the deployment could change the course of the fighting in the region.",
)


@dataclass
class Newsroom:
    feed_names: list[str] = field(default_factory=list)
    big_article_ids: list[int] = field(default_factory=list)
    copy_ids: list[int] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)  # every listed event
    newest_update: int = 0  # the event updated last


def build_newsroom(engine: Engine) -> Newsroom:
    room = Newsroom()
    with engine.begin() as conn:
        feed_ids: dict[str, int] = {}
        for i in range(OUTLETS):
            name = f"outlet-{i:02d}" if i > 1 else ("herald-en", "herald-biz")[i]
            title = SHARED_TITLE if i <= 1 else f"Outlet {i:02d} News"
            broken = i == OUTLETS - 1
            feed_ids[name] = conn.execute(
                insert(feeds)
                .values(
                    name=name,
                    url=f"http://127.0.0.1:9/{name}/a-rather-long-path/to/the/feed.xml",
                    config_url=f"http://127.0.0.1:9/{name}/feed.xml",
                    title=title,
                    enabled=True,
                    state="broken" if broken else "active",
                    fulltext=False,
                    next_poll_at=T0 + timedelta(minutes=15 + i),
                    last_polled_at=T0 - timedelta(minutes=i),
                    last_success_at=T0 - timedelta(minutes=i + (90 if broken else 0)),
                    error_count=6 if broken else 0,
                    last_outcome="failed" if broken else "ok",
                    last_http_status=503 if broken else 200,
                    last_error="HTTP 503 Service Unavailable" if broken else None,
                    created_at=T0 - timedelta(days=3),
                )
                .returning(feeds.c.id)
            ).scalar_one()
            room.feed_names.append(name)
        names = room.feed_names

        def article_row(n: int, feed: str, title: str, cluster: int, minutes: float) -> dict:
            text = "\n\n".join(PARAGRAPHS) if n % 3 == 0 else PARAGRAPHS[0]
            return {
                "feed_id": feed_ids[feed],
                "identity": f"g:{feed}-{n}",
                "guid": f"{feed}-{n}",
                "url": f"https://example.org/{feed}/{n}",
                "canonical_url": f"https://example.org/{feed}/{n}",
                "title": title,
                "title_raw": title,
                "summary": text[:200],
                "text": text,
                "html": "".join(f"<p>{p}</p>" for p in text.split("\n\n")),
                "published": T0 + timedelta(minutes=minutes),
                "published_estimated": False,
                "fetched_at": T0 + timedelta(minutes=minutes),
                "updated_at": T0 + timedelta(minutes=minutes),
                "language": "en",
                "content_hash": hashlib.sha256(f"{n}{title}".encode()).hexdigest(),
                "fingerprint": 0,
                "cluster_id": cluster,
            }

        # The big event: 1,000 reports within 55 minutes, from every outlet, the first
        # from outlet-05; the last COPIES are copies of earlier articles of it.
        originals = BIG_ARTICLES - COPIES
        rows = []
        for n in range(originals):
            feed = names[(n + 5) % (OUTLETS - 1)]
            rows.append(
                # Reports crowd in at first, then thin out: a breaking story.
                article_row(
                    n, feed, f"Kursk update {n}: troops on the move", BIG, 55 * (n / originals) ** 2
                )
            )
        room.big_article_ids = [
            int(i) for i in conn.execute(insert(articles).returning(articles.c.id), rows).scalars()
        ]
        copy_rows = []
        for k in range(COPIES):
            original_index = k * 7
            original_feed = names[(original_index + 5) % (OUTLETS - 1)]
            feed = next(f for f in names[2 + k % 20 :] if f != original_feed)
            row = article_row(
                originals + k,
                feed,
                f"Kursk update {original_index}: troops on the move",
                BIG,
                40 + k * 15 / COPIES,
            )
            row["url"] = rows[original_index]["url"]
            row["duplicate_of"] = room.big_article_ids[original_index]
            row["duplicate_kind"] = "url"
            copy_rows.append(row)
        room.copy_ids = [
            int(i)
            for i in conn.execute(insert(articles).returning(articles.c.id), copy_rows).scalars()
        ]
        conn.execute(
            insert(clusters).values(
                id=BIG,
                headline="North Korean troops move into Kursk",
                first_seen=T0,
                last_updated=T0 + timedelta(minutes=55),
                article_count=BIG_ARTICLES,
                outlet_count=OUTLETS - 1,
                top_terms=json.dumps(["korea", "kursk"]),
                status="active",
            )
        )
        conn.execute(
            insert(matches),
            [
                {
                    "article_id": room.big_article_ids[0],
                    "topic": "korea",
                    "cluster_id": BIG,
                    "terms": json.dumps(["korea"]),
                    "created_at": T0,
                }
            ],
        )
        room.event_ids.append(BIG)
        # Smaller events over the previous two days; event 200 + 7 grew last.
        small_rows = []
        for e in range(SMALL_EVENTS):
            cid = 200 + e
            first = T0 - timedelta(hours=48) + timedelta(hours=e)
            updated = first + timedelta(hours=1)
            if e == 7:
                updated = T0 + timedelta(hours=2)
                room.newest_update = cid
            conn.execute(
                insert(clusters).values(
                    id=cid,
                    headline=f"Story {e}: talks resume in Geneva",
                    first_seen=first,
                    last_updated=updated,
                    article_count=3,
                    outlet_count=1 + e % 4,
                    top_terms="[]",
                    status="active",
                )
            )
            room.event_ids.append(cid)
            for j in range(3):
                minutes = (first - T0).total_seconds() / 60 + j * 20
                small_rows.append(
                    article_row(
                        10_000 + e * 3 + j,
                        names[2 + (e + j) % 20],
                        f"Story {e}: talks resume in Geneva ({j})",
                        cid,
                        minutes,
                    )
                )
        conn.execute(insert(articles), small_rows)
        # Alerts: an email rule that delivers, a webhook whose endpoint fails.
        alert_rows = []
        for k in range(60):
            failing = k % 4 == 0
            queued = T0 - timedelta(minutes=k)
            alert_rows.append(
                {
                    "id": f"alert-{k:03d}",
                    "dedupe_key": f"k{k}",
                    "rule": "korea-desk" if k % 2 else "breaking",
                    "channel": "hook" if failing else "desk-mail",
                    "topic": "korea",
                    "trigger": "new_event",
                    "cluster_id": 200 + k % SMALL_EVENTS,
                    "payload": "{}",
                    "status": "dead" if failing else "sent",
                    "attempts": 5 if failing else 1,
                    "due_at": T0,
                    "last_error": "HTTP 502 from hooks.example: bad gateway" if failing else None,
                    "created_at": queued,
                    "sent_at": None if failing else queued + timedelta(seconds=3),
                }
            )
        conn.execute(insert(alerts), alert_rows)
        conn.execute(
            insert(channel_state).values(
                channel="hook",
                disabled_at=T0,
                disabled_reason="the endpoint answered 410 Gone",
            )
        )
    return room
