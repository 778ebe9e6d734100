"""Issue 15 end to end: the real daemon, real local feeds and real receivers (a signed
webhook receiver, and Gotify + JSON endpoints reached through Apprise), on both
backends. Every alert names its article and links to the archive; an Apprise channel
that is down, then up, gets each alert once; a feed that breaks and recovers gives
exactly two feed-health alerts."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.support.daemon import kill_if_running
from tests.support.httpserver import LocalServer, Response
from tests.support.push_receiver import PushReceiver
from tests.support.webhook_receiver import WebhookReceiver
from tests.test_daemon_e2e import wait_for
from tests.test_daemon_e2e_alerts import KURSK, SECRET, rss, start, stop

pytestmark = pytest.mark.e2e

BASE = "https://monitor.example.org"


def config_text(server: LocalServer, hook_url: str, push: PushReceiver) -> str:
    return (
        "\n".join(
            [
                "settings:",
                "  poll: {tick: 1s, allow_private_networks: true, per_host_connections: 20,",
                "         per_host_min_gap: 0s, parse_workers: 1, min_interval: 1s,",
                "         default_interval: 1s, max_interval: 2s, error_backoff_base: 1s,",
                "         error_backoff_cap: 1s, broken_after: 2, jitter: 0}",
                "  delivery: {tick: 0.3s, lease: 5s, feed_health_every: 0.5s}",
                f"  http: {{enabled: false, base_url: '{BASE}'}}",
                "feeds:",
                *[f"  - {{name: Outlet {i}, url: '{server.url(f'/o/{i}')}'}}" for i in range(3)],
                "topics:",
                "  - {name: nk, query: '\"north korean\" AND (troops OR soldiers)'}",
                "channels:",
                f"  - {{name: hook, type: webhook, url: '{hook_url}', secret: '{SECRET}'}}",
                "  - name: push",
                "    type: apprise",
                f"    urls: ['{push.apprise_url('gotify')}', '{push.apprise_url('json')}']",
                "    timeout: 5s",
                "alerts:",
                "  - {name: every, topic: nk, trigger: every_article, channels: [hook, push]}",
                "  - {name: sources, trigger: feed_health, channels: [push]}",
            ]
        )
        + "\n"
    )


def health_titles(push: PushReceiver) -> list[str]:
    return [
        p.json()["title"]
        for p in push.delivered("gotify")
        if p.json()["title"].startswith("[feeds]")
    ]


def test_alerts_name_their_article_reach_apprise_once_and_feed_health(
    tmp_path: Path, database_url: str
) -> None:
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=database_url)
    env.pop("NOTIFY_SOCKET", None)
    with (
        LocalServer() as server,
        WebhookReceiver(SECRET, tolerance=600) as hook,
        PushReceiver() as push,
    ):
        bodies = {}
        for i in range(3):
            bodies[i] = rss(i, KURSK[i], "Soldiers from Pyongyang reached Kursk.")
            server.static(f"/o/{i}", bodies[i], content_type="application/rss+xml")
        config = tmp_path / "feeds.yaml"
        config.write_text(config_text(server, hook.url, push))
        push.down = True  # the push services are down when the alerts are made
        proc = start(config, env)
        try:
            assert wait_for(lambda: len(hook.delivered_ids) >= 3, timeout=90)
            assert wait_for(lambda: len(push.received) >= 2, timeout=30)
            push.down = False
            assert wait_for(lambda: len(push.delivered("json")) >= 3, timeout=90)
            # Feed 0 breaks (two failed polls), then recovers.
            server.route("/o/0", Response(status=500, body=b"down"))
            assert wait_for(lambda: len(health_titles(push)) >= 1, timeout=60)
            server.static("/o/0", bodies[0] + b" ", content_type="application/rss+xml")
            assert wait_for(lambda: len(health_titles(push)) >= 2, timeout=60)
            time.sleep(3)  # nothing more arrives: once per alert, once per transition
            stop(proc)
        finally:
            kill_if_running(proc)
        payloads = [r.json() for r in hook.requests if r.status == 200]
        delivered_articles = push.delivered("gotify")
    assert len(payloads) == 3
    titles = set()
    for payload in payloads:
        data = payload["data"]
        assert payload["type"] == "article.new"
        article = data["article"]
        titles.add(article["title"])
        assert article["title"] in KURSK
        assert article["matched_terms"]
        assert article["link"].startswith(f"{BASE}/articles/")
        assert data["events"][0]["link"].startswith(f"{BASE}/events/")
        assert data["topic_link"] == f"{BASE}/topics/nk"
        assert data["events"][0]["new_articles"][0]["title"] == article["title"]
    assert titles == set(KURSK[:3])
    # Apprise: each alert once per service after the outage, each led by its article.
    article_pushes = [p.json() for p in delivered_articles if p.json()["title"].startswith("[nk]")]
    assert len(article_pushes) == 3
    assert len(push.delivered("json")) == len(push.delivered("gotify"))
    for body in article_pushes:
        first = body["message"].splitlines()[0]
        assert any(t in first for t in KURSK[:3])
        assert f"{BASE}/events/" in body["message"]
    assert health_titles(push) == ["[feeds] Outlet 0 is broken", "[feeds] Outlet 0 recovered"]
