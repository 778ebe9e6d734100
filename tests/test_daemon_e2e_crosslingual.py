"""One event across languages: the real daemon, local outlets, the real model.

The product's founding story: English outlets report North Korean troops arriving in
Kursk; then a Korean and a Russian outlet report the same deployment, and a Korean
outlet reports another launch of a North Korean missile. The Korean and Russian
reports of the deployment join its event (they share no word with the English ones:
the vector proposes it, and the figure 8,000 agrees); the launch is an event of its
own. `cluster show --explain` says why the Korean report joined.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.httpserver import LocalServer
from tests.support.korea_news import KURSK, ORIGINAL, Report
from tests.support.multilingual_events import REPORTS
from tests.support.multilingual_kindred import ENGLISH
from tests.support.multilingual_kindred import REPORTS as KINDRED
from tests.support.webhook_receiver import WebhookReceiver
from tests.test_daemon_e2e_events import SECRET, config_text, rss, run_until

pytestmark = pytest.mark.e2e


def report(event: str, text: str) -> Report:
    title, _, body = text.partition("\n")
    return Report(event, title, body)


def cli(config: Path, env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_reports_of_the_kursk_deployment_in_korean_and_russian_join_the_english_event(
    tmp_path: Path, database_url: str
) -> None:
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=database_url)
    env.pop("NOTIFY_SOCKET", None)
    now = datetime.now(UTC).replace(microsecond=0)
    later = [
        report(KURSK, REPORTS[KURSK, "ko"]),
        report(KURSK, REPORTS[KURSK, "ru"]),
        report("icbm", KINDRED["icbm", "ko"]),
    ]
    with LocalServer() as server, WebhookReceiver(SECRET, tolerance=600) as hook:
        for i, item in enumerate(ORIGINAL):
            when = now - timedelta(hours=6) + timedelta(minutes=10 * i)
            server.static(f"/o/{i}", rss(i, item, when), content_type="application/rss+xml")
        config = tmp_path / "feeds.yaml"
        config.write_text(config_text(server, hook.url, len(ORIGINAL)))
        run_until(config, env, hook, 1, len(ORIGINAL))

        outlets = len(ORIGINAL)
        for j, item in enumerate(later):
            when = now - timedelta(hours=2) + timedelta(minutes=10 * j)
            n = outlets + j
            server.static(f"/o/{n}", rss(n, item, when), content_type="application/rss+xml")
        config.write_text(config_text(server, hook.url, outlets + len(later)))
        # No further alert is expected (the topic's query is in English).
        run_until(config, env, hook, 1, len(later))

    clusters = json.loads(cli(config, env, "clusters", "--json"))
    by_size = sorted(clusters, key=lambda c: -c["article_count"])
    # The deployment: four English reports, the Korean and the Russian one.
    assert by_size[0]["article_count"] == len(ORIGINAL) + 2, clusters
    assert by_size[0]["headline"] in {r.title for r in ORIGINAL}
    # The launch, reported only in Korean, is an event of its own.
    assert [c["article_count"] for c in by_size[1:]] == [1], clusters
    shown = cli(config, env, "cluster", "show", str(by_size[0]["id"]), "--explain")
    # The Korean report joined across languages; whether the Russian one had joined
    # first depends on which outlet's poll finished first.
    assert re.search(r"another language \(ko; event in en(, ru)?\)", shown), shown
    assert "numbers agree: 8" in shown


def test_a_report_joins_its_event_not_the_one_its_script_resembles(
    tmp_path: Path, database_url: str
) -> None:
    """Two earthquakes reported in English; the Noto one then in Russian and
    Ukrainian, which join it; then the Hualien one in Ukrainian. Its words are those
    of the Ukrainian Noto report, and on all their reports the Noto event is its
    nearest (a shared script lifts every cosine); on their English reports the
    Hualien event is, and the figures agree: it joins the Hualien event."""
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=database_url)
    env.pop("NOTIFY_SOCKET", None)
    now = datetime.now(UTC).replace(microsecond=0)
    phases = [
        [report(event, text) for event in ("noto", "hualien") for text in ENGLISH[event]],
        [report("noto", KINDRED["noto", "ru"]), report("noto", KINDRED["noto", "uk"])],
        [report("hualien", KINDRED["hualien", "uk"])],
    ]
    outlets = 0
    with LocalServer() as server, WebhookReceiver(SECRET, tolerance=600) as hook:
        config = tmp_path / "feeds.yaml"
        for p, phase in enumerate(phases):
            for j, item in enumerate(phase):
                when = now - timedelta(hours=6 - 2 * p) + timedelta(minutes=10 * j)
                n = outlets + j
                server.static(f"/o/{n}", rss(n, item, when), content_type="application/rss+xml")
            outlets += len(phase)
            config.write_text(config_text(server, hook.url, outlets))
            # No alert: the topic's query is about North Korea.
            run_until(config, env, hook, 0, len(phase))

    clusters = json.loads(cli(config, env, "clusters", "--json"))
    titles = {}
    for cluster in clusters:
        shown = cli(config, env, "cluster", "show", str(cluster["id"]), "--explain")
        titles[cluster["id"]] = shown
    (noto,) = [s for s in titles.values() if ENGLISH["noto"][0].split("\n")[0] in s]
    (hualien,) = [s for s in titles.values() if ENGLISH["hualien"][0].split("\n")[0] in s]
    assert KINDRED["noto", "uk"].split("\n")[0] in noto
    assert KINDRED["noto", "ru"].split("\n")[0] in noto
    assert KINDRED["hualien", "uk"].split("\n")[0] in hualien, titles
    assert re.search(r"another language \(uk; event in en\)", hualien), hualien
