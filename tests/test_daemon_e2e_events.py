"""A development is a new event: the real daemon, local outlets, a real webhook.

Issue 13, point 5. Four outlets report North Korean troops arriving in Kursk; the
next day, other outlets report four later developments of the same topic (a
capture in Kursk, artillery crews sent to Belgorod, a missile launch, the armistice
anniversary). A reader following North Korea wants one ``new_event`` alert for each
of the five events, and `cluster show --explain` to say why a development did not
join the event it resembles.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.support.daemon import kill_if_running
from tests.support.httpserver import LocalServer
from tests.support.korea_news import CAPTURE, DEVELOPMENTS, KURSK, ORIGINAL, Report
from tests.support.webhook_receiver import WebhookReceiver
from tests.test_daemon_e2e import wait_for
from tests.test_daemon_e2e_alerts import start, stop

pytestmark = pytest.mark.e2e

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def rss(outlet: int, report: Report, when: datetime) -> bytes:
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet {outlet}</title>
<link>https://outlet{outlet}.example/</link><description>news</description>
<item><title>{html.escape(report.title)}</title>
<link>https://outlet{outlet}.example/world/{outlet}</link>
<guid>outlet{outlet}-{report.event}</guid>
<pubDate>{format_datetime(when)}</pubDate>
<description>{html.escape(report.body)}</description></item></channel></rss>""".encode()


def config_text(server: LocalServer, hook_url: str, outlets: int) -> str:
    lines = [
        "settings:",
        "  poll: {tick: 0.2s, allow_private_networks: true, per_host_connections: 20,",
        "         per_host_min_gap: 0s, parse_workers: 1}",
        "  delivery: {tick: 0.3s, lease: 2s}",
        "  http: {enabled: false}",
        "feeds:",
    ]
    lines += [f"  - {{name: Outlet {i}, url: '{server.url(f'/o/{i}')}'}}" for i in range(outlets)]
    lines += [
        "topics:",
        "  - name: nk",
        '    query: \'"north korea" OR "north korean" OR pyongyang\'',
        "channels:",
        f"  - {{name: hook, type: webhook, url: '{hook_url}', secret: '{SECRET}', timeout: 10s}}",
        "alerts:",
        "  - {name: nk-new, topic: nk, trigger: new_event, channels: [hook]}",
    ]
    return "\n".join(lines) + "\n"


def processed(proc: subprocess.Popen[str]) -> int:
    """Articles the daemon has processed so far, from its log."""
    log = proc.log_path.read_text()  # type: ignore[attr-defined]
    return sum(int(n) for n in re.findall(r"processed articles=(\d+)", log))


def run_until(
    config: Path, env: dict[str, str], hook: WebhookReceiver, alerts: int, articles: int
) -> None:
    """Run the daemon until ``articles`` new articles are processed and ``alerts`` sent."""
    proc = start(config, env)
    try:
        done = wait_for(
            lambda: processed(proc) >= articles and len(hook.delivered_ids) >= alerts, 180
        )
        if not done:
            log = proc.log_path.read_text()  # type: ignore[attr-defined]
            pytest.fail(f"{len(hook.delivered_ids)} alerts: {headlines(hook)}\n{log[-3000:]}")
        # Give a wrong extra alert time to arrive.
        wait_for(lambda: len(hook.delivered_ids) > alerts, timeout=3)
        stop(proc)
    finally:
        kill_if_running(proc)


def headlines(hook: WebhookReceiver) -> list[str]:
    out = []
    for request in hook.requests:
        payload = request.json()
        if payload.get("type") == "event.new":
            out += [e["headline"] for e in payload["data"]["events"]]
    return out


def test_each_development_of_a_story_raises_its_own_new_event_alert(
    tmp_path: Path, database_url: str
) -> None:
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=database_url)
    env.pop("NOTIFY_SOCKET", None)
    # Recent times: the daemon keeps the events of its time window in memory across
    # the restart, so the developments meet the original event there.
    now = datetime.now(UTC).replace(microsecond=0)
    with LocalServer() as server, WebhookReceiver(SECRET, tolerance=600) as hook:
        for i, report in enumerate(ORIGINAL):
            when = now - timedelta(hours=20) + timedelta(minutes=10 * i)
            server.static(f"/o/{i}", rss(i, report, when), content_type="application/rss+xml")
        config = tmp_path / "feeds.yaml"
        config.write_text(config_text(server, hook.url, len(ORIGINAL)))
        run_until(config, env, hook, 1, len(ORIGINAL))
        assert len(hook.delivered_ids) == 1, headlines(hook)
        assert headlines(hook)[0] in {r.title for r in ORIGINAL}

        # The next morning, four developments, each first reported by one outlet;
        # an hour later a second outlet reports each, and joins the development's
        # event, not the original one it also resembles. (Which report of a
        # development comes first matters: a write-up much closer to the original
        # than "Ukraine captures two North Korean soldiers" could still join it.)
        firsts = [r for i, r in enumerate(DEVELOPMENTS) if i % 2 == 0]
        seconds = [r for i, r in enumerate(DEVELOPMENTS) if i % 2 == 1]
        outlets = len(ORIGINAL)
        for wave, reports in enumerate((firsts, seconds)):
            for j, report in enumerate(reports):
                when = now - timedelta(hours=4 - wave) + timedelta(minutes=10 * j)
                n = outlets + j
                server.static(f"/o/{n}", rss(n, report, when), content_type="application/rss+xml")
            outlets += len(reports)
            config.write_text(config_text(server, hook.url, outlets))
            run_until(config, env, hook, 5, len(reports))

        got = headlines(hook)
        assert len(hook.delivered_ids) == 5, got
        events = {r.event for r in ORIGINAL + DEVELOPMENTS}
        by_title = {r.title: r.event for r in ORIGINAL + DEVELOPMENTS}
        # One alert per event, each headed by one of that event's reports.
        assert sorted(by_title[h] for h in got) == sorted(events)

    # Why the capture is an event of its own, as a user would ask.
    listing = subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "--config", str(config), "clusters", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    clusters = json.loads(listing.stdout)
    by_headline = {by_title[c["headline"]]: c for c in clusters}
    assert set(by_headline) == {r.event for r in ORIGINAL + DEVELOPMENTS}
    assert by_headline[KURSK]["article_count"] == len(ORIGINAL)
    capture = by_headline[CAPTURE]
    assert capture["article_count"] == 2
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "aggregator.cli",
            "--config",
            str(config),
            "cluster",
            "show",
            str(capture["id"]),
            "--explain",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # The first capture report started the event and says which event it was not.
    assert "why: started the event" in shown
    assert f"not event {by_headline[KURSK]['id']}: content" in shown
    # The second joined it on shared names.
    assert "names agree" in shown
