"""Atom out: parsed back with feedparser (ids, updated, links) over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import feedparser
import httpx
import pytest
from sqlalchemy import Engine, update

from aggregator.api import ApiSettings, create_app
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from aggregator.store.schema import clusters
from tests.support.archive_data import T0, ArchiveBuilder, kursk_archive, serve_in_thread


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    kursk_archive(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def base(engine: Engine) -> Iterator[str]:
    app = create_app(Archive(engine), ApiSettings(title="Monitor", topics=("korea", "quiet")))
    with serve_in_thread(app) as url:
        yield url


def fetch(url: str) -> feedparser.FeedParserDict:
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def test_topic_feed_has_one_entry_per_event(base: str, engine: Engine) -> None:
    feed = fetch(f"{base}/topics/korea.atom")
    assert feed.feed.id == f"{base}/topics/korea"
    assert feed.feed.title == "Monitor: korea"
    links = {link.rel: link.href for link in feed.feed.links}
    assert links == {"self": f"{base}/topics/korea.atom", "alternate": f"{base}/topics/korea"}
    [entry] = feed.entries
    assert entry.id == f"{base}/events/1"
    assert entry.title == "North Korean troops arrive in Kursk"
    assert entry.link == f"{base}/events/1"
    assert entry.summary.startswith("4 articles from 3 outlets: ")
    # Who carries it, and links to the articles themselves (issue 15).
    detail = Archive(engine).event(1)
    assert detail is not None
    for group in detail.outlets:
        assert f"{group.feed_title or group.feed} ({len(group.articles)})" in entry.summary
    related = {link.href for link in entry.links if link.rel == "related"}
    article_urls = {a.url for g in detail.outlets for a in g.articles if a.url}
    assert related == article_urls
    assert all(f'href="{u}"' in entry.content[0].value for u in article_urls)
    first_updated = entry.updated
    assert first_updated == "2024-11-04T07:00:00Z"
    assert entry.published == "2024-11-04T06:00:00Z"
    assert feed.feed.updated == first_updated

    # The event grows: same id, later updated, so readers refresh the entry.
    with engine.begin() as conn:
        conn.execute(
            update(clusters)
            .where(clusters.c.id == 1)
            .values(last_updated=T0 + timedelta(hours=9), article_count=5)
        )
    [grown] = fetch(f"{base}/topics/korea.atom").entries
    assert grown.id == entry.id
    assert grown.updated == "2024-11-04T15:00:00Z"
    assert grown.summary.startswith("5 articles")


def test_a_configured_topic_without_events_is_still_valid_atom(base: str) -> None:
    feed = fetch(f"{base}/topics/quiet.atom")
    assert feed.entries == []
    assert feed.feed.updated == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize("path", ["/topics/nothing-here.atom", "/topics/nothing%20here.atom"])
def test_an_unknown_topic_is_404_not_an_empty_feed(base: str, path: str) -> None:
    r = httpx.get(f"{base}{path}", timeout=30)
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    assert "nothing" in r.json()["detail"]
    assert httpx.head(f"{base}{path}", timeout=30).status_code == 404


@pytest.mark.parametrize("path", ["/topics/korea.atom", "/search.atom?q=kursk"])
def test_atom_sends_validators_and_answers_304(base: str, engine: Engine, path: str) -> None:
    first = httpx.get(f"{base}{path}", timeout=30)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"')
    assert modified.endswith(" GMT")
    again = httpx.get(f"{base}{path}", headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = httpx.get(f"{base}{path}", headers={"If-None-Match": f'W/{etag}, "x"'}, timeout=30)
    assert weak.status_code == 304
    assert (
        httpx.get(f"{base}{path}", headers={"If-Modified-Since": modified}, timeout=30).status_code
        == 304
    )
    # If-None-Match wins over If-Modified-Since when both are sent.
    other = {"If-None-Match": '"other"', "If-Modified-Since": modified}
    assert httpx.get(f"{base}{path}", headers=other, timeout=30).status_code == 200
    # The topic's event grows: new bytes, new ETag, a later Last-Modified.
    with engine.begin() as conn:
        conn.execute(
            update(clusters)
            .where(clusters.c.id == 1)
            .values(last_updated=T0 + timedelta(days=30), article_count=6)
        )
    b = ArchiveBuilder(engine, feed_ids={"bbc": 2})
    b.article("bbc", "Kursk again", published=T0 + timedelta(days=30))
    changed = httpx.get(f"{base}{path}", headers={"If-None-Match": etag}, timeout=30)
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    stale = httpx.get(f"{base}{path}", headers={"If-Modified-Since": modified}, timeout=30)
    assert stale.status_code == 200


@pytest.mark.parametrize("path", ["/topics/korea.atom", "/search.atom?q=kursk"])
def test_head_answers_like_get_without_a_body(base: str, path: str) -> None:
    got = httpx.get(f"{base}{path}", timeout=30)
    head = httpx.head(f"{base}{path}", timeout=30)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))


def test_saved_search_feed(base: str, engine: Engine) -> None:
    b = ArchiveBuilder(engine, feed_ids={"bbc": 2})
    b.article(
        "bbc",
        "Kursk <b>bold</b> & \x07 bell",
        url="javascript:alert(1)",
        published=T0 + timedelta(hours=10),
    )
    feed = fetch(f"{base}/search.atom?q=kursk")
    assert feed.feed.id == f"{base}/search?q=kursk"
    ids = [e.id for e in feed.entries]
    assert len(ids) == len(set(ids)) == 4
    assert all(i.startswith(f"{base}/articles/") for i in ids)
    newest = feed.entries[0]
    # the title is text, escaped by the serializer; the control character is dropped
    assert newest.title == "Kursk <b>bold</b> &  bell"
    # an unsafe original URL gets no related link
    assert [link.rel for link in newest.links] == ["alternate"]
    related = [link.href for e in feed.entries for link in e.links if link.rel == "related"]
    assert related
    assert all(h.startswith("https://example.org/") for h in related)
    updated = [e.updated for e in feed.entries]
    assert updated == sorted(updated, reverse=True)


def test_saved_search_with_a_bad_query_is_400(base: str) -> None:
    r = httpx.get(f"{base}/search.atom", params={"q": "NOT x"}, timeout=30)
    assert r.status_code == 400
    assert r.json()["error"] == "query"
