"""Issue 18, operators: a first migration killed at any statement, an early SIGTERM,
every configuration problem at once, OPML round trips, the CLI's rough edges."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from aggregator.store import create_db_engine
from aggregator.store.migrate import current_revision, head_revision, upgrade
from aggregator.store.schema import feeds
from tests.support.daemon import kill_if_running, start_daemon


def _statements_in_an_upgrade(tmp_path: Path) -> int:
    count = 0

    def counted(*_args: object) -> None:
        nonlocal count
        count += 1

    engine = create_db_engine(f"sqlite:///{tmp_path / 'count.db'}")
    event.listen(Engine, "after_cursor_execute", counted)
    try:
        upgrade(engine)
    finally:
        event.remove(Engine, "after_cursor_execute", counted)
        engine.dispose()
    return count


def _upgrade_killed_after(path: Path, statement: int) -> int:
    """Fork; the child runs ``upgrade`` and is SIGKILLed right after its n-th SQL
    statement. Returns the child's wait status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            seen = 0

            def kill_at(*_args: object) -> None:
                nonlocal seen
                seen += 1
                if seen == statement:
                    os.kill(os.getpid(), signal.SIGKILL)

            event.listen(Engine, "after_cursor_execute", kill_at)
            upgrade(create_db_engine(f"sqlite:///{path}"))
        finally:
            os._exit(0)  # the kill point was past the end
    deadline = time.monotonic() + 120
    while True:  # bounded: a child stuck on a lock inherited through fork is killed
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_first_sqlite_migration_killed_at_every_statement_boots_again(tmp_path: Path) -> None:
    total = _statements_in_an_upgrade(tmp_path)
    assert total > 10
    head = head_revision()
    killed = 0
    for statement in range(1, total + 1):
        path = tmp_path / f"killed-{statement}.db"
        status = _upgrade_killed_after(path, statement)
        killed += os.WIFSIGNALED(status)
        engine = create_db_engine(f"sqlite:///{path}")
        try:
            # Nothing half-done: the revision is none or the head, and an upgrade
            # (the next start) completes.
            assert current_revision(engine) in (None, head), statement
            upgrade(engine)
            assert current_revision(engine) == head, statement
        finally:
            engine.dispose()
    assert killed == total


# -- 8. SIGTERM before the handlers are installed ------------------------------------


def test_sigterm_during_start_up_is_a_clean_stop(tmp_path: Path) -> None:
    # The configuration is a FIFO: once this side's open() returns, the CLI is inside
    # its own code reading it, before the daemon's event loop handles signals.
    config = tmp_path / "feeds.yaml"
    os.mkfifo(config)
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}")
    proc = start_daemon(config, env)
    try:
        fd = -1
        while fd < 0 and proc.poll() is None:
            try:  # non-blocking: fails with ENXIO until the CLI opens it for reading
                fd = os.open(config, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.05)
        assert fd >= 0, "the CLI ended before reading its configuration"
        proc.send_signal(signal.SIGTERM)
        os.write(fd, b"settings:\n  http: {port: 0}\nfeeds: []\n")
        os.close(fd)
        _, err = proc.communicate(timeout=60)
    finally:
        kill_if_running(proc)
    assert proc.returncode == 0, err
    assert "received SIGTERM during start-up" in err


# -- 9. every configuration problem at once --------------------------------------------

CONFIG_WITH_TWO_PROBLEMS = """\
feeds:
  - {name: one, url: "https://wire.example/feed", interval: 10s}
topics:
  - {name: t, query: kursk}
channels:
  - name: hook
    type: webhook
    url: https://hooks.example/x
    secret: whsec_MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=
alerts:
  - {name: r, topic: t, trigger: new_event, channels: [hook], max_per_hour: 0}
"""


def test_config_check_reports_field_and_cross_field_problems_together() -> None:
    from aggregator.compose import load_config
    from aggregator.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_config(None, text=CONFIG_WITH_TWO_PROBLEMS, env={})
    problems = caught.value.problems
    assert any(p.startswith("alerts[0].max_per_hour:") for p in problems), problems
    assert "feeds[0].interval: below the 1-minute floor" in problems


