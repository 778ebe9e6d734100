"""When to poll a feed next: a pure function of the poll's result and the feed's state.

The rules (see docs/polite-polling.md):

* the interval adapts to how often the feed publishes, between ``min_interval`` and
  ``max_interval``; a per-feed ``interval`` in feeds.yaml overrides it;
* server hints only ever *lengthen* it: ``Cache-Control: max-age`` (unless
  ``no-cache``/``no-store``), ``Expires``, RSS ``<ttl>``, ``skipHours``/``skipDays``;
* errors back off exponentially with jitter up to a cap; 429/503 honour
  ``Retry-After``, and without one back off hard; 410 stops polling for good;
* jitter is only ever added, so no poll is early.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

_HARD_BACKOFF_429 = 4 * 3600.0  # no Retry-After on a 429: the server is telling us off
_HARD_BACKOFF_503 = 3600.0
# A Retry-After further out than this is treated as this: a lying or broken server
# must not silence a feed for years (FreshRSS caps at 2 days; we allow a week).
RETRY_AFTER_CAP = 7 * 86400.0
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class PollPolicy:
    min_interval: float = 300.0
    max_interval: float = 86400.0
    default_interval: float = 3600.0
    jitter: float = 0.1
    error_backoff_base: float = 600.0
    error_backoff_cap: float = 86400.0
    broken_after: int = 10


@dataclass(frozen=True, slots=True)
class PollPlan:
    next_poll_at: datetime
    interval: float | None  # the adaptive interval to remember (None: unchanged)
    error_count: int
    state: str  # active | broken | gone
    reason: str  # a short note for the log: what decided the delay


def publishing_interval(
    entry_times: Sequence[datetime], now: datetime, policy: PollPolicy
) -> float:
    """An interval from the feed's own publishing rate.

    Aim for about two polls per new entry at the feed's recent pace (the median gap
    between its dated entries), bounded by the policy. A feed with fewer than two dated
    entries gets the default.
    """
    times = sorted(t for t in entry_times if t <= now + timedelta(days=1))
    if len(times) < 2:
        return _clamp(policy.default_interval, policy)
    recent = times[-20:]
    gaps = sorted((b - a).total_seconds() for a, b in itertools.pairwise(recent) if b > a)
    if not gaps:
        return _clamp(policy.default_interval, policy)
    median = gaps[len(gaps) // 2]
    # A feed that went quiet long ago should not be polled at its old pace.
    silence = (now - times[-1]).total_seconds()
    pace = max(median, silence / 4)
    return _clamp(pace / 2, policy)


def _clamp(seconds: float, policy: PollPolicy) -> float:
    return max(policy.min_interval, min(policy.max_interval, seconds))


def cache_hint(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds the server says the response stays fresh, if it says so."""
    cc = headers.get("cache-control", "").lower()
    directives = {}
    for part in cc.split(","):
        key, _, value = part.strip().partition("=")
        if key:
            directives[key] = value.strip().strip('"')
    if "no-cache" in directives or "no-store" in directives:
        return None
    for key in ("s-maxage", "max-age"):
        if key in directives:
            try:
                return max(0.0, float(int(directives[key])))
            except ValueError:
                pass
    expires = headers.get("expires")
    if expires:
        try:
            when = parsedate_to_datetime(expires)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    return None


def skip_forward(when: datetime, skip_hours: frozenset[int], skip_days: frozenset[str]) -> datetime:
    """Move ``when`` out of the hours (GMT) and days the RSS feed asks us to skip."""
    if not skip_hours and not skip_days:
        return when
    if len(skip_hours) >= 24 or len(skip_days) >= 7:
        return when  # a feed that skips everything would never be read: ignore it
    t = when
    for _ in range(24 * 8):
        utc = t.astimezone(UTC)
        if _WEEKDAYS[utc.weekday()] in skip_days:
            t = (utc + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            continue
        if utc.hour in skip_hours:
            t = (utc + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
            continue
        return t
    return when


def error_backoff(error_count: int, policy: PollPolicy, rng: random.Random) -> float:
    """Exponential backoff, jittered between 50 % and 100 % of the step, capped."""
    step = policy.error_backoff_base * math.pow(2, max(0, error_count - 1))
    step = min(step, policy.error_backoff_cap)
    return step * (0.5 + 0.5 * rng.random())


def plan_success(
    *,
    now: datetime,
    policy: PollPolicy,
    rng: random.Random,
    fixed_interval: float | None,
    previous_interval: float | None,
    entry_times: Sequence[datetime] | None,
    headers: Mapping[str, str],
    ttl_minutes: int | None = None,
    skip_hours: frozenset[int] = frozenset(),
    skip_days: frozenset[str] = frozenset(),
) -> PollPlan:
    """After a 200 or 304. ``entry_times`` is None when the body was not parsed
    (304 or an unchanged body): the previous adaptive interval stands."""
    if fixed_interval is not None:
        interval = fixed_interval
        reason = "configured interval"
    elif entry_times is not None:
        interval = publishing_interval(entry_times, now, policy)
        reason = "publishing rate"
    else:
        interval = previous_interval or _clamp(policy.default_interval, policy)
        reason = "unchanged feed"
    delay = interval
    hint = cache_hint(headers, now)
    if hint is not None and hint > delay:
        delay, reason = hint, "Cache-Control/Expires"
    if ttl_minutes and ttl_minutes * 60 > delay:
        delay, reason = ttl_minutes * 60.0, "RSS ttl"
    # Jitter only lengthens: it spreads feeds that were added together without ever
    # polling earlier than the hints allow.
    delay += delay * policy.jitter * rng.random()
    when = skip_forward(now + timedelta(seconds=delay), skip_hours, skip_days)
    if when != now + timedelta(seconds=delay):
        reason += " + skipHours/skipDays"
    return PollPlan(
        next_poll_at=when,
        interval=None if fixed_interval is not None else interval,
        error_count=0,
        state="active",
        reason=reason,
    )


def plan_failure(
    *,
    now: datetime,
    policy: PollPolicy,
    rng: random.Random,
    error_count: int,
    http_status: int | None,
    retry_after: datetime | None,
) -> PollPlan:
    """After a failed poll; ``error_count`` is the streak before this failure."""
    count = error_count + 1
    if http_status == 410:
        # Gone: stop for good; the user sees it in `aggregator feeds`.
        return PollPlan(
            next_poll_at=now + timedelta(days=3650),
            interval=None,
            error_count=count,
            state="gone",
            reason="410 Gone",
        )
    delay = error_backoff(count, policy, rng)
    reason = f"error backoff (streak {count})"
    if http_status in (429, 503):
        floor = _HARD_BACKOFF_429 if http_status == 429 else _HARD_BACKOFF_503
        if retry_after is not None:
            floor = min(RETRY_AFTER_CAP, max(0.0, (retry_after - now).total_seconds()))
            reason = "Retry-After"
        else:
            reason = f"HTTP {http_status} without Retry-After"
        delay = max(delay, floor)
    state = "broken" if count >= policy.broken_after else "active"
    return PollPlan(
        next_poll_at=now + timedelta(seconds=delay),
        interval=None,
        error_count=count,
        state=state,
        reason=reason,
    )
