"""A command imports what it uses: ``--help`` none of the configuration's libraries,
``feeds`` and ``search`` none of the daemon's stages (issue 17: ``aggregator feeds``
took 1.3-1.5 s, most of it importing numpy, trafilatura, aiohttp and Alembic through
the composition root). Checked by module, in a fresh interpreter; how long they take
is measured in ``benchmarks/bench_cli.py``, not here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.store import Store
from aggregator.store.migrate import upgrade

# Runs the command as `aggregator` would, then prints which of these it imported.
PROBE = (
    "import json, runpy, sys\n"
    "watched = json.loads(sys.argv[1])\n"
    "sys.argv = ['aggregator', *sys.argv[2:]]\n"
    "try:\n"
    "    runpy.run_module('aggregator.cli', run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "print(json.dumps({'code': code, 'imported': [m for m in watched if m in sys.modules]}))\n"
)

DAEMON_ONLY = [
    "numpy",
    "trafilatura",
    "feedparser",
    "lxml",
    "aiohttp",
    "alembic",
    "apscheduler.schedulers",  # (its cron parser checks digest schedules: allowed)
    "fastapi",
    "uvicorn",
    "aggregator.compose",
    "aggregator.poll.poller",
    "aggregator.process.consumer",
]
# Not the daemon's alone, but nothing a command reading the archive uses: httpx (and the
# command-line client its package imports: click, pygments) came in only to check the
# feed URLs, which the configuration now does without it for URLs of the everyday
# shape (links.http_url_problem, tests/test_links.py).
# The PostgreSQL dialect: a command on a SQLite archive has no use for it (it came in
# with a postgresql_where in the schema and the upsert imports; store.engine now loads
# it only for a PostgreSQL URL or statement).
READING_NEVER = ["httpx", "click", "pygments", "sqlalchemy.dialects.postgresql"]
# Within the store, what each reading command has no use for (issue 17: each frozen
# dataclass costs about a millisecond to make, and these modules hold dozens): listing
# the feeds runs one query (store.feedlist), not the archive's read side with full-text
# search and the query language; neither needs the write side (store.core) or its
# statement modules; a search needs the hits (store.hits), not the events' and alerts'
# records or the models they carry.
WRITE_SIDE = ["aggregator.store.core", "aggregator.store.outbox", "aggregator.store.records"]
EVENTS_SIDE = ["aggregator.store.views", "aggregator.store.events", "aggregator.models"]
FEEDS_NEVER = [
    *WRITE_SIDE,
    *EVENTS_SIDE,
    "aggregator.store.archive",
    "aggregator.store.search",
    "aggregator.query",
]
SEARCH_NEVER = [*WRITE_SIDE, *EVENTS_SIDE]
CONFIG = """
settings:
  http: {enabled: false}
channels:
  - {name: hook, type: webhook, url: "http://127.0.0.1:9/hook",
     secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
feeds:
  - {name: Harbour Daily, url: "http://127.0.0.1:9/harbour.xml"}
  - {name: Council Wire, url: "https://council.example/feed.xml?section=news"}
"""


def probe(watched: list[str], *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(watched), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    result: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    return result


def migrated_archive(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A migrated SQLite archive and the configuration file; the environment naming it."""
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    store = Store.open(url)
    upgrade(store.engine)
    store.close()
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG)
    return config, dict(os.environ, AGGREGATOR_DATABASE_URL=url)


def test_help_imports_neither_the_configuration_nor_the_database_libraries() -> None:
    result = probe(["pydantic", "yaml", "sqlalchemy", "rich", *DAEMON_ONLY], "--help")
    assert result == {"code": 0, "imported": []}


@pytest.mark.parametrize("command", [["feeds"], ["search", "harbour"]])
def test_reading_commands_import_none_of_the_daemons_stages(
    tmp_path: Path, command: list[str]
) -> None:
    config, env = migrated_archive(tmp_path)
    result = probe([*DAEMON_ONLY, *READING_NEVER], "--config", str(config), *command, env=env)
    assert result == {"code": 0, "imported": []}


@pytest.mark.parametrize(
    ("command", "never", "used"),
    [
        (["feeds"], FEEDS_NEVER, "aggregator.store.feedlist"),
        (["search", "harbour"], SEARCH_NEVER, "aggregator.store.search"),
    ],
)
def test_reading_commands_import_only_their_part_of_the_store(
    tmp_path: Path, command: list[str], never: list[str], used: str
) -> None:
    config, env = migrated_archive(tmp_path)
    # `used` is asked about too: the probe sees what the command does import.
    result = probe([*never, used], "--config", str(config), *command, env=env)
    assert result == {"code": 0, "imported": [used]}


def test_reading_as_json_imports_no_table_printer(tmp_path: Path) -> None:
    config, env = migrated_archive(tmp_path)
    result = probe(["rich"], "--config", str(config), "feeds", "--json", env=env)
    assert result == {"code": 0, "imported": []}
    # And the table does bring it in: the probe sees what it is asked about.
    result = probe(["rich"], "--config", str(config), "feeds", env=env)
    assert result == {"code": 0, "imported": ["rich"]}


def test_polling_imports_httpx_without_its_command_line_client(tmp_path: Path) -> None:
    # `poll` (and the daemon) fetch with httpx; its command-line client (click,
    # pygments, rich) stays out (cli/__init__.py marks httpx._main absent).
    config, env = migrated_archive(tmp_path)
    result = probe(
        ["httpx", "click", "pygments", "rich"], "--config", str(config), "poll", "--json",
        env=env,
    )  # fmt: skip
    assert result["imported"] == ["httpx"]
    assert result["code"] == 1  # the feeds' port refuses: polled, and failed


def test_httpx_still_works_without_its_client_module() -> None:
    import http.server
    import threading

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    code = (
        "import sys, aggregator.cli, httpx\n"
        "r = httpx.get(sys.argv[1])\n"
        "print(r.status_code, r.text, 'click' in sys.modules, sys.modules['httpx._main'])\n"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, f"http://127.0.0.1:{server.server_port}/"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert proc.stdout.split() == ["200", "hello", "False", "None"], proc.stderr


def test_as_the_program_the_loaded_modules_are_set_aside_and_the_collector_runs(
    tmp_path: Path,
) -> None:
    # Run as `aggregator` runs (no argv): the start's objects are frozen, and the
    # collector is on again for the command's work (here: when main returns).
    config, env = migrated_archive(tmp_path)
    code = (
        "import gc, sys\n"
        "from aggregator.cli import main\n"
        "sys.argv = ['aggregator', *sys.argv[1:]]\n"
        "code = main()\n"
        "print(code, gc.isenabled(), gc.get_freeze_count() > 10_000)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "--config", str(config), "feeds", "--json"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert proc.stdout.splitlines()[-1] == "0 True True"


def test_called_in_process_the_collector_is_left_alone(tmp_path: Path) -> None:
    # The tests call main(argv) thousands of times in one process: nothing of theirs
    # may be frozen, and the collector must stay on.
    import gc

    from aggregator.cli import main

    config, env = migrated_archive(tmp_path)
    frozen = gc.get_freeze_count()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGGREGATOR_DATABASE_URL", env["AGGREGATOR_DATABASE_URL"])
        assert main(["--config", str(config), "feeds", "--json"]) == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
