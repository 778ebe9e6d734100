"""The composition root: from the validated configuration to the settings and objects
each stage takes, and ``poll_once``, one pass of both halves without the daemon.

The stages never see the configuration tree, only the frozen settings built here.
The daemon (``aggregator.daemon``) and the CLI build their objects through this module.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from aggregator.alerts import Channel
from aggregator.alerts.apprise import AppriseChannel, AppriseSettings
from aggregator.alerts.channel_settings import channel_settings
from aggregator.alerts.email import EmailChannel, EmailSettings
from aggregator.alerts.retry import RetrySettings
from aggregator.alerts.rules import AlertRuleSpec, QuietHours
from aggregator.alerts.webhook import WebhookChannel
from aggregator.config import (
    AlertRuleConfig,
    AnyChannelConfig,
    LoadedConfig,
)
from aggregator.errors import AggregatorError, DeliveryError, StorageError
from aggregator.poll.fetch import Fetcher
from aggregator.poll.poller import PipelineSettings, Poller, PollSummary
from aggregator.poll.schedule import PollPolicy
from aggregator.process.clustering import ClusterSettings
from aggregator.process.consumer import Consumer, ConsumerSettings
from aggregator.process.dedup import DedupSettings
from aggregator.process.match import EntryFilter
from aggregator.query import Query, parse_query
from aggregator.store import ConsumerLock, FeedSpec, FeedState, PruneCounts, Store
from aggregator.store.migrate import upgrade
from aggregator.workers import cpu_executor, parse_workers_for

log = logging.getLogger(__name__)


def make_owner() -> str:
    """Who holds leases: unique per process, readable in the database."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def feed_specs(loaded: LoadedConfig) -> list[FeedSpec]:
    return [
        FeedSpec(
            name=f.name,
            url=f.url,
            fixed_interval=f.interval,
            fulltext=f.fulltext,
            enabled=f.enabled,
        )
        for f in loaded.config.feeds
    ]


def pipeline_settings(loaded: LoadedConfig, owner: str) -> PipelineSettings:
    p = loaded.config.settings.poll
    auth = {f.name: a for f in loaded.config.feeds if (a := f.request_auth()) is not None}
    retention = loaded.config.settings.retention
    return PipelineSettings(
        owner=owner,
        lease_seconds=p.lease,
        feed_auth=auth,
        feed_filters=feed_filters(loaded),
        max_entry_age=(
            timedelta(seconds=retention.articles) if retention.articles is not None else None
        ),
        policy=PollPolicy(
            min_interval=p.min_interval,
            max_interval=p.max_interval,
            default_interval=p.default_interval,
            jitter=p.jitter,
            error_backoff_base=p.error_backoff_base,
            error_backoff_cap=p.error_backoff_cap,
            broken_after=p.broken_after,
        ),
    )


def feed_filters(loaded: LoadedConfig) -> dict[str, EntryFilter]:
    # Already validated by the configuration check; parsing again cannot fail.
    return {
        f.name: EntryFilter(
            include=parse_query(f.include) if f.include else None,
            exclude=parse_query(f.exclude) if f.exclude else None,
        )
        for f in loaded.config.feeds
        if f.include or f.exclude
    }


def _retention_ages(loaded: LoadedConfig) -> dict[str, Any]:
    r = loaded.config.settings.retention
    return {
        "polls_age": timedelta(seconds=r.polls),
        "polls_per_feed": r.polls_per_feed,
        "articles_age": timedelta(seconds=r.articles) if r.articles is not None else None,
    }


def prune(store: Store, loaded: LoadedConfig, *, dry_run: bool = False) -> PruneCounts:
    """One retention run with the configured ages (`db prune`)."""
    return store.prune(datetime.now(UTC), dry_run=dry_run, **_retention_ages(loaded))


def prune_batches(store: Store, loaded: LoadedConfig) -> Generator[PruneCounts]:
    """The same run one transaction per step (the daemon's job)."""
    return store.prune_batches(datetime.now(UTC), **_retention_ages(loaded))


def topics(loaded: LoadedConfig) -> dict[str, Query]:
    # Already validated by the configuration check; parsing again cannot fail.
    return {t.name: parse_query(t.query) for t in loaded.config.topics}


def rule_spec(rule: AlertRuleConfig) -> AlertRuleSpec:
    return AlertRuleSpec(
        name=rule.name,
        topic=rule.topic,
        trigger=rule.trigger,
        channels=tuple(rule.channels),
        min_sources=rule.min_sources,
        digest_cron=rule.schedule,
        timezone=rule.timezone,
        throttle=timedelta(seconds=rule.throttle) if rule.throttle is not None else None,
        quiet_hours=QuietHours.parse(rule.quiet_hours) if rule.quiet_hours else None,
        max_per_hour=rule.max_per_hour,
        new_outlets=rule.new_outlets,
        new_articles=rule.new_articles,
        min_gap=timedelta(seconds=rule.min_gap) if rule.min_gap is not None else None,
        quiet_factor=rule.quiet_factor,
        quiet_min=timedelta(seconds=rule.quiet_min) if rule.quiet_min is not None else None,
    )


def alert_rules(loaded: LoadedConfig) -> list[AlertRuleSpec]:
    return [rule_spec(r) for r in loaded.config.alerts if r.enabled]


