"""Pure decisions: which rule fires for which event, when, and when to retry."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.alerts.retry import RetrySettings, backoff_cap, next_attempt
from aggregator.alerts.rules import (
    AlertRuleSpec,
    Decision,
    EventState,
    QuietHours,
    RuleHistory,
    decide,
    delivery_time,
    next_digest_time,
)
from aggregator.errors import ConfigError, DeliveryError

NOW = datetime(2026, 11, 4, 12, 30, tzinfo=UTC)
NEW_EVENT = AlertRuleSpec("kursk", "nk-troops", "new_event", ("ops-mail",))
CORROBORATED = AlertRuleSpec("kursk-3", "nk-troops", "min_sources", ("hook",), min_sources=3)


def first(cluster: int = 7, outlets: int = 1) -> EventState:
    return EventState(cluster_id=cluster, outlet_count=outlets, first_match=True)


def later(cluster: int = 7, outlets: int = 2) -> EventState:
    return EventState(cluster_id=cluster, outlet_count=outlets, first_match=False)


# --- new_event -------------------------------------------------------------------------


def test_new_event_fires_once_for_forty_articles_of_one_event() -> None:
    history = RuleHistory()
    fired = 0
    for i in range(40):
        event = first(outlets=1) if i == 0 else later(outlets=i + 1)
        decision = decide(NEW_EVENT, event, history, NOW + timedelta(minutes=i))
        if decision.enqueue:
            fired += 1
            history = RuleHistory(fired_for=history.fired_for | {event.cluster_id})
    assert fired == 1
    # A second event is a second alert.
    assert decide(NEW_EVENT, first(cluster=8), history, NOW).action == "fire"


def test_new_event_does_not_fire_twice_even_if_first_match_is_repeated() -> None:
    history = RuleHistory(fired_for=frozenset({7}))
    decision = decide(NEW_EVENT, first(cluster=7), history, NOW)
    assert decision == Decision.skip("already alerted for this event")
    assert decide(NEW_EVENT, replace(first(), already_fired=True), RuleHistory(), NOW).action == (
        "skip"
    )


def test_new_event_skips_articles_that_are_not_the_first_match() -> None:
    decision = decide(NEW_EVENT, later(), RuleHistory(), NOW)
    assert decision.action == "skip"
    assert "first matching" in decision.reason


def test_merged_cluster_that_already_fired_does_not_fire_again() -> None:
    # Cluster 3 fired; it was merged into 9, and an article joining 9 is its first match
    # from the merged cluster's point of view.
    history = RuleHistory(fired_for=frozenset({3}))
    event = EventState(cluster_id=9, outlet_count=4, first_match=True, merged=(3, 5))
    assert decide(NEW_EVENT, event, history, NOW).action == "skip"
    assert decide(CORROBORATED, event, history, NOW).action == "skip"
    # Unrelated merges do not block.
    other = EventState(cluster_id=9, outlet_count=4, first_match=True, merged=(5,))
    assert decide(NEW_EVENT, other, history, NOW).action == "fire"


# --- min_sources ----------------------------------------------------------------------


def test_min_sources_fires_once_when_the_event_first_reaches_n_outlets() -> None:
    history = RuleHistory()
    actions = []
    for outlets in (1, 2, 3, 3, 4, 5):
        decision = decide(CORROBORATED, later(outlets=outlets), history, NOW)
        actions.append(decision.action)
        if decision.enqueue:
            history = RuleHistory(fired_for=frozenset({7}))
    assert actions == ["skip", "skip", "fire", "skip", "skip", "skip"]


def test_min_sources_reports_progress_when_skipping() -> None:
    assert decide(CORROBORATED, later(outlets=2), RuleHistory(), NOW).reason == "2 of 3 sources"


def test_min_sources_fires_when_a_merge_jumps_past_n() -> None:
    event = EventState(cluster_id=9, outlet_count=6, first_match=False, merged=(4,))
    assert decide(CORROBORATED, event, RuleHistory(), NOW).action == "fire"


# --- every_article and digest ---------------------------------------------------------


def test_every_article_fires_for_each_matching_article() -> None:
    rule = replace(NEW_EVENT, trigger="every_article")
    history = RuleHistory(fired_for=frozenset({7}))
    assert decide(rule, later(), history, NOW).action == "fire"
    assert decide(rule, first(), history, NOW).action == "fire"


def test_digest_rules_never_fire_per_article() -> None:
    rule = AlertRuleSpec("daily", "nk-troops", "digest", ("ops-mail",), digest_cron="0 8 * * *")
    decision = decide(rule, first(), RuleHistory(), NOW)
    assert decision.action == "skip"
    assert "schedule" in decision.reason


def test_next_digest_time_is_strictly_after_and_in_the_rules_zone() -> None:
    # 08:00 in Berlin is 07:00 UTC in November (CET, UTC+1).
    after = datetime(2026, 11, 4, 6, 0, tzinfo=UTC)
    assert next_digest_time("0 8 * * *", "Europe/Berlin", after) == datetime(
        2026, 11, 4, 7, 0, tzinfo=UTC
    )
    # Exactly at a tick: the next one, not the same one (no double digest).
    tick = datetime(2026, 11, 4, 7, 0, tzinfo=UTC)
    assert next_digest_time("0 8 * * *", "Europe/Berlin", tick) == datetime(
        2026, 11, 5, 7, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("weekdays", "expected_day"),
    [
        ("1-5", 9),  # crontab numbering: Monday-Friday, so Monday the 9th
        ("mon-fri", 9),
        ("0", 8),  # Sunday
        ("7", 8),  # Sunday too
        ("6", 7),  # Saturday
        ("0-3", 8),  # Sunday-Wednesday
        ("3,6", 7),
        ("*/2", 7),  # Sun, Tue, Thu, Sat
        ("1/2", 9),  # Mon, Wed, Fri
        ("*", 7),
    ],
)
def test_next_digest_time_uses_crontab_weekday_numbers(weekdays: str, expected_day: int) -> None:
    # APScheduler 3 numbers weekdays from Monday; a user's crontab from Sunday.
    friday_evening = datetime(2026, 11, 6, 20, 0, tzinfo=UTC)  # a Friday
    assert next_digest_time(f"0 8 * * {weekdays}", "UTC", friday_evening) == datetime(
        2026, 11, expected_day, 8, 0, tzinfo=UTC
    )


def test_next_digest_time_follows_dst() -> None:
    # Summer time in New York: 08:00 EDT = 12:00 UTC; after 1 November, 13:00 UTC.
    assert next_digest_time(
        "0 8 * * *", "America/New_York", datetime(2026, 10, 31, tzinfo=UTC)
    ) == (datetime(2026, 10, 31, 12, 0, tzinfo=UTC))
    assert next_digest_time("0 8 * * *", "America/New_York", datetime(2026, 11, 2, tzinfo=UTC)) == (
        datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
    )


# --- quiet hours, max_per_hour, throttle ----------------------------------------------


def test_quiet_hours_defer_to_the_end_of_the_quiet_period_in_the_rules_zone() -> None:
    rule = replace(NEW_EVENT, timezone="Europe/Berlin", quiet_hours=QuietHours(time(22), time(7)))
    # 23:30 UTC = 00:30 Berlin: quiet until 07:00 Berlin = 06:00 UTC next morning.
    night = datetime(2026, 11, 4, 23, 30, tzinfo=UTC)
    decision = decide(rule, first(), RuleHistory(), night)
    assert decision.action == "defer"
    assert decision.until == datetime(2026, 11, 5, 6, 0, tzinfo=UTC)
    assert decision.reason == "quiet hours"
    # 21:30 UTC = 22:30 Berlin, before midnight: same morning.
    evening = datetime(2026, 11, 4, 21, 30, tzinfo=UTC)
    assert decide(rule, first(), RuleHistory(), evening).until == datetime(
        2026, 11, 5, 6, 0, tzinfo=UTC
    )
    # 06:00 UTC = 07:00 Berlin: the end is exclusive, so it fires.
    assert decide(rule, first(), RuleHistory(), datetime(2026, 11, 5, 6, tzinfo=UTC)).action == (
        "fire"
    )


def test_quiet_hours_within_one_day() -> None:
    rule = replace(NEW_EVENT, quiet_hours=QuietHours(time(12), time(14)))
    assert decide(rule, first(), RuleHistory(), NOW).until == datetime(
        2026, 11, 4, 14, 0, tzinfo=UTC
    )
    assert decide(rule, first(), RuleHistory(), NOW.replace(hour=14)).action == "fire"


def test_quiet_hours_end_on_a_dst_change_day() -> None:
    # Europe/Berlin leaves summer time on 25 October 2026: 07:00 CET = 06:00 UTC,
    # while the evening before (CEST) 22:00 local is 20:00 UTC.
    rule = replace(NEW_EVENT, timezone="Europe/Berlin", quiet_hours=QuietHours(time(22), time(7)))
    saturday_night = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)  # 23:00 CEST
    assert decide(rule, first(), RuleHistory(), saturday_night).until == datetime(
        2026, 10, 25, 6, 0, tzinfo=UTC
    )


def test_quiet_hours_ending_inside_the_spring_forward_gap_end_at_the_jump() -> None:
    # On 29 March 2026 Berlin's clocks jump from 02:00 CET to 03:00 CEST (01:00 UTC):
    # 02:30 never shows, and the quiet period 22:00-02:30 is over at the jump.
    rule = replace(
        NEW_EVENT, timezone="Europe/Berlin", quiet_hours=QuietHours(time(22), time(2, 30))
    )
    night = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 CET
    assert decide(rule, first(), RuleHistory(), night).until == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )
    # The autumn night repeats 02:00-03:00; the period ends at the first 02:30 (CEST).
    autumn = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)  # 01:00 CEST
    assert decide(rule, first(), RuleHistory(), autumn).until == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


def test_max_per_hour_defers_to_the_next_clock_hour_with_room() -> None:
    rule = replace(NEW_EVENT, max_per_hour=2)
    scheduled: list[datetime] = []
    dues = []
    for cluster in range(5):
        decision = decide(rule, first(cluster), RuleHistory(scheduled=tuple(scheduled)), NOW)
        assert decision.enqueue
        due = decision.due_at(NOW)
        dues.append(due)
        scheduled.append(due)
    assert dues == [
        NOW,
        NOW,
        datetime(2026, 11, 4, 13, tzinfo=UTC),
        datetime(2026, 11, 4, 13, tzinfo=UTC),
        datetime(2026, 11, 4, 14, tzinfo=UTC),
    ]


def test_max_per_hour_and_quiet_hours_combine() -> None:
    # Quiet 13:00-14:00; the current hour (12) is full: the next hour is quiet, so 14:00.
    rule = replace(NEW_EVENT, max_per_hour=1, quiet_hours=QuietHours(time(13), time(14)))
    history = RuleHistory(scheduled=(NOW - timedelta(minutes=5),))
    decision = decide(rule, first(), history, NOW)
    assert decision.until == datetime(2026, 11, 4, 14, tzinfo=UTC)
    assert set(decision.reason.split(", ")) == {"max_per_hour", "quiet hours"}
    assert delivery_time(rule, history, NOW) == decision.until


def test_throttle_suppresses_within_the_window_then_reopens() -> None:
    rule = replace(NEW_EVENT, throttle=timedelta(minutes=30))
    history = RuleHistory(last_alert_at=NOW - timedelta(minutes=10))
    decision = decide(rule, first(cluster=8), history, NOW)
    assert decision.action == "skip"
    assert decision.reason.startswith("throttled until 2026-11-04T12:50")
    assert decide(rule, first(cluster=8), history, NOW + timedelta(minutes=20)).action == "fire"


def test_throttle_collapses_a_quiet_hours_backlog_to_one_alert() -> None:
    rule = replace(
        NEW_EVENT, throttle=timedelta(minutes=30), quiet_hours=QuietHours(time(0), time(6))
    )
    night = datetime(2026, 11, 4, 2, 0, tzinfo=UTC)
    d1 = decide(rule, first(1), RuleHistory(), night)
    assert d1.action == "defer"
    history = RuleHistory(fired_for=frozenset({1}), last_alert_at=d1.until)
    assert decide(rule, first(2), history, night + timedelta(hours=1)).action == "skip"


def test_naive_now_is_a_bug() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(NEW_EVENT, first(), RuleHistory(), datetime(2026, 1, 1))


# --- rule validation -------------------------------------------------------------------


def test_invalid_rules_report_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        AlertRuleSpec(
            "",
            "t",
            "digest",
            (),
            digest_cron="61 * * * *",
            timezone="Mars/Olympus",
            throttle=timedelta(0),
            max_per_hour=0,
            quiet_hours=QuietHours(time(3), time(3)),
        )
    fields = [p.split(":")[0] for p in info.value.problems]
    assert fields == ["name", "channels", "timezone", "digest_cron", "throttle", "max_per_hour",
                      "quiet_hours"]  # fmt: skip


def test_bad_cron_and_misplaced_cron_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="digest_cron"):
        AlertRuleSpec("d", "t", "digest", ("m",), digest_cron="0 25 * * *")
    with pytest.raises(ConfigError, match="needs a cron"):
        AlertRuleSpec("d", "t", "digest", ("m",))
    with pytest.raises(ConfigError, match="only digest rules"):
        AlertRuleSpec("d", "t", "new_event", ("m",), digest_cron="0 8 * * *")
    with pytest.raises(ConfigError, match="trigger"):
        AlertRuleSpec("d", "t", "sometimes", ("m",))  # type: ignore[arg-type]


# --- retry schedule --------------------------------------------------------------------

SETTINGS = RetrySettings(
    base_delay=timedelta(seconds=10), max_delay=timedelta(hours=1), max_attempts=8
)


def test_backoff_cap_doubles_then_stops_at_max_delay() -> None:
    caps = [backoff_cap(n, SETTINGS).total_seconds() for n in range(1, 11)]
    assert caps == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    assert backoff_cap(10**9, SETTINGS) == timedelta(hours=1)


def test_full_jitter_spreads_retries_over_the_whole_window() -> None:
    rng = random.Random(1)
    error = DeliveryError("HTTP 503")
    delays = [
        (next_attempt(6, error, NOW, rng, settings=SETTINGS) - NOW).total_seconds()  # type: ignore[operator]
        for _ in range(2000)
    ]
    assert min(delays) >= 1.0  # the floor
    assert max(delays) <= 320
    # Uniform over [0, 320]: both halves are well populated (not clustered at the cap).
    low = sum(d < 160 for d in delays)
    assert 800 < low < 1200


def test_retry_after_is_a_lower_bound() -> None:
    rng = random.Random(2)
    later_ = NOW + timedelta(minutes=30)
    error = DeliveryError("HTTP 429", retry_after=later_)
    assert next_attempt(1, error, NOW, rng, settings=SETTINGS) == later_
    # A Retry-After earlier than the backoff does not pull the attempt forward.
    soon = DeliveryError("HTTP 429", retry_after=NOW + timedelta(seconds=1))
    rng_a, rng_b = random.Random(3), random.Random(3)
    plain = next_attempt(7, DeliveryError("x"), NOW, rng_a, settings=SETTINGS)
    assert next_attempt(7, soon, NOW, rng_b, settings=SETTINGS) == plain


def test_permanent_errors_and_exhausted_attempts_dead_letter() -> None:
    rng = random.Random(4)
    assert next_attempt(1, DeliveryError("gone", permanent=True), NOW, rng) is None
    assert next_attempt(7, DeliveryError("x"), NOW, rng, settings=SETTINGS) is not None
    assert next_attempt(8, DeliveryError("x"), NOW, rng, settings=SETTINGS) is None


def test_max_age_dead_letters_even_a_retry_after() -> None:
    rng = random.Random(5)
    created = NOW - timedelta(days=1, hours=23, minutes=59)
    far = DeliveryError("HTTP 503", retry_after=NOW + timedelta(hours=1))
    assert next_attempt(2, far, NOW, rng, created_at=created) is None
    assert next_attempt(2, far, NOW, rng, created_at=NOW) == NOW + timedelta(hours=1)


def test_default_policy_outlasts_an_hour_long_outage() -> None:
    # Whatever the jitter draws, the default schedule keeps trying for more than an hour
    # before it gives up (the promise), and stops within max_age.
    for seed in range(200):
        rng = random.Random(seed)
        when, attempt = NOW, 1
        while True:
            nxt = next_attempt(attempt, DeliveryError("down"), when, rng, created_at=NOW)
            if nxt is None:
                break
            when, attempt = nxt, attempt + 1
        assert when - NOW > timedelta(hours=1)
        assert when - NOW <= timedelta(days=2)


def test_bad_retry_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetrySettings(max_attempts=0)
    with pytest.raises(ValueError, match="min_delay"):
        RetrySettings(base_delay=timedelta(hours=5), max_delay=timedelta(hours=1))


def test_quiet_hours_parse() -> None:
    assert QuietHours.parse("22:00-07:00") == QuietHours(time(22), time(7))
    assert QuietHours.parse(" 12:30 - 13:45 ") == QuietHours(time(12, 30), time(13, 45))
    for bad in ("22:00", "25:00-07:00", "night-day", "07:00-07:00"):
        with pytest.raises(ValueError, match=r"HH:MM|differ"):
            QuietHours.parse(bad)


def test_channels_given_as_a_list_are_frozen_into_a_tuple() -> None:
    rule = AlertRuleSpec("r", "t", "new_event", ["mail", "hook"])  # type: ignore[arg-type]
    assert rule.channels == ("mail", "hook")


@pytest.mark.parametrize("weekdays", ["8", "5-2", "mon-8"])
def test_bad_weekday_fields_are_config_errors(weekdays: str) -> None:
    with pytest.raises(ConfigError, match="digest_cron"):
        AlertRuleSpec("d", "t", "digest", ("m",), digest_cron=f"0 8 * * {weekdays}")


# --- properties ------------------------------------------------------------------------

PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(
    arrivals=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3)), max_size=60),
    n=st.integers(1, 4),
)
def test_each_cluster_alerts_once_per_rule_in_any_interleaving(
    arrivals: list[tuple[int, int]], n: int
) -> None:
    # Articles arrive for clusters 0-5 in any order, each from one of 4 outlets; the
    # caller's bookkeeping is what the store does: fired_for grows on every enqueue.
    rules = {"new": NEW_EVENT, "min": replace(CORROBORATED, min_sources=n)}
    fired: dict[str, list[int]] = {"new": [], "min": []}
    seen: dict[int, set[int]] = {}
    history = {name: RuleHistory() for name in rules}
    reached_at: dict[int, int] = {}
    for i, (cluster, outlet) in enumerate(arrivals):
        first_article = cluster not in seen
        seen.setdefault(cluster, set()).add(outlet)
        if len(seen[cluster]) >= n:
            reached_at.setdefault(cluster, i)
        state = EventState(cluster, len(seen[cluster]), first_match=first_article)
        for name, rule in rules.items():
            if decide(rule, state, history[name], NOW).enqueue:
                fired[name].append(cluster)
                history[name] = RuleHistory(fired_for=history[name].fired_for | {cluster})
                if name == "min":
                    assert reached_at[cluster] == i  # fired on the article that reached N
    assert sorted(fired["new"]) == sorted(seen)
    assert sorted(fired["min"]) == sorted(c for c, outlets in seen.items() if len(outlets) >= n)


@PROPERTY
@given(
    gaps=st.lists(st.integers(0, 3600), min_size=1, max_size=80),
    limit=st.integers(1, 5),
    quiet=st.one_of(
        st.none(),
        st.tuples(st.integers(0, 23), st.integers(0, 23))
        .filter(lambda t: t[0] != t[1])
        .map(lambda t: QuietHours(time(t[0]), time(t[1]))),
    ),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
def test_rate_cap_and_quiet_hours_never_lose_an_alert(
    gaps: list[int], limit: int, quiet: QuietHours | None, zone: str
) -> None:
    rule = replace(NEW_EVENT, max_per_hour=limit, quiet_hours=quiet, timezone=zone)
    now = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)  # spans Europe's spring-forward night
    scheduled: list[datetime] = []
    for cluster, gap in enumerate(gaps):
        now += timedelta(seconds=gap)
        decision = decide(rule, first(cluster), RuleHistory(scheduled=tuple(scheduled)), now)
        assert decision.enqueue  # deferred, never dropped
        due = decision.due_at(now)
        assert due >= now
        if quiet is not None:
            assert not quiet.contains(due.astimezone(ZoneInfo(zone)).time())
        scheduled.append(due)
    per_hour: dict[datetime, int] = {}
    for due in scheduled:
        hour = due.replace(minute=0, second=0, microsecond=0)
        per_hour[hour] = per_hour.get(hour, 0) + 1
    assert max(per_hour.values()) <= limit


@PROPERTY
@given(
    attempt=st.integers(1, 40),
    seed=st.integers(0, 2**32),
    retry_after=st.one_of(st.none(), st.integers(0, 10**6)),
    permanent=st.booleans(),
)
def test_next_attempt_bounds(
    attempt: int, seed: int, retry_after: int | None, permanent: bool
) -> None:
    hint = None if retry_after is None else NOW + timedelta(seconds=retry_after)
    error = DeliveryError("x", retry_after=hint, permanent=permanent)
    when = next_attempt(attempt, error, NOW, random.Random(seed), settings=SETTINGS)
    if permanent or attempt >= SETTINGS.max_attempts:
        assert when is None
        return
    assert when is not None
    assert when >= NOW + SETTINGS.min_delay
    if hint is not None:
        assert when >= hint
    assert when <= max(NOW + backoff_cap(attempt, SETTINGS), hint or NOW)
