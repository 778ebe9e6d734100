"""Alert rules and the pure decision whether (and when) a rule fires.

The pipeline calls ``decide`` once per (rule, matching article) inside the transaction
that stores the article; "fire" and "defer" both mean "write an outbox row", the only
difference being its due time. Nothing here reads a clock, the database or a global:
the caller hands in the event's state, the rule's history and ``now``.

Limits, and what each does to an alert that hits it:

- **quiet hours** → *defer* to the end of the quiet period (nothing is lost; the user
  just isn't woken up).
- **max_per_hour** → *defer* to the next UTC clock hour with room. It is a rate cap,
  not a filter: every alert is still delivered. Fixed clock-hour windows (not a sliding
  window) make the count simple to check and explain: at most N alerts per rule have a
  due time within any one clock hour.
- **throttle** → *suppress* (``skip``): "tell me at most once per window". An event that
  matches inside the window is still stored, searchable and part of digests; it just does
  not alert. A suppressed alert is not "fired", so a ``min_sources`` rule may still fire
  for that cluster when a later source arrives after the window.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from aggregator.errors import ConfigError

Trigger = Literal[
    "new_event", "min_sources", "every_article", "digest", "developing", "feed_health"
]
TRIGGERS: tuple[Trigger, ...] = get_args(Trigger)

Action = Literal["fire", "skip", "defer"]


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local wall-clock times (in the rule's time zone) during which nothing is sent.

    ``start > end`` spans midnight (22:00–07:00). The end is exclusive.
    """

    start: time
    end: time

    @staticmethod
    def parse(text: str) -> QuietHours:
        """``"22:00-07:00"`` → QuietHours; ``ValueError`` with a readable reason."""
        start, sep, end = text.partition("-")
        if not sep:
            raise ValueError(f"expected HH:MM-HH:MM, got {text!r}")
        try:
            quiet = QuietHours(time.fromisoformat(start.strip()), time.fromisoformat(end.strip()))
        except ValueError:
            raise ValueError(f"expected HH:MM-HH:MM, got {text!r}") from None
        if quiet.start == quiet.end:
            raise ValueError(f"start and end must differ: {text!r}")
        return quiet

    def contains(self, local: time) -> bool:
        local = local.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


DEFAULT_MIN_GAP = timedelta(hours=1)
DEFAULT_QUIET_FACTOR = 5.0
DEFAULT_QUIET_MIN = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class AlertRuleSpec:
    """One alert rule from feeds.yaml, validated on construction (``ConfigError``).

    - ``trigger``: ``new_event`` (first matching article of a cluster), ``min_sources``
      (the matching cluster reaches ``min_sources`` distinct outlets), ``every_article``,
      ``digest`` (one message per ``digest_cron`` tick with the events since the last).
    - ``timezone``: IANA name; the zone of ``quiet_hours`` and ``digest_cron``.
    - ``throttle``: at most one alert per this window (others suppressed); None = off.
    - ``max_per_hour``: rate cap (excess deferred to the next clock hour); None = off.
    - ``developing``: first alerts like ``min_sources`` (the event reaches
      ``min_sources`` outlets), then again each time the event has grown by
      ``new_outlets`` distinct outlets or ``new_articles`` articles since the rule's last
      alert for it, at most once per ``min_gap`` (default one hour).
    - ``feed_health`` (no topic): a feed became broken, gone or quiet — nothing new for
      ``quiet_factor`` × its usual gap between entries and at least ``quiet_min`` — or
      recovered. Run by its own job, not per article.
    """

    name: str
    topic: str
    trigger: Trigger
    channels: tuple[str, ...]
    min_sources: int = 3
    digest_cron: str | None = None  # five-field crontab, e.g. "0 8 * * 1-5"
    timezone: str = "UTC"
    throttle: timedelta | None = None
    quiet_hours: QuietHours | None = None
    max_per_hour: int | None = None
    new_outlets: int | None = None
    new_articles: int | None = None
    min_gap: timedelta | None = None  # None: DEFAULT_MIN_GAP for developing rules
    quiet_factor: float | None = None  # None: DEFAULT_QUIET_FACTOR for feed_health
    quiet_min: timedelta | None = None  # None: DEFAULT_QUIET_MIN for feed_health

    @property
    def gap(self) -> timedelta:
        return self.min_gap if self.min_gap is not None else DEFAULT_MIN_GAP

    @property
    def quiet(self) -> tuple[float, timedelta]:
        """(quiet_factor, quiet_min) with their defaults."""
        return (
            self.quiet_factor if self.quiet_factor is not None else DEFAULT_QUIET_FACTOR,
            self.quiet_min if self.quiet_min is not None else DEFAULT_QUIET_MIN,
        )

    def __post_init__(self) -> None:
        # The config may hand in a list; keep the frozen value immutable.
        object.__setattr__(self, "channels", tuple(self.channels))
        problems = rule_problems(self)
        if problems:
            raise ConfigError(problems)


