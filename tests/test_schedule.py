from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.poll.schedule import (
    PollPlan,
    PollPolicy,
    cache_hint,
    plan_failure,
    plan_success,
    publishing_interval,
    skip_forward,
)

NOW = datetime(2024, 11, 4, 12, 0, tzinfo=UTC)  # a Monday
POLICY = PollPolicy(min_interval=300, max_interval=86400, default_interval=3600, jitter=0.1)


def success(**kw: object) -> datetime:
    args: dict[str, object] = {
        "now": NOW,
        "policy": POLICY,
        "rng": random.Random(1),
        "fixed_interval": None,
        "previous_interval": None,
        "entry_times": None,
        "headers": {},
    }
    args.update(kw)
    return plan_success(**args).next_poll_at


def test_publishing_rate_drives_the_interval_within_bounds() -> None:
    busy = [NOW - timedelta(minutes=2 * i) for i in range(30)]
    assert publishing_interval(busy, NOW, POLICY) == POLICY.min_interval
    hourly = [NOW - timedelta(hours=i) for i in range(10)]
    assert publishing_interval(hourly, NOW, POLICY) == pytest.approx(1800)
    weekly = [NOW - timedelta(weeks=i) for i in range(5)]
    assert publishing_interval(weekly, NOW, POLICY) == POLICY.max_interval
    assert publishing_interval([], NOW, POLICY) == POLICY.default_interval


def test_a_feed_gone_quiet_slows_down() -> None:
    old_burst = [NOW - timedelta(days=10, minutes=i) for i in range(10)]
    assert publishing_interval(old_burst, NOW, POLICY) > 3600 * 12


def test_jitter_never_polls_early() -> None:
    for seed in range(50):
        when = plan_success(
            now=NOW,
            policy=POLICY,
            rng=random.Random(seed),
            fixed_interval=3600,
            previous_interval=None,
            entry_times=None,
            headers={},
        ).next_poll_at
        assert NOW + timedelta(hours=1) <= when <= NOW + timedelta(hours=1.1)


def test_server_hints_only_lengthen() -> None:
    long = success(fixed_interval=600, headers={"cache-control": "public, max-age=7200"})
    assert long >= NOW + timedelta(hours=2)
    short = success(fixed_interval=3600, headers={"cache-control": "max-age=60"})
    assert short >= NOW + timedelta(hours=1)
    ignored = success(fixed_interval=600, headers={"cache-control": "no-cache, max-age=7200"})
    assert ignored < NOW + timedelta(hours=1)
    expires = (NOW + timedelta(hours=3)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert success(fixed_interval=600, headers={"expires": expires}) >= NOW + timedelta(hours=3)
    assert success(fixed_interval=600, ttl_minutes=180) >= NOW + timedelta(hours=3)


def test_cache_hint_parsing() -> None:
    assert cache_hint({"cache-control": 'max-age="120"'}, NOW) == 120
    assert cache_hint({"cache-control": "max-age=junk"}, NOW) is None
    assert cache_hint({"expires": "not a date"}, NOW) is None
    assert cache_hint({"expires": "Mon, 04 Nov 2024 11:00:00 GMT"}, NOW) == 0


def test_skip_hours_and_days() -> None:
    # Monday 12:30 is in a skipped hour → 13:00; skipping Monday → Tuesday 00:00.
    t = NOW + timedelta(minutes=30)
    assert skip_forward(t, frozenset({12}), frozenset()) == NOW.replace(hour=13)
    assert skip_forward(t, frozenset(), frozenset({"Monday"})) == datetime(2024, 11, 5, tzinfo=UTC)
    assert skip_forward(t, frozenset(range(24)), frozenset()) == t  # absurd: ignored
    when = success(fixed_interval=600, skip_hours=frozenset({12, 13}))
    assert when == NOW.replace(hour=14)


def fail(status: int | None, count: int = 0, retry_after: datetime | None = None) -> PollPlan:
    return plan_failure(
        now=NOW,
        policy=POLICY,
        rng=random.Random(3),
        error_count=count,
        http_status=status,
        retry_after=retry_after,
    )


def test_backoff_grows_and_is_capped() -> None:
    delays = [(fail(None, n).next_poll_at - NOW).total_seconds() for n in range(12)]
    assert delays[0] >= POLICY.error_backoff_base * 0.5
    assert delays[3] > delays[0]
    assert max(delays) <= POLICY.error_backoff_cap


def test_broken_after_a_streak_and_gone_on_410() -> None:
    assert fail(500, POLICY.broken_after - 2).state == "active"
    assert fail(500, POLICY.broken_after - 1).state == "broken"
    gone = fail(410)
    assert gone.state == "gone"


def test_429_and_503() -> None:
    later = NOW + timedelta(hours=5)
    assert fail(429, retry_after=later).next_poll_at >= later
    hard = fail(429).next_poll_at
    assert hard >= NOW + timedelta(hours=4)
    assert fail(503).next_poll_at >= NOW + timedelta(hours=1)


def test_absurd_retry_after_is_capped() -> None:
    years = NOW + timedelta(days=3650)
    assert fail(503, retry_after=years).next_poll_at <= NOW + timedelta(days=7)
