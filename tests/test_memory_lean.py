"""The daemon runs again under ``-OO -X no_debug_ranges`` (``aggregator.memory.lean_argv``,
issue 17: the docstrings and column tables of ~1,000 modules, ~6.6 MiB): the command
line it runs again with, and the real daemon doing it in its own process, or not when
``AGGREGATOR_OPTIMIZE=0``. What it saves is measured in ``benchmarks/bench_memory.py``;
that the daemon still polls, stores and processes under it is
``tests/test_daemon_e2e.py``'s first test, which runs it so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aggregator.memory import LEAN_FLAGS, OPTIMIZE_ENV, REEXEC_ENV, lean_argv
from aggregator.store import Store
from aggregator.store.migrate import upgrade
from tests.support.daemon import kill_if_running, start_daemon

PY = "/usr/bin/python3"


def test_the_command_line_is_kept_whole_behind_the_flags() -> None:
    for argv in (
        [PY, "-m", "aggregator.cli", "--config", "f.yaml", "run"],
        [PY, "/opt/venv/bin/aggregator", "run"],  # the console script, via its shebang
        [PY, "-X", "utf8", "-W", "error", "bench/_memprobe.py", "run"],
        [PY, "-c", "from aggregator.cli import main; main()", "run"],
    ):
        again = lean_argv(executable=PY, orig_argv=argv, optimize=0, env={})
        assert again == [PY, *LEAN_FLAGS, *argv[1:]]
    assert LEAN_FLAGS == ("-OO", "-X", "no_debug_ranges")


def test_nothing_to_do_when_already_lean_turned_off_or_done_once() -> None:
    argv = [PY, "-m", "aggregator.cli", "run"]
    assert lean_argv(executable=PY, orig_argv=argv, optimize=2, env={}) is None
    assert lean_argv(executable=PY, orig_argv=argv, optimize=0, env={OPTIMIZE_ENV: "0"}) is None
    assert lean_argv(executable=PY, orig_argv=argv, optimize=0, env={REEXEC_ENV: "1"}) is None
    # -O alone still runs again: the docstrings are what -OO drops
    assert lean_argv(executable=PY, orig_argv=argv, optimize=1, env={}) is not None
    assert lean_argv(executable=PY, orig_argv=argv, optimize=0, env={OPTIMIZE_ENV: "1"})
    # an embedded interpreter with no name, or no command line: run as it is
    assert lean_argv(executable="", orig_argv=argv, optimize=0, env={}) is None
    assert lean_argv(executable=PY, orig_argv=[PY], optimize=0, env={}) is None


def _cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [part.decode() for part in f.read().split(b"\0") if part]


def _run_daemon(tmp_path: Path, extra_env: dict[str, str]) -> tuple[list[str], int, str]:
    """Start ``python -m aggregator.cli run`` on an empty archive, take its command line
    once the daemon has started, stop it: (command line, exit status, log)."""
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    store = Store.open(url)
    upgrade(store.engine)
    store.close()
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  http: {enabled: false}\n")
    env = {k: v for k, v in os.environ.items() if k not in (OPTIMIZE_ENV, REEXEC_ENV)}
    env.update(extra_env, AGGREGATOR_DATABASE_URL=url)
    env.pop("NOTIFY_SOCKET", None)
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        proc = start_daemon(config, env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "daemon started" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        cmdline = _cmdline(proc.pid)  # the same process: it replaced itself
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=60)
    finally:
        kill_if_running(proc)
    return cmdline, status, log.read_text(errors="replace")


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_the_daemon_replaces_itself_by_its_lean_run(tmp_path: Path) -> None:
    cmdline, status, log = _run_daemon(tmp_path, {})
    assert cmdline[1:] == [
        *LEAN_FLAGS,
        "-m",
        "aggregator.cli",
        "--config",
        str(tmp_path / "feeds.yaml"),
        "run",
    ]
    assert status == 0, log
    assert log.count("running under python -OO -X no_debug_ranges") == 1
    assert "daemon stopped" in log
    assert "Traceback" not in log


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_optimize_0_keeps_the_daemon_as_it_was_started(tmp_path: Path) -> None:
    cmdline, status, log = _run_daemon(tmp_path, {OPTIMIZE_ENV: "0"})
    assert cmdline[1:] == ["-m", "aggregator.cli", "--config", str(tmp_path / "feeds.yaml"), "run"]
    assert status == 0, log
    assert "running under python" not in log
    assert "daemon stopped" in log


def test_a_sigterm_while_it_replaces_itself_is_held_for_the_next_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What the replacing run hands over: SIGTERM blocked (a blocked signal stays
    # pending across exec, for the next run's catch_early_stop), the marker set. Here
    # the exec fails: the process goes on as it was, SIGTERM unblocked, no marker.
    from aggregator import cli

    monkeypatch.delenv(OPTIMIZE_ENV, raising=False)
    monkeypatch.delenv(REEXEC_ENV, raising=False)
    seen: list[tuple[list[str], bool, str | None]] = []

    def execv(path: str, argv: list[str]) -> None:
        blocked = signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, set())
        seen.append((argv, blocked, os.environ.get(REEXEC_ENV)))
        raise OSError("no exec here")

    monkeypatch.setattr(os, "execv", execv)
    cli._run_lean()
    [(argv, blocked, marker)] = seen
    assert argv[:4] == [sys.executable, *LEAN_FLAGS]
    assert blocked
    assert marker == "1"
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    assert REEXEC_ENV not in os.environ
    assert "running without -OO (no exec here)" in capsys.readouterr().err


def test_a_sigterm_pending_from_the_start_is_a_clean_stop(tmp_path: Path) -> None:
    # SIGTERM sent at once to a daemon that starts with it blocked, as the run it
    # replaced leaves it: pending through both interpreters' start and the exec, then
    # taken by catch_early_stop, so the stop is the clean early one.
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  http: {enabled: false}\n")
    env = {k: v for k, v in os.environ.items() if k not in (OPTIMIZE_ENV, REEXEC_ENV)}
    env["AGGREGATOR_DATABASE_URL"] = f"sqlite:///{tmp_path / 'archive.db'}"
    proc = start_daemon(
        config, env, preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    )
    try:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        kill_if_running(proc)
    assert proc.returncode == 0, err
    assert "received SIGTERM during start-up" in err
