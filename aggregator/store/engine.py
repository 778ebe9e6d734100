"""The database engine and the one translation of its errors.

Every module of the store reaches the database through an engine made here, and every
public method of ``Store``, its statement classes and ``Archive`` lets a database
failure leave as ``StorageError`` through :func:`storage_errors` (named after the
method, with the driver's first line), never as a SQLAlchemy exception.
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from aggregator.errors import StorageError
from aggregator.store import schema

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)


# How many pages SQLite's WAL gathers before the commit that reaches them copies them
# into the database file (a PASSIVE checkpoint, run by whichever connection commits:
# the daemon's writer thread). SQLite's default, 1,000 pages, is two feeds of a first
# poll: an article writes ~10 pages at 22,000 stored (its row; a leaf of each of four
# indexes whose keys land anywhere: content_hash, published and two more ordered by
# it; the full-text index), and each checkpoint copied nearly every page of the WAL
# and synced both files. At 4,000 a leaf written by several feeds is copied once,
# the syncs are a quarter: the writer's CPU per stored entry -9 % (alone, 22,000
# articles stored; -5 % in a whole first poll), its wall time -19 % (docs/benchmarks.md,
# "The writer's pages", issue 17). The WAL file then stays at ~16 MB instead of ~4 MB
# between checkpoints; what a reader sees is the same.
WAL_CHECKPOINT_PAGES = 4000


def create_db_engine(url: str) -> Engine:
    """An engine with the settings each backend needs.

    SQLite: WAL (readers never block the writer) checkpointed every
    ``WAL_CHECKPOINT_PAGES`` pages, foreign keys on, a busy timeout so a CLI reading
    while the daemon writes waits instead of failing.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            cur.close()

        return engine
    schema.add_postgresql_options()
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def dialect_insert(dialect_name: str) -> Callable[..., Any]:
    """The backend's own ``insert`` (the one with ``on_conflict_do_nothing``).

    Imported here, when a statement is built, so that a SQLite process never loads the
    PostgreSQL dialect: some 35 ms of CPU at every command's start.
    """
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


class WriteGeneration:
    """How many write transactions this process has committed through one engine.

    The number changes only after a commit's data is visible (when the connection
    that committed goes back to the pool), so a reader that saw it unchanged since
    some moment knows this process wrote nothing after that moment. Other processes
    sharing the database (the CLI, other daemons on one PostgreSQL) are not counted.
    """

    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    @property
    def value(self) -> int:
        return self._value

    def _committed(self, conn: Any) -> None:
        # ConnectionEvents.commit fires *before* the DBAPI commit: only mark the
        # connection here, and count at check-in, once the data can be read.
        conn.connection.info["aggregator_wrote"] = True

    def _checked_in(self, dbapi_conn: Any, record: Any) -> None:
        if record is not None and record.info.pop("aggregator_wrote", False):
            with self._lock:
                self._value += 1


_GENERATIONS: weakref.WeakKeyDictionary[Engine, WriteGeneration] = weakref.WeakKeyDictionary()
_GENERATIONS_LOCK = threading.Lock()


def write_generation(engine: Engine) -> WriteGeneration:
    """The engine's :class:`WriteGeneration`, counting from its first call."""
    with _GENERATIONS_LOCK:
        found = _GENERATIONS.get(engine)
        if found is None:
            found = _GENERATIONS[engine] = WriteGeneration()
            event.listen(engine, "commit", found._committed)
            event.listen(engine, "checkin", found._checked_in)
        return found


def first_line(exc: SQLAlchemyError) -> str:
    """The driver's message (not SQLAlchemy's wrapping of it), first line only: the
    rest repeats the statement and its parameters, which may hold article text."""
    orig = getattr(exc, "orig", None)
    detail = str(orig) if orig is not None else str(exc)
    return (detail.splitlines() or [type(exc).__name__])[0]


def _translated(fn: Callable[P, R]) -> Callable[P, R]:
    if inspect.isgeneratorfunction(fn):
        # A generator fails while it is iterated, after the call has returned.
        @functools.wraps(fn)
        def gen_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except SQLAlchemyError as exc:
                raise StorageError(f"{fn.__name__}: {first_line(exc)}") from exc

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SQLAlchemyError as exc:
            raise StorageError(f"{fn.__name__}: {first_line(exc)}") from exc

    return wrapper


def storage_errors(cls: C) -> C:
    """Class decorator: every public method the class itself defines translates
    SQLAlchemy's errors into ``StorageError``, once, at the edge of the store. Each
    statement class is decorated itself, so a method added to one is covered without
    a list to keep."""
    for name, fn in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(fn):
            setattr(cls, name, _translated(fn))
    return cls
