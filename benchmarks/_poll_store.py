"""A fresh SQLite store with farm feeds claimed, for benchmarks that time ``record_poll``.

Shared by ``bench_normalize_stages.py`` (CPU time) and ``callgrind_poll.py``
(instructions): both must store the same batches the same way, or their figures
for the store stage would not describe one thing. Imports ``aggregator`` only when
called, because each caller first puts the checkout being measured on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any


@contextmanager
def poll_store(
    directory: str, names: Sequence[str], now: datetime
) -> Iterator[Callable[[str, Sequence[Any]], None]]:
    """Yield ``record(feed_name, articles)``: one successful poll of that feed stored."""
    from aggregator.store import FeedSpec, PollRecord, Store
    from aggregator.store.migrate import upgrade

    store = Store.open(f"sqlite:///{directory}/bench.db")
    upgrade(store.engine)
    store.sync_feeds([FeedSpec(n, f"http://127.0.0.1/{n}") for n in names], now)
    claimed = store.claim_due_feeds(now, owner="bench", lease_seconds=600, limit=10**6)
    ids = {f.name: f.id for f in claimed}

    def record(name: str, batch: Sequence[Any]) -> None:
        store.record_poll(
            PollRecord(
                feed_id=ids[name], owner="bench", started_at=now, duration=0.1,
                outcome="ok", url="http://127.0.0.1/f", http_status=200, bytes_wire=1,
                bytes_decoded=1, etag_sent=None, last_modified_sent=None,
                etag_received=None, last_modified_received=None, error=None,
                warnings=(), new_url=None, validators_url="http://127.0.0.1/f",
                body_hash="h", next_poll_at=now + timedelta(hours=1),
                interval_seconds=None, error_count=0, state="active",
            ),
            batch,
        )  # fmt: skip

    try:
        yield record
    finally:
        store.close()
