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
from collections.abc import Iterator
from dataclasses import dataclass

from aggregator.query.nodes import And, Near, Node, Not, Or, Phrase, Query, Term

__all__ = ["SearchLimits", "search_cost_problem"]


@dataclass(frozen=True, slots=True)
class SearchLimits:
    max_words: int = 32  # words that must (or may) be present, all told
    # Excluded words (NOT/-) only remove hits: cheap, and a long blocklist is common.
    max_excluded: int = 200
    max_repeats: int = 3  # times one word or prefix may occur
    max_prefixes: int = 8  # prefix terms (each expands to every matching word)
    timeout: float = 3.0  # seconds the engine may spend on one search
    # SQLite checks the deadline every this many virtual-machine steps (a Python call
    # each time: tens of microseconds apart, ~1% of the search's time).
    progress_steps: int = 1_000


def search_cost_problem(query: Query, limits: SearchLimits) -> str | None:
    """Why ``query`` is too costly to search for, or None."""
    words: Counter[str] = Counter()
    excluded = prefixes = 0
    for node, negated in _leaves(query.root, False):
        if isinstance(node, Term) and node.field in ("outlet", "lang"):
            continue
        tokens = node.tokens if isinstance(node, Phrase) else (node.token,)
        if negated:
            excluded += len(tokens)
            continue
        if isinstance(node, Term) and node.prefix:
            prefixes += 1
            words[node.token + "*"] += 1
        else:
            words.update(tokens)
    if prefixes > limits.max_prefixes:
        return f"too many prefix terms: {prefixes} (at most {limits.max_prefixes})"
    word, count = words.most_common(1)[0] if words else ("", 0)
    if count > limits.max_repeats:
        return f"{word!r} is repeated {count} times (at most {limits.max_repeats})"
    total = sum(words.values())
    if total > limits.max_words:
        return f"too many words: {total} (at most {limits.max_words} in one search)"
    if excluded > limits.max_excluded:
        return f"too many excluded words: {excluded} (at most {limits.max_excluded})"
    return None


def _leaves(node: Node, negated: bool) -> Iterator[tuple[Term | Phrase, bool]]:
    """Every term and phrase, with whether it sits under an odd number of NOTs."""
    if isinstance(node, Term | Phrase):
        yield node, negated
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _leaves(child, negated)
    elif isinstance(node, Not):
        yield from _leaves(node.child, not negated)
    elif isinstance(node, Near):
        yield node.left, negated
        yield node.right, negated