def rule_problems(rule: AlertRuleSpec) -> list[str]:
    """Every problem with a rule, as ``field: message`` (the config prefixes its path)."""
    problems: list[str] = []
    if not rule.name.strip():
        problems.append("name: must not be empty")
    if rule.trigger == "feed_health":
        if rule.topic.strip():
            problems.append("topic: feed_health rules watch every feed, they take no topic")
    elif not rule.topic.strip():
        problems.append("topic: must not be empty")
    if rule.trigger not in TRIGGERS:
        problems.append(f"trigger: {rule.trigger!r} is not one of {', '.join(TRIGGERS)}")
    if not rule.channels:
        problems.append("channels: at least one channel is needed")
    if rule.trigger == "min_sources" and rule.min_sources < 1:
        problems.append(f"min_sources: must be at least 1, got {rule.min_sources}")
    zone: ZoneInfo | None = None
    try:
        zone = ZoneInfo(rule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone: unknown IANA time zone {rule.timezone!r}")
    if rule.trigger == "digest":
        if not rule.digest_cron:
            problems.append("digest_cron: a digest rule needs a cron schedule")
        else:
            try:
                _cron(rule.digest_cron, zone or ZoneInfo("UTC"))
            except ValueError as exc:
                problems.append(f"digest_cron: {exc}")
    elif rule.digest_cron:
        problems.append("digest_cron: only digest rules have a schedule")
    if rule.throttle is not None and rule.throttle <= timedelta(0):
        problems.append("throttle: must be a positive duration")
    if rule.max_per_hour is not None and rule.max_per_hour < 1:
        problems.append(f"max_per_hour: must be at least 1, got {rule.max_per_hour}")
    if rule.trigger == "developing":
        if rule.new_outlets is None and rule.new_articles is None:
            problems.append("new_outlets: a developing rule needs new_outlets or new_articles")
        if rule.min_gap is not None and rule.min_gap <= timedelta(0):
            problems.append("min_gap: must be a positive duration")
    else:
        for key in ("new_outlets", "new_articles", "min_gap"):
            if getattr(rule, key) is not None:
                problems.append(f"{key}: only developing rules have {key}")
    for key in ("new_outlets", "new_articles"):
        value = getattr(rule, key)
        if value is not None and value < 1:
            problems.append(f"{key}: must be at least 1, got {value}")
    if rule.trigger == "feed_health":
        if rule.quiet_factor is not None and rule.quiet_factor < 1:
            problems.append(f"quiet_factor: must be at least 1, got {rule.quiet_factor:g}")
        if rule.quiet_min is not None and rule.quiet_min <= timedelta(0):
            problems.append("quiet_min: must be a positive duration")
    else:
        for key in ("quiet_factor", "quiet_min"):
            if getattr(rule, key) is not None:
                problems.append(f"{key}: only feed_health rules have {key}")
    if rule.quiet_hours is not None and rule.quiet_hours.start == rule.quiet_hours.end:
        problems.append("quiet_hours: start and end must differ")
    return problems


@dataclass(frozen=True, slots=True)
class EventState:
    """What the pipeline knows about the matching article's cluster.

    ``cluster_id`` is the resolved (surviving) id; ``merged`` lists clusters absorbed into
    it, so a rule that fired for any of them does not fire again for the merged event.
    """

    cluster_id: int
    outlet_count: int  # distinct outlets carrying the cluster, this article included
    first_match: bool  # this article is the cluster's first one matching the rule's topic
    already_fired: bool = False  # the rule has an outbox row for this cluster
    merged: tuple[int, ...] = ()
    article_count: int = 0
    # developing: the event as the rule's last alert for it showed it (None: no alert)
    last_alert: Snapshot | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An event's size when a rule last alerted for it, and when."""

    outlets: int
    articles: int
    at: datetime


@dataclass(frozen=True, slots=True)
class RuleHistory:
    """The rule's recent alerts, as the store knows them.

    - ``fired_for``: resolved cluster ids the rule has alerted for (fired or deferred).
    - ``scheduled``: due times of the rule's alerts from the current clock hour on
      (future, deferred ones included) — the ``max_per_hour`` count.
    - ``last_alert_at``: due time of the rule's latest alert — the ``throttle`` clock.
    """

    fired_for: frozenset[int] = frozenset()
    scheduled: tuple[datetime, ...] = ()
    last_alert_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """``fire`` now, ``defer`` until ``until`` (both: write an outbox row), or ``skip``."""

    action: Action
    reason: str = ""
    until: datetime | None = None

    @staticmethod
    def fire(reason: str = "") -> Decision:
        return Decision("fire", reason)

    @staticmethod
    def skip(reason: str) -> Decision:
        return Decision("skip", reason)

    @staticmethod
    def defer(until: datetime, reason: str) -> Decision:
        return Decision("defer", reason, until)

    @property
    def enqueue(self) -> bool:
        """Whether the caller writes an outbox row."""
        return self.action != "skip"

    def due_at(self, now: datetime) -> datetime:
        """When the outbox row becomes due."""
        return self.until if self.until is not None else now


def decide(rule: AlertRuleSpec, event: EventState, history: RuleHistory, now: datetime) -> Decision:
    """Whether ``rule`` alerts for this matching article, now or later.

    On ``fire``/``defer`` the caller writes the outbox row due at ``due_at(now)`` and
    keeps the history true for the next call: the cluster joins ``fired_for``, the due
    time joins ``scheduled`` and becomes ``last_alert_at``. When clusters merge, either
    resolve ``fired_for`` to surviving ids or list the absorbed ids in ``merged``.
    """
    _require_aware(now)
    fired = (
        event.already_fired
        or event.cluster_id in history.fired_for
        or any(c in history.fired_for for c in event.merged)
    )
    if rule.trigger == "digest":
        return Decision.skip("digest rules send on their schedule")
    if rule.trigger == "feed_health":
        return Decision.skip("feed_health rules watch feeds, not articles")
    if rule.trigger == "new_event":
        if fired:
            return Decision.skip("already alerted for this event")
        if not event.first_match:
            return Decision.skip("not the event's first matching article")
    elif rule.trigger == "min_sources":
        if fired:
            return Decision.skip("already alerted for this event")
        if event.outlet_count < rule.min_sources:
            return Decision.skip(f"{event.outlet_count} of {rule.min_sources} sources")
    elif rule.trigger == "developing":
        if not fired:
            if event.outlet_count < rule.min_sources:
                return Decision.skip(f"{event.outlet_count} of {rule.min_sources} sources")
        else:
            why = grown(rule, event)
            if why is None:
                return Decision.skip("not grown enough since the last alert")
            last = event.last_alert
            if last is not None and now < last.at + rule.gap:
                return Decision.skip(f"min_gap: next update after {last.at + rule.gap:%H:%M}Z")
    if rule.throttle is not None and history.last_alert_at is not None:
        reopens = history.last_alert_at + rule.throttle
        if now < reopens:
            return Decision.skip(f"throttled until {reopens.astimezone(UTC).isoformat()}")
    due, why = _release(rule, history.scheduled, now)
    if due == now:
        return Decision.fire()
    return Decision.defer(due, why)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def describe(rule: AlertRuleSpec) -> str:
    """What the rule does, in one line (``aggregator config check`` prints it)."""
    what = {
        "new_event": "the first matching article of each new event",
        "min_sources": f"an event once {rule.min_sources} outlets carry it",
        "every_article": "every matching article",
        "digest": f"one digest per tick of {rule.digest_cron!r} ({rule.timezone})",
    }
    if rule.trigger == "developing":
        growth = " or ".join(
            f"+{n} {label}"
            for n, label in ((rule.new_outlets, "outlets"), (rule.new_articles, "articles"))
            if n is not None
        )
        text = (
            f"an event once {rule.min_sources} outlets carry it, then again at each "
            f"{growth} since the last alert, at most once per {_span(rule.gap)}"
        )
    elif rule.trigger == "feed_health":
        factor, quiet_min = rule.quiet
        text = (
            "a feed that becomes broken or gone, or publishes nothing for "
            f"{factor:g}x its usual gap (at least {_span(quiet_min)}); again on recovery"
        )
    else:
        text = what[rule.trigger]
    topic = f" on topic {rule.topic!r}" if rule.topic else ""
    limits = [
        f"throttle {_span(rule.throttle)}" if rule.throttle else "",
        f"max {rule.max_per_hour}/hour" if rule.max_per_hour else "",
        (
            f"quiet {rule.quiet_hours.start:%H:%M}-{rule.quiet_hours.end:%H:%M} {rule.timezone}"
            if rule.quiet_hours
            else ""
        ),
    ]
    extra = "; ".join(x for x in limits if x)
    return (
        f"{rule.name}: {rule.trigger}{topic}: alerts on {text}"
        f"{f' ({extra})' if extra else ''} -> {', '.join(rule.channels)}"
    )


def grown(rule: AlertRuleSpec, event: EventState) -> str | None:
    """How the event grew past the rule's thresholds since its last alert, or None."""
    last = event.last_alert
    if last is None:
        return None
    outlets = event.outlet_count - last.outlets
    articles = event.article_count - last.articles
    if rule.new_outlets is not None and outlets >= rule.new_outlets:
        return f"+{outlets} outlets"
    if rule.new_articles is not None and articles >= rule.new_articles:
        return f"+{articles} articles"
    return None


def delivery_time(rule: AlertRuleSpec, history: RuleHistory, now: datetime) -> datetime:
    """The earliest time an alert of ``rule`` created at ``now`` may be sent.

    Applies quiet hours and ``max_per_hour`` (not the throttle). The lead uses it for
    digest rows; ``decide`` uses it for the others.
    """
    _require_aware(now)
    return _release(rule, history.scheduled, now)[0]


def _release(
    rule: AlertRuleSpec, scheduled: Iterable[datetime], now: datetime
) -> tuple[datetime, str]:
    zone = ZoneInfo(rule.timezone)
    # Counted only for a rule that caps its rate: the consumer asks this for every
    # enqueued alert, over the rule's last two hours, and the count (a datetime
    # conversion per alert) was 4 % of its time for rules without a cap.
    counts = _per_hour(scheduled) if rule.max_per_hour is not None else {}
    when, reasons = now, []
    # Each step moves ``when`` forward, and only quiet hours can push it back into a full
    # hour, so this settles within a few rounds; the bound only guards against a bug.
    for _ in range(48):
        moved = False
        if rule.quiet_hours is not None and rule.quiet_hours.contains(when.astimezone(zone).time()):
            when = quiet_end(rule.quiet_hours, zone, when)
            reasons.append("quiet hours")
            moved = True
        if rule.max_per_hour is not None:
            slot = _free_hour(counts, rule.max_per_hour, when)
            if slot != when:
                when = slot
                reasons.append("max_per_hour")
                moved = True
        if not moved:
            break
    return when, ", ".join(dict.fromkeys(reasons))


def _hour(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _per_hour(scheduled: Iterable[datetime]) -> dict[datetime, int]:
    counts: dict[datetime, int] = {}
    for when in scheduled:
        key = _hour(when)
        counts[key] = counts.get(key, 0) + 1
    return counts


def _free_hour(counts: dict[datetime, int], limit: int, when: datetime) -> datetime:
    """``when`` if its clock hour has room, else the start of the next hour that has."""
    hour = _hour(when)
    if counts.get(hour, 0) < limit:
        return when
    while counts.get(hour, 0) >= limit:
        hour += timedelta(hours=1)
    return hour


def quiet_end(quiet: QuietHours, zone: ZoneInfo, when: datetime) -> datetime:
    """The first instant after ``when`` at which the quiet period ends, in UTC."""
    local = when.astimezone(zone)
    day: date = local.date()
    for offset in (0, 1):
        candidate = _wall_clock_reaches(day + timedelta(days=offset), quiet.end, zone)
        if candidate > when:
            return candidate
        # In the autumn hour shown twice, ``when`` may sit in the second pass, after the
        # first showing of the end: the clock shows it again within the hour, not a day
        # later.
        again = datetime.combine(candidate.astimezone(zone).date(), quiet.end)
        second = again.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if second > when:
            return second
    raise AssertionError("unreachable: the end recurs daily")  # pragma: no cover


def _wall_clock_reaches(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the wall clock in ``zone`` on ``day`` shows ``at``.

    Usually that is simply ``at``; twice a day in autumn it is the first of the two.
    When ``at`` falls in a spring-forward gap (02:30 on a day the clock jumps from 02:00
    to 03:00) it never shows: the answer is the jump itself, the first instant at or
    past ``at``.
    """
    wall = datetime.combine(day, at)
    before = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the pre-jump offset
    after = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if after >= before:  # an ordinary or a repeated (autumn) wall time
        return before
    # In a gap fold=1 lands before the jump and fold=0 after it; bisect to the second.
    lo, hi = after, before
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return hi


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_ITEM = re.compile(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?")
_DOW_NAMES = re.compile(r"(sun|mon|tue|wed|thu|fri|sat)(-(sun|mon|tue|wed|thu|fri|sat))?(/\d+)?")


def _crontab_weekdays(spec: str) -> str:
    """Translate a crontab day-of-week field into APScheduler 3 weekday names.

    APScheduler 3 numbers weekdays from Monday = 0, crontab from Sunday = 0 (7 is also
    Sunday), and ``CronTrigger.from_crontab`` passes the numbers through unchanged
    (APScheduler issue 286): "1-5" would mean Tuesday–Saturday. Numeric items are
    expanded to explicit day names; named items ("mon-fri") are already unambiguous.
    """
    out: list[str] = []
    for item in spec.lower().split(","):
        m = _DOW_ITEM.fullmatch(item)
        if m is None:
            # APScheduler matches names by prefix ("mon-8" silently becomes "mon"), so
            # named items are checked here in full.
            if not _DOW_NAMES.fullmatch(item):
                raise ValueError(f"invalid day of week {item!r}")
            out.append(item)
            continue
        base, step = m.group(1), int(m.group(2) or 1)
        if base == "*":
            if step == 1:
                return "*"
            lo, hi = 0, 6
        elif "-" in base:
            lo, hi = (int(x) for x in base.split("-"))
        else:
            lo = hi = int(base)
            if m.group(2):  # "1/2" means "from Monday, every other day"
                hi = 6
        if not (0 <= lo <= 7 and 0 <= hi <= 7 and lo <= hi and step >= 1):
            raise ValueError(f"invalid day of week {item!r}")
        out.extend(_DAY_NAMES[d % 7] for d in range(lo, hi + 1, step))
    return ",".join(dict.fromkeys(out))


def _cron(expr: str, zone: ZoneInfo) -> CronTrigger:
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 crontab fields, got {len(fields)}")
    minute, hour, day, month, weekdays = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_crontab_weekdays(weekdays),
        timezone=zone,
    )


def next_digest_time(cron: str, tz: str, after: datetime) -> datetime:
    """The first tick of ``cron`` (five-field crontab, in zone ``tz``) strictly after ``after``.

    Returned in UTC. APScheduler's CronTrigger does the calendar work, DST included
    (a 02:30 tick on a spring-forward day fires once, at the next valid time).
    """
    _require_aware(after)
    trigger = _cron(cron, ZoneInfo(tz))
    nxt = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    if nxt is None:  # pragma: no cover - crontabs always recur
        raise ValueError(f"cron {cron!r} never fires again")
    return cast(datetime, nxt).astimezone(UTC)


def _require_aware(when: datetime) -> None:
    if when.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")


__all__ = [
    "TRIGGERS",
    "AlertRuleSpec",
    "Decision",
    "EventState",
    "QuietHours",
    "RuleHistory",
    "Snapshot",
    "Trigger",
    "decide",
    "delivery_time",
    "describe",
    "next_digest_time",
    "quiet_end",
    "rule_problems",
]
