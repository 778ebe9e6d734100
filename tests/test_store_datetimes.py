"""``UTCDateTime``'s SQLite bind processor (one ``isoformat``, issue 17) gives the text
SQLAlchemy's own chain gives (``process_bind_param``, then SQLite DATETIME's ``%``
format) for every datetime, and fails where that chain fails; its result processor
(one ``fromisoformat`` with the zone) reads every stored text, and any other text or
value, as that chain reads it (``fromisoformat``, then ``process_result_value``)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import TypeDecorator
from sqlalchemy.dialects import postgresql, sqlite

from aggregator.store.schema import (
    UTCDateTime,
    _postgresql_utc_datetime,
    _sqlite_datetime,
    _sqlite_utc_datetime,
    metadata,
)

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


def sqlalchemy_reading() -> Any:
    """What SQLAlchemy reads for a UTCDateTime on SQLite without our processor."""
    impl = UTCDateTime().dialect_impl(SQLITE)
    return TypeDecorator.result_processor(impl, SQLITE, None)


def our_reading() -> Any:
    return UTCDateTime().dialect_impl(SQLITE).result_processor(SQLITE, None)


def read(process: Any, value: object) -> tuple[str, object]:
    # the instant, its zone object itself (datetime.UTC) and its text
    try:
        found = process(value)
    except Exception as exc:
        return "raised", type(exc)
    if not isinstance(found, datetime):
        return "ok", found
    return "ok", (found, id(found.tzinfo), found.isoformat(), found.fold)


def test_sqlite_reads_every_utc_datetime_column_through_ours_and_postgresql_does_not() -> None:
    columns = [c for t in metadata.tables.values() for c in t.columns]
    typed = [c for c in columns if isinstance(c.type, UTCDateTime)]
    for column in typed:
        fast = column.type.dialect_impl(SQLITE).result_processor(SQLITE, None)
        assert fast.func is _sqlite_utc_datetime
        pg = postgresql.dialect()
        processor = column.type.dialect_impl(pg).result_processor(pg, 1184)
        assert getattr(processor, "func", None) is not _sqlite_utc_datetime


def test_every_stored_datetime_reads_as_sqlalchemy_s_chain_reads_it() -> None:
    chain, fast = sqlalchemy_reading(), our_reading()
    values: list[object] = [
        None,
        _sqlite_datetime(datetime(1, 1, 1, tzinfo=UTC)),
        _sqlite_datetime(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        *(_sqlite_datetime(v) for v in random_datetimes(3000, seed=29) if v.year > 1),
    ]

    def not_read_by_the_chain(value: object) -> object:
        raise AssertionError(f"{value!r} went through SQLAlchemy's chain")

    for value in values:
        assert read(fast, value) == read(chain, value), value
        if value is not None:  # the one fromisoformat, not the chain, reads it
            found = _sqlite_utc_datetime(not_read_by_the_chain, value)
            assert found == chain(value)
            assert found.tzinfo is UTC


# Texts near the stored shape: other separators, zones, lengths, fractions, junk.
TEXT_PARTS = ["2025", "06", "-", "01", " ", "T", "12", ":", "58", ".", "123456", "1",
              "000", "Z", "+", "+00:00", "-05:30", "+0100", "+01", "24", "60", "9999",
              "0000", "13", "32", "٣", "x", ""]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(TEXT_PARTS), max_size=16).map("".join))
@example("2025-06-01 12:58:46.123456")
@example("2025-06-01T12:58:46.123456")
@example("2025-06-01 12:58:46.1234+1")
@example("2025-06-01 12:58:46+00:00")
@example("2025-06-01 12:58:46.12345Z")
@example("2025-06-01 12:58:46.123-01")
@example("2025-06-01")
@example("20250601T125846.123456789")
def test_any_text_reads_as_sqlalchemy_s_chain_reads_it(text: str) -> None:
    assert read(our_reading(), text) == read(sqlalchemy_reading(), text)


@pytest.mark.parametrize("value", [b"2025-06-01 12:58:46.123456", 20250601, 1.5, date(2025, 6, 1)])
def test_other_values_read_as_sqlalchemy_s_chain_reads_them(value: object) -> None:
    assert read(our_reading(), value) == read(sqlalchemy_reading(), value)


PG = postgresql.psycopg.dialect()


class _Subclass(datetime):
    pass


def test_postgresql_reads_every_value_as_sqlalchemy_s_chain_reads_it() -> None:
    impl = UTCDateTime().dialect_impl(PG)
    chain = TypeDecorator.result_processor(impl, PG, 1184)
    fast = impl.result_processor(PG, 1184)
    assert fast.func is _postgresql_utc_datetime
    values: list[object] = [
        None,
        datetime(2025, 6, 1, 11, 58, 46, tzinfo=UTC),
        datetime(2025, 6, 1, 11, 58, 46, tzinfo=timezone(timedelta(0))),
        datetime(2025, 6, 1, 11, 58, 46, tzinfo=ZoneInfo("Etc/UTC")),
        datetime(2025, 6, 1, 11, 58, 46),
        _Subclass(2025, 6, 1, 11, 58, 46, tzinfo=UTC),
        *random_datetimes(2000, seed=31),
        *(v.astimezone(UTC) for v in random_datetimes(2000, seed=37) if v.year > 1),
    ]
    for value in values:
        assert read(fast, value) == read(chain, value), value
        if type(value) is datetime and value.tzinfo is UTC:
            # the value itself, as the chain's astimezone gives it, without the chain
            assert chain(value) is value
            assert _postgresql_utc_datetime(lambda v: None, value) is value
