"""Apply the Alembic migrations in ``db/`` to a database."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from aggregator.errors import StorageError

log = logging.getLogger(__name__)

# db/ sits at the top of the project, beside the package (an editable install).
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "db"

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
    # Alembic's own INFO lines are silenced by the CLI (it prints a dozen on every
    # command); this one line says what changed.
    if after != before:
        log.info("database schema upgraded from %s to %s", before or "empty", after)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()
