"""The command line when its reader goes away early (`aggregator … | head`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - name: A\n    url: https://example.org/a.xml\n")
    # The reader is gone before the command writes a byte (as after `| head -1` read
    # its line), so its first write meets a closed pipe whatever the timing.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "aggregator.cli", "--config", str(config), "opml", "export"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    err = done.stderr.decode()
    assert done.returncode == 128 + signal.SIGPIPE, err
    assert "Traceback" not in err, err
    assert "BrokenPipe" not in err, err
