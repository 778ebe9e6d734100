"""When to try a failed delivery again, or give up (dead-letter).

Exponential backoff with *full jitter* (the delay is uniform in [0, cap·2^n]): many
alerts failing together against one receiver spread out instead of returning in
lock-step, which is what lets a receiver that was down for an hour recover. A
``Retry-After`` from the channel is a lower bound on the next attempt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from aggregator.errors import DeliveryError


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Retry policy; the defaults keep trying for about a day.

    - ``base_delay``: the backoff cap for the first retry; doubles each attempt.
    - ``max_delay``: the cap never grows beyond this.
    - ``min_delay``: a floor, so an unlucky jitter draw never retries in a hot loop.
    - ``max_attempts``: attempts in total (the first send included) before dead-letter.
    - ``max_age``: no attempt is scheduled later than ``created_at + max_age``.
    """

    base_delay: timedelta = timedelta(seconds=10)
    max_delay: timedelta = timedelta(hours=4)
    min_delay: timedelta = timedelta(seconds=1)
    max_attempts: int = 16
    max_age: timedelta = timedelta(days=2)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not timedelta(0) <= self.min_delay <= self.base_delay <= self.max_delay:
            raise ValueError("need 0 <= min_delay <= base_delay <= max_delay")


DEFAULT_RETRY = RetrySettings()


def backoff_cap(attempt: int, settings: RetrySettings = DEFAULT_RETRY) -> timedelta:
    """The largest delay after failed attempt number ``attempt`` (1-based)."""
    # Cap the exponent before shifting: 2**attempt for attempt ~ 10**6 is a slow bignum.
    exponent = min(max(attempt - 1, 0), 40)
    return min(settings.base_delay * (1 << exponent), settings.max_delay)


def next_attempt(
    attempt: int,
    error: DeliveryError,
    now: datetime,
    rng: random.Random,
    *,
    settings: RetrySettings = DEFAULT_RETRY,
    created_at: datetime | None = None,
) -> datetime | None:
    """When to try again after failed attempt number ``attempt`` (1 = the first send).

    None means dead-letter: the error is permanent, the attempts are used up, or the
    next attempt (``Retry-After`` included) would fall after ``created_at + max_age``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if error.permanent or attempt >= settings.max_attempts:
        return None
    cap = backoff_cap(attempt, settings)
    delay = timedelta(seconds=rng.uniform(0.0, cap.total_seconds()))
    when = now + max(delay, settings.min_delay)
    if error.retry_after is not None and error.retry_after > when:
        when = error.retry_after
    if created_at is not None and when > created_at + settings.max_age:
        return None
    return when
