"""Alembic is imported only when a migration has to run (issue 17): the daemon calls
``upgrade`` at every start and keeps what it imports for as long as it runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aggregator.store import Store
from aggregator.store.migrate import current_revision, head_revision, shipped_head

# In a fresh interpreter: upgrade the database, then say whether Alembic was imported.
PROBE = (
    "import json, sys\n"
    "from aggregator.store import Store\n"
    "from aggregator.store.migrate import upgrade\n"
    "store = Store.open(sys.argv[1])\n"
    "upgrade(store.engine)\n"
    "store.close()\n"
    "print(json.dumps('alembic' in sys.modules))\n"
)


def upgrade_imports_alembic(url: str) -> bool:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, url], capture_output=True, text=True, check=True, timeout=120
    )
    result: bool = json.loads(out.stdout.splitlines()[-1])
    return result


def test_the_head_read_from_the_version_files_is_alembics() -> None:
    assert shipped_head() is not None
    assert shipped_head() == head_revision()


def test_a_database_at_head_is_left_alone_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    # A fresh database needs the migrations: Alembic runs them.
    assert upgrade_imports_alembic(url) is True
    store = Store.open(url)
    try:
        assert current_revision(store.engine) == head_revision()
    finally:
        store.close()
    # At head (every start after the first, and every start after `db upgrade`).
    assert upgrade_imports_alembic(url) is False


def test_a_database_behind_the_head_is_still_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    store = Store.open(url)
    try:
        from aggregator.store.migrate import upgrade

        upgrade(store.engine, "0012")
        assert current_revision(store.engine) == "0012"
        upgrade(store.engine)
        assert current_revision(store.engine) == head_revision()
    finally:
        store.close()
