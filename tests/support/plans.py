"""The engines' own plans of a statement, for the tests that assert an index is used.

SQLite: the detail column of ``EXPLAIN QUERY PLAN``. PostgreSQL: the root node of
``EXPLAIN (FORMAT JSON)`` with sequential scans switched off, so that a plan that still
reads a whole table has no index to read it through (on a test's few rows the planner
would otherwise rightly prefer a scan).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine


def sqlite_plan(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """One line per step of SQLite's plan (``SCAN …``, ``SEARCH … USING INDEX …``)."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        return [str(r[3]) for r in cur.fetchall()]
    finally:
        raw.close()


def pg_plan(engine: Engine, statement: str, parameters: Any) -> dict[str, Any]:
    """The root node of PostgreSQL's plan (its children under ``"Plans"``)."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SET enable_seqscan = off")
        cur.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
        plan: Any = cur.fetchone()[0]
        raw.rollback()
    finally:
        raw.close()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return dict(plan[0]["Plan"])
