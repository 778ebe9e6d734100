"""The daemon: its interval jobs on APScheduler, its signals, its shutdown.

What it runs is built by ``aggregator.compose``; the parse workers come from
``aggregator.workers``.

One interval job (``tick``) tops up the polls in flight: it claims due feeds (leases in
the database) up to the concurrency limit and starts one task per feed. No job per
feed: each feed row carries its own ``next_poll_at``, so restarts and several daemons
sharing one PostgreSQL need nothing from the scheduler's memory. A claim that took all
it was allowed (more feeds due than room: a first poll) is followed by the next as
soon as half of the polls in flight are done, not a tick later.

Shutdown (SIGTERM/SIGINT): stop claiming, let polls in flight finish for a grace
period, cancel the rest (a cancelled poll has written nothing: each poll is stored in
one transaction at its end), give their leases back, and exit.

Reload (SIGHUP, ``systemctl reload``): read feeds.yaml again; an invalid file is
refused with its problems logged and the running configuration kept. A valid one
applies its feeds, topics, alert rules and channels without a restart, and the
semantic signal's keys (``clustering.semantic_support``, ``semantic_wait``: the embed
stage starts or stops); other ``settings`` take effect at the next start (a warning
names what changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from aggregator import compose
from aggregator.alerts.assemble import links_for
from aggregator.alerts.delivery import Deliverer
from aggregator.alerts.digest import run_digests
from aggregator.alerts.health import run_feed_health
from aggregator.compose import load_config
from aggregator.config import LoadedConfig
from aggregator.errors import AggregatorError, ConfigError, StorageError
from aggregator.memory import limit_arenas, release_free_memory
from aggregator.poll.fetch import Fetcher
from aggregator.poll.normalize import forget_texts
from aggregator.poll.poller import Poller, PollSummary
from aggregator.process.consumer import Consumer
from aggregator.service import (
    SingleInstanceLock,
    SystemdNotifier,
    early_stop_signal,
    pid_alive,
    sqlite_lock_path,
    stale_lease_owners,
)
from aggregator.store import ConsumerLock, FeedState, PruneCounts, Store
from aggregator.store.writer import WriterThread

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 7.0  # seconds; with the rest of shutdown, well inside systemd's 10 s

# While nothing is stored the consume job looks at the database this often, not every
# second: the look (two article queries and the digests' clock) cost ~2 ms of CPU a
# run, 0.12 CPU-s of an idle minute by itself. A poll of this daemon that stores
# articles wakes it at its next second; this interval bounds how late it notices
# articles stored by another daemon sharing the database, and digests falling due.
CONSUME_IDLE_RECHECK = 10.0  # seconds

# While the consumer works through a backlog, the heap's free memory is handed back
# at most this often (and at once when the burst ends). A first poll parses for a few
# minutes, then its articles take the consumer ten more (500 feeds x 50 on two
# loaded cores): without it, the ~70 MiB the parsing freed stayed the daemon's for
# all that time (bench_memory --timeline). A trim walks the free chunks (tens of ms
# on a fragmented heap), so not after every batch.
RELEASE_EVERY = 30.0  # seconds

# The keys of settings.clustering a reload applies: they turn the embed stage on or
# off and say how long the consumer waits for it; the rest of the section changes
# how events were decided, which a restart's replay must see whole.
SEMANTIC_KEYS = ("semantic_support", "semantic_wait")


def with_semantic_keys(old: Any, new: Any) -> Any:
    """``old`` settings with the semantic keys of ``new``'s clustering section (what a
    reload applies of ``settings``)."""
    clustering = {k: v for k, v in old.clustering.items() if k not in SEMANTIC_KEYS}
    clustering.update({k: v for k, v in new.clustering.items() if k in SEMANTIC_KEYS})
    return old.model_copy(update={"clustering": clustering})


def consume_due(*, woken: bool, busy: bool, since_last_look: float, recheck: float) -> bool:
    """Whether the consume job looks at the database on this run: when a poll here
    stored articles (``woken``), while the last look found work (``busy``: there may be
    more, or alerts it queued), and otherwise once every ``recheck`` seconds."""
    return woken or busy or since_last_look >= recheck


def release_due(*, dirty: bool, burst_ended: bool, since_last: float, every: float) -> bool:
    """Whether the daemon hands its heap's free memory back now: only after work that
    went through the heap (``dirty``); at once when a burst of polls and processing
    has ended (what the next hours of idling keep), and during a long one at most
    every ``every`` seconds."""
    return dirty and (burst_ended or since_last >= every)


@dataclass
class _Flight:
    task: asyncio.Task[Any]
    feed: FeedState


class Daemon:
    def __init__(self, loaded: LoadedConfig, *, notifier: SystemdNotifier | None = None) -> None:
        self.loaded = loaded
        self.notifier = notifier or SystemdNotifier()
        self.owner = compose.make_owner()
        self.stopping = asyncio.Event()
        self.in_flight: dict[int, _Flight] = {}
        self.polls_done = 0
        # The last claim took as many feeds as it was allowed: more may be due (a
        # first poll, a restart after a stop). The next claim then comes as soon as
        # half of the polls in flight are done (``_top_up``), not a tick later: a
        # first poll of 500 feeds was five waves 15 s apart, each parsed in 3 s, and
        # the burst parse worker (aggregator.workers.BurstExecutor) stayed up between.
        self._more_due = False
        self._claiming = asyncio.Lock()
        self._top_up_task: asyncio.Task[None] | None = None
        self.store: Store | None = None
        self.poller: Poller | None = None
        self.consumer: Consumer | None = None
        self.consumer_lock: ConsumerLock | None = None
        self.deliverer: Deliverer | None = None
        self.writer: WriterThread | None = None
        self._lock: SingleInstanceLock | None = None
        self._db_ok = True
        self.metrics: Any = None
        self.api_stop = asyncio.Event()
        self.api_port: int | None = None
        self._health_at = float("-inf")
        self.api_app: Any = None
        # Configured topic names, for the web application whenever it is built
        self.api_topics = tuple(t.name for t in loaded.config.topics)
        self.webhooks: Any = None
        self.reloads = 0  # configurations applied by SIGHUP (for tests and the log)
        self._reloading: asyncio.Task[None] | None = None
        self._reload_again = False
        # Idle back-off of the consume job (consume_due).
        self._stored_since_look = True
        self._consume_busy = False
        self._last_consume_look = -CONSUME_IDLE_RECHECK
        # Articles were processed since the heap was last handed back (release_free_memory).
        self._heap_dirty = False
        self._released_at = time.monotonic()
        # The embed stage (``_embed_loop``) and its thread, while the semantic signal is
        # on; woken by a poll that stored new articles.
        self.embedder: ThreadPoolExecutor | None = None
        self._embed_task: asyncio.Task[None] | None = None
        self._embed_wake = asyncio.Event()

    async def run(self) -> int:
        settings = self.loaded.config.settings
        lock_path = sqlite_lock_path(self.loaded.database_url)
        if lock_path is not None:
            self._lock = SingleInstanceLock(lock_path)
            self._lock.acquire()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        early = early_stop_signal()
        if early is not None:  # between the CLI's check and the handlers above
            self._on_signal(early)
        # Before any thread starts: the threads share one malloc arena (aggregator.memory).
        limit_arenas()
        cpu = compose.cpu_pool(self.loaded)
        writer = self.writer = WriterThread("writer")
        # The "sent" mark must not wait behind the queue of poll writes: on SQLite (one
        # writer) it goes next on the writer thread; on PostgreSQL it takes a thread of
        # its own (not the default pool, which blocking channels such as Apprise fill).
        marker: Executor = (
            writer.urgent
            if self._lock is not None
            else ThreadPoolExecutor(2, thread_name_prefix="alert-mark")
        )
        scheduler = AsyncIOScheduler(timezone=UTC)
        webhooks = self.webhooks = compose.webhook_client()
        try:
            self.store = store = await asyncio.to_thread(compose.prepare_store, self.loaded)
            if self._lock is not None:
                # SQLite: the single-instance lock proves no other daemon holds a
                # lease, so those left by a killed predecessor are stale: free them
                # now instead of waiting out 5 min (feeds) / 120 s (alerts).
                owners = await asyncio.to_thread(store.lease_owners)
                # Our own pid in an old owner is a predecessor's (pid 1 in a container).
                stale = stale_lease_owners(
                    owners,
                    hostname=socket.gethostname(),
                    alive=lambda pid: pid != os.getpid() and pid_alive(pid),
                )
                freed = await asyncio.to_thread(store.release_all_leases, stale)
                if any(freed):
                    log.info("released stale leases at start: %d feeds, %d alerts", *freed)
            api_task = await self._start_api(store, writer)
            self.consumer_lock = ConsumerLock(store.engine)
            self.consumer = Consumer(
                store,
                topics=compose.topics(self.loaded),
                rules=compose.alert_rules(self.loaded),
                settings=compose.consumer_settings(self.loaded),
            )
            delivery = settings.delivery
            self.deliverer = Deliverer(
                store,
                compose.channels(self.loaded, webhooks),
                owner=self.owner,
                lease_seconds=delivery.lease,
                retry=compose.retry_settings(self.loaded),
                concurrency=delivery.concurrency,
                writer=writer,
                marker=marker,
                on_outcome=self.metrics.alert_done if self.metrics else None,
            )
            compose.log_semantic_status(self.loaded)
            async with Fetcher(compose.fetch_settings(self.loaded)) as fetcher:
                self.poller = Poller(
                    store,
                    fetcher,
                    compose.pipeline_settings(self.loaded, self.owner),
                    cpu=cpu,
                    writer=writer,
                    on_poll=self._on_poll,
                )
                self._set_semantic(self.loaded)
                self._add_jobs(scheduler)
                scheduler.start()
                # Only now: a reload needs the objects it reconfigures.
                loop.add_signal_handler(signal.SIGHUP, self._on_reload)
                self._report_unavailable(self.loaded)
                log.info(
                    "daemon started: %d feeds, database %s, owner %s",
                    len(self.loaded.config.feeds),
                    self.store.backend,
                    self.owner,
                )
                self.notifier.notify("READY=1\nSTATUS=polling")
                await self.stopping.wait()
                loop.remove_signal_handler(signal.SIGHUP)
                if self._reloading is not None:
                    await asyncio.wait([self._reloading], timeout=SHUTDOWN_GRACE)
                self.notifier.notify("STOPPING=1\nSTATUS=stopping")
                scheduler.shutdown(wait=False)
                if self._top_up_task is not None:  # a claim under way: it releases
                    await asyncio.wait([self._top_up_task], timeout=SHUTDOWN_GRACE)
                await self._drain()
                await self._stop_embedding()
                self.api_stop.set()
                if api_task is not None:
                    await asyncio.wait([api_task], timeout=3)
        finally:
            self.api_stop.set()
            if scheduler.running:
                scheduler.shutdown(wait=False)
            await self._stop_embedding()
            writer.shutdown(wait=True)
            if marker is not writer.urgent:
                marker.shutdown(wait=True)
            await webhooks.aclose()
            cpu.shutdown(wait=False, cancel_futures=True)
            if self.consumer_lock is not None:
                self.consumer_lock.release()
            if self.store is not None:
                self.store.close()
            if self._lock is not None:
                self._lock.release()
            self.notifier.close()
        log.info("daemon stopped after %d polls", self.polls_done)
        return 0

    def _add_jobs(self, scheduler: AsyncIOScheduler) -> None:
        """Every job runs at most one instance at a time, skipped runs coalesce, and
        none leaks an exception (``_guarded``); they differ in interval and first run."""
        settings = self.loaded.config.settings
        now = datetime.now(UTC)
        # (id, job, interval in seconds, first run; None: one interval from now)
        jobs: list[tuple[str, Callable[[], Awaitable[None]], float, datetime | None]] = [
            ("consume", self._consume, 1, now),
            ("deliver", self._deliver, settings.delivery.tick, now),
            ("tick", self._tick, settings.poll.tick, now),
        ]
        # Always there (it returns at once without a fulltext topic): a reload may add one.
        jobs.append(("fulltext", self._backfill_fulltext, 15, None))
        # Retention not at start-up: a restart should resume polling first.
        jobs.append(
            ("retention", self._retention, settings.retention.interval, now + timedelta(seconds=60))
        )
        jobs.append(("renew-leases", self._renew_leases, max(1.0, settings.poll.lease / 3), None))
        if self.notifier.watchdog_interval:
            jobs.append(("watchdog", self._watchdog, self.notifier.watchdog_interval, None))
        for job_id, job, seconds, first in jobs:
            # APScheduler 3 takes next_run_time=None as "add the job paused": leave the
            # argument out to get its default (one interval from now).
            first_run: dict[str, datetime] = {} if first is None else {"next_run_time": first}
            scheduler.add_job(
                self._guarded(job),
                "interval",
                seconds=seconds,
                max_instances=1,
                coalesce=True,
                id=job_id,
                **first_run,
            )

    async def _start_api(self, store: Store, writer: Executor) -> asyncio.Task[None] | None:
        """Serve the archive (API, web page, Atom, /healthz, /metrics) in this process.

        The server listens from the start; the application behind it is built by the
        first request (``FirstRequestApp``, issue 17), with the settings of the start
        (the server's, which wait for a restart) and the topics configured by then.
        """
        from aggregator.api.server import ASGIApp, FirstRequestApp, serve
        from aggregator.metrics import Metrics
        from aggregator.store.archive import Archive
        from aggregator.store.engine import write_generation

        http = self.loaded.config.settings.http
        archive = Archive(store.engine)
        self.metrics = Metrics(
            feed_states=archive.feed_state_counts, outbox_depth=archive.outbox_depth
        )
        if not http.enabled:
            return None
        # Its commit listeners registered at start, as when the application was
        # built here: not added later to an engine the writer thread is using.
        write_generation(store.engine)
        metrics = self.metrics

        def build() -> ASGIApp:
            from aggregator.api.app import ApiSettings, create_app
            from aggregator.api.commands import StoreCommands

            return create_app(
                archive,
                ApiSettings(
                    host=http.host,
                    port=http.port,
                    token=http.token,
                    base_url=http.base_url,
                    allowed_hosts=tuple(http.allowed_hosts),
                    title=http.title,
                    topics=self.api_topics,
                ),
                health=self._health,
                metrics=metrics,
                commands=StoreCommands(store, writer),
            )

        app = FirstRequestApp(build)
        self.api_app = app
        ready = asyncio.Event()

        def on_ready(port: int) -> None:
            self.api_port = port
            ready.set()

        task = asyncio.create_task(
            serve(app, http.host, http.port, stop=self.api_stop, on_ready=on_ready)
        )
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            waiter.cancel()
            exc = task.exception()
            raise AggregatorError(f"cannot serve the API on {http.host}:{http.port}: {exc}")
        log.info("API and web page on http://%s:%d/", http.host, self.api_port)
        return task

    async def _health(self) -> dict[str, Any]:
        return {
            "ok": not self.stopping.is_set() and self._db_ok,
            "scheduler": "stopping" if self.stopping.is_set() else "running",
            "polls_in_flight": len(self.in_flight),
            "polls_done": self.polls_done,
        }

    def _on_poll(self, summary: PollSummary) -> None:
        if summary.new or summary.updated:
            self._stored_since_look = True
        if summary.new:
            self._embed_wake.set()
        if self.metrics is not None:
            self.metrics.poll_done(summary.outcome, summary.duration)
            self.metrics.articles_created(summary.new)
            self.metrics.entries_filtered(summary.filtered)

    def _on_signal(self, sig: signal.Signals) -> None:
        if not self.stopping.is_set():
            log.info("received %s: finishing polls in flight", sig.name)
            self.stopping.set()

    def _on_reload(self) -> None:
        """SIGHUP: reload in a task; one more after it if signals came meanwhile."""
        if self.stopping.is_set():
            return
        if self._reloading is not None and not self._reloading.done():
            self._reload_again = True
            return
        self._reloading = asyncio.create_task(self._reload_loop())

    async def _reload_loop(self) -> None:
        # systemd wants the monotonic time with RELOADING=1 (sd_notify(3)).
        usec = time.monotonic_ns() // 1000
        self.notifier.notify(f"RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading")
        try:
            while True:
                self._reload_again = False
                try:
                    await self.reload()
                except (AggregatorError, OSError):
                    # reload() logs what it refuses; a storage hiccup is logged there too.
                    pass
                except Exception:
                    log.exception("configuration reload crashed; the running one stays")
                if not self._reload_again or self.stopping.is_set():
                    break
        finally:
            self.notifier.notify("READY=1\nSTATUS=polling")

    async def reload(self) -> bool:
        """Read the configuration file again and apply it; False (logged) when refused."""
        path = self.loaded.path
        if path is None:
            log.warning("configuration reload ignored: the daemon was not started from a file")
            return False
        try:
            new = await asyncio.to_thread(functools.partial(load_config, path, defer_channels=True))
        except ConfigError as err:
            n = len(err.problems)
            log.error(
                "configuration reload refused: %s has %d problem%s; the running "
                "configuration stays",
                path,
                n,
                "s" if n != 1 else "",
            )
            for problem in err.problems:
                log.error("  %s", problem)
            return False
        old = self.loaded
        # Settings are read once, at start, by the scheduler, the executors, the HTTP
        # server and the database engine: they wait for a restart, said so here. The
        # semantic signal's keys are applied now (``SEMANTIC_KEYS``).
        settings = with_semantic_keys(old.config.settings, new.config.settings)
        for name in type(old.config.settings).model_fields:
            if getattr(settings, name) != getattr(new.config.settings, name):
                log.warning("settings.%s changed: it takes effect at the next restart", name)
        if new.database_url != old.database_url:
            log.warning("the database URL changed: it takes effect at the next restart")
        applied = replace(
            new,
            config=new.config.model_copy(update={"settings": settings}),
            database_url=old.database_url,
        )
        self._report_unavailable(applied)
        await self._apply(old, applied)
        self.loaded = applied
        self.reloads += 1
        return True

    @staticmethod
    def _report_unavailable(loaded: LoadedConfig) -> None:
        for name, reason in loaded.unavailable_channels:
            log.error("channel %r cannot deliver, its alerts wait: %s", name, reason)

    async def _apply(self, old: LoadedConfig, new: LoadedConfig) -> None:
        """Feeds (added, removed, changed), topics, rules and channels, in that order:
        a topic's first matches may alert through a channel added with it."""
        assert self.store is not None
        assert self.writer is not None
        loop = asyncio.get_running_loop()
        counts = await loop.run_in_executor(
            self.writer, self.store.sync_feeds, compose.feed_specs(new), datetime.now(UTC)
        )
        if self.poller is not None:
            # Credentials, headers and entry filters of each feed; read at each poll.
            self.poller.settings = compose.pipeline_settings(new, self.owner)
        channels_changed = (old.config.channels, old.unavailable_channels) != (
            new.config.channels,
            new.unavailable_channels,
        )
        if self.deliverer is not None and self.webhooks is not None and channels_changed:
            self.deliverer.channels = compose.channels(new, self.webhooks)
        semantic_changed = old.config.settings.clustering != new.config.settings.clustering
        self._set_semantic(new)
        if semantic_changed or (old.config.topics, old.config.alerts) != (
            new.config.topics,
            new.config.alerts,
        ):
            # A new consumer rebuilds its in-memory state from the store on its first
            # batch, as at start-up; the consume job picks it up at its next run.
            self.consumer = Consumer(
                self.store,
                topics=compose.topics(new),
                rules=compose.alert_rules(new),
                settings=compose.consumer_settings(new),
            )
        self.api_topics = tuple(t.name for t in new.config.topics)
        built = self.api_app.app if self.api_app is not None else None
        if built is not None:  # else the first request builds it with these topics
            built.state.settings = replace(built.state.settings, topics=self.api_topics)
        log.info(
            "configuration reloaded from %s: feeds %d added, %d changed, %d removed; "
            "%d topics, %d alert rules, %d channels",
            new.path,
            counts.get("added", 0),
            counts.get("changed", 0),
            counts.get("removed", 0),
            len(new.config.topics),
            len(new.config.alerts),
            len(new.config.channels),
        )

    # -- the embed stage -------------------------------------------------------------

    def _set_semantic(self, loaded: LoadedConfig) -> None:
        """Start the embed stage (its thread and task) when the configuration turns the
        semantic signal on, stop it when it turns it off (at start, and at a reload)."""
        executor = compose.embed_executor(loaded) if self._embed_task is None else None
        if executor is not None:
            self.embedder = executor
            if self.poller is not None:
                self.poller.embedder = executor
            self._embed_wake.set()  # work left by a predecessor, or stored while off
            self._embed_task = asyncio.create_task(self._embed_loop(), name="embed")
            log.info("embed stage started")
        elif self._embed_task is not None and compose.semantic_window(loaded) is None:
            task, self._embed_task = self._embed_task, None
            task.cancel()
            self._drop_embedder()
            log.info("embed stage stopped")

    def _drop_embedder(self) -> None:
        executor, self.embedder = self.embedder, None
        if self.poller is not None:
            self.poller.embedder = None
        if executor is not None:
            # A model call in progress finishes in its thread (a few texts: a second
            # or two); nothing waits for it, and its vectors are not stored.
            executor.shutdown(wait=False, cancel_futures=True)

    async def _stop_embedding(self) -> None:
        task, self._embed_task = self._embed_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._drop_embedder()

    async def _embed_loop(self) -> None:
        """The embed stage: vectors for the articles stored without one
        (``Poller.fill_vectors``), in the daemon holding the consumer lock and on its
        writer thread, so that no vector lands between the consumer's read of a batch
        and its commit. Woken by a poll that stored new articles; on PostgreSQL, also
        every ``CONSUME_IDLE_RECHECK`` seconds, for articles other daemons stored."""
        loop = asyncio.get_running_loop()
        recheck = CONSUME_IDLE_RECHECK if self._lock is None else None
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._embed_wake.wait(), recheck)
            self._embed_wake.clear()
            if self.stopping.is_set() or self.poller is None or self.consumer_lock is None:
                return
            try:
                if await loop.run_in_executor(self.writer, self.consumer_lock.acquire):
                    await self.poller.fill_vectors(on_stored=self._vectors_stored)
            except StorageError as exc:
                log.error("semantic vectors not stored: %s", exc)
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("the embed stage crashed; it resumes when next woken")

    def _vectors_stored(self, count: int) -> None:
        # The consumer may be holding these articles: look at once, not in 10 s.
        self._stored_since_look = True

    def _guarded(self, job: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """No job leaks an exception into APScheduler: one racing the shutdown finds the
        executors closed (expected, quiet); anything else is logged with its traceback
        and the job runs again at its next interval."""

        async def run() -> None:
            try:
                await job()
            except asyncio.CancelledError:
                if not self.stopping.is_set():
                    raise
                # The shutdown cancelled it mid-await (asyncio.run cancels what is left).
                # Every job's writes are transactions, claims are leases that expire:
                # nothing to undo, and nothing for APScheduler to log as a crash.
            except Exception:
                if not self.stopping.is_set():
                    log.exception(
                        "job %s crashed; it runs again at its next interval", job.__name__
                    )

        run.__name__ = job.__name__
        return run

    async def _tick(self) -> None:
        # One claim at a time: the tick job and a top-up would both count the room.
        async with self._claiming:
            await self._claim_due()

    async def _claim_due(self) -> None:
        if self.stopping.is_set() or self.poller is None:
            return
        room = self.loaded.config.settings.poll.concurrency - len(self.in_flight)
        if room <= 0:
            return
        limit = min(room, self.loaded.config.settings.poll.batch)
        try:
            claimed = await self.poller.claim(limit)
        except StorageError as exc:
            log.error("cannot claim feeds: %s", exc)
            return
        self._more_due = len(claimed) >= limit
        for feed in claimed:
            if self.stopping.is_set():
                await self.poller.release([feed.id])
                continue
            task = asyncio.create_task(self._poll(feed), name=f"poll:{feed.name}")
            self.in_flight[feed.id] = _Flight(task, feed)
        if claimed:
            self.notifier.notify(f"STATUS=polling: {len(self.in_flight)} in flight")

    async def _poll(self, feed: FeedState) -> None:
        assert self.poller is not None
        try:
            await self.poller.poll(feed)
            self.polls_done += 1
        except asyncio.CancelledError:
            raise
        except StorageError as exc:
            log.error("poll of %r not stored: %s", feed.name, exc)
        except Exception:
            # A bug: loud, with a traceback, but the other feeds go on.
            log.exception("poll of %r crashed", feed.name)
        finally:
            self.in_flight.pop(feed.id, None)
            self._top_up()

    def _top_up(self) -> None:
        """After a full claim, claim again once half of the polls in flight are done."""
        if not self._more_due or self.stopping.is_set():
            return
        if self._top_up_task is not None and not self._top_up_task.done():
            return
        if len(self.in_flight) > self.loaded.config.settings.poll.concurrency // 2:
            return
        self._more_due = False
        self._top_up_task = asyncio.create_task(self._claim_more(), name="top-up")

    async def _claim_more(self) -> None:
        await self._guarded(self._tick)()

    async def _drain(self) -> None:
        tasks = [f.task for f in self.in_flight.values()]
        if not tasks:
            return
        log.info("waiting up to %.0fs for %d polls in flight", SHUTDOWN_GRACE, len(tasks))
        _done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
        abandoned = [f.feed.id for f in self.in_flight.values() if f.task in pending]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if abandoned and self.poller is not None:
            with contextlib.suppress(StorageError):
                await self.poller.release(abandoned)
            log.info("abandoned %d polls; their feeds are due again", len(abandoned))

    async def _backfill_fulltext(self) -> None:
        if self.stopping.is_set() or self.poller is None:
            return
        topics = [t.name for t in self.loaded.config.topics if t.fulltext]
        if not topics:
            return
        # Only recent matches: this serves alerts and reading, not archaeology.
        await self.poller.backfill_fulltext(topics, datetime.now(UTC) - timedelta(days=2))

    async def _retention(self) -> None:
        """Forget old poll history and old events: in the daemon holding the consumer
        lock (one among several sharing a database), in the writer thread (SQLite's
        one writer), one transaction per turn on it, so a poll's write waits for one
        batch, not the whole run, and a shutdown stops it between two batches."""
        if self.stopping.is_set() or self.store is None or self.consumer_lock is None:
            return
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(self.writer, self.consumer_lock.acquire):
            return
        steps = compose.prune_batches(self.store, self.loaded)
        counts = PruneCounts()
        try:
            while not self.stopping.is_set():
                step = await loop.run_in_executor(self.writer, next, steps, None)
                if step is None:
                    break
                counts += step
        except StorageError as exc:
            # Expected now and then ("database is locked"): what is done stays done,
            # the next run goes on from there.
            log.error("retention stopped: %s", exc)
        steps.close()
        if counts != PruneCounts():
            log.info(
                "retention: deleted %d polls, %d events, %d articles, %d alerts",
                counts.polls,
                counts.events,
                counts.articles,
                counts.alerts,
            )

    async def _renew_leases(self) -> None:
        """Keep the leases of polls in flight: a slow poll must not be taken over by
        another daemon while it is still running. A killed daemon stops renewing, and
        its leases expire after `lease`."""
        if not self.in_flight or self.store is None:
            return
        until = datetime.now(UTC) + timedelta(seconds=self.loaded.config.settings.poll.lease)
        try:
            await asyncio.get_running_loop().run_in_executor(
                self.writer, self.store.renew_leases, list(self.in_flight), self.owner, until
            )
        except StorageError as exc:
            log.error("cannot renew leases: %s", exc)

    async def _consume(self) -> None:
        """Dedup, cluster, match and enqueue alerts for stored articles — only in the
        daemon holding the consumer lock, in the writer thread, batch by batch."""
        if self.stopping.is_set() or self.consumer is None or self.consumer_lock is None:
            return
        now = time.monotonic()
        if not consume_due(
            woken=self._stored_since_look,
            busy=self._consume_busy,
            since_last_look=now - self._last_consume_look,
            recheck=CONSUME_IDLE_RECHECK,
        ):
            return
        # Cleared before looking: a poll storing during this run wakes the next one.
        self._stored_since_look = False
        self._last_consume_look = now
        self._consume_busy = False
        drained = False  # the last batch was not full: nothing waits any more
        loop = asyncio.get_running_loop()
        try:
            if not await loop.run_in_executor(self.writer, self.consumer_lock.acquire):
                return
            while not self.stopping.is_set():
                t0 = time.monotonic()
                stats = await loop.run_in_executor(self.writer, self.consumer.process_pending)
                if stats.articles or stats.waiting:
                    # Held for vectors: look again next second (the wait is bounded).
                    self._consume_busy = True
                    self._heap_dirty = True
                if stats.articles and self.metrics is not None:
                    self.metrics.processing(time.monotonic() - t0)
                    self.metrics.events_created(stats.new_events)
                if stats.articles:
                    log.info(
                        "processed articles=%d duplicates=%d new_events=%d merges=%d "
                        "matches=%d alerts=%d",
                        stats.articles,
                        stats.duplicates,
                        stats.new_events,
                        stats.merges,
                        stats.matches,
                        stats.alerts,
                    )
                if stats.articles < self.consumer.settings.batch:
                    drained = True
                    break
                await self._release_memory(burst_ended=False)
            store = self.store
            assert store is not None
            settings = self.loaded.config.settings
            rules = compose.alert_rules(self.loaded)
            links = links_for(self.loaded.config.settings.http.base_url)
            await loop.run_in_executor(self.writer, lambda: run_digests(store, rules, links=links))
            if time.monotonic() - self._health_at >= settings.delivery.feed_health_every:
                self._health_at = time.monotonic()
                await loop.run_in_executor(
                    self.writer, lambda: run_feed_health(store, rules, links=links)
                )
            # A burst of polls and processing has ended: the heap it went through is
            # free but still the daemon's until it is handed back. At once, in the run
            # that processed the last articles (not a run later): that is when the
            # daemon is measured "after the first poll" and when the next hours of
            # idling start.
            await self._release_memory(burst_ended=drained and not self.in_flight)
        except StorageError as exc:
            log.error("processing stopped: %s", exc)

    async def _release_memory(self, *, burst_ended: bool) -> None:
        """Hand the heap's free pages back to the system when ``release_due``: on the
        writer thread, between two of its transactions."""
        now = time.monotonic()
        if not release_due(
            dirty=self._heap_dirty,
            burst_ended=burst_ended,
            since_last=now - self._released_at,
            every=RELEASE_EVERY,
        ):
            return
        self._heap_dirty = False
        self._released_at = now
        loop = asyncio.get_running_loop()
        if burst_ended:
            forget_texts()  # before the trim: what they held is then free
            if self.store is not None:
                # SQLite's page caches too; on the writer, between its transactions
                try:
                    await loop.run_in_executor(self.writer, self.store.shrink_memory)
                except StorageError as exc:
                    log.warning("could not empty SQLite's page caches: %s", exc)
        await loop.run_in_executor(self.writer, release_free_memory)

    async def _deliver(self) -> None:
        if self.stopping.is_set() or self.deliverer is None:
            return
        try:
            await self.deliverer.run_once()
        except StorageError as exc:
            log.error("alert delivery stopped: %s", exc)

    async def _watchdog(self) -> None:
        # Only tell systemd we are alive while the database answers: a daemon that
        # cannot store anything should be restarted.
        assert self.store is not None
        try:
            await asyncio.to_thread(self.store.ping)
        except StorageError as exc:
            if self._db_ok:
                log.error("database not answering: %s", exc)
            self._db_ok = False
            self.notifier.notify("STATUS=database not answering")
            return
        self._db_ok = True
        self.notifier.notify("WATCHDOG=1")
