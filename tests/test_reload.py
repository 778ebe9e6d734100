"""Configuration reload: SIGHUP to the real daemon (a subprocess) re-reads feeds.yaml,
applies feeds, topics, rules and channels, and refuses an invalid file; and whether
`feeds add --write` finds a daemon that would pick the feed up."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from aggregator.cli.ops import pickup_note
from aggregator.compose import load_config
from aggregator.service import SingleInstanceLock, running_daemon, sqlite_lock_path
from aggregator.store import ConsumerLock, Store, create_db_engine
from aggregator.store.archive import Archive
from tests.support.daemon import kill_if_running
from tests.support.httpserver import LocalServer
from tests.support.webhook_receiver import WebhookReceiver

RSS = "application/rss+xml"
SECRET = "whsec_" + base64.b64encode(b"r" * 32).decode()


def rss(title: str, *headlines: str) -> bytes:
    items = "".join(
        f"<item><title>{h}</title><link>https://news.example/{title}/{i}</link>"
        f"<guid>urn:{title}:{i}</guid><description>{h}, reported at length.</description>"
        "</item>"
        for i, h in enumerate(headlines)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://news.example/</link>{items}</channel></rss>"
    ).encode()


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


SETTINGS = """\
settings:
  poll:
    tick: 0.2s
    allow_private_networks: true
    per_host_min_gap: 0s
    concurrency: {concurrency}
  delivery:
    tick: 0.2s
  http:
    port: 0
