"""What the ``aggregator`` subcommands share: exit codes, output helpers, the archive."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aggregator.config import LoadedConfig
from aggregator.errors import AggregatorError, ConfigError, StorageError

if TYPE_CHECKING:
    from rich.table import Table
    from sqlalchemy import Engine

SLOW_POLL_SECONDS = 5.0  # a feed whose polls average more than this is flagged "slow"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def print_problems(err: ConfigError, source: str) -> None:
    n = len(err.problems)
    print(f"{source}: invalid configuration ({n} problem{'s' if n != 1 else ''})", file=sys.stderr)
    for problem in err.problems:
        print(f"  {problem}", file=sys.stderr)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(type(value).__name__)


def dump(data: Any) -> None:
    print(json.dumps(data, default=_json_default, ensure_ascii=False, indent=2))


def ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def new_table(columns: tuple[str, ...], **options: Any) -> Table:
    """A table of these columns, each folded to fit. rich is imported here, when there
    is a table to print, not when the command starts: `--json` does without it."""
    from rich.table import Table

    table = Table(**options)
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


def print_table(table: Table) -> None:
    from rich.console import Console

    Console(width=max(120, Console().width)).print(table)


def open_engine(loaded: LoadedConfig) -> Engine:
    """The archive's engine, its schema checked (``require_schema``); the caller
    disposes of it. Only the engine: a command reading one query does not import
    ``Store`` and its statement modules (issue 17)."""
    from aggregator.store.engine import create_db_engine

    engine = create_db_engine(loaded.database_url)
    require_schema(engine)
    return engine


def require_schema(engine: Engine) -> None:
    # Alembic's own reader would import Alembic (a third of a second) for a command
    # that only reads: the revision is one row of its table, absent before the first
    # migration.
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            present = inspect(conn).has_table("alembic_version") and (
                conn.execute(text("SELECT version_num FROM alembic_version")).first() is not None
            )
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read the schema revision: {exc}") from exc
    if not present:
        raise AggregatorError(
            "the database has no tables yet: run `aggregator db upgrade` or start the daemon"
        )
