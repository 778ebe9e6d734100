"""The HTTP API over real HTTP (uvicorn on 127.0.0.1) on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from aggregator.api import ApiSettings, create_app
from aggregator.errors import ConfigError
from aggregator.metrics import Metrics
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from tests.support.archive_data import kursk_archive, serve_in_thread

TOKEN = "s3cret-token"


@dataclass
class RecordingCommands:
    """The daemon's side of the write endpoints, as a plain in-memory implementation."""

    feeds: set[str] = field(default_factory=lambda: {"reuters"})
    retryable: set[str] = field(default_factory=lambda: {"a3"})
    calls: list[tuple[str, ...]] = field(default_factory=list)

    async def add_feed(self, name: str, url: str) -> None:
        if name in self.feeds:
            raise ConfigError([f"feeds.{name}: already configured"])
        self.feeds.add(name)
        self.calls.append(("add", name, url))

    async def remove_feed(self, name: str) -> bool:
        self.calls.append(("remove", name))
        if name not in self.feeds:
            return False
        self.feeds.remove(name)
        return True

    async def retry_alert(self, alert_id: str) -> bool:
        self.calls.append(("retry", alert_id))
        return alert_id in self.retryable


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    kursk_archive(eng)
    yield eng
    eng.dispose()


def _client(engine: Engine, settings: ApiSettings, **kw: Any) -> Iterator[httpx.Client]:
    archive = Archive(engine)
    app = create_app(archive, settings, **kw)
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


@pytest.fixture
def commands() -> RecordingCommands:
    return RecordingCommands()


@pytest.fixture
def metrics(engine: Engine) -> Metrics:
    archive = Archive(engine)
    return Metrics(feed_states=archive.feed_state_counts, outbox_depth=archive.outbox_depth)


@pytest.fixture
def client(engine: Engine, commands: RecordingCommands, metrics: Metrics) -> Iterator[httpx.Client]:
    settings = ApiSettings(token=TOKEN, topics=("korea", "quiet"))
    yield from _client(engine, settings, commands=commands, metrics=metrics)


