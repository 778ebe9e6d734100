"""Times as people write them, one reading for the CLI and the API.

``2024-11-01`` (midnight UTC), an ISO 8601 timestamp (UTC unless it has a zone), or an
age counted back from now: ``3d``, ``12h``, ``1h30m``, ``90s``, ``2w``. The CLI's
``--since 3d`` and the API's ``since=3d`` mean the same instant.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aggregator.config import parse_duration

HINT = "use YYYY-MM-DD, an ISO timestamp or an age like 3d, 12h, 90m"


def parse_when(value: str, now: datetime) -> datetime:
    """The instant ``value`` names, in UTC; ValueError (with ``HINT``) when it is none."""
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        when = datetime.fromisoformat(text)
        # 0001-01-01T00:00+01:00 is valid ISO whose UTC instant is in year 0.
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"bad time {value!r}: out of range once in UTC") from exc
    except ValueError:
        pass
    try:
        return now - timedelta(seconds=parse_duration(text))
    except (ValueError, OverflowError):
        raise ValueError(f"bad time {value!r}: {HINT}") from None
