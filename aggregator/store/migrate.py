"""Apply the Alembic migrations in ``aggregator/store/migrations/`` to a database."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from aggregator.errors import StorageError

log = logging.getLogger(__name__)

# Inside the package, so an installed (non-editable) aggregator finds them too.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Daemons starting together on one PostgreSQL would race to create the same tables.
SCHEMA_LOCK = 0x61676772_73636865  # "aggrsche"


def lock_schema(conn: Connection) -> None:
    """Serialize schema and feed-table setup across processes (held to commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; each migration runs in a transaction."""
    cfg = _alembic_config()
    try:
        with engine.begin() as conn:
            lock_schema(conn)
            before = MigrationContext.configure(conn).get_current_revision()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            after = MigrationContext.configure(conn).get_current_revision()
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


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None: no tables yet); StorageError when it cannot be
    read, e.g. the file is not a database at all."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read the schema revision: {exc}") from exc


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()
