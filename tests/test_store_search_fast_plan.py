"""A query of plain words gets its search plan without the parser (issue 17).

``search_plan`` answers queries of ASCII letters and digits one space apart directly
(``_plain_words_plan``); every query, plain or not, must get the plan, or the error
(its type, reason and position), that the parser gives it (``parsed_search_plan``),
for both engines and any limits. The queries are random sequences of plain words,
operators, fields, prefixes, quotes, parentheses, non-ASCII letters and odd spacing,
so that both sides of every check of the shortcut are reached.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aggregator.errors import QueryError
from aggregator.query.limits import SearchLimits
from aggregator.query.nodes import MAX_QUERY_LENGTH
from aggregator.store.search import _plain_words_plan, parsed_search_plan, search_plan

LIMITS = [
    None,
    SearchLimits(),
    SearchLimits(max_words=2, max_repeats=1),
    SearchLimits(max_words=3, max_repeats=5),
    SearchLimits(max_prefixes=-1),
    SearchLimits(max_excluded=-1),
    SearchLimits(max_words=0),
]

WORDS = [
    "harbour", "minister", "Kursk", "KURSK", "ukraine2024", "2024", "a", "x9", "and",
    "or", "not", "near", "Near", "And", "AND", "OR", "NOT", "NEAR", "NEAR/3", "NEAR/x",
    "-missile", "+port", "-", "+", "kurs*", "ku*", "a*b", "*", "title:port",
    "outlet:bbc", "lang:en", "lang:", "text:", "foo:bar", '"port city"', '"', '""',
    "(a", "b)", "()", "é", "Émile", "война", "й", "ß", "na\u00efve", "co-op", "don't",
    "a_b", "1.5", "x\u00a0y", "\u2019s",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "  ", "\t", "\n", "", "\u00a0", "\u3000"]


@st.composite
def queries(draw: Any) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=40))
    out = draw(st.sampled_from(["", "", " "]))
    for word in words:
        out += word + draw(st.sampled_from(SEPARATORS))
    return out + draw(st.sampled_from(["", "", " "]))


def outcome(plan: Any, text: str, sqlite: bool, limits: SearchLimits | None) -> Any:
    try:
        return plan(text, sqlite=sqlite, limits=limits)
    except QueryError as exc:
        return ("QueryError", exc.query, exc.reason, exc.position, str(exc))


@settings(max_examples=600, deadline=None)
@given(text=queries(), sqlite=st.booleans(), limits=st.sampled_from(LIMITS))
@example(text="harbour minister", sqlite=True, limits=SearchLimits())
@example(text="a a a a", sqlite=False, limits=SearchLimits())
@example(text="a a a", sqlite=True, limits=SearchLimits())
@example(text=" ".join(["w"] * 40), sqlite=True, limits=None)
@example(text=" ".join(f"w{i}" for i in range(33)), sqlite=False, limits=SearchLimits())
@example(text="x" * (MAX_QUERY_LENGTH + 1), sqlite=True, limits=None)
@example(text="x" * MAX_QUERY_LENGTH, sqlite=False, limits=None)
def test_every_query_gets_the_parsers_plan_or_error(
    text: str, sqlite: bool, limits: SearchLimits | None
) -> None:
    assert outcome(search_plan, text, sqlite, limits) == outcome(
        parsed_search_plan, text, sqlite, limits
    )


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True), min_size=1, max_size=40),
    sqlite=st.booleans(),
    limits=st.sampled_from(LIMITS),
)
def test_plain_words_take_the_shortcut_with_the_parsers_plan(
    words: list[str], sqlite: bool, limits: SearchLimits | None
) -> None:
    text = " ".join(words)
    fast = _plain_words_plan(text, sqlite, limits)
    slow = outcome(parsed_search_plan, text, sqlite, limits)
    if fast is None:
        # only operators or a limit's refusal leave plain words to the parser
        assert {"AND", "OR", "NOT", "NEAR"} & set(words) or isinstance(slow, tuple)
    else:
        assert fast == slow


@pytest.mark.parametrize(
    ("text", "sqlite", "match"),
    [
        ("harbour minister", True, '("harbour" AND "minister")'),
        ("harbour minister", False, "('harbour' & 'minister')"),
        ("Kursk", True, '"kursk"'),
        ("Kursk", False, "'kursk'"),
        ("port 2024 Port", False, "('port' & '2024' & 'port')"),
    ],
)
def test_the_shortcut_answers_plain_words(text: str, sqlite: bool, match: str) -> None:
    # Not vacuous: these take the shortcut, and give the parser's plan.
    fast = _plain_words_plan(text, sqlite, SearchLimits())
    assert fast is not None
    assert fast.match == match
    assert fast == parsed_search_plan(text, sqlite=sqlite, limits=SearchLimits())


@pytest.mark.parametrize(
    "text", ["a AND b", "NEAR", "a  b", " a", "a ", "kurs*", "title:a", "é", "a\tb", "-a b"]
)
def test_anything_else_goes_to_the_parser(text: str) -> None:
    assert _plain_words_plan(text, True, SearchLimits()) is None
