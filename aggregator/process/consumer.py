"""The single ordered consumer: stored articles → dedup → cluster → match → alerts.

Pollers (any number of daemons) only store articles. Exactly one consumer — the
daemon holding the consumer lock — takes unprocessed articles in id order, one at a
time through the pure stages, and stores each batch's assignments, cluster states,
matches and the alerts they cause in ONE transaction. An unprocessed article is durable
work: a crash before that commit means the batch is processed again, never lost; the
outbox's unique keys make a repeat harmless.

An article a poll changed after it was processed (a corrected headline, an updated
body) is matched again, under the event it is already in: it is not clustered a second
time (it would count twice in its event). Only topics it had not matched add matches
and alerts; its ``rematch_at`` is cleared in the same transaction.

Dedup and cluster state is held in memory for a bounded time window and rebuilt from
the database at start (``rebuild``), so nothing here lives only in memory.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from aggregator.alerts.message import AlertMessage, ArticleRef, EventSummary
from aggregator.alerts.payload import message_to_json
from aggregator.alerts.rules import AlertRuleSpec, EventState, RuleHistory, decide
from aggregator.models import Event
from aggregator.process.clustering import Clusterer, ClusterSettings
from aggregator.process.dedup import DedupIndex, DedupSettings
from aggregator.process.match import TopicIndex
from aggregator.query import Query, document_from_article
from aggregator.store import (
    ArticleOutcome,
    MatchRow,
    OutboxRow,
    Store,
    StoredArticle,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    batch: int = 200
    dedup: DedupSettings = field(default_factory=DedupSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    max_alert_articles: int = 50


@dataclass(frozen=True, slots=True)
class ProcessStats:
    articles: int = 0  # handled in the batch: new ones and re-matched (edited) ones
    rematched: int = 0
    duplicates: int = 0
    new_events: int = 0
    merges: int = 0
    matches: int = 0
    alerts: int = 0


@dataclass
class _Batch:
    """What one batch accumulates before its single commit."""

    now: datetime
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
    new_events: int = 0
    duplicates: int = 0


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
            if rule.trigger != "digest":
                self.rules_by_topic.setdefault(rule.topic, []).append(rule)
        self.clock = clock
        self.dedup = DedupIndex(self.settings.dedup)
        self.clusterer = Clusterer(self.settings.cluster)
        self._ready = False

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
        for stored in self.store.processed_articles_since(now - window):
            self.dedup.add(stored.id, stored.article)
            if stored.cluster_id is not None:
                self.clusterer.restore(stored.id, stored.article, stored.cluster_id)
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
        pending = self.store.unprocessed_articles(self.settings.batch)
        # New articles first: they are the news. The edited ones come after them in the
        # same batch, so they see every merge the batch made.
        edited = self.store.articles_to_rematch(self.settings.batch - len(pending))
        if not pending and not edited:
            return ProcessStats()
        batch = _Batch(now=self.clock())
        try:
            for stored in pending:
                self._process(stored, batch)
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
            )
        except BaseException:
            # The in-memory state ran ahead of what was committed: rebuild before the
            # next batch, so memory and database never disagree.
            self._ready = False
            raise
        return ProcessStats(
            articles=len(pending) + len(edited),
            rematched=len(edited),
            duplicates=batch.duplicates,
            new_events=batch.new_events,
            merges=len(batch.merges),
            matches=len(batch.matches),
            alerts=alerts,
        )

    def _process(self, stored: StoredArticle, batch: _Batch) -> None:
        art = stored.article
        dup = self.dedup.check(art)
        self.dedup.add(stored.id, art)
        if dup.duplicate_of is not None:
            batch.duplicates += 1
        decision = self.clusterer.assign(stored.id, art, duplicate_of=dup.duplicate_of)
        cid = decision.cluster_id
        if decision.is_new:
            batch.new_events += 1
        for old in decision.merged:
            batch.merges.append((old, cid))
            batch.absorbed.setdefault(cid, set()).update({old, *batch.absorbed.pop(old, ())})
            batch.members.setdefault(cid, []).extend(batch.members.pop(old, []))
            batch.clusters.pop(old, None)
        batch.clusters[cid] = self.clusterer.info(cid)
        batch.members.setdefault(cid, []).append(
            ArticleRef(title=art.title, url=art.url, outlet=art.feed, published=art.published)
        )
        batch.outcomes.append(
            ArticleOutcome(
                id=stored.id,
                duplicate_of=dup.duplicate_of,
                duplicate_kind=dup.kind,
                cluster_id=cid,
                cluster_score=decision.score,
                cluster_terms=decision.matched_terms,
            )
        )
        matched = self.index.match(document_from_article(art))
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
        the event, so corroboration rules of topics the event matched before count it
        too; an edited article is no new outlet."""
        # The event under every id it had in this batch: an alert or match made for an
        # id absorbed earlier in the batch counts for the survivor, so a merge never
        # makes an event "new" again.
        related = [cid, *sorted(batch.absorbed.get(cid, set()) | set(merged))]
        # Corroboration rules look at every article of a cluster that matched a topic
        # before, not just the matching ones: the Nth outlet may word it differently.
        earlier = {
            t
            for t in self.rules_by_topic
            if corroborate
            and t not in matched
            and any(r.trigger == "min_sources" for r in self.rules_by_topic[t])
            and self._topic_seen(t, related, batch)
        }
        for topic in [*matched, *sorted(earlier)]:
            first_match = topic in matched and not self._topic_seen(topic, related, batch)
            for rule in self.rules_by_topic.get(topic, ()):
                if topic not in matched and rule.trigger != "min_sources":
                    continue
                fired = self._fired(rule, related, batch)
                recent, last = self.store.rule_recent_alerts(
                    rule.name, batch.now - timedelta(hours=2)
                )
                # The batch's own alerts are not in the database yet: add them, or a
                # batch of many events would pass the throttle and the hourly cap.
                pending = batch.due.get(rule.name, [])
                scheduled = tuple(sorted([*recent, *pending]))
                last = max([*pending, *([last] if last is not None else [])], default=None)
                verdict = decide(
                    rule,
                    EventState(
                        cluster_id=cid,
                        outlet_count=info.outlet_count,
                        first_match=first_match,
                        already_fired=bool(fired),
                        merged=merged,
                    ),
                    RuleHistory(
                        fired_for=frozenset(fired),
                        scheduled=scheduled,
                        last_alert_at=last,
                    ),
                    batch.now,
                )
                if not verdict.enqueue:
                    continue
                due = verdict.due_at(batch.now)
                subject = f"a{stored.id}" if rule.trigger == "every_article" else f"c{cid}"
                terms = matched.get(topic, ())
                for channel in rule.channels:
                    alert_id = uuid.uuid4().hex
                    message = AlertMessage(
                        alert_id=alert_id,
                        rule=rule.name,
                        topic=topic,
                        trigger=rule.trigger,
                        created_at=batch.now,
                        events=(self._event(cid, related, info, terms, batch),),
                        timezone=rule.timezone,
                    )
                    batch.outbox.append(
                        OutboxRow(
                            id=alert_id,
                            dedupe_key=f"{rule.name}:{channel}:{rule.trigger}:{subject}",
                            rule=rule.name,
                            channel=channel,
                            topic=topic,
                            trigger=rule.trigger,
                            cluster_id=cid,
                            article_id=stored.id,
                            payload=message_to_json(message),
                            due_at=due,
                        )
                    )
                batch.fired.add((rule.name, rule.trigger, cid))
                batch.due.setdefault(rule.name, []).append(due)
        for topic in matched:
            batch.topic_clusters.add((topic, cid))

    def _topic_seen(self, topic: str, related: Sequence[int], batch: _Batch) -> bool:
        if any((topic, c) in batch.topic_clusters for c in related):
            return True
        return bool(self.store.topic_matched_clusters(topic, related))

    def _fired(self, rule: AlertRuleSpec, related: Sequence[int], batch: _Batch) -> set[int]:
        fired = {c for c in related if (rule.name, rule.trigger, c) in batch.fired}
        if rule.trigger == "every_article":
            return fired
        return fired | self.store.rule_fired_for(rule.name, rule.trigger, related)

    def _event(
        self,
        cid: int,
        related: Sequence[int],
        info: Event,
        terms: tuple[str, ...],
        batch: _Batch,
    ) -> EventSummary:
        limit = self.settings.max_alert_articles
        stored = [
            ArticleRef(title=a.title, url=a.url, outlet=a.feed, published=a.published)
            for a in self.store.cluster_articles(list(related), limit)
        ]
        refs = sorted(
            [*stored, *batch.members.get(cid, [])], key=lambda r: (r.published, r.outlet)
        )[:limit]
        outlets: list[str] = []
        for ref in refs:
            if ref.outlet not in outlets:
                outlets.append(ref.outlet)
        return EventSummary(
            cluster_id=cid,
            headline=info.headline,
            first_seen=info.first_seen,
            last_updated=info.last_updated,
            outlets=tuple(outlets),
            article_count=info.article_count,
            matched_terms=terms,
            articles=tuple(refs),
        )
