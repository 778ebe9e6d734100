"""Alerts end to end: the real daemon, 40 local feeds, a real SMTP server and a real
webhook receiver; then a daemon killed between claiming an alert and sending it."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.daemon import kill_if_running
from tests.support.httpserver import LocalServer
from tests.support.smtpserver import SMTPTestServer
from tests.support.webhook_receiver import Reply, WebhookReceiver
from tests.test_daemon_e2e import wait_for

pytestmark = pytest.mark.e2e

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
KURSK = [
    "North Korean troops arrive in Russia's Kursk region",
    "Thousands of North Korean soldiers reach Kursk, Ukraine says",
    "Kursk: North Korean troops deployed near the Ukrainian border",
    "NATO confirms North Korean soldiers are in Russia's Kursk region",
]
PACT = [
    "Putin and Kim Jong Un sign mutual defence treaty in Pyongyang",
    "Pyongyang summit: Putin and Kim agree a mutual defence pact with troops pledge",
]


def rss(feed: int, title: str, body: str) -> bytes:
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet {feed}</title>
<link>https://outlet{feed}.example/</link><description>news</description>
<item><title>{title}</title><link>https://outlet{feed}.example/a/{abs(hash(title)) % 10**8}</link>
<guid>outlet{feed}-{abs(hash(title)) % 10**8}</guid>
<pubDate>Mon, 04 Nov 2024 09:{feed % 60:02d}:00 GMT</pubDate>
<description>{body}</description></item></channel></rss>""".encode()


def config_text(server: LocalServer, smtp: SMTPTestServer, hook_url: str, feeds: int) -> str:
    lines = [
        "settings:",
        "  poll: {tick: 0.2s, allow_private_networks: true, per_host_connections: 20,",
        "         per_host_min_gap: 0s, parse_workers: 1}",
        "  delivery: {tick: 0.3s, lease: 2s}",
        "  http: {enabled: false}",
        "feeds:",
    ]
    lines += [f"  - {{name: Outlet {i}, url: '{server.url(f'/o/{i}')}'}}" for i in range(feeds)]
    lines += [
        "topics:",
        "  - name: nk",
        "    query: '(\"north korean\" OR pyongyang) AND (troops OR soldiers OR troop*)'",
        "channels:",
        f"  - {{name: mail, type: email, host: 127.0.0.1, port: {smtp.port}, security: none,",
        "     from: alerts@example.org, to: [desk@example.org]}",
        f"  - {{name: hook, type: webhook, url: '{hook_url}', secret: '{SECRET}', timeout: 10s}}",
        "alerts:",
        "  - {name: nk-new, topic: nk, trigger: new_event, channels: [mail, hook]}",
    ]
    return "\n".join(lines) + "\n"


def start(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    # stderr to a file: after a SIGKILL the parse workers may hold a pipe open.
    log = (config.parent / f"daemon-{time.monotonic_ns()}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator.cli", "--config", str(config), "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    log.close()
    proc.log_path = Path(log.name)  # type: ignore[attr-defined]
    return proc


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    err = proc.log_path.read_text()  # type: ignore[attr-defined]
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return err


def test_forty_feeds_one_event_one_alert_per_channel_then_a_second_event(
    tmp_path: Path, database_url: str
) -> None:
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=database_url)
    env.pop("NOTIFY_SOCKET", None)
    with (
        LocalServer() as server,
        SMTPTestServer() as smtp,
        WebhookReceiver(SECRET, tolerance=600) as hook,
    ):
        body = "Several thousand soldiers from Pyongyang reached the western region."
        for i in range(40):
            server.static(f"/o/{i}", rss(i, KURSK[i % 4], body), content_type="application/rss+xml")
        config = tmp_path / "feeds.yaml"
        config.write_text(config_text(server, smtp, hook.url, 40))
        proc = start(config, env)
        try:
            assert wait_for(lambda: len(smtp.messages) >= 1 and hook.delivered_ids, timeout=90)
            time.sleep(3)  # every poll and alert has had time to land: still one each
            assert len(server.requests) >= 40
            first_err = stop(proc)
        finally:
            kill_if_running(proc)
        assert len(smtp.messages) == 1, first_err
        assert len(hook.delivered_ids) == 1
        payload = hook.requests[-1].json()
        assert payload["type"] == "event.new"
        assert "Kursk" in payload["data"]["events"][0]["headline"]
        # A second event on four new outlets, after a restart: a second alert.
        pact = "The leaders signed a strategic partnership at a summit, state media said."
        for i in range(40, 44):
            server.static(f"/o/{i}", rss(i, PACT[i % 2], pact), content_type="application/rss+xml")
        config.write_text(config_text(server, smtp, hook.url, 44))
        proc = start(config, env)
        try:
            assert wait_for(lambda: len(smtp.messages) >= 2 and len(hook.delivered_ids) >= 2, 90)
            time.sleep(2)
            stop(proc)
        finally:
            kill_if_running(proc)
        assert len(smtp.messages) == 2
        assert len(set(hook.delivered_ids)) == 2
        ids = {m.message["Message-ID"] for m in smtp.messages}
        assert len(ids) == 2


def test_daemon_killed_between_claim_and_send_delivers_after_restart(
    tmp_path: Path, database_url: str
) -> None:
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=database_url)
    env.pop("NOTIFY_SOCKET", None)
    with (
        LocalServer() as server,
        SMTPTestServer() as smtp,
        WebhookReceiver(SECRET, tolerance=600) as hook,
    ):
        hook.script(Reply(hang=30))  # the first attempt never gets an answer
        for i in range(3):
            server.static(
                f"/o/{i}",
                rss(i, KURSK[i], "Troops reached Kursk."),
                content_type="application/rss+xml",
            )
        config = tmp_path / "feeds.yaml"
        config.write_text(config_text(server, smtp, hook.url, 3))
        proc = start(config, env)
        try:
            # The webhook attempt is in flight (claimed, not marked): kill the daemon.
            assert wait_for(lambda: len(hook.requests) >= 1, timeout=90)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            kill_if_running(proc)
        assert hook.delivered_ids == []
        proc = start(config, env)  # after the 2 s lease the alert is claimed again
        try:
            assert wait_for(lambda: len(hook.delivered_ids) >= 1, timeout=90)
            time.sleep(1)
            stop(proc)
        finally:
            kill_if_running(proc)
        ids = [r.webhook_id for r in hook.requests]
        assert len(hook.delivered_ids) == 1  # delivered once
        assert ids.count(hook.delivered_ids[0]) >= 2  # the same id as the lost attempt
