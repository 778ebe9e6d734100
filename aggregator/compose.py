"""The composition root: from the validated configuration to the settings and objects
each stage takes, and ``poll_once``, one pass of both halves without the daemon.

The stages never see the configuration tree, only the frozen settings built here.
The daemon (``aggregator.daemon``) and the CLI build their objects through this module,
and load the configuration through ``load_config`` here: it runs ``stage_problems``, the
check that every stage accepts its settings, so ``config.py`` needs none of the stages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

import httpx
from pydantic import TypeAdapter, ValidationError

from aggregator import config, semantic, user_agent
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
    ChannelConfig,
    FeedConfig,
    LoadedConfig,
    items_of,
    parse_duration,
)
from aggregator.errors import AggregatorError, ConfigError, DeliveryError, QueryError, StorageError
from aggregator.models import FetchSettings, RequestAuth, header_problems, origin_of
from aggregator.poll.fetch import Fetcher
from aggregator.poll.poller import PipelineSettings, Poller, PollSummary
from aggregator.poll.schedule import PollPolicy
from aggregator.process.clustering import ClusterSettings
from aggregator.process.consumer import Consumer, ConsumerSettings
from aggregator.process.dedup import DedupSettings
from aggregator.query import EntryFilter, Query, parse_query
from aggregator.store import ConsumerLock, FeedSpec, FeedState, PruneCounts, Store
from aggregator.store.migrate import upgrade
from aggregator.workers import parse_executor, parse_workers_for

log = logging.getLogger(__name__)

S = TypeVar("S")

# Request headers a feed may not set: the fetcher owns the connection, the body
# encoding (it decompresses under its own cap) and the validators (kept per URL).
FEED_RESERVED_HEADERS = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "content-length",
        "transfer-encoding",
        "te",
        "upgrade",
        "accept-encoding",
        "if-none-match",
        "if-modified-since",
        "proxy-authorization",
    }
)


def load_config(
    path: str | Path | None,
    *,
    env: Mapping[str, str] | None = None,
    text: str | None = None,
    leave_out: Sequence[str] = (),
    defer_channels: bool = False,
) -> LoadedConfig:
    """The configuration, checked by the file's own rules and by every stage's
    (``stage_problems``); ConfigError with every problem at once. ``leave_out`` and
    ``defer_channels``: see ``config.load_config`` (read-only commands need no secrets)."""
    return config.load_config(
        path,
        checks=stage_problems,
        env=env,
        text=text,
        leave_out=leave_out,
        defer_channels=defer_channels,
    )


def config_from_data(
    raw: Any,
    *,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
    leave_out: Sequence[str] = (),
    defer_channels: bool = False,
) -> LoadedConfig:
    """``load_config`` for a configuration already read as data (``config.read_yaml``)."""
    return config.config_from_data(
        raw,
        checks=stage_problems,
        env=env,
        path=path,
        leave_out=leave_out,
        defer_channels=defer_channels,
    )


def stage_problems(raw: Mapping[str, Any]) -> list[str]:
    """Whether every stage accepts its settings: topic and filter queries parse, alert
    rules and channels build, feed headers are ones the fetcher can send.

    Entry by entry on the raw data (each entry validated alone), so the problems come
    out with their paths beside the file's other problems, and `config check` refuses
    what the daemon would refuse only after migrating."""
    problems: list[str] = []
    for i, topic in enumerate(items_of(raw, "topics")):
        if isinstance(topic, dict) and isinstance(topic.get("query"), str):
            if not topic["query"].strip():
                continue  # reported by the structural check
            problems.extend(f"topics[{i}].query: {p}" for p in _query_problems(topic["query"]))
    for i, feed in enumerate(items_of(raw, "feeds")):
        if not isinstance(feed, dict):
            continue
        for key in ("include", "exclude"):
            if isinstance(feed.get(key), str):
                problems.extend(f"feeds[{i}].{key}: {p}" for p in _query_problems(feed[key]))
        headers = feed.get("headers")
        if isinstance(headers, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):  # otherwise the structural check reports their types
            found = header_problems(headers, FEED_RESERVED_HEADERS, "the fetcher")
            if found:
                problems.append(f"feeds[{i}].headers: {'; '.join(found)}")
    for i, item in enumerate(items_of(raw, "alerts")):
        try:
            rule = AlertRuleConfig.model_validate(item)
        except ValidationError:
            continue  # reported by the structural check
        problems.extend(f"alerts[{i}].{p}" for p in _rule_problems(rule))
    problems.extend(_section_problems(raw))
    adapter: TypeAdapter[AnyChannelConfig] = TypeAdapter(ChannelConfig)
    for i, item in enumerate(items_of(raw, "channels")):
        try:
            channel_settings(adapter.validate_python(item))
        except ValidationError:
            continue  # reported by the structural check
        except ConfigError as err:
            problems.extend(f"channels[{i}].{p}" for p in err.problems)
    return problems


def _section_problems(raw: Mapping[str, Any]) -> list[str]:
    """The clustering and dedup sections, checked by building the stages' settings;
    article retention must outlive both windows (the originals copies point to, the
    events still open in memory)."""
    settings = raw.get("settings")
    if not isinstance(settings, dict):
        return []  # reported by the structural check
    problems: list[str] = []
    windows: dict[str, timedelta] = {}
    window_of: dict[str, Callable[[Mapping[str, Any]], timedelta]] = {
        "clustering": lambda given: stage_settings(ClusterSettings, "clustering", given).window,
        "dedup": lambda given: stage_settings(DedupSettings, "dedup", given).window,
    }
    for section, window_from in window_of.items():
        given = settings.get(section, {})
        if not isinstance(given, dict):
            continue  # reported by the structural check
        try:
            windows[section] = window_from(given)
        except ConfigError as err:
            problems.extend(err.problems)
    retention = settings.get("retention")
    if isinstance(retention, dict) and retention.get("articles") is not None:
        try:
            articles = timedelta(seconds=parse_duration(retention["articles"]))
        except ValueError:
            return problems  # reported by the structural check
        for section, window in windows.items():
            if articles < window:
                problems.append(
                    f"settings.retention.articles: shorter than settings.{section}.window"
                )
    return problems


def stage_settings(cls: type[S], section: str, given: Mapping[str, Any]) -> S:
    """A stage's settings dataclass from its section of the file: the keys are its
    fields, durations are written as in the rest of the file, the rest keep the
    stage's defaults. ConfigError, with ``settings.<section>.<key>`` paths, for an
    unknown key, a value of the wrong type, or what the stage itself refuses."""
    types = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in given.items():
        where = f"settings.{section}.{key}"
        if key not in names:
            problems.append(f"{where}: unknown key")
            continue
        try:
            values[key] = _setting(types[key], value)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise ConfigError(problems)
    try:
        return cls(**values)
    except ConfigError as err:  # the stage's own limits, named "<section>.<key>: ..."
        raise ConfigError([f"settings.{p}" for p in err.problems]) from err


_KINDS = {float: "a number", int: "a whole number", bool: "true or false"}


def _setting(kind: Any, value: Any) -> Any:
    if kind is timedelta:
        return timedelta(seconds=parse_duration(value))
    if isinstance(value, bool) != (kind is bool):
        pass  # YAML's true/false is no number, and a number no flag
    elif kind is float and isinstance(value, int | float):
        return float(value)
    elif kind in (int, bool) and isinstance(value, kind):
        return value
    raise ValueError(f"expected {_KINDS.get(kind, kind)}, got {value!r}")


def _query_problems(text: str) -> list[str]:
    try:
        parse_query(text)
    except QueryError as exc:
        return [str(exc)]
    return []


def _rule_problems(rule: AlertRuleConfig) -> list[str]:
    """A rule's problems as ``field: message``, its quiet hours' among them (the rest
    are still checked when those do not parse)."""
    problems: list[str] = []
    quiet = None
    if rule.quiet_hours is not None:
        try:
            quiet = QuietHours.parse(rule.quiet_hours)
        except ValueError as exc:
            problems.append(f"quiet_hours: {exc}")
    try:
        _rule_spec(rule, quiet)
    except ConfigError as err:
        for problem in err.problems:
            field, _, message = problem.partition(": ")
            if field == "digest_cron":  # the file calls the rule's cron `schedule`
                field = "schedule"
            problems.append(f"{field}: {message}")
    return problems


def fetch_settings(loaded: LoadedConfig) -> FetchSettings:
    p = loaded.config.settings.poll
    return FetchSettings(
        user_agent=user_agent(loaded.config.settings.contact),
        connect_timeout=p.connect_timeout,
        read_timeout=p.read_timeout,
        total_timeout=p.total_timeout,
        max_body_bytes=p.max_body,
        max_redirects=p.max_redirects,
        allow_private_networks=p.allow_private_networks,
        max_connections=p.concurrency,
        per_host_connections=p.per_host_connections,
        per_host_min_gap=p.per_host_min_gap,
    )


def request_auth(feed: FeedConfig) -> RequestAuth | None:
    """What the fetcher sends with this feed's requests (None when nothing)."""
    if feed.username is None and not feed.headers:
        return None
    return RequestAuth(
        origin=origin_of(feed.url),
        headers=tuple(feed.headers.items()),
        username=feed.username,
        password=feed.password,
    )


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
    auth = {f.name: a for f in loaded.config.feeds if (a := request_auth(f)) is not None}
    retention = loaded.config.settings.retention
    return PipelineSettings(
        owner=owner,
        lease_seconds=p.lease,
        feed_auth=auth,
        feed_filters=feed_filters(loaded),
        max_entry_age=(
            timedelta(seconds=retention.articles) if retention.articles is not None else None
        ),
        semantic_window=semantic_window(loaded),
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


def semantic_window(loaded: LoadedConfig) -> timedelta | None:
    """How recent a new article must be to get a semantic vector (the clustering
    window), or None when the signal is off or its package is not installed."""
    cluster = stage_settings(ClusterSettings, "clustering", loaded.config.settings.clustering)
    if cluster.semantic_support <= 0.0 or not semantic.available():
        return None
    return cluster.window


def embed_executor(loaded: LoadedConfig) -> ThreadPoolExecutor | None:
    """The thread semantic vectors are computed in (``Poller.fill_vectors``), when the
    signal is on.

    One thread of the daemon's own process, not the parse workers: the model (about
    70 MiB once used) is then held once, not once per worker, and its C engine
    releases the GIL while it computes.
    """
    if semantic_window(loaded) is None:
        return None
    return ThreadPoolExecutor(1, thread_name_prefix="embed")


def log_semantic_status(loaded: LoadedConfig) -> None:
    """Say once, at start, whether events are compared by meaning as well as words."""
    cluster = stage_settings(ClusterSettings, "clustering", loaded.config.settings.clustering)
    if cluster.semantic_support <= 0.0:
        log.info("semantic signal off (clustering.semantic_support: 0)")
    elif not semantic.available():
        log.warning(
            "semantic signal unavailable: the %r package is not installed; events are "
            "grouped by words and names only",
            semantic.PACKAGE,
        )
    else:
        log.info("semantic signal on (%s, title + lead, computed when polled)", semantic.PACKAGE)


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
    """The alert stage's rule; ConfigError (or ValueError for the quiet hours) when it
    refuses it, which the configuration check has already reported."""
    quiet = QuietHours.parse(rule.quiet_hours) if rule.quiet_hours else None
    return _rule_spec(rule, quiet)


def _rule_spec(rule: AlertRuleConfig, quiet: QuietHours | None) -> AlertRuleSpec:
    return AlertRuleSpec(
        name=rule.name,
        topic=rule.topic,
        trigger=rule.trigger,
        channels=tuple(rule.channels),
        min_sources=rule.min_sources,
        digest_cron=rule.schedule,
        timezone=rule.timezone,
        throttle=timedelta(seconds=rule.throttle) if rule.throttle is not None else None,
        quiet_hours=quiet,
        max_per_hour=rule.max_per_hour,
        new_outlets=rule.new_outlets,
        new_articles=rule.new_articles,
        min_gap=timedelta(seconds=rule.min_gap) if rule.min_gap is not None else None,
        quiet_factor=rule.quiet_factor,
        quiet_min=timedelta(seconds=rule.quiet_min) if rule.quiet_min is not None else None,
    )


def alert_rules(loaded: LoadedConfig) -> list[AlertRuleSpec]:
    return [rule_spec(r) for r in loaded.config.alerts if r.enabled]


def consumer_settings(loaded: LoadedConfig) -> ConsumerSettings:
    """Raises ConfigError when the values contradict each other (e.g. window < silence)."""
    s = loaded.config.settings
    cluster = stage_settings(ClusterSettings, "clustering", s.clustering)
    return ConsumerSettings(
        cluster=cluster,
        dedup=stage_settings(DedupSettings, "dedup", s.dedup),
        base_url=s.http.base_url,
        # An embed stage runs beside the consumer exactly when there is a window to
        # embed (the signal on, its package installed): only then is a vector awaited.
        semantic_wait=cluster.semantic_wait if semantic_window(loaded) is not None else None,
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
    Webhooks), no cookies kept, timeouts set per channel on each request. Its
    connection pool is made by its first request (``_FirstUseTransport``)."""
    return httpx.AsyncClient(
        follow_redirects=False, trust_env=False, transport=_FirstUseTransport()
    )


class _FirstUseTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, as ``AsyncClient(trust_env=False)`` makes it, but made by
    the first request: the daemon holds a webhook client from its start, and most
    configurations never send a webhook. Making the pool imports httpcore, h11 and
    anyio and loads the CA bundle into an SSL context: ~1.6 MiB the daemon kept for
    nothing (issue 17, docs/benchmarks.md)."""

    def __init__(self) -> None:
        self._transport: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            # No await before this: two first requests cannot both make one.
            self._transport = httpx.AsyncHTTPTransport(trust_env=False)
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


def parse_workers(loaded: LoadedConfig) -> int:
    """The parse processes to start for this configuration on this machine."""
    return parse_workers_for(
        loaded.config.settings.poll.parse_workers,
        cores=os.cpu_count() or 1,
        feeds=len(loaded.config.feeds),
    )


def cpu_pool(loaded: LoadedConfig) -> Executor:
    """Where this configuration parses on this machine (``aggregator.workers``): with
    ``parse_workers: auto`` on a small machine, the daemon's threads and a worker
    process during bursts."""
    return parse_executor(
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
    log_semantic_status(loaded)
    cpu = cpu_pool(loaded)
    embedder = embed_executor(loaded)
    writer = ThreadPoolExecutor(1, thread_name_prefix="writer")
    results: list[PollSummary] = []
    try:
        async with Fetcher(fetch_settings(loaded)) as fetcher:
            settings = pipeline_settings(loaded, make_owner())
            poller = Poller(store, fetcher, settings, cpu=cpu, writer=writer, embedder=embedder)
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
                process = consumer_settings(loaded)
                if process.semantic_wait is not None:
                    process = await _embed_stored(poller, process)
                consumer = Consumer(
                    store,
                    topics=topics(loaded),
                    rules=alert_rules(loaded),
                    settings=process,
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
        cpu.shutdown(wait=True, cancel_futures=True)
        if embedder is not None:
            embedder.shutdown(wait=True, cancel_futures=True)
        store.close()
    return results


async def _embed_stored(poller: Poller, settings: ConsumerSettings) -> ConsumerSettings:
    """The one-shot's embed stage: vectors for what it stored (and any work a daemon
    left), before the consumer clusters it, so a first poll's burst is clustered as
    steady polling is. Bounded: it gives up when one model call of a few texts takes
    longer than ``clustering.semantic_wait`` (a stuck model), and ``semantic_wait: 0``
    waits for none. Returns the consumer's settings for after it: nothing is awaited
    any more, and what has no vector is clustered without and says so."""
    assert settings.semantic_wait is not None
    wait = settings.semantic_wait.total_seconds()
    if wait > 0:
        t0 = time.monotonic()
        count = await poller.fill_vectors(stall=wait)
        log.info("embedded %d articles in %.1fs", count, time.monotonic() - t0)
    return dataclasses.replace(settings, semantic_wait=timedelta(0))
