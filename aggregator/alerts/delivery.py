"""The outbox worker: claim due alerts, send them through their channel, mark them.

At-least-once with a stable id: an alert is marked sent only after its channel
accepted it, so a crash between claim and mark means "sent again with the same id"
(the lease expires, or a SQLite daemon releases it at start, and the alert is claimed
again) — never "not sent". The mark is its own short transaction, made the moment
the channel accepts, not queued behind the writer thread's poll writes and consumer
batches: that queue (0.9-1.8 s median, up to 7 s) was the window in which a crash
sent an accepted alert again. The window is now one send plus one small UPDATE. Failures are
retried with backoff and jitter honouring Retry-After; after the limit the alert is
dead-lettered with its last error. A webhook answering 410 disables its channel.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from aggregator.alerts import Channel
from aggregator.alerts.payload import message_from_json
from aggregator.alerts.retry import RetrySettings, next_attempt
from aggregator.errors import DeliveryError
from aggregator.store import OutboxItem, Store

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    dead: int = 0


class Deliverer:
    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        *,
        owner: str,
        lease_seconds: float = 120.0,
        retry: RetrySettings | None = None,
        concurrency: int = 8,
        writer: Executor | None = None,
        marker: Executor | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.channels = channels
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.retry = retry or RetrySettings()
        self.concurrency = concurrency
        self.writer = writer
        # Where "sent" is written: None is the event loop's default thread pool, so the
        # mark never waits behind the writer's queue (benchmarks pass the writer to
        # measure the old window).
        self.marker = marker
        self.rng = rng or random.Random()
        self.clock = clock
        self.on_outcome = on_outcome

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.writer, lambda: fn(*args))

    async def _mark_sent(self, item: OutboxItem) -> None:
        loop = asyncio.get_running_loop()
        now = self.clock()
        await loop.run_in_executor(
            self.marker, self.store.mark_alert_sent, item.id, self.owner, now
        )

    async def run_once(self, limit: int = 100) -> DeliveryStats:
        """Deliver what is due now; returns what happened."""
        items = await self._db(
            lambda: self.store.claim_due_alerts(
                self.clock(), owner=self.owner, lease_seconds=self.lease_seconds, limit=limit
            )
        )
        if not items:
            return DeliveryStats()
        # A copy this batch updates: after a 410 the rest of the batch is not sent.
        disabled = dict(await self._db(self.store.disabled_channels))
        sem = asyncio.Semaphore(self.concurrency)
        outcomes: list[str] = []

        async def one(item: OutboxItem) -> None:
            async with sem:
                outcomes.append(await self._deliver(item, disabled))

        await asyncio.gather(*(one(i) for i in items))
        return DeliveryStats(
            sent=outcomes.count("sent"),
            retried=outcomes.count("retry"),
            dead=outcomes.count("dead"),
        )

    async def _deliver(self, item: OutboxItem, disabled: dict[str, str]) -> str:
        channel = self.channels.get(item.channel)
        if channel is None:
            return await self._fail(
                item, DeliveryError(f"channel {item.channel!r} is not configured", permanent=True)
            )
        if item.channel in disabled:
            return await self._fail(
                item,
                DeliveryError(f"channel disabled: {disabled[item.channel]}", permanent=True),
            )
        try:
            msg = message_from_json(item.payload)
            await channel.send(msg)
        except DeliveryError as exc:
            if getattr(exc, "endpoint_gone", False):
                reason = f"410 Gone: {exc.reason}"
                disabled[item.channel] = reason
                await self._db(self.store.disable_channel, item.channel, reason, self.clock())
                log.error("channel %r disabled: the endpoint answered 410 Gone", item.channel)
            return await self._fail(item, exc)
        except Exception as exc:
            # A bug or an unexpected library error: loud, but the alert is kept and
            # retried rather than lost.
            log.exception("delivery of alert %s crashed", item.id)
            return await self._fail(item, DeliveryError(f"unexpected error: {exc!r}"))
        await self._mark_sent(item)
        log.info(
            "alert sent id=%s rule=%r channel=%r attempt=%d",
            item.id,
            item.rule,
            item.channel,
            item.attempts + 1,
        )
        self._outcome("sent")
        return "sent"

    async def _fail(self, item: OutboxItem, exc: DeliveryError) -> str:
        now = self.clock()
        retry_at = next_attempt(
            item.attempts + 1, exc, now, self.rng, settings=self.retry, created_at=item.created_at
        )
        await self._db(self.store.mark_alert_failed, item.id, self.owner, exc.reason, retry_at)
        if retry_at is None:
            log.error(
                "alert dead-lettered id=%s rule=%r channel=%r after %d attempts: %s",
                item.id,
                item.rule,
                item.channel,
                item.attempts + 1,
                exc.reason,
            )
            self._outcome("dead")
            return "dead"
        log.warning(
            "alert delivery failed id=%s channel=%r attempt=%d: %s; retry at %s",
            item.id,
            item.channel,
            item.attempts + 1,
            exc.reason,
            retry_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        self._outcome("retry")
        return "retry"

    def _outcome(self, outcome: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(outcome)
