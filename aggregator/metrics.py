"""Prometheus metrics of the daemon, in a registry of their own.

The daemon calls the event methods (``poll_done``, ``articles_created``...) as
things happen; the gauges that describe stored state (feeds by state, outbox depth)
are read from the database at scrape time, so they are right after a restart and
whichever daemon of several is scraped.

A private ``CollectorRegistry`` (not the library's global one) keeps tests and
several app instances in one process from colliding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Polls: a conditional GET answers in tens of ms, a slow feed in seconds; the fetch
# timeout caps them around 30 s.
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Processing one poll's articles (dedup, cluster, match, store): ms to seconds.
PROCESSING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

POLL_OUTCOMES = ("ok", "not_modified", "unchanged", "failed", "deferred")
ALERT_OUTCOMES = ("sent", "retry", "dead", "suppressed")
FEED_STATES = ("active", "broken", "gone", "removed")


class _StoredState(Collector):
    """Gauges computed from the database when Prometheus scrapes."""

    def __init__(
        self,
        feed_states: Callable[[], Mapping[str, int]],
        outbox_depth: Callable[[], int],
    ) -> None:
        self._feed_states = feed_states
        self._outbox_depth = outbox_depth

    def collect(self) -> Iterable[Metric]:
        feeds = GaugeMetricFamily(
            "aggregator_feeds", "Configured feeds by state.", labels=["state"]
        )
        counts = dict(self._feed_states())
        for state in sorted(set(FEED_STATES) | set(counts)):
            feeds.add_metric([state], counts.get(state, 0))
        yield feeds
        yield GaugeMetricFamily(
            "aggregator_outbox_depth",
            "Alerts waiting in the outbox to be delivered.",
            value=self._outbox_depth(),
        )


class Metrics:
    """The daemon's metrics; ``render()`` gives the Prometheus text format."""

    def __init__(
        self,
        *,
        feed_states: Callable[[], Mapping[str, int]] = dict,
        outbox_depth: Callable[[], int] = int,
    ) -> None:
        """``feed_states``/``outbox_depth`` are called at scrape time (e.g. the
        ``Archive`` methods of the same names). If they raise, the scrape fails
        loudly rather than reporting zeros that look like a healthy system."""
        self.registry = CollectorRegistry(auto_describe=True)
        self._polls = Counter(
            "aggregator_polls",
            "Feed polls by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self._poll_seconds = Histogram(
            "aggregator_poll_duration_seconds",
            "Time to fetch and parse one feed.",
            buckets=POLL_BUCKETS,
            registry=self.registry,
        )
        self._processing_seconds = Histogram(
            "aggregator_processing_seconds",
            "Time to dedup, cluster, match and store one poll's articles.",
            buckets=PROCESSING_BUCKETS,
            registry=self.registry,
        )
        self._articles = Counter(
            "aggregator_articles_created", "New articles stored.", registry=self.registry
        )
        self._filtered = Counter(
            "aggregator_entries_filtered",
            "Feed entries dropped by the feeds' include/exclude queries.",
            registry=self.registry,
        )
        self._events = Counter(
            "aggregator_events_created", "New events (clusters) opened.", registry=self.registry
        )
        self._alerts = Counter(
            "aggregator_alerts",
            "Alert delivery attempts by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        # Known labels start at zero, so rate() works from the first scrape.
        for outcome in POLL_OUTCOMES:
            self._polls.labels(outcome)
        for outcome in ALERT_OUTCOMES:
            self._alerts.labels(outcome)
        self.registry.register(_StoredState(feed_states, outbox_depth))

    def poll_done(self, outcome: str, seconds: float) -> None:
        self._polls.labels(outcome).inc()
        self._poll_seconds.observe(seconds)

    def processing(self, seconds: float) -> None:
        self._processing_seconds.observe(seconds)

    def articles_created(self, n: int) -> None:
        if n > 0:
            self._articles.inc(n)

    def entries_filtered(self, n: int) -> None:
        if n > 0:
            self._filtered.inc(n)

    def events_created(self, n: int) -> None:
        if n > 0:
            self._events.inc(n)

    def alert_done(self, outcome: str) -> None:
        self._alerts.labels(outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
