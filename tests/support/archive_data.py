"""Fill an archive database with rows, through SQLAlchemy Core, for read-side tests."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, insert

from aggregator.api import serve
from aggregator.store.schema import alerts, articles, clusters, feeds, matches, polls

T0 = datetime(2024, 11, 4, 6, 0, tzinfo=UTC)


@dataclass
class ArchiveBuilder:
    engine: Engine
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    feed_ids: dict[str, int] = field(default_factory=dict)

    def feed(self, name: str, *, state: str = "active", title: str | None = None) -> int:
        with self.engine.begin() as conn:
            fid = conn.execute(
                insert(feeds)
                .values(
                    name=name,
                    url=f"http://127.0.0.1/{name}.xml",
                    config_url=f"http://127.0.0.1/{name}.xml",
                    title=title or name.title(),
                    enabled=True,
                    state=state,
                    fulltext=False,
                    next_poll_at=T0,
                    error_count=0 if state == "active" else 5,
                    last_outcome="ok" if state == "active" else "failed",
                    last_error=None if state == "active" else "HTTP 500",
                    created_at=T0,
                )
                .returning(feeds.c.id)
            ).scalar_one()
        self.feed_ids[name] = fid
        return int(fid)

    def article(
        self,
        feed: str,
        title: str,
        text: str = "",
        *,
        published: datetime = T0,
        language: str | None = "en",
        cluster: int | None = None,
        url: str | None = None,
        html: str | None = None,
        duplicate_of: int | None = None,
    ) -> int:
        if feed not in self.feed_ids:
            self.feed(feed)
        n = next(self._ids)
        text = text or f"{title}. Body text."
        values: dict[str, Any] = {
            "feed_id": self.feed_ids[feed],
            "identity": f"g:{feed}-{n}",
            "guid": f"{feed}-{n}",
            "url": url if url is not None else f"https://example.org/{feed}/{n}",
            "title": title,
            "title_raw": title,
            "summary": text[:200],
            "text": text,
            "html": html if html is not None else f"<p>{text}</p>",
            "published": published,
            "published_estimated": False,
            "fetched_at": published,
            "updated_at": published,
            "language": language,
            "content_hash": hashlib.sha256(f"{n}{title}{text}".encode()).hexdigest(),
            "fingerprint": 0,
            "cluster_id": cluster,
            "duplicate_of": duplicate_of,
            "duplicate_kind": None if duplicate_of is None else "url",
        }
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    insert(articles).values(**values).returning(articles.c.id)
                ).scalar_one()
            )

    def cluster(
        self,
        cid: int,
        headline: str,
        *,
        first_seen: datetime = T0,
        articles_n: int = 0,
        outlets: int = 0,
        status: str = "active",
        merged_into: int | None = None,
        terms: Sequence[str] = (),
        last_updated: datetime | None = None,
    ) -> int:
        with self.engine.begin() as conn:
            conn.execute(
                insert(clusters).values(
                    id=cid,
                    headline=headline,
                    first_seen=first_seen,
                    last_updated=last_updated or first_seen + timedelta(hours=1),
                    article_count=articles_n,
                    outlet_count=outlets,
                    top_terms=json.dumps(list(terms)),
                    status=status,
                    merged_into=merged_into,
                )
            )
        return cid

    def match(self, article_id: int, topic: str, cluster: int | None, *, at: datetime = T0) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(matches).values(
                    article_id=article_id,
                    topic=topic,
                    cluster_id=cluster,
                    terms=json.dumps(["korea"]),
                    created_at=at,
                )
            )

    def alert(
        self,
        aid: str,
        *,
        status: str = "pending",
        topic: str = "korea",
        rule: str = "rule",
        channel: str = "chan",
        cluster: int | None = None,
        error: str | None = None,
        at: datetime = T0,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(alerts).values(
                    id=aid,
                    dedupe_key=f"{rule}:{channel}:new:{aid}",
                    rule=rule,
                    channel=channel,
                    cluster_id=cluster,
                    topic=topic,
                    trigger="new_event",
                    payload="{}",
                    status=status,
                    attempts=0 if status == "pending" else 3,
                    due_at=T0,
                    last_error=error or (None if status != "dead" else "HTTP 500"),
                    created_at=at,
                    sent_at=at + timedelta(seconds=5) if status == "sent" else None,
                )
            )

    def poll(self, feed: str, *, outcome: str = "ok", at: datetime = T0) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(polls).values(
                    feed_id=self.feed_ids[feed],
                    started_at=at,
                    duration=0.25,
                    outcome=outcome,
                    url=f"http://127.0.0.1/{feed}.xml",
                    http_status=200 if outcome == "ok" else 500,
                    bytes_wire=100,
                    bytes_decoded=100,
                    new_entries=1,
                    updated_entries=0,
                    error=None if outcome == "ok" else "HTTP 500",
                )
            )


def kursk_archive(engine: Engine) -> ArchiveBuilder:
    """A small archive shaped like the Kursk story: one event, three outlets, a topic."""
    b = ArchiveBuilder(engine)
    b.feed("reuters", title="Reuters World")
    b.feed("bbc", title="BBC News")
    b.feed("lemonde", title="Le Monde")
    b.feed("broken", state="broken")
    b.cluster(1, "North Korean troops arrive in Kursk", articles_n=4, outlets=3, terms=["korea"])
    b.cluster(2, "Elections in Moldova", first_seen=T0 + timedelta(hours=5), articles_n=1)
    b.cluster(3, "Old id of the Kursk event", status="merged", merged_into=1)
    ids = [
        b.article(
            "reuters",
            "North Korean troops arrive in Kursk",
            "Thousands of North Korean soldiers reached the Kursk region of Russia.",
            cluster=1,
        ),
        b.article(
            "bbc",
            "Pyongyang sends soldiers to Russia",
            "Officials said North Korean troops were seen in Kursk on Monday.",
            published=T0 + timedelta(hours=2),
            cluster=1,
        ),
        b.article(
            "bbc",
            "Kursk: what we know",
            "An explainer about the troops and the Korean deployment.",
            published=T0 + timedelta(hours=3),
            cluster=1,
        ),
        b.article(
            "lemonde",
            "Des soldats nord-coréens à Koursk",
            "Les troupes de Corée du Nord sont arrivées à Zürich et à Koursk.",
            published=T0 + timedelta(hours=1),
            language="fr",
            cluster=1,
        ),
    ]
    moldova = b.article(
        "reuters",
        "Moldova votes in a tense election",
        "Voters in Moldova chose between east and west.",
        published=T0 + timedelta(hours=5),
        cluster=2,
    )
    for aid in ids[:3]:
        b.match(aid, "korea", 1, at=T0 + timedelta(hours=3))
    b.match(moldova, "elections", 2, at=T0 + timedelta(hours=5))
    b.poll("reuters")
    b.poll("broken", outcome="failed")
    b.alert("a1", status="sent")
    b.alert("a2", status="pending")
    b.alert("a3", status="dead")
    return b


@contextlib.contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with the daemon's ``serve`` on 127.0.0.1 (a free port) in a thread
    with its own event loop; yield the base URL; stop it gracefully on exit."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready: queue.Queue[int | BaseException] = queue.Queue()

    async def main() -> None:
        try:
            await serve(app, "127.0.0.1", 0, stop=stop, on_ready=ready.put)
        except BaseException as exc:
            ready.put(exc)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    port = ready.get(timeout=30)
    if isinstance(port, BaseException):
        raise port
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
