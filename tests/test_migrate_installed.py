"""A non-editable install migrates and runs: the wheel carries the migrations.

The migrations once sat in ``db/`` beside the package and were found through the
source tree, so ``pip install .`` gave an ``aggregator`` whose ``db upgrade`` failed.
This builds the wheel from a copy of the sources, installs it (without its
dependencies, which come from the test environment's site-packages through a ``.pth``
file: no network) into a new virtualenv, and runs ``aggregator db upgrade`` and
``aggregator run`` from there, away from the repository.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from tests.support.daemon import kill_if_running
from tests.support.httpserver import LocalServer

ROOT = Path(__file__).resolve().parents[1]
FEED = ROOT / "tests" / "data" / "e2e" / "rss20.xml"

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{cmd}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv holding the built wheel; its bin/ directory."""
    tmp = tmp_path_factory.mktemp("installed")
    # Build from a copy: setuptools writes build/ and *.egg-info beside the sources.
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "aggregator", src / "aggregator", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheels = tmp / "wheels"
    python = sys.executable
    _run(python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "-w", wheels, src, cwd=tmp)  # fmt: skip
    (wheel,) = wheels.glob("aggregator-*.whl")
    venv = tmp / "venv"
    _run(python, "-m", "venv", "--without-pip", venv, cwd=tmp)
    _run(python, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps",
         "--no-index", "--quiet", wheel, cwd=tmp)  # fmt: skip
    # The dependencies: a path line adds the test environment's site-packages, whose
    # own .pth files (the editable install's finder among them) are not processed.
    (site,) = (venv / "lib").glob("python*/site-packages")
    (site / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NOTIFY_SOCKET")}
    env.pop("AGGREGATOR_DATABASE_URL", None)
    return env


def test_the_installed_package_is_not_the_source_tree(installed: Path, tmp_path: Path) -> None:
    where = _run(
        installed / "python", "-c", "import aggregator; print(aggregator.__file__)", cwd=tmp_path
    )
    assert Path(where.strip()).is_relative_to(installed.parent)


def test_an_installed_aggregator_migrates_and_runs(installed: Path, tmp_path: Path) -> None:
    with LocalServer() as server:
        server.static("/feed.xml", FEED.read_bytes(), content_type="application/rss+xml")
        config = tmp_path / "feeds.yaml"
        config.write_text(
            "settings:\n"
            "  database_url: sqlite:///news.db\n"
            "  poll: {tick: 0.2s, allow_private_networks: true, per_host_min_gap: 0s}\n"
            "  http: {enabled: false}\n"
            f"feeds:\n  - name: Local Wire\n    url: {server.url('/feed.xml')}\n"
        )
        aggregator = installed / "aggregator"
        _run(aggregator, "--config", config, "db", "upgrade", cwd=tmp_path, env=_env())
        with sqlite3.connect(tmp_path / "news.db") as db:
            (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert revision
        assert {"feeds", "articles", "clusters", "alerts", "articles_fts"} <= tables

        log = tmp_path / "daemon.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [str(aggregator), "--config", str(config), "run"],
                cwd=tmp_path,
                env=_env(),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            try:
                deadline = time.monotonic() + 60
                while "outcome=ok" not in log.read_text() and time.monotonic() < deadline:
                    assert proc.poll() is None, log.read_text()
                    time.sleep(0.2)
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
            finally:
                kill_if_running(proc)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "outcome=ok" in text
    assert "daemon stopped" in text
    assert "Traceback" not in text
    with sqlite3.connect(tmp_path / "news.db") as db:
        (stored,) = db.execute("SELECT count(*) FROM articles").fetchone()
    assert stored == 3
