"""PostgreSQL's search statements compile whatever was imported before they were built."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_cached_postgresql_page_statement_built_before_the_dialect_compiles() -> None:
    # In a fresh interpreter that has never imported SQLAlchemy's PostgreSQL dialect
    # (a SQLite process, say), the cached statement is built first, then compiled for
    # PostgreSQL: to_tsquery made before the dialect's import could never compile.
    script = textwrap.dedent(
        """
        import sys
        from aggregator.store.search import ts_page_statement
        assert "sqlalchemy.dialects.postgresql" not in sys.modules, "imported already"
        statement = ts_page_statement("relevance", True)
        from sqlalchemy.dialects import postgresql
        sql = str(statement.compile(dialect=postgresql.psycopg.dialect()))
        print("to_tsquery('simple'::regconfig" in sql and "ts_rank(" in sql)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
