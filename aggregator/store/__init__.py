"""Storage: the write side, ``Store``, and what both sides share.

``Store`` (``core``) holds the poll half's statements and the process half's, the
outbox's and retention's in one module per aggregate (``events``, ``outbox``,
``retention``); the read side is ``archive.Archive``, full-text search ``search``.
Methods are named like sentences and take and return frozen records; any database
failure leaves as ``StorageError`` (``engine.storage_errors``; a test checks each
public method).

The names below are imported from here as before, but each only when first asked
for: every module of the package runs this file first, and ``aggregator feeds``,
which needs the engine, the schema and one query, would otherwise build ``Store``
and every statement module's records (dozens of dataclasses, ~10 ms of its start)
for nothing (issue 17; ``tests/test_cli_imports.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aggregator.store.core import ConsumerLock, Store
    from aggregator.store.engine import create_db_engine
    from aggregator.store.events import (
        ArticleOutcome,
        ClusterArticle,
        CopyDetail,
        MatchRow,
        OutboxRow,
        StoredArticle,
    )
    from aggregator.store.outbox import OutboxItem
    from aggregator.store.records import FeedSpec, FeedState, PollRecord, StoreCounts
    from aggregator.store.retention import PruneCounts
    from aggregator.store.schema import metadata

# Each public name and the module that defines it.
_HOME = {
    "ArticleOutcome": "events",
    "ClusterArticle": "events",
    "ConsumerLock": "core",
    "CopyDetail": "events",
    "FeedSpec": "records",
    "FeedState": "records",
    "MatchRow": "events",
    "OutboxItem": "outbox",
    "OutboxRow": "events",
    "PollRecord": "records",
    "PruneCounts": "retention",
    "Store": "core",
    "StoreCounts": "records",
    "StoredArticle": "events",
    "create_db_engine": "engine",
    "metadata": "schema",
}

__all__ = [
    "ArticleOutcome",
    "ClusterArticle",
    "ConsumerLock",
    "CopyDetail",
    "FeedSpec",
    "FeedState",
    "MatchRow",
    "OutboxItem",
    "OutboxRow",
    "PollRecord",
    "PruneCounts",
    "Store",
    "StoreCounts",
    "StoredArticle",
    "create_db_engine",
    "metadata",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        # Not ours: `from aggregator.store import schema` goes on to the submodule.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # asked once
    return value
