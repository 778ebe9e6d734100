"""The daemon started as a user starts it, ``aggregator --config FILE run``, in a child
process: the tests that need a real process (signals, re-exec, several daemons,
what a SIGKILL leaves) share this one way of starting it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

# Where the child's output goes: a stream of ours, a file, DEVNULL, PIPE or STDOUT.
Output = int | IO[Any]


def start_daemon(
    config: Path,
    env: Mapping[str, str],
    *,
    stdout: Output = subprocess.DEVNULL,
    stderr: Output = subprocess.PIPE,
    **popen: Any,
) -> subprocess.Popen[str]:
    """``aggregator --config CONFIG run`` under this interpreter; by default its
    standard error kept for the assertions' messages, its standard output dropped."""
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator.cli", "--config", str(config), "run"],
        env=env,
        stdout=stdout,
        stderr=stderr,
        text=True,
        **popen,
    )


def kill_if_running(proc: subprocess.Popen[Any]) -> None:
    """For a test's ``finally``: a child the test did not see end (it failed, or timed
    out) is killed and reaped, its pipes read, so no daemon outlives its test."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()
