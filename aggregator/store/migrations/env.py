"""Alembic environment: run by `aggregator db upgrade` and at daemon start.

The connection (or URL) is handed in by aggregator.store.migrate; nothing here reads
global configuration.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from aggregator.store.schema import metadata
from aggregator.store.search import include_name

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The full-text objects (FTS5 tables, the tsvector column) are made with raw
        # SQL in 0003; autogenerate must not offer to drop them.
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from aggregator.store import create_db_engine

    engine = create_db_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_migrations_online()