def test_article_search_with_filters_and_cursor(client: httpx.Client) -> None:
    r = client.get("/api/v1/articles", params={"q": "korean troops"})
    assert r.status_code == 200
    body = r.json()
    assert body["items"][0]["title"] == "North Korean troops arrive in Kursk"
    assert body["items"][0]["score"] > 0
    assert body["next_cursor"] is None

    r = client.get("/api/v1/articles", params={"q": "kursk", "feed": ["bbc", "reuters"]})
    assert {a["feed"] for a in r.json()["items"]} == {"bbc", "reuters"}
    r = client.get("/api/v1/articles", params={"topic": "korea", "since": "2024-11-04T08:00:00"})
    assert [a["title"] for a in r.json()["items"]] == [
        "Kursk: what we know",
        "Pyongyang sends soldiers to Russia",
    ]
    ids: list[int] = []
    params: dict[str, Any] = {"order": "date", "limit": 2}
    for _ in range(5):
        page = client.get("/api/v1/articles", params=params).json()
        ids += [a["id"] for a in page["items"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert len(ids) == len(set(ids)) == 5


@pytest.mark.parametrize(
    ("q", "position"),
    [("NOT kursk", 0), ('"unclosed', 0), ("kursk OR -troops", None), ("k*", None)],
)
def test_bad_queries_are_400_with_a_reason(
    client: httpx.Client, q: str, position: int | None
) -> None:
    r = client.get("/api/v1/articles", params={"q": q})
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "query"
    assert body["detail"]
    if position is not None:
        assert body["position"] == position


def test_bad_cursor_and_parameters_are_client_errors(client: httpx.Client) -> None:
    assert client.get("/api/v1/articles", params={"cursor": "garbage"}).status_code == 400
    assert client.get("/api/v1/articles", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/articles", params={"since": "yesterday"}).status_code == 422
    assert client.get("/api/v1/articles", params={"q": "a\x00b"}).status_code == 400
    assert client.get("/api/v1/events/99999999999999999999").status_code == 422


def test_events_list_and_detail(client: httpx.Client) -> None:
    events = client.get("/api/v1/events").json()
    assert [e["id"] for e in events] == [2, 1]
    korea = client.get("/api/v1/events", params={"topic": "korea"}).json()
    assert [e["id"] for e in korea] == [1]
    assert [h["count"] for h in korea[0]["timeline"]] == [1, 1, 1, 1]
    detail = client.get("/api/v1/events/1").json()
    assert detail["event"]["headline"] == "North Korean troops arrive in Kursk"
    assert [g["feed"] for g in detail["outlets"]] == ["reuters", "lemonde", "bbc"]
    assert client.get("/api/v1/events/3").json()["event"]["id"] == 1  # merged → heir
    assert client.get("/api/v1/events/404").status_code == 404


def test_topics_feeds_alerts(client: httpx.Client) -> None:
    topics = {t["name"]: t for t in client.get("/api/v1/topics").json()}
    assert topics["korea"]["match_count"] == 3
    assert topics["quiet"]["match_count"] == 0
    korea = client.get("/api/v1/topics/korea").json()
    assert len(korea["matches"]) == 3
    assert [e["id"] for e in korea["events"]] == [1]
    assert client.get("/api/v1/topics/nope").status_code == 404
    feeds = {f["name"]: f for f in client.get("/api/v1/feeds").json()}
    assert feeds["broken"]["state"] == "broken"
    broken = client.get("/api/v1/feeds/broken").json()
    assert broken["recent_polls"][0]["outcome"] == "failed"
    assert client.get("/api/v1/feeds/nope").status_code == 404
    dead = client.get("/api/v1/alerts", params={"status": "dead"}).json()
    assert [(a["id"], a["last_error"]) for a in dead] == [("a3", "HTTP 500")]


def test_article_detail_is_sanitized_again(client: httpx.Client, engine: Engine) -> None:
    from tests.support.archive_data import ArchiveBuilder

    b = ArchiveBuilder(engine, feed_ids={"bbc": 2})
    aid = b.article(
        "bbc",
        "evil",
        url="javascript&#58;alert(1)",
        html='<p onclick="x()">hi<img src=x onerror="alert(1)"><script>alert(2)</script></p>',
    )
    body = client.get(f"/api/v1/articles/{aid}").json()
    assert body["url"] is None
    assert "onerror" not in body["html"]
    assert "onclick" not in body["html"]
    assert "script" not in body["html"]
    assert "hi" in body["html"]


def test_write_endpoints_need_the_token(client: httpx.Client, commands: RecordingCommands) -> None:
    new = {"name": "ap", "url": "https://example.org/ap.xml"}
    assert client.post("/api/v1/feeds", json=new).status_code == 401
    bad = client.post("/api/v1/feeds", json=new, headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == "Bearer"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/api/v1/feeds", json=new, headers=auth).status_code == 201
    assert client.post("/api/v1/feeds", json=new, headers=auth).status_code == 400  # exists
    js = {"name": "x", "url": "javascript:alert(1)"}
    assert client.post("/api/v1/feeds", json=js, headers=auth).status_code == 400
    secret = {"name": "x", "url": "https://analyst:s3cret@example.org/wire.xml"}
    refused = client.post("/api/v1/feeds", json=secret, headers=auth)
    assert refused.status_code == 400
    assert "s3cret" not in refused.text
    assert client.delete("/api/v1/feeds/ap", headers=auth).status_code == 204
    assert client.delete("/api/v1/feeds/ap", headers=auth).status_code == 404
    assert client.post("/api/v1/alerts/a3/retry", headers=auth).status_code == 202
    assert client.post("/api/v1/alerts/a1/retry", headers=auth).status_code == 404
    assert commands.calls == [
        ("add", "ap", "https://example.org/ap.xml"),
        ("remove", "ap"),
        ("remove", "ap"),
        ("retry", "a3"),
        ("retry", "a1"),
    ]


def test_write_endpoints_are_off_without_a_token(engine: Engine) -> None:
    commands = RecordingCommands()
    for client in _client(engine, ApiSettings(token=None), commands=commands):
        r = client.post(
            "/api/v1/feeds",
            json={"name": "ap", "url": "https://example.org/ap.xml"},
            headers={"Authorization": "Bearer anything"},
        )
        assert r.status_code == 403
        assert "no API token is configured" in r.json()["detail"]
        assert client.delete("/api/v1/feeds/reuters").status_code == 403
    assert commands.calls == []


def test_healthz_reports_database_and_daemon(engine: Engine) -> None:
    async def sick() -> dict[str, Any]:
        return {"ok": False, "scheduler": "not running"}

    for client in _client(engine, ApiSettings()):
        r = client.get("/healthz")
        assert r.status_code == 200
        assert r.json() == {"ok": True, "database": "ok"}
    for client in _client(engine, ApiSettings(), health=sick):
        r = client.get("/healthz")
        assert r.status_code == 503
        assert r.json()["scheduler"] == "not running"


def test_metrics_in_prometheus_format(client: httpx.Client, metrics: Metrics) -> None:
    metrics.poll_done("ok", 0.3)
    metrics.poll_done("failed", 12.0)
    metrics.articles_created(7)
    metrics.events_created(2)
    metrics.alert_done("sent")
    metrics.processing(0.02)
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    lines = set(r.text.splitlines())
    assert 'aggregator_polls_total{outcome="ok"} 1.0' in lines
    assert 'aggregator_polls_total{outcome="failed"} 1.0' in lines
    assert 'aggregator_poll_duration_seconds_bucket{le="0.5"} 1.0' in lines
    assert "aggregator_poll_duration_seconds_count 2.0" in lines
    assert "aggregator_articles_created_total 7.0" in lines
    assert "aggregator_events_created_total 2.0" in lines
    assert 'aggregator_alerts_total{outcome="sent"} 1.0' in lines
    assert "aggregator_processing_seconds_count 1.0" in lines
    # read from the database at scrape time
    assert 'aggregator_feeds{state="active"} 3.0' in lines
    assert 'aggregator_feeds{state="broken"} 1.0' in lines
    assert "aggregator_outbox_depth 1.0" in lines


def test_every_response_carries_a_strict_csp(client: httpx.Client) -> None:
    for path in ("/", "/api/v1/topics", "/openapi.json", "/static/style.css", "/nope"):
        csp = client.get(path).headers["content-security-policy"]
        assert "default-src 'none'" in csp
        # Scripts only from this site's static files: nothing inline, no eval.
        assert "script-src 'self';" in csp
        assert "unsafe" not in csp
