"""A source tree at a git revision, for benchmarks that run a baseline beside this tree."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def archived_tree(ref: str, into: Path) -> Path:
    """The whole tree at ``ref``, extracted into ``into`` (``git archive``: no checkout
    is touched)."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(data.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into
