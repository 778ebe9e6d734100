"""Apply the Alembic migrations in ``aggregator/store/migrations/`` to a database.

Alembic (with Mako) is imported only when a migration has to run: the daemon calls
``upgrade`` at every start, and what it imports stays in its memory for as long as it
runs (~11 MiB of the issue-17 budget). A database already at the shipped head is
recognised with one plain query against the head read from the version files.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from aggregator.errors import StorageError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)

# Inside the package, so an installed (non-editable) aggregator finds them too.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Daemons starting together on one PostgreSQL would race to create the same tables.
SCHEMA_LOCK = 0x61676772_73636865  # "aggrsche"


def lock_schema(conn: Connection) -> None:
    """Serialize schema and feed-table setup across processes (held to commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})


# A version file's own ``revision = "0013"`` and ``down_revision = "0012"`` lines.
_REVISION_LINE = re.compile(
    r"""^(revision|down_revision)\s*=\s*(?:None|["']([^"']+)["'])\s*$""", re.MULTILINE
)


def shipped_head() -> str | None:
    """The newest revision shipped, read from the version files without Alembic;
    None when they do not say one head plainly (Alembic then decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = {m.group(1): m.group(2) for m in _REVISION_LINE.finditer(path.read_text("utf-8"))}
        if "revision" not in found or found["revision"] is None:
            continue
        revisions.add(found["revision"])
        if found.get("down_revision"):
            parents.add(str(found["down_revision"]))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revisions(engine: Engine) -> list[str] | None:
    """The rows of ``alembic_version`` (None: not readable, e.g. no tables yet)."""
    try:
        with engine.connect() as conn:
            return [
                str(r[0]) for r in conn.execute(text("SELECT version_num FROM alembic_version"))
            ]
    except SQLAlchemyError:
        return None


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; each migration runs in a transaction."""
    head = shipped_head() if revision == "head" else None
    if head is not None and _stored_revisions(engine) == [head]:
        return  # nothing to do, and Alembic never imported
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.util import CommandError

    cfg = _alembic_config()

    def run(conn: Connection) -> tuple[str | None, str | None]:
        lock_schema(conn)
        before = MigrationContext.configure(conn).get_current_revision()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        return before, MigrationContext.configure(conn).get_current_revision()

    try:
        if engine.dialect.name == "sqlite":
            before, after = _upgrade_sqlite(engine, run)
        else:
            with engine.begin() as conn:
                before, after = run(conn)
    except SQLAlchemyError as exc:
        raise StorageError(f"migration failed: {exc}") from exc
    except CommandError as exc:
        # A revision this code does not know: a newer aggregator upgraded the database
        # (a rollback), or the URL points at another application's Alembic database.
        raise StorageError(
            f"migration failed: {exc}; the database was written by a newer version of "
            "aggregator or by another program: run that version, or point "
            "settings.database_url elsewhere"
        ) from exc
    # Alembic's own INFO lines are silenced by the CLI (it prints a dozen on every
    # command); this one line says what changed.
    if after != before:
        log.info("database schema upgraded from %s to %s", before or "empty", after)


def _upgrade_sqlite(
    engine: Engine, run: Callable[[Connection], tuple[str | None, str | None]]
) -> tuple[str | None, str | None]:
    """``run`` in one real SQLite transaction, DDL included.

    Python's sqlite3 begins a transaction only before INSERT/UPDATE/DELETE, so every
    CREATE TABLE or ALTER of a migration was committed on its own: a daemon killed
    during its first migration left tables without the revision that made them,
    and every later start failed on "table already exists". Here the driver is told
    to leave transactions alone and one BEGIN IMMEDIATE covers the whole upgrade
    (SQLite's DDL is transactional): killed at any statement, the file is as before.
    """
    with engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        previous = raw.isolation_level
        raw.isolation_level = None  # no implicit BEGIN/COMMIT from the driver
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                result = run(conn)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            return result
        finally:
            raw.isolation_level = previous


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None: no tables yet); StorageError when it cannot be
    read, e.g. the file is not a database at all."""
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read the schema revision: {exc}") from exc


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()