def test_a_cross_field_check_on_a_value_left_out_is_not_reported_twice() -> None:
    from aggregator.compose import load_config
    from aggregator.errors import ConfigError

    text = "settings:\n  poll: {min_interval: -5m, max_interval: 2m}\nfeeds: []\n"
    with pytest.raises(ConfigError) as caught:
        load_config(None, text=text, env={})
    problems = caught.value.problems
    assert [p for p in problems if p.startswith("settings.poll.min_interval")], problems
    assert "settings.poll.min_interval: larger than max_interval" not in problems


# -- 10. OPML: nothing skipped in silence, nothing lost on a round trip ------------------


def test_opml_import_says_what_it_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aggregator.cli import main

    opml = tmp_path / "in.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline text="Wire" xmlUrl="https://wire.example/feed"/>'
        '<outline text="Gopher news" xmlUrl="gopher://hole.example/1"/>'
        '<outline text="Wire again" xmlUrl="https://wire.example/feed"/>'
        "</body></opml>"
    )
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\n")
    assert main(["--config", str(config), "opml", "import", str(opml)]) == 0
    err = capsys.readouterr().err
    assert "skipped Gopher news: not an http(s) URL (gopher://hole.example/1)" in err
    assert "skipped Wire again: the same URL as an earlier outline" in err
    assert "2 skipped" in err


def test_opml_export_keeps_tags_and_site_and_imports_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aggregator.cli import main
    from aggregator.opml import parse_opml
    from aggregator.store import FeedSpec, Store

    db = tmp_path / "db.sqlite"
    store = Store.open(f"sqlite:///{db}")
    upgrade(store.engine)
    store.sync_feeds([FeedSpec("wire", "https://wire.example/feed")], datetime.now(UTC))
    with store.engine.begin() as conn:
        conn.execute(feeds.update().values(site_url="https://wire.example/"))
    store.close()
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"settings: {{database_url: 'sqlite:///{db}'}}\n"
        "feeds:\n"
        "  - {name: wire, url: 'https://wire.example/feed', tags: [world, asia]}\n"
        "  - {name: plain, url: 'https://plain.example/rss'}\n"
    )
    assert main(["--config", str(config), "opml", "export"]) == 0
    exported = capsys.readouterr().out
    back = {f.xml_url: f for f in parse_opml(exported.encode()).feeds}
    wire = back["https://wire.example/feed"]
    assert wire.tags == ("world", "asia")
    assert wire.html_url == "https://wire.example/"
    assert back["https://plain.example/rss"].tags == ()


# -- 11. the CLI -------------------------------------------------------------------------


def test_config_option_after_the_subcommand(tmp_path: Path) -> None:
    from aggregator.cli import build_parser

    args = build_parser().parse_args(["feeds", "show", "Reuters", "--config", "x.yaml", "-v"])
    assert (args.config, args.verbose, args.name) == ("x.yaml", True, "Reuters")
    args = build_parser().parse_args(["--config", "y.yaml", "run"])
    assert args.config == "y.yaml"
    args = build_parser().parse_args(["config", "check", "--config", "z.yaml"])
    assert args.config == "z.yaml"


def test_every_limit_and_json_option_has_help() -> None:
    import argparse

    from aggregator.cli import build_parser

    def walk(parser: argparse.ArgumentParser) -> list[str]:
        missing = []
        for action in parser._actions:
            if {"--limit", "--json"} & set(action.option_strings) and not action.help:
                missing.append(f"{parser.prog} {action.option_strings[0]}")
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    missing += walk(sub)
        return missing

    assert walk(build_parser()) == []


def test_feeds_show_finds_a_name_ignoring_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aggregator.cli import main

    db = tmp_path / "db.sqlite"
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"settings: {{database_url: 'sqlite:///{db}'}}\n"
        "feeds:\n  - {name: Reuters, url: 'https://reuters.example/feed'}\n"
    )
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    from aggregator.store import FeedSpec, Store

    store = Store.open(f"sqlite:///{db}")
    store.sync_feeds([FeedSpec("Reuters", "https://reuters.example/feed")], datetime.now(UTC))
    store.close()
    capsys.readouterr()
    assert main(["feeds", "show", "reuters", "--config", str(config)]) == 0
    assert "Reuters" in capsys.readouterr().out
