"""The API's write commands, done on the daemon's store (the ``Commands`` of ``app.py``).

feeds.yaml stays the source of truth: a feed added here is left alone by the sync with
the file, and a feed the file declares cannot be removed here. Every write runs on the
daemon's writer thread, SQLite's one writer, like the polls and the consumer's batches.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from datetime import UTC, datetime

from pydantic import ValidationError

from aggregator.config import FeedConfig
from aggregator.errors import ConfigError
from aggregator.store import Store

log = logging.getLogger(__name__)


class StoreCommands:
    def __init__(self, store: Store, writer: Executor) -> None:
        self.store = store
        self.writer = writer

    async def add_feed(self, name: str, url: str) -> None:
        try:
            FeedConfig(name=name, url=url)
        except ValidationError as exc:
            raise ConfigError(
                [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            ) from exc
        added = await asyncio.get_running_loop().run_in_executor(
            self.writer, self.store.add_api_feed, name, url, datetime.now(UTC)
        )
        if not added:
            raise ConfigError([f"a feed named {name!r} or with this URL already exists"])
        log.info("feed %r added over the API: %s", name, url)

    async def remove_feed(self, name: str) -> bool:
        result = await asyncio.get_running_loop().run_in_executor(
            self.writer, self.store.remove_api_feed, name
        )
        if result == "config":
            raise ConfigError([f"feed {name!r} is declared in feeds.yaml: remove it there"])
        return bool(result == "removed")

    async def retry_alert(self, alert_id: str) -> bool:
        return bool(
            await asyncio.get_running_loop().run_in_executor(
                self.writer, self.store.retry_alert, alert_id, datetime.now(UTC)
            )
        )
