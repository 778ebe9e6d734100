"""The single ordered consumer: stored articles → dedup → cluster → match → alerts.

Pollers (any number of daemons) only store articles. Exactly one consumer — the
daemon holding the consumer lock — takes unprocessed articles a batch at a time, the
earliest published first, one at a time through the pure stages, and stores each
batch's assignments, cluster states, matches and the alerts they cause in ONE
transaction. An unprocessed article is durable work: a crash before that commit means
the batch is processed again, never lost; the outbox's unique keys make a repeat
harmless.

An article a poll changed after it was processed (a corrected headline, an updated
body) is matched again, under the event it is already in: it is not clustered a second
time (it would count twice in its event). Only topics it had not matched add matches
and alerts; its ``rematch_at`` is cleared in the same transaction.

Dedup and cluster state is held in memory for a bounded time window and rebuilt from
the database at start (``rebuild``), so nothing here lives only in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from aggregator.alerts.assemble import (
    event_summary,
    links_for,
    load_event_facts,
    outbox_rows,
    ref_from,
)
from aggregator.alerts.message import ArticleRef, Change, EventSummary
from aggregator.alerts.payload import message_from_json
from aggregator.alerts.rules import (
    AlertRuleSpec,
    EventState,
    RuleHistory,
    Snapshot,
    decide,
)
from aggregator.models import Article, ClusterDecision, DedupDecision, Event, Match
from aggregator.process.clustering import Clusterer, ClusterSettings
from aggregator.process.dedup import DedupIndex, DedupSettings
from aggregator.process.match import TopicIndex, document_of
from aggregator.query import Query, document_from_article
from aggregator.store import (
    ArticleOutcome,
    ClusterArticle,
    CopyDetail,
    MatchRow,
    OutboxRow,
    Store,
    StoredArticle,
)
from aggregator.text import text_words

log = logging.getLogger(__name__)

# Rules that count every new report of an event that matched their topic before.
_GROWTH = ("min_sources", "developing")


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    batch: int = 200
    dedup: DedupSettings = field(default_factory=DedupSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    max_alert_articles: int = 50
    base_url: str | None = None  # links to the archive's pages in alerts
    # How long a new article inside the clustering window is held for its semantic
    # vector (``awaiting_vector``); None: no embed stage runs beside this consumer
    # (the signal off, or the consumer alone, as in tests), nothing is awaited.
    # timedelta(0): vectors are expected but no longer awaited (``poll_once`` after
    # its embed stage finished): what lacks one is clustered without, and says so.
    semantic_wait: timedelta | None = None


@dataclass(frozen=True, slots=True)
class ProcessStats:
    articles: int = 0  # handled in the batch: new ones and re-matched (edited) ones
    rematched: int = 0
    duplicates: int = 0
    new_events: int = 0
    merges: int = 0
    matches: int = 0
    alerts: int = 0
    waiting: int = 0  # read but held back for their semantic vector (awaiting_vector)
    without_vector: int = 0  # clustered without the vector they were expected to have


class _BatchReads:
    """What the store says of an event (its articles, its outlets), asked once per
    batch and answered from memory after: only this consumer writes events, matches
    and alerts, and only at the batch's commit, so within a batch the same question
    gets the same answer. An event growing through a batch is asked about for each
    alert it causes (a new event and a developing story, one topic after another):
    ~40 % of these reads were repeats."""

    __slots__ = ("_articles", "_outlets", "store")

    def __init__(self, store: Store) -> None:
        self.store = store
        self._articles: dict[
            tuple[tuple[int, ...], int, datetime | None, bool], list[ClusterArticle]
        ] = {}
        self._outlets: dict[tuple[int, ...], list[tuple[str, int, datetime | None]]] = {}

    def cluster_articles(
        self,
        cluster_ids: Sequence[int],
        limit: int = 50,
        *,
        processed_after: datetime | None = None,
        newest_first: bool = False,
    ) -> list[ClusterArticle]:
        key = (tuple(cluster_ids), limit, processed_after, newest_first)
        found = self._articles.get(key)
        if found is None:
            found = self._articles[key] = self.store.cluster_articles(
                list(cluster_ids),
                limit,
                processed_after=processed_after,
                newest_first=newest_first,
            )
        return found

    def cluster_outlets(self, cluster_ids: Sequence[int]) -> list[tuple[str, int, datetime | None]]:
        key = tuple(cluster_ids)
        found = self._outlets.get(key)
        if found is None:
            found = self._outlets[key] = self.store.cluster_outlets(list(cluster_ids))
        return found


@dataclass
class _Batch:
    """What one batch accumulates before its single commit."""

    now: datetime
    reads: _BatchReads
    outcomes: list[ArticleOutcome] = field(default_factory=list)
    clusters: dict[int, Event] = field(default_factory=dict)
    merges: list[tuple[int, int]] = field(default_factory=list)
    matches: list[MatchRow] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)
    rematched: list[StoredArticle] = field(default_factory=list)
    # in-batch knowledge the database does not have yet
    topic_clusters: set[tuple[str, int]] = field(default_factory=set)
    fired: set[tuple[str, str, int]] = field(default_factory=set)  # rule, trigger, cluster
    # survivor -> every id merged into it during this batch: until the batch commits,
    # the database (and the keys above) still know those events by their old ids
    absorbed: dict[int, set[int]] = field(default_factory=dict)
    members: dict[int, list[ArticleRef]] = field(default_factory=dict)
    due: dict[str, list[datetime]] = field(default_factory=dict)
    # rule -> its recent and in-batch due times, sorted (``_history``)
    scheduled: dict[str, tuple[datetime, ...]] = field(default_factory=dict)
    # developing rules: (rule, cluster) -> the event's size at this batch's alert
    snapshots: dict[tuple[str, int], Snapshot] = field(default_factory=dict)
    # What the database said, read once per batch (per rule, per topic or rule and
    # event) instead of per article x topic x rule: only this consumer writes these
    # rows, so within a batch the answers only change by the batch's own work, which
    # the in-batch sets above add.
    recent: dict[str, tuple[list[datetime], datetime | None]] = field(default_factory=dict)
    seen_db: dict[tuple[str, int], bool] = field(default_factory=dict)
    fired_db: dict[tuple[str, str, int], bool] = field(default_factory=dict)
    # (rule, trigger, event ids) -> the size in the rule's last stored alert for it:
    # asked again for every article of the event the rule does not alert for
    stored_last: dict[tuple[str, str, tuple[int, ...]], Snapshot | None] = field(
        default_factory=dict
    )
    new_events: int = 0
    duplicates: int = 0
    without_vector: int = 0


class _Decided(NamedTuple):
    """What the pure stages decided for one new article, before its alerts."""

    stored: StoredArticle
    dup: DedupDecision
    decision: ClusterDecision
    info: Event
    matched: list[Match]


class Consumer:
    def __init__(
        self,
        store: Store,
        *,
        topics: Mapping[str, Query],
        rules: Sequence[AlertRuleSpec],
        settings: ConsumerSettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.settings = settings or ConsumerSettings()
        self.index = TopicIndex(topics)
        self.rules_by_topic: dict[str, list[AlertRuleSpec]] = {}
        for rule in rules:
            if rule.trigger not in ("digest", "feed_health"):
                self.rules_by_topic.setdefault(rule.topic, []).append(rule)
        # Topics with a growth rule: the only ones a report that did not match them
        # can count for (``_alerts``), known once instead of per article.
        self._growth_topics = [
            t for t, rs in self.rules_by_topic.items() if any(r.trigger in _GROWTH for r in rs)
        ]
        self.clock = clock
        self.links = links_for(self.settings.base_url)
        self.dedup = DedupIndex(self.settings.dedup)
        self.clusterer = Clusterer(self.settings.cluster)
        self._ready = False
        # When this consumer started: an article's wait for its vector is counted from
        # then at the earliest, so after a restart the consumer waits for the embed
        # stage's resumed work instead of clustering the backlog without vectors.
        self._waits_from = clock()
        # The processed_at of the last batch committed (or replayed): each batch's is
        # later, so the replay can tell batches apart (``_batch_stamp``).
        self._last_batch: datetime | None = None

    # -- state --------------------------------------------------------------------

    def rebuild(self) -> int:
        """Rebuild dedup and cluster state from the stored, processed articles of the
        active window (and the whole of every event still live in it), replaying them
        in their processing order. Returns how many."""
        now = self.clock()
        window = max(self.settings.dedup.window, self.settings.cluster.window)
        self.dedup = DedupIndex(self.settings.dedup)
        self.clusterer = Clusterer(
            self.settings.cluster, next_cluster_id=self.store.max_cluster_id() + 1
        )
        for old, new in self.store.cluster_merges():
            self.clusterer.restore_merge(old, new)
        count = 0
        self._last_batch = None
        for stored in self.store.processed_articles_since(now - window):
            if stored.processed_at is not None:
                self._last_batch = max(self._last_batch or stored.processed_at, stored.processed_at)
            dup = self.dedup.check(stored.article)
            self.dedup.add(stored.id, stored.article)
            if stored.cluster_id is not None:
                # what the clusterer read live: the same replay gives the same text
                self.clusterer.restore(
                    stored.id, _for_clustering(stored.article, dup), stored.cluster_id
                )
            count += 1
        self._ready = True
        log.info("consumer state rebuilt from %d articles", count)
        return count

    # -- work ---------------------------------------------------------------------

    def process_pending(self) -> ProcessStats:
        """Process one batch: unprocessed articles, then edited ones to match again
        with what room is left (call repeatedly until ``articles`` is 0)."""
        if not self._ready:
            self.rebuild()
        # The earliest published first, then by id (``processing_order``; the store
        # reads them so). A poll stores its feed's articles together, so a burst (a
        # first poll of many feeds, a backlog after an outage) is stored one outlet's
        # day after the next: in id order the clusterer met each outlet's news as a
        # block, later reports before the first ones of their event, and joined too
        # much (ECB+ DEV through the poll path, semantic signal on: 0.811 / 0.863
        # pairwise / BCubed F1 in id order, 0.865 / 0.901 in publication order, as
        # fed directly). ``rebuild`` replays batch by batch in this order too.
        pending = sorted(self.store.unprocessed_articles(self.settings.batch), key=processing_order)
        # In that order, the first article still awaiting its vector holds back the
        # ones after it as well (exactly once, in order, as without the wait).
        now = self.clock()
        ready = ready_count(
            [s.article for s in pending],
            now=now,
            waits_from=self._waits_from,
            wait=self.settings.semantic_wait,
            cluster=self.settings.cluster,
        )
        waiting = len(pending) - ready
        pending = pending[:ready]
        # New articles first: they are the news. The edited ones come after them in the
        # same batch, so they see every merge the batch made.
        edited = self.store.articles_to_rematch(self.settings.batch - len(pending))
        if not pending and not edited:
            return ProcessStats(waiting=waiting)
        batch = _Batch(now=now, reads=_BatchReads(self.store))
        stamp = self._batch_stamp(now)
        try:
            # The pure stages first, article by article in that order; then what the
            # database knows of every event they touched, in one query each for
            # matches and alerts (not one per article and topic or rule); then each
            # article's matches and alerts, in the same order, from those answers.
            decided = [self._decide(stored) for stored in pending]
            self._prefetch(decided, batch)
            for d in decided:
                self._process(d, batch)
            known = self.store.topics_matched_by([e.id for e in edited])
            for stored in edited:
                self._rematch(stored, known.get(stored.id, set()), batch)
            alerts = self.store.record_processing(
                batch.outcomes,
                [replace(event, id=cid) for cid, event in batch.clusters.items()],
                batch.merges,
                batch.matches,
                batch.outbox,
                batch.now,
                batch.rematched,
                processed_at=stamp,
            )
        except BaseException:
            # The in-memory state ran ahead of what was committed: rebuild before the
            # next batch, so memory and database never disagree.
            self._ready = False
            raise
        self._last_batch = stamp
        if batch.without_vector:
            log.warning(
                "%d articles clustered without their semantic vector: not ready within "
                "clustering.semantic_wait (%s); cluster show --explain says which",
                batch.without_vector,
                self.settings.semantic_wait,
            )
        return ProcessStats(
            articles=len(pending) + len(edited),
            rematched=len(edited),
            duplicates=batch.duplicates,
            new_events=batch.new_events,
            merges=len(batch.merges),
            matches=len(batch.matches),
            alerts=alerts,
            waiting=waiting,
            without_vector=batch.without_vector,
        )

    def _batch_stamp(self, now: datetime) -> datetime:
        """The batch's ``processed_at``: ``now``, or just after the last batch's when
        the clock has not moved past it (stepped back, or a test's fixed clock).
        ``rebuild`` replays batch by batch in ``processed_at`` order, each batch in
        ``processing_order``; two batches with one stamp would be replayed as one, in
        an order the live consumer did not take. Only this stamp moves: the batch's
        alerts keep the clock's time."""
        if self._last_batch is not None and now <= self._last_batch:
            return self._last_batch + timedelta(microseconds=1)
        return now

    def _decide(self, stored: StoredArticle) -> _Decided:
        """The pure stages for one article: dedup, its event, the topics it matches."""
        art = stored.article
        # The text split into paragraphs and words once, for dedup and the matcher.
        split = text_words(art.text)
        dup = self.dedup.check(art, split)
        self.dedup.add(stored.id, art)
        decision = self.clusterer.assign(
            stored.id, _for_clustering(art, dup), duplicate_of=dup.duplicate_of
        )
        return _Decided(
            stored,
            dup,
            decision,
            # The event as it stood right after this article joined it.
            self.clusterer.info(decision.cluster_id),
            self.index.match(document_of(art, split)),
        )

    def _prefetch(self, decided: Sequence[_Decided], batch: _Batch) -> None:
        """Fill the batch's answers for every event its articles joined or merged
        (all the ids ``_alerts`` can ask about for a new article), one query each. Only
        what the rules will read: no rule, no question."""
        if not self.rules_by_topic:
            return
        ids = sorted({c for d in decided for c in (d.decision.cluster_id, *d.decision.merged)})
        seen = self.store.topics_matched_in(ids)
        fired = self.store.rules_fired_in(ids)
        for c in ids:
            for topic, rules in self.rules_by_topic.items():
                batch.seen_db[(topic, c)] = (topic, c) in seen
                for rule in rules:
                    key = (rule.name, rule.trigger, c)
                    batch.fired_db[key] = key in fired

    def _process(self, decided: _Decided, batch: _Batch) -> None:
        stored, dup, decision, info, matched = decided
        art = stored.article
        if dup.duplicate_of is not None:
            batch.duplicates += 1
        cid = decision.cluster_id
        if decision.is_new:
            batch.new_events += 1
        for old in decision.merged:
            batch.merges.append((old, cid))
            batch.absorbed.setdefault(cid, set()).update({old, *batch.absorbed.pop(old, ())})
            batch.members.setdefault(cid, []).extend(batch.members.pop(old, []))
            batch.clusters.pop(old, None)
        batch.clusters[cid] = info
        batch.members.setdefault(cid, []).append(
            ArticleRef(
                title=art.title, url=art.url, outlet=art.feed, published=art.published, id=stored.id
            )
        )
        detail = None
        if dup.kind == "near" or dup.not_copy_of is not None:
            # What the copy decision shared and set aside, for ``cluster show --explain``
            detail = CopyDetail(
                similarity=dup.similarity,
                boilerplate=dup.boilerplate,
                not_copy_of=dup.not_copy_of,
                reason=dup.not_copy_reason,
            ).to_json()
        signals = decision.signals
        if missing_vector(
            art, now=batch.now, wait=self.settings.semantic_wait, cluster=self.settings.cluster
        ):
            # Said where the decision is explained (``cluster show --explain``): the
            # meaning could not support a join the names or the fit refused.
            signals += (NO_VECTOR_SIGNAL,)
            batch.without_vector += 1
        batch.outcomes.append(
            ArticleOutcome(
                id=stored.id,
                duplicate_of=dup.duplicate_of,
                duplicate_kind=dup.kind,
                cluster_id=cid,
                cluster_score=decision.score,
                cluster_terms=decision.matched_terms,
                cluster_signals=signals,
                duplicate_detail=detail,
            )
        )
        for m in matched:
            batch.matches.append(MatchRow(stored.id, m.topic, cid, m.matched_terms))
        self._alerts(
            stored,
            cid,
            decision.merged,
            {m.topic: m.matched_terms for m in matched},
            batch.clusters[cid],
            batch,
        )

    def _rematch(self, stored: StoredArticle, known: set[str], batch: _Batch) -> None:
        """Match an edited article's new text under the event it is in.

        Only topics it had not matched count: those are new matches, with the alerts a
        new match of this article in this event causes. A match the new text no longer
        supports is kept: it was true of what the feed published, and its alerts went.
        """
        batch.rematched.append(stored)
        if stored.cluster_id is None:
            return  # processed without an event: nothing to match under
        # Through the merges this batch made (the database still has the old id).
        cid = self.clusterer.resolve(stored.cluster_id)
        matched = {
            m.topic: m.matched_terms
            for m in self.index.match(document_from_article(stored.article))
            if m.topic not in known
        }
        if not matched:
            return
        for topic, terms in matched.items():
            batch.matches.append(MatchRow(stored.id, topic, cid, terms))
        info = self._cluster_info(cid)
        if info is None:
            # Its event is gone (the retention job is deleting it): the matches are
            # history, but there is no event left to alert about.
            log.warning("article %d re-matched without its event %d", stored.id, cid)
            return
        self._alerts(stored, cid, (), matched, info, batch, corroborate=False)

    def _cluster_info(self, cid: int) -> Event | None:
        """The event as the clusterer holds it, or as stored once it left the window."""
        try:
            return self.clusterer.info(cid)
        except KeyError:
            return self.store.cluster_row(cid)

    # -- alerts -------------------------------------------------------------------

    def _alerts(
        self,
        stored: StoredArticle,
        cid: int,
        merged: tuple[int, ...],
        matched: Mapping[str, tuple[str, ...]],
        info: Event,
        batch: _Batch,
        *,
        corroborate: bool = True,
    ) -> None:
        """Run the rules of the topics ``stored`` matched in event ``cid`` (``merged``:
        the ids it absorbed just now). ``corroborate``: the article is a new report of
        the event, so the growth rules (min_sources, developing) of topics the event
        matched before count it too; an edited article is no new outlet."""
        # The event under every id it had in this batch: an alert or match made for an
        # id absorbed earlier in the batch counts for the survivor, so a merge never
        # makes an event "new" again.
        related = [cid, *sorted(batch.absorbed.get(cid, set()) | set(merged))]
        # Growth rules look at every article of a cluster that matched a topic before,
        # not just the matching ones: the Nth outlet may word it differently.
        earlier = (
            {
                t
                for t in self._growth_topics
                if t not in matched and self._topic_seen(t, related, batch)
            }
            if corroborate
            else set()
        )
        for topic in [*matched, *sorted(earlier)]:
            if topic not in self.rules_by_topic:
                continue  # no rule reads whether the event matched it before
            first_match = topic in matched and not self._topic_seen(topic, related, batch)
            for rule in self.rules_by_topic.get(topic, ()):
                if topic not in matched and rule.trigger not in _GROWTH:
                    continue
                fired = self._fired(rule, related, batch)
                last = None
                if rule.trigger == "developing" and fired:
                    last = self._last_alert(rule, related, batch)
                verdict = decide(
                    rule,
                    EventState(
                        cluster_id=cid,
                        outlet_count=info.outlet_count,
                        first_match=first_match,
                        already_fired=bool(fired),
                        merged=merged,
                        article_count=info.article_count,
                        last_alert=last,
                    ),
                    self._history(rule, fired, batch),
                    batch.now,
                )
                if not verdict.enqueue:
                    continue
                due = verdict.due_at(batch.now)
                event = self._summary(rule, topic, stored, matched, cid, related, info, batch, last)
                if rule.trigger == "every_article":
                    key = f"a{stored.id}"
                elif last is not None:
                    # One update per size the event reached: a batch processed again
                    # after a crash makes the same key, and nothing twice.
                    key = f"c{cid}:o{info.outlet_count}:a{info.article_count}"
                else:
                    key = f"c{cid}"
                batch.outbox.extend(
                    outbox_rows(
                        rule,
                        trigger=rule.trigger,
                        topic=topic,
                        subject_key=key,
                        created_at=batch.now,
                        due_at=due,
                        events=(event,),
                        links=self.links,
                        cluster_id=cid,
                        article_id=stored.id,
                    )
                )
                batch.fired.add((rule.name, rule.trigger, cid))
                batch.due.setdefault(rule.name, []).append(due)
                batch.scheduled.pop(rule.name, None)
                if rule.trigger == "developing":
                    batch.snapshots[(rule.name, cid)] = Snapshot(
                        event.outlet_total, event.article_count, batch.now
                    )
        for topic in matched:
            batch.topic_clusters.add((topic, cid))

    def _history(self, rule: AlertRuleSpec, fired: set[int], batch: _Batch) -> RuleHistory:
        if rule.name not in batch.recent:
            batch.recent[rule.name] = self.store.rule_recent_alerts(
                rule.name, batch.now - timedelta(hours=2)
            )
        recent, last = batch.recent[rule.name]
        # The batch's own alerts are not in the database yet: add them, or a batch of
        # many events would pass the throttle and the hourly cap.
        pending = batch.due.get(rule.name, [])
        scheduled = batch.scheduled.get(rule.name)
        if scheduled is None:
            # sorted once per rule until its next alert, not once per article asking
            scheduled = batch.scheduled[rule.name] = tuple(sorted([*recent, *pending]))
        return RuleHistory(
            fired_for=frozenset(fired),
            scheduled=scheduled,
            last_alert_at=max([*pending, *([last] if last is not None else [])], default=None),
        )

    def _last_alert(
        self, rule: AlertRuleSpec, related: Sequence[int], batch: _Batch
    ) -> Snapshot | None:
        """The event's size in the rule's last alert for it (this batch's first)."""
        for c in related:
            if (rule.name, c) in batch.snapshots:
                return batch.snapshots[(rule.name, c)]
        key = (rule.name, rule.trigger, tuple(related))
        if key not in batch.stored_last:
            batch.stored_last[key] = self._stored_last_alert(rule, related)
        return batch.stored_last[key]

    def _stored_last_alert(self, rule: AlertRuleSpec, related: Sequence[int]) -> Snapshot | None:
        found = self.store.rule_last_alert(rule.name, rule.trigger, related)
        if found is None:
            return None
        payload, at = found
        events = message_from_json(payload).events
        if not events:
            return None
        return Snapshot(events[0].outlet_total, events[0].article_count, at)

    def _lead(
        self,
        rule: AlertRuleSpec,
        topic: str,
        stored: StoredArticle,
        matched: Mapping[str, tuple[str, ...]],
        related: Sequence[int],
        batch: _Batch,
        last: Snapshot | None,
    ) -> tuple[ArticleRef, ...]:
        """What the alert is about, shown first: the new articles of a developing
        story; else this article when it matched; else (a growth rule counting a
        report that did not match the topic) the newest article that did."""
        limit = self.settings.max_alert_articles
        if last is not None:
            new = [
                ref_from(a)
                for a in batch.reads.cluster_articles(
                    related, limit, processed_after=last.at, newest_first=True
                )
            ]
            members = [r for c in related for r in batch.members.get(c, [])]
            return tuple(
                sorted([*new, *members], key=lambda r: (r.published, r.outlet), reverse=True)
            )[:limit]
        art = stored.article
        if topic in matched:
            return (
                ArticleRef(
                    title=art.title,
                    url=art.url,
                    outlet=art.feed,
                    published=art.published,
                    id=stored.id,
                    matched_terms=matched[topic],
                ),
            )
        in_batch = {m.article_id: m.terms for m in batch.matches if m.topic == topic}
        refs = [r for c in related for r in batch.members.get(c, []) if r.id in in_batch]
        if refs:
            newest = max(refs, key=lambda r: (r.published, r.id or 0))
            assert newest.id is not None
            return (
                ArticleRef(
                    title=newest.title,
                    url=newest.url,
                    outlet=newest.outlet,
                    published=newest.published,
                    id=newest.id,
                    matched_terms=in_batch[newest.id],
                ),
            )
        found = self.store.topic_matching_articles(topic, list(related), 1)
        return tuple(ref_from(a, terms) for a, terms in found)

    def _topic_seen(self, topic: str, related: Sequence[int], batch: _Batch) -> bool:
        if any((topic, c) in batch.topic_clusters for c in related):
            return True
        unknown = [c for c in related if (topic, c) not in batch.seen_db]
        if unknown:
            found = self.store.topic_matched_clusters(topic, unknown)
            for c in unknown:
                batch.seen_db[(topic, c)] = c in found
        return any(batch.seen_db[(topic, c)] for c in related)

    def _fired(self, rule: AlertRuleSpec, related: Sequence[int], batch: _Batch) -> set[int]:
        fired = {c for c in related if (rule.name, rule.trigger, c) in batch.fired}
        if rule.trigger == "every_article":
            return fired
        unknown = [c for c in related if (rule.name, rule.trigger, c) not in batch.fired_db]
        if unknown:
            found = self.store.rule_fired_for(rule.name, rule.trigger, unknown)
            for c in unknown:
                batch.fired_db[(rule.name, rule.trigger, c)] = c in found
        return fired | {c for c in related if batch.fired_db[(rule.name, rule.trigger, c)]}

    def _summary(
        self,
        rule: AlertRuleSpec,
        topic: str,
        stored: StoredArticle,
        matched: Mapping[str, tuple[str, ...]],
        cid: int,
        related: Sequence[int],
        info: Event,
        batch: _Batch,
        last: Snapshot | None,
    ) -> EventSummary:
        lead = self._lead(rule, topic, stored, matched, related, batch, last)
        facts = load_event_facts(
            batch.reads,
            related,
            headline=info.headline,
            first_seen=info.first_seen,
            last_updated=info.last_updated,
            article_count=info.article_count,
            outlet_count=info.outlet_count,
            limit=self.settings.max_alert_articles,
            pending=batch.members.get(cid, []),
        )
        change = None
        if last is not None:
            before = {o for o, _ in self._outlets_until(related, last.at, batch)}
            change = Change(
                outlets_before=last.outlets,
                articles_before=last.articles,
                new_outlets=tuple(o for o, _ in facts.by_outlet if o not in before),
            )
        terms = lead[0].matched_terms if lead and last is None else matched.get(topic, ())
        return event_summary(
            facts,
            lead=lead,
            matched_terms=terms,
            links=self.links,
            max_articles=self.settings.max_alert_articles,
            change=change,
        )

    def _outlets_until(
        self, related: Sequence[int], at: datetime, batch: _Batch
    ) -> list[tuple[str, int]]:
        return [
            (name, n)
            for name, n, first in batch.reads.cluster_outlets(related)
            if first is not None and first <= at
        ]


NO_VECTOR_SIGNAL = "meaning not used: no semantic vector yet (clustering.semantic_wait)"


def missing_vector(
    article: Article, *, now: datetime, wait: timedelta | None, cluster: ClusterSettings
) -> bool:
    """Whether the article was expected to have a semantic vector (an embed stage runs,
    the signal is on, it is inside the clustering window) and has none."""
    return (
        wait is not None
        and cluster.semantic_support > 0.0
        and article.embedding is None
        and article.published >= now - cluster.window
    )


def awaiting_vector(
    article: Article,
    *,
    now: datetime,
    waits_from: datetime,
    wait: timedelta | None,
    cluster: ClusterSettings,
) -> bool:
    """Whether the consumer holds this new article for its semantic vector: one is
    expected and missing, and ``wait`` has not passed since it was fetched or since
    the consumer started, whichever is later."""
    if wait is None or not missing_vector(article, now=now, wait=wait, cluster=cluster):
        return False
    return now - max(article.fetched_at, waits_from) < wait


def ready_count(
    articles: Sequence[Article],
    *,
    now: datetime,
    waits_from: datetime,
    wait: timedelta | None,
    cluster: ClusterSettings,
) -> int:
    """How many of these unprocessed articles (in processing order) may be processed
    now: those before the first one held for its vector."""
    for i, art in enumerate(articles):
        if awaiting_vector(art, now=now, waits_from=waits_from, wait=wait, cluster=cluster):
            return i
    return len(articles)


def processing_order(stored: StoredArticle) -> tuple[datetime, int]:
    """Where a new article comes in its batch: by publication time, then id (the
    order they were stored in, for articles published at the same time)."""
    return (stored.article.published, stored.id)


def _for_clustering(article: Article, dup: DedupDecision) -> Article:
    """The article as the clusterer reads it: without the paragraphs dedup found to be
    boilerplate (a footer, "About X", text a different story shares verbatim), so that
    two press releases of one company are not one event by their shared ending."""
    if dup.distinctive_text is None:
        return article
    return replace(article, text=dup.distinctive_text)
