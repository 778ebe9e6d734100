"""The real daemon, as a subprocess, against real local feed servers."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.store import Store
from aggregator.store.archive import Archive
from tests.support.daemon import kill_if_running, start_daemon
from tests.support.httpserver import LocalServer

DATA = Path(__file__).parent / "data" / "e2e"
FEEDS = {
    "Local Wire": ("/wire/rss.xml", "rss20.xml", "application/rss+xml", 3),
    "RDF Broadcaster": ("/rdf/news.rdf", "rss10.rdf", "application/rdf+xml", 2),
    "Atom Daily": ("/atom/feed.atom", "atom10.xml", "application/atom+xml", 2),
}

pytestmark = pytest.mark.e2e


@pytest.fixture
def feed_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        for path, filename, ctype, _ in FEEDS.values():
            server.static(path, (DATA / filename).read_bytes(), content_type=ctype)
        yield server


def write_config(tmp_path: Path, server: LocalServer, extra_feeds: str = "") -> Path:
    lines = [
        "settings:",
        "  poll:",
        "    tick: 0.2s",
        "    allow_private_networks: true",
        "    per_host_min_gap: 0s",
        "    per_host_connections: 4",
        "    parse_workers: 2",
        "  http: {enabled: false}",
        "feeds:",
    ]
    for name, (path, *_rest) in FEEDS.items():
        lines += [f"  - name: {name}", f"    url: {server.url(path)}"]
    config = tmp_path / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n" + extra_feeds)
    return config


def run_cli(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def daemon_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["AGGREGATOR_DATABASE_URL"] = database_url
    env.pop("NOTIFY_SOCKET", None)
    return env


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_daemon_polls_stores_and_stops_on_sigterm(
    tmp_path: Path, feed_server: LocalServer, database_url: str
) -> None:
    expected = sum(n for *_rest, n in FEEDS.values())
    # An unreachable feed must not disturb the others.
    dead = "  - name: Dead Feed\n    url: http://127.0.0.1:9/feed.xml\n"
    config = write_config(tmp_path, feed_server, dead)
    env = daemon_env(database_url)
    started = time.monotonic()
    proc = start_daemon(config, env, stdout=subprocess.PIPE)
    store = Store.open(database_url)
    try:
        landed = wait_for(lambda: _count(store) >= expected, timeout=60)
        elapsed = time.monotonic() - started
        assert landed, f"articles did not land: {_count(store)}/{expected}"
        # every feed polled, the dead one recorded with its error
        statuses = {s.name: s for s in Archive(store.engine).feeds()}
        assert wait_for(lambda: _polled_all(store), timeout=30)
        statuses = {s.name: s for s in Archive(store.engine).feeds()}
        assert wait_for(lambda: not store.unprocessed_articles(1), timeout=30)
        assert statuses["Dead Feed"].last_outcome == "failed"
        assert statuses["Dead Feed"].last_error
        for name in FEEDS:
            assert statuses[name].last_outcome == "ok", statuses[name]
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
        stop_time = time.monotonic() - t0
    finally:
        kill_if_running(proc)
        store.close()
    assert proc.returncode == 0, err
    assert stop_time < 10
    assert "daemon stopped" in err
    # all of the above by the daemon as it runs for its users: again under -OO
    # (aggregator.memory.lean_argv, tests/test_memory_lean.py), docstrings left out
    assert "running under python -OO" in err
    assert err.count("outcome=ok") >= len(FEEDS)
    assert "Traceback" not in err
    print(f"\nend-to-end: articles landed in {elapsed:.1f}s, stopped in {stop_time:.2f}s")

    # The archive, through the CLI.
    result = run_cli(config, env, "search", "north", "korean", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    titles = {h["title"] for h in hits}
    assert "North Korean troops arrive in Russia's Kursk region" in titles  # suffix cleaned
    assert "Pentagon: 10,000 North Korean soldiers now in eastern Russia" in titles
    assert all(h["feed"] in FEEDS for h in hits)
    result = run_cli(config, env, "feeds", "--json")
    feeds = {f["name"]: f for f in json.loads(result.stdout)}
    assert feeds["Local Wire"]["article_count"] == 3
    assert feeds["Atom Daily"]["article_count"] == 2
    # Events: the consumer clustered what the daemon stored.
    result = run_cli(config, env, "clusters", "--json")
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)
    assert sum(e["article_count"] for e in events) == expected
    kursk = max(events, key=lambda e: e["article_count"])
    assert kursk["outlet_count"] >= 2  # the Kursk reports of several outlets, together
    shown = run_cli(config, env, "cluster", "show", str(kursk["id"]), "--explain")
    assert shown.returncode == 0, shown.stderr
    assert "first report:" in shown.stdout
    assert "why:" in shown.stdout
    # An event that does not exist is a named error with exit 1 (issue 16), not usage.
    missing = run_cli(config, env, "cluster", "show", "999999")
    assert missing.returncode == 1
    assert "error: no event 999999" in missing.stderr
    exported = run_cli(config, env, "export", "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == expected
    assert {r["feed"] for r in rows} == set(FEEDS)
    bad = run_cli(config, env, "search", "(kursk")
    assert bad.returncode == 2
    assert "bad query" in bad.stderr


def _count(store: Store) -> int:
    return store.count_articles()


def _polled_all(store: Store) -> bool:
    return all(s.last_polled_at is not None for s in Archive(store.engine).feeds())


def test_poll_once_is_idempotent_and_conditional(
    tmp_path: Path, feed_server: LocalServer, database_url: str
) -> None:
    config = write_config(tmp_path, feed_server)
    env = daemon_env(database_url)
    first = run_cli(config, env, "poll", "--once", "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)["summary"]
    assert summary == {
        "ok": 3,
        "not_modified": 0,
        "failed": 0,
        "new_articles": 7,
        "updated_articles": 0,
        "filtered_entries": 0,
        "too_old_entries": 0,
    }
    # Nothing is due now; forcing the feeds by name sends conditional requests.
    again = run_cli(config, env, "poll", "--once", "--json")
    assert json.loads(again.stdout)["summary"]["ok"] == 0
    names = [arg for name in FEEDS for arg in ("--feed", name)]
    limited = run_cli(config, env, "poll", "--once", "--json", *names)
    assert json.loads(limited.stdout)["summary"]["ok"] == 0  # manual refresh rate-limited
    assert "--force to insist" in limited.stderr
    forced = run_cli(config, env, "poll", "--once", "--json", "--force", *names)
    assert forced.returncode == 0, forced.stderr
    summary = json.loads(forced.stdout)["summary"]
    assert summary["not_modified"] == 3
    assert summary["new_articles"] == 0
    for path, *_rest in FEEDS.values():
        reqs = feed_server.requests_for(path)
        assert len(reqs) == 2
        assert reqs[0].header("if-none-match") is None
        assert reqs[1].header("if-none-match") is not None
        assert (reqs[1].header("user-agent") or "").startswith("aggregator/")
        assert reqs[1].header("cookie") is None
        assert reqs[1].header("referer") is None
    shown = run_cli(config, env, "feeds", "show", "Local Wire", "--json")
    polls = json.loads(shown.stdout)["polls"]
    assert [p["outcome"] for p in polls] == ["not_modified", "ok"]
    assert polls[0]["etag_sent"] == polls[1]["etag_received"]


def test_unknown_feed_name_is_a_usage_error(tmp_path: Path, feed_server: LocalServer) -> None:
    config = write_config(tmp_path, feed_server)
    env = daemon_env(f"sqlite:///{tmp_path / 'x.db'}")
    result = run_cli(config, env, "poll", "--once", "--feed", "Nope")
    assert result.returncode == 2
    assert "not in the configuration: Nope" in result.stderr


def test_second_daemon_on_one_sqlite_file_is_refused(
    tmp_path: Path, feed_server: LocalServer
) -> None:
    config = write_config(tmp_path, feed_server)
    env = daemon_env(f"sqlite:///{tmp_path / 'one.db'}")
    first = start_daemon(config, env, stdout=subprocess.PIPE)
    try:
        assert wait_for(lambda: (tmp_path / "one.db.lock").exists(), timeout=30)
        time.sleep(0.5)
        second = run_cli(config, env, "run")
        assert second.returncode == 1
        assert "already running on this SQLite database" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=15)
    assert first.returncode == 0


def test_daemon_serves_the_archive_health_metrics_and_guarded_writes(
    tmp_path: Path, feed_server: LocalServer, database_url: str
) -> None:
    import re

    import httpx

    config = write_config(tmp_path, feed_server)
    text = config.read_text().replace(
        "  http: {enabled: false}", "  http: {port: 0, token: '${API_TOKEN}'}"
    )
    config.write_text(text)
    env = daemon_env(database_url) | {"API_TOKEN": "s3cret-token"}
    log = tmp_path / "daemon.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator.cli", "--config", str(config), "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        assert wait_for(lambda: "API and web page on" in log.read_text(), timeout=60)
        m = re.search(r"API and web page on (http://127\.0\.0\.1:\d+)/", log.read_text())
        assert m is not None
        base = m.group(1)
        with httpx.Client(base_url=base, timeout=10) as client:
            assert wait_for(
                lambda: client.get("/api/v1/articles", params={"q": "kursk"}).json().get("items"),
                timeout=60,
            )
            health = client.get("/healthz")
            assert health.status_code == 200
            assert health.json()["scheduler"] == "running"
            metrics = client.get("/metrics").text
            assert re.search(r'aggregator_polls_total\{outcome="ok"\} [1-9]', metrics)
            assert "aggregator_articles_created_total" in metrics
            # writes need the token
            new = {"name": "Added", "url": feed_server.url("/wire/rss.xml") + "?v=2"}
            assert client.post("/api/v1/feeds", json=new).status_code in (401, 403)
            auth = {"authorization": "Bearer s3cret-token"}
            assert client.post("/api/v1/feeds", json=new, headers=auth).status_code == 201
            assert client.post("/api/v1/feeds", json=new, headers=auth).status_code == 400
            assert wait_for(
                lambda: any(
                    f["name"] == "Added" and f.get("last_polled_at")
                    for f in client.get("/api/v1/feeds").json()
                ),
                timeout=60,
            )
            assert client.delete("/api/v1/feeds/Added", headers=auth).status_code == 204
            kept = client.delete("/api/v1/feeds/Local Wire", headers=auth)
            assert kept.status_code == 409  # declared in feeds.yaml
            assert "feeds.yaml" in kept.text
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    finally:
        kill_if_running(proc)
    assert proc.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()
