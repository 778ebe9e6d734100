"""What one archive search may cost: bounds checked on the parsed query, before any SQL.

Search is open to anyone who can reach the API, and the engines' cost grows with
the query: 100 common words ANDed, one word repeated 142 times or 50 prefix ORs took
3.4-4.5 s on SQLite at 10,000 articles and 5.3 s on PostgreSQL at 4,500. A query
over these bounds is refused with the reason; one within them that still runs
long is stopped by the engine's deadline (Archive.search). Standing topics are not
bounded here: the operator writes those.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from aggregator.query.nodes import Phrase, Query, Term, walk

__all__ = ["SearchLimits", "search_cost_problem"]


@dataclass(frozen=True, slots=True)
class SearchLimits:
    max_words: int = 32  # words in terms and phrases, all told
    max_repeats: int = 3  # times one word or prefix may occur
    max_prefixes: int = 8  # prefix terms (each expands to every matching word)
    timeout: float = 3.0  # seconds the engine may spend on one search
    # SQLite checks the deadline every this many virtual-machine steps (a Python call
    # each time: tens of microseconds apart, ~1% of the search's time).
    progress_steps: int = 1_000


def search_cost_problem(query: Query, limits: SearchLimits) -> str | None:
    """Why ``query`` is too costly to search for, or None."""
    words: Counter[str] = Counter()
    prefixes = 0
    for node in walk(query.root):
        if isinstance(node, Term) and node.field not in ("outlet", "lang"):
            words[node.token + ("*" if node.prefix else "")] += 1
            prefixes += node.prefix
        elif isinstance(node, Phrase):
            words.update(node.tokens)
    if prefixes > limits.max_prefixes:
        return f"too many prefix terms: {prefixes} (at most {limits.max_prefixes})"
    word, count = words.most_common(1)[0] if words else ("", 0)
    if count > limits.max_repeats:
        return f"{word!r} is repeated {count} times (at most {limits.max_repeats})"
    total = sum(words.values())
    if total > limits.max_words:
        return f"too many words: {total} (at most {limits.max_words} in one search)"
    return None