def _given(model: Any, durations: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keys the file sets (others keep the stage's defaults); durations → timedelta."""
    out: dict[str, Any] = {}
    for key, value in model.model_dump(exclude_none=True).items():
        out[key] = timedelta(seconds=value) if key in durations else value
    return out


def consumer_settings(loaded: LoadedConfig) -> ConsumerSettings:
    """Raises ConfigError when the values contradict each other (e.g. window < silence)."""
    s = loaded.config.settings
    return ConsumerSettings(
        cluster=ClusterSettings(**_given(s.clustering, ("max_silence", "window"))),
        dedup=DedupSettings(**_given(s.dedup, ("window",))),
        base_url=s.http.base_url,
    )


def retry_settings(loaded: LoadedConfig) -> RetrySettings:
    d = loaded.config.settings.delivery
    return RetrySettings(max_attempts=d.max_attempts, max_age=timedelta(seconds=d.max_age))


def channel(cfg: AnyChannelConfig, client: httpx.AsyncClient) -> Channel:
    settings = channel_settings(cfg)
    if isinstance(settings, EmailSettings):
        return EmailChannel(settings)
    if isinstance(settings, AppriseSettings):
        return AppriseChannel(settings)
    return WebhookChannel(settings, client)


class UnavailableChannel:
    """A channel whose secret is not in the environment (``defer_channels``): every
    send fails, temporarily, with the configuration's own message, so the alert is kept
    and retried (a restart with the secret delivers it) and `aggregator alerts` shows
    why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def send(self, msg: Any) -> None:
        raise DeliveryError(f"not sent: {self.reason}")


def channels(loaded: LoadedConfig, client: httpx.AsyncClient) -> dict[str, Channel]:
    found: dict[str, Channel] = {c.name: channel(c, client) for c in loaded.config.channels}
    for name, reason in loaded.unavailable_channels:
        found[name] = UnavailableChannel(reason)
    return found


def webhook_client() -> httpx.AsyncClient:
    """The client webhooks go through: no redirects (a 3xx is a failure, per Standard
    Webhooks), no cookies kept, timeouts set per channel on each request."""
    return httpx.AsyncClient(follow_redirects=False, trust_env=False)


def parse_workers(loaded: LoadedConfig) -> int:
    """The parse processes to start for this configuration on this machine."""
    return parse_workers_for(
        loaded.config.settings.poll.parse_workers,
        cores=os.cpu_count() or 1,
        feeds=len(loaded.config.feeds),
    )


def prepare_store(loaded: LoadedConfig, *, migrate: bool = True) -> Store:
    store = Store.open(loaded.database_url)
    if migrate:
        upgrade(store.engine)
    store.sync_feeds(feed_specs(loaded), datetime.now(UTC))
    return store


async def poll_once(
    loaded: LoadedConfig,
    *,
    names: Sequence[str] | None = None,
    on_result: Callable[[PollSummary], None] | None = None,
    on_claimed: Callable[[int], None] | None = None,
    manual_gap: float = 0.0,
) -> list[PollSummary]:
    """Poll what is due now (or the named feeds, due or not) once, and return."""
    store = await asyncio.to_thread(prepare_store, loaded)
    cfg = loaded.config.settings.poll
    cpu = cpu_executor(parse_workers(loaded))
    writer = ThreadPoolExecutor(1, thread_name_prefix="writer")
    results: list[PollSummary] = []
    try:
        async with Fetcher(loaded.config.fetch_settings()) as fetcher:
            settings = pipeline_settings(loaded, make_owner())
            poller = Poller(store, fetcher, settings, cpu=cpu, writer=writer)
            claimed = await poller.claim(
                100_000, names=names, force=names is not None, force_min_gap=manual_gap
            )
            if on_claimed:
                on_claimed(len(claimed))
            sem = asyncio.Semaphore(cfg.concurrency)
            crashed: list[str] = []

            async def one(feed: FeedState) -> None:
                # As in the daemon: one feed's failure to store, or a bug it trips, is
                # logged and the other feeds go on (and their articles are processed).
                try:
                    async with sem:
                        summary = await poller.poll(feed)
                except StorageError as exc:
                    log.error("poll of %r not stored: %s", feed.name, exc)
                    crashed.append(feed.name)
                    return
                except Exception:
                    log.exception("poll of %r crashed", feed.name)
                    crashed.append(feed.name)
                    return
                results.append(summary)
                if on_result:
                    on_result(summary)

            await asyncio.gather(*(one(f) for f in claimed))
        # Events, matches and alerts for what was just stored (the daemon does this
        # continuously; a one-off poll does it once, if no daemon holds the lock).
        lock = ConsumerLock(store.engine)
        if await asyncio.to_thread(lock.acquire):
            try:
                consumer = Consumer(
                    store,
                    topics=topics(loaded),
                    rules=alert_rules(loaded),
                    settings=consumer_settings(loaded),
                )
                while (await asyncio.to_thread(consumer.process_pending)).articles:
                    pass
            finally:
                lock.release()
        if crashed:
            which = ", ".join(repr(n) for n in sorted(crashed))
            raise AggregatorError(f"{len(crashed)} poll(s) failed unexpectedly: {which}")
    finally:
        writer.shutdown(wait=True)
        if cpu is not None:
            cpu.shutdown(wait=True, cancel_futures=True)
        store.close()
    return results