"""


@contextmanager
def running(
    config: Path, log_path: Path, database_url: str, *, unset: tuple[str, ...] = ()
) -> Iterator[subprocess.Popen[bytes]]:
    """`aggregator run` on CONFIG, started as a user starts it, its log in LOG_PATH.

    UNSET names environment variables the daemon must not see; a test that ends with
    the daemon still running (a failed assertion) kills it.
    """
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=database_url)
    for name in ("NOTIFY_SOCKET", *unset):
        env.pop(name, None)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator.cli", "--config", str(config), "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        yield proc
    finally:
        kill_if_running(proc)


def write(config: Path, body: str, concurrency: int = 10) -> None:
    # Atomically, as an editor or `feeds add --write` does: a SIGHUP never reads half.
    tmp = config.with_suffix(".tmp")
    tmp.write_text(SETTINGS.format(concurrency=concurrency) + body)
    tmp.replace(config)


@pytest.mark.e2e
@pytest.mark.slow
def test_sighup_applies_feeds_topics_rules_and_channels_and_refuses_a_bad_file(
    tmp_path: Path, database_url: str
) -> None:
    config = tmp_path / "feeds.yaml"
    log_path = tmp_path / "daemon.log"
    with LocalServer() as server, WebhookReceiver(SECRET, tolerance=600) as hook:
        server.static("/a.xml", rss("a", "Alpha council meets"), content_type=RSS)
        server.static("/a2.xml", rss("a2", "Alpha council votes"), content_type=RSS)
        server.static("/c.xml", rss("c", "Gamma market opens"), content_type=RSS)
        server.static(
            "/b.xml",
            rss("b", "Volcano erupts near the coast", "Volcano ash closes airports"),
            content_type=RSS,
        )
        write(
            config,
            f"feeds:\n  - name: A\n    url: {server.url('/a.xml')}\n"
            f"  - name: C\n    url: {server.url('/c.xml')}\n"
            "topics:\n  - name: alpha\n    query: alpha\n",
        )
        with (
            running(config, log_path, database_url) as proc,
            closing(Store.open(database_url)) as store,
        ):
            archive = Archive(store.engine)

            def feeds() -> dict[str, Any]:
                try:
                    return {f.name: f for f in archive.feeds()}
                except Exception:  # tables not there yet
                    return {}

            _wait(lambda: feeds().get("A") and feeds()["A"].article_count == 1, 60, "A polled")
            web = _wait(
                lambda: re.search(r"API and web page on (\S+)", log_path.read_text()),
                30,
                "the API's address",
            ).group(1)
            assert httpx.get(f"{web}api/v1/topics/volcano").status_code == 404

            # Add B with a topic, a rule and a channel; move A; drop C; a setting changes.
            write(
                config,
                f"feeds:\n  - name: A\n    url: {server.url('/a2.xml')}\n"
                f"  - name: B\n    url: {server.url('/b.xml')}\n"
                "topics:\n  - name: alpha\n    query: alpha\n"
                "  - name: volcano\n    query: volcano\n"
                f"channels:\n  - name: hook\n    type: webhook\n    url: {hook.url}\n"
                f"    secret: {SECRET}\n"
                "alerts:\n  - name: eruptions\n    topic: volcano\n    channels: [hook]\n",
                concurrency=20,
            )
            proc.send_signal(signal.SIGHUP)
            _wait(lambda: "configuration reloaded" in log_path.read_text(), 30, "the reload")
            text = log_path.read_text()
            assert (
                "feeds 1 added, 1 changed, 1 removed; 2 topics, 1 alert rules, 1 channels" in text
            )
            assert "settings.poll changed: it takes effect at the next restart" in text
            _wait(lambda: feeds()["B"].article_count == 2, 60, "B polled")
            _wait(lambda: feeds()["A"].article_count == 2, 60, "A polled at its new URL")
            assert feeds()["C"].state == "removed"
            # The new topic matched B's articles and its rule alerted the new channel.
            _wait(lambda: hook.delivered_ids, 60, "the alert on the new channel")
            [payload] = [r.json() for r in hook.requests if r.signature_valid]
            assert "Volcano" in str(payload)
            assert httpx.get(f"{web}api/v1/topics/volcano").status_code == 200
            assert httpx.get(f"{web}topics/volcano.atom").status_code == 200

            # An invalid file is refused; the running configuration stays.
            before = log_path.read_text()
            config.write_text(
                config.read_text().replace("query: volcano", "query: (volcano") + "bogus: 1\n"
            )
            proc.send_signal(signal.SIGHUP)
            refused = _wait(
                lambda: (
                    "configuration reload refused" in log_path.read_text() and log_path.read_text()
                ),
                30,
                "the refusal",
            )
            assert "the running configuration stays" in refused
            assert "bogus: unknown key" in refused
            assert "topics[1].query:" in refused
            assert refused.count("configuration reloaded") == before.count("configuration reloaded")
            assert proc.poll() is None
            assert httpx.get(f"{web}healthz").json()["ok"] is True
            assert httpx.get(f"{web}api/v1/topics/volcano").status_code == 200
            assert hook.delivered_ids  # the channel is still there
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    assert "Traceback" not in log_path.read_text()


def test_running_daemon_on_sqlite_is_the_lock_holder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert running_daemon(url) is None  # no lock file at all
    lock_path = sqlite_lock_path(url)
    assert lock_path is not None
    lock = SingleInstanceLock(lock_path)
    lock.acquire()
    try:
        assert running_daemon(url) == f"pid {os.getpid()}"
    finally:
        lock.release()
    assert running_daemon(url) is None


def test_running_daemon_on_postgresql_is_the_consumer(pg_database_url: str) -> None:
    database_url = pg_database_url
    assert running_daemon(database_url) is None
    engine = create_db_engine(database_url)
    lock = ConsumerLock(engine)
    try:
        assert lock.acquire()
        assert running_daemon(database_url) is not None
    finally:
        lock.release()
        engine.dispose()
    assert running_daemon(database_url) is None


def test_feeds_add_write_says_whether_a_daemon_will_pick_it_up(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  database_url: sqlite:///{tmp_path / 'a.db'}\n")
    loaded = load_config(config, env={})
    assert pickup_note(loaded).startswith("no daemon is running on this database")
    lock_path = sqlite_lock_path(loaded.database_url)
    assert lock_path is not None
    lock = SingleInstanceLock(lock_path)
    lock.acquire()
    try:
        note = pickup_note(loaded)
    finally:
        lock.release()
    assert note.startswith(f"a daemon is running on this database (pid {os.getpid()})")
    assert f"kill -HUP {os.getpid()}" in note
    assert "systemctl reload aggregator" in note


@pytest.mark.e2e
def test_the_daemon_runs_without_a_channel_secret_and_its_alerts_say_why(
    tmp_path: Path, database_url: str
) -> None:
    config = tmp_path / "feeds.yaml"
    log_path = tmp_path / "daemon.log"
    missing = "channels[0].secret: environment variable DEMO_HOOK_SECRET is not set"
    with LocalServer() as server, WebhookReceiver(SECRET) as hook:
        server.static("/b.xml", rss("b", "Volcano erupts near the coast"), content_type=RSS)
        write(
            config,
            f"feeds:\n  - name: B\n    url: {server.url('/b.xml')}\n"
            "topics:\n  - name: volcano\n    query: volcano\n"
            f"channels:\n  - name: hook\n    type: webhook\n    url: {hook.url}\n"
            "    secret: ${DEMO_HOOK_SECRET}\n"
            "alerts:\n  - name: eruptions\n    topic: volcano\n    channels: [hook]\n",
        )
        with (
            running(config, log_path, database_url, unset=("DEMO_HOOK_SECRET",)) as proc,
            closing(Store.open(database_url)) as store,
        ):
            archive = Archive(store.engine)

            def failed() -> list[Any]:
                try:
                    return [a for a in archive.alerts() if a.last_error]
                except Exception:  # tables not there yet
                    return []

            [alert] = _wait(failed, 60, "the alert's failed attempt")
            assert alert.channel == "hook"
            assert alert.status == "pending"  # kept: a restart with the secret sends it
            assert alert.last_error is not None
            assert missing in alert.last_error
            assert hook.requests == []
            assert proc.poll() is None
            text = log_path.read_text()
            assert f"channel 'hook' cannot deliver, its alerts wait: {missing}" in text
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
