"""One exception tree for the whole package.

Third-party exceptions are translated once, where they enter our code, keeping the
cause (``raise FetchError(url, "...") from exc``). Expected failures (a feed that is
down, a bad query) travel as data on results; these classes give them a name.

    AggregatorError
    ├── ConfigError            bad feeds.yaml / settings; carries every problem with its path
    ├── FetchError             one HTTP fetch failed (url, reason)
    │   ├── NetworkError       DNS, connect, TLS, reset
    │   ├── FetchTimeout       connect/read/total timeout
    │   ├── HTTPStatusError    a non-success status (status, retry_after)
    │   ├── BodyTooLarge       decompressed body over the cap
    │   ├── BlockedAddress     SSRF guard: a non-public address
    │   └── TooManyRedirects
    ├── ParseError             the body is not a feed we can read
    ├── ExtractError           article page → text failed
    ├── QueryError             a bad query (position, reason)
    ├── NotFoundError          a topic, feed or event the user named does not exist
    ├── StorageError           the database failed
    └── DeliveryError          an alert channel failed (retry_after, permanent)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


class AggregatorError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(AggregatorError):
    """The configuration is invalid; ``problems`` lists each as ``path: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems) or "invalid configuration")


class FetchError(AggregatorError):
    """A fetch failed; ``reason`` is short and safe to show and store."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class NetworkError(FetchError):
    pass


class FetchTimeout(FetchError):
    pass


class HTTPStatusError(FetchError):
    def __init__(
        self, url: str, status: int, reason: str = "", retry_after: datetime | None = None
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(url, reason or f"HTTP {status}")


class BodyTooLarge(FetchError):
    pass


class BlockedAddress(FetchError):
    pass


class TooManyRedirects(FetchError):
    pass


class ParseError(AggregatorError):
    pass


class ExtractError(AggregatorError):
    pass


class QueryError(AggregatorError):
    """A query that cannot be parsed or run; ``position`` is a 0-based offset or None."""

    def __init__(self, query: str, reason: str, position: int | None = None) -> None:
        self.query = query
        self.reason = reason
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{reason}{where}")


class NotFoundError(AggregatorError):
    """A topic, feed or event named in a request or a command does not exist: the API
    answers 404, the CLI exits 1, rather than an empty answer that looks like "none yet"."""

    def __init__(self, kind: str, name: str | int) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"no {kind} {name!r}" if isinstance(name, str) else f"no {kind} {name}")


class StorageError(AggregatorError):
    pass


class OverBudget(AggregatorError):
    """A search given a budget (``Archive.search(budget=...)``) was stopped when it ran
    out: not a failure of the search; the caller runs it again without one."""


class DeliveryError(AggregatorError):
    """A channel failed. ``permanent`` means retrying cannot help (e.g. 410, bad address)."""

    def __init__(
        self, reason: str, *, retry_after: datetime | None = None, permanent: bool = False
    ) -> None:
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent
        super().__init__(reason)
