"""The consumer rebuilt from the database decides as an uninterrupted one would.

Real Store on both backends. The story below is reported every 20 hours for 100 hours:
never silent long enough to go dormant (48 h), but longer than the clustering window
(72 h) that bounds what a restart replays.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select

from aggregator.alerts.rules import AlertRuleSpec
from aggregator.models import Article
from aggregator.process.consumer import Consumer
from aggregator.store import Store
from aggregator.store.migrate import upgrade
from aggregator.store.schema import articles, clusters
from tests.factories import NOW, article
from tests.test_consumer import BODIES, KURSK, TOPIC, ingest

MIN_SOURCES = AlertRuleSpec(
    name="nk-7", topic="nk", trigger="min_sources", min_sources=7, channels=("hook",)
)


def reports(hours: Sequence[int]) -> list[tuple[datetime, tuple[str, Article]]]:
    out = []
    for i, h in enumerate(hours):
        title = KURSK[i % len(KURSK)]
        name = f"Outlet {h:03d}"
        at = NOW + timedelta(hours=h)
        out.append(
            (
                at,
                (
                    name,
                    article(
                        title,
                        guid=f"g{h}",
                        feed=name,
                        text=f"{title}. {BODIES[KURSK[0]]}",
                        published=at,
                    ),
                ),
            )
        )
    return out


def run(store: Store, hours: Sequence[int], *, restart_before: int | None) -> Consumer:
    clock = [NOW]

    def make() -> Consumer:
        return Consumer(store, topics={"nk": TOPIC}, rules=[MIN_SOURCES], clock=lambda: clock[0])

    c = make()
    for at, item in reports(hours):
        clock[0] = at
        if restart_before is not None and at == NOW + timedelta(hours=restart_before):
            c = make()  # a new process: state rebuilt from the database
        ingest(store, [item], at=at)
        c.process_pending()
    return c


def test_a_long_running_event_keeps_its_counts_and_first_report_across_a_restart(
    store: Store,
) -> None:
    run(store, [0, 20, 40, 60, 80, 100, 120], restart_before=120)
    with store.engine.connect() as conn:
        ids = set(conn.execute(select(articles.c.cluster_id)).scalars())
        assert len(ids) == 1  # one event throughout
        row = conn.execute(select(clusters).where(clusters.c.id.in_(ids))).one()
    assert row.article_count == 7
    assert row.outlet_count == 7
    assert row.first_seen == NOW
    # The seventh outlet reached min_sources: 7, as it would have without the restart.
    assert [(a.trigger, a.cluster_id) for a in store.list_alerts()] == [("min_sources", row.id)]


def test_restart_gives_the_same_clusters_as_an_uninterrupted_run(
    store: Store, tmp_path: object
) -> None:
    hours = [0, 20, 40, 60, 80, 100, 120]
    run(store, hours, restart_before=120)
    restarted = _clusters(store)
    other = Store.open(f"sqlite:///{tmp_path}/uninterrupted.db")
    try:
        upgrade(other.engine)
        run(other, hours, restart_before=None)
        assert _clusters(other) == restarted
    finally:
        other.close()


def _clusters(store: Store) -> list[tuple[object, ...]]:
    with store.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    clusters.c.id,
                    clusters.c.headline,
                    clusters.c.article_count,
                    clusters.c.outlet_count,
                    clusters.c.first_seen,
                ).order_by(clusters.c.id)
            )
        ]
