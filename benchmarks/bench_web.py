"""The web page on a 1,000-article event: time and bytes per page.

    python benchmarks/bench_web.py --quick      # 30 rounds, SQLite (~20 s)
    python benchmarks/bench_web.py              # 200 rounds, SQLite and PostgreSQL

Builds the test suite's newsroom (31 outlets, one event of 1,000 articles within an
hour, 45 smaller events, 60 alerts) and serves it on 127.0.0.1 through uvicorn, as the
daemon does. Then, interleaved in a shuffled order each round, over keep-alive HTTP:

- baseline: GET /api/v1/events/100 — the whole event, every article (what the event
            page read and printed before it had pages)
- event:    GET /events/100 — the event page: timeline, outlets, the first 50 articles
- last:     the event page's last page (through the cursors)
- events:   GET / — topics and the first 30 events
- alerts, feeds: GET /alerts, GET /feeds

and prints p50/p95 milliseconds and the body size of each, beside the baseline.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator.api import ApiSettings, create_app
from aggregator.store import Store, create_db_engine
from aggregator.store.archive import Archive
from aggregator.store.migrate import upgrade
from tests.support.archive_data import serve_in_thread
from tests.support.newsroom import BIG, build_newsroom

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _last_page_url(client: httpx.Client) -> str:
    url = f"/events/{BIG}"
    while True:
        body = client.get(url).text
        marker = '<a class="next" rel="next" href="'
        if marker not in body:
            return url
        url = body.split(marker, 1)[1].split('"', 1)[0].replace("&amp;", "&")


def run(url: str, label: str, rounds: int) -> None:
    engine = create_db_engine(url)
    build_newsroom(engine)
    app = create_app(Archive(engine), ApiSettings(topics=("korea",)))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        targets = {
            "baseline": f"/api/v1/events/{BIG}",
            "event": f"/events/{BIG}",
            "last": _last_page_url(client),
            "events": "/",
            "alerts": "/alerts",
            "feeds": "/feeds",
        }
        times: dict[str, list[float]] = {k: [] for k in targets}
        sizes = {k: len(client.get(v).content) for k, v in targets.items()}  # and warm up
        rng = random.Random(7)
        for _ in range(rounds):
            order = list(targets)
            rng.shuffle(order)
            for name in order:
                start = time.perf_counter()
                r = client.get(targets[name])
                times[name].append((time.perf_counter() - start) * 1000)
                assert r.status_code == 200, (name, r.status_code)
    engine.dispose()
    base_p50 = statistics.median(times["baseline"])
    print(f"\n{label}: {rounds} rounds, interleaved")
    print(f"{'page':<10} {'p50 ms':>8} {'p95 ms':>8} {'KB':>8} {'p50 vs baseline':>16}")
    for name, values in times.items():
        values.sort()
        p50 = statistics.median(values)
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        print(f"{name:<10} {p50:8.1f} {p95:8.1f} {sizes[name] / 1024:8.1f} {p50 / base_p50:15.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    rounds = args.rounds or (30 if args.quick else 200)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'web.db'}"
        store = Store.open(url)
        upgrade(store.engine)
        store.close()
        run(url, "SQLite", rounds)
    if args.quick or args.no_pg:
        return
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"bench_web_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: the SQLite figures stand alone
        print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}")
        return
    pg = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_engine(pg)
        upgrade(engine)
        engine.dispose()
        run(pg, "PostgreSQL", rounds)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
