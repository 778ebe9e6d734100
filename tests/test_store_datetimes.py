"""``UTCDateTime``'s SQLite bind processor (one ``isoformat``, issue 17) gives the text
SQLAlchemy's own chain gives (``process_bind_param``, then SQLite DATETIME's ``%``
format) for every datetime, and fails where that chain fails."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import TypeDecorator
from sqlalchemy.dialects import postgresql, sqlite

from aggregator.store.schema import UTCDateTime, _sqlite_datetime, metadata

SQLITE = sqlite.dialect()


def sqlalchemy_chain() -> Any:
    """What SQLAlchemy binds for a UTCDateTime on SQLite without our processor."""
    impl = UTCDateTime().dialect_impl(SQLITE)
    return TypeDecorator.bind_processor(impl, SQLITE)


def ours() -> Any:
    return UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)


def outcome(process: Any, value: object) -> tuple[str, object]:
    try:
        return "ok", process(value)
    except Exception as exc:
        return "raised", type(exc)


ZONES = [
    UTC,
    timezone(timedelta(hours=5, minutes=30)),
    timezone(-timedelta(hours=11, minutes=59, seconds=59, microseconds=999999)),
    timezone(timedelta(hours=23, minutes=59)),
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),
]


def random_datetimes(count: int, seed: int) -> list[datetime]:
    rng = random.Random(seed)
    values = []
    for _ in range(count):
        year = rng.choice([1, 2, 9, 99, 999, 1000, 1970, 2025, 9998, rng.randint(1, 9999)])
        when = datetime(
            year,
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            rng.choice([0, 0, 1, 999999, rng.randint(0, 999999)]),
            tzinfo=rng.choice(ZONES),
            fold=rng.randint(0, 1),
        )
        values.append(when)
    return values


def test_sqlite_uses_ours_for_every_utc_datetime_column_and_postgresql_does_not() -> None:
    columns = [c for t in metadata.tables.values() for c in t.columns]
    typed = [c for c in columns if isinstance(c.type, UTCDateTime)]
    assert len(typed) > 10
    for column in typed:
        assert column.type.dialect_impl(SQLITE).bind_processor(SQLITE) is _sqlite_datetime
        pg = postgresql.dialect()
        assert column.type.dialect_impl(pg).bind_processor(pg) is not _sqlite_datetime


def test_the_same_text_as_sqlalchemy_s_chain_for_every_kind_of_datetime() -> None:
    chain, fast = sqlalchemy_chain(), ours()
    assert fast is _sqlite_datetime
    values: list[object] = [
        None,
        datetime(2025, 6, 1, 11, 58, 46, tzinfo=UTC),
        datetime(2025, 6, 1, 11, 58, 46, 5, tzinfo=UTC),
        datetime(1, 1, 1, 0, 0, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        # Out of range once in UTC: both overflow.
        datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=1))),
        # The hour repeated and the hour skipped by a DST change, either fold.
        datetime(2025, 10, 26, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"), fold=0),
        datetime(2025, 10, 26, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"), fold=1),
        datetime(2025, 3, 30, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        # Refused: naive, and not a datetime at all.
        datetime(2025, 6, 1, 12, 0),
        date(2025, 6, 1),
        "2025-06-01 12:00:00",
        *random_datetimes(3000, seed=17),
    ]
    for value in values:
        assert outcome(fast, value) == outcome(chain, value), value
    assert outcome(fast, values[1]) == ("ok", "2025-06-01 11:58:46.000000")
    assert outcome(fast, values[3]) == ("ok", "0001-01-01 00:00:00.000000")


@pytest.mark.parametrize("value", random_datetimes(50, seed=3))
def test_a_stored_datetime_reads_back_as_the_same_instant(value: datetime) -> None:
    back = UTCDateTime().process_result_value(
        datetime.fromisoformat(str(_sqlite_datetime(value))), SQLITE
    )
    assert back == value
    assert back is not None
    assert back.tzinfo is UTC
