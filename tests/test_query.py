"""The query language: tokenizer, parser (AST and errors), evaluator, shipped topic."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.errors import QueryError
from aggregator.models import Article
from aggregator.query import (
    And,
    Document,
    Near,
    Not,
    Or,
    Phrase,
    Query,
    Term,
    document_from_article,
    parse_query,
    tokenize,
)
from aggregator.query.tokens import _tokenize_unicode

DATA = Path(__file__).parent / "data" / "query"
NK_TROOPS_QUERY = (DATA / "north_korean_troops.query").read_text(encoding="utf-8")


def doc(title: str = "", text: str = "", outlet: str = "", language: str | None = None) -> Document:
    return Document.build(title=title, text=text, outlet=outlet, language=language)


# --- tokenize -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("North Korean troops", ["north", "korean", "troops"]),
        ("Korea's  troops—in Russia!", ["korea", "s", "troops", "in", "russia"]),
        ("Ñandú CAFÉ naïve Straße", ["nandu", "cafe", "naive", "strasse"]),
        ("Ёлка Ελληνικά", ["елка", "ελληνικα"]),
        ("x² ﬁve", ["x2", "five"]),  # compatibility folding
        ("नमस्ते दुनिया", ["नमस्ते", "दुनिया"]),  # Devanagari signs stay inside the word
        ("北朝鮮の部隊", ["北朝鮮の部隊"]),
        ("snake_case and-hyphen", ["snake", "case", "and", "hyphen"]),
        ("", []),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


# --- parser: AST ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "root"),
    [
        ("korea", Term("korea")),
        ("Korea", Term("korea")),
        ('"North  Korean troops"', Phrase(("north", "korean", "troops"))),
        ("north-korean", Phrase(("north", "korean"))),  # a hyphenated word is a phrase
        ('"Kursk"', Term("kursk")),
        ("troop*", Term("troop", prefix=True)),
        ("a b", And((Term("a"), Term("b")))),  # implicit AND
        ("a AND b c", And((Term("a"), Term("b"), Term("c")))),
        ("a OR b c", Or((Term("a"), And((Term("b"), Term("c")))))),  # AND binds tighter
        ("(a OR b) c", And((Or((Term("a"), Term("b"))), Term("c")))),
        ("a -b", And((Term("a"), Not(Term("b"))))),
        ("a NOT b", And((Term("a"), Not(Term("b"))))),
        ("+a -b", And((Term("a"), Not(Term("b"))))),
        ("a NOT NOT b", And((Term("a"), Term("b")))),
        ("a and or not near", And(tuple(Term(w) for w in ("a", "and", "or", "not", "near")))),
        ("title:kursk", Term("kursk", "title")),
        ('text:"north korea"', Phrase(("north", "korea"), "text")),
        ("title:(a OR bb*)", Or((Term("a", "title"), Term("bb", "title", prefix=True)))),
        ("outlet:Reuters", Term("reuters", "outlet")),
        ("x lang:EN", And((Term("x"), Term("en", "lang")))),
        ("x -title:y", And((Term("x"), Not(Term("y", "title"))))),
        (
            'korea NEAR/3 "russian army"',
            Near(Term("korea"), Phrase(("russian", "army")), 3),
        ),
        (
            "title:a NEAR/0 title:b",
            Near(Term("a", "title"), Term("b", "title"), 0),
        ),
        ("a OR (b OR c)", Or((Term("a"), Term("b"), Term("c")))),  # flattened
    ],
)
def test_parse_builds_ast(query: str, root: object) -> None:
    assert parse_query(query).root == root


def test_query_is_frozen_and_keeps_text() -> None:
    q = parse_query("a b")
    assert q.text == "a b"
    with pytest.raises(AttributeError):
        q.text = "c"  # type: ignore[misc]


# --- parser: errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "position", "reason"),
    [
        ("", 0, "empty query"),
        ("   ", 0, "empty query"),
        ("(a OR b", 0, "unclosed '('"),
        ("a (b (c)", 2, "unclosed '('"),
        ("a b)", 3, "unbalanced ')'"),
        ('a "north korea', 2, "unclosed quote"),
        ("a AND", 2, "AND needs a term after it"),
        ("a OR", 2, "OR needs a term after it"),
        ("a OR )", 2, "OR needs a term after it"),
        ("OR a", 0, "OR needs a term before it"),
        ("a AND OR b", 2, "AND needs a term after it"),
        ("a NOT", 2, "NOT needs a term after it"),
        ("a - b", 2, "'-'/'+' must be followed by a term"),
        ("()", 0, "empty parentheses"),
        ("foo:bar", 0, "unknown field 'foo:'"),
        ("x Title:bar", 2, "unknown field 'Title:'"),
        ("title:", 0, "'title:' must be followed by a term"),
        ("a NEAR b", 2, "NEAR needs a distance"),
        ("a NEAR/ b", 2, "NEAR distance must be a number"),
        ("a NEAR/x b", 2, "NEAR distance must be a number"),
        ("a NEAR/¹ b", 2, "NEAR distance must be a number"),  # isdigit() but not int()
        ("a NEAR/51 b", 2, "NEAR distance must be a number from 0 to 50"),
        ("a NEAR/2", 2, "NEAR needs a term after it"),
        ("a NEAR/2 (b c)", 2, "NEAR joins two words or phrases"),
        ("a NEAR/2 outlet:b", 2, "NEAR joins two words or phrases"),
        ("title:a NEAR/2 b", 8, "both sides of NEAR must have the same field scope"),
        ("a NEAR/2 b NEAR/3 c", 11, "NEAR joins exactly two terms"),
        ("tro*op", 3, "'*' is only allowed at the end of a word"),
        ("x t*", 2, "a prefix needs at least 2 letters"),
        ("x north-kor*", 2, "a prefix must be a single word"),
        ("x ---", 3, "has no letters or digits"),
        ('x ""', 2, "empty phrase"),
        ("x lang:english", 7, "lang: takes a language code"),
        ('x lang:"en"', 7, "lang: takes a language code"),
        ("title:(a text:b)", 9, "'text:' inside 'title:(...)'"),
        ("NOT korea", 0, "only excludes words"),
        ("-a -b", 0, "only excludes words"),
        ("(-a OR -b)", 1, "only excludes words"),
        ("a OR -b", 0, "only excludes words"),  # matches every article without b
    ],
)
def test_parse_errors_have_position_and_reason(query: str, position: int, reason: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(query)
    assert info.value.position == position
    assert reason in info.value.reason
    assert info.value.query == query


# --- evaluation -----------------------------------------------------------------------

ARTICLE = doc(
    title="North Korean troops arrive in Russia's Kursk region",
    text="Thousands of soldiers from Pyongyang have been moved to the border, Kyiv says. "
    "Officials in Seoul confirmed the deployment.",
    outlet="Reuters World",
    language="EN",
)


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("korean", ("korean",)),
        ("KOREAN TROOPS", ("korean", "troops")),
        ('"north korean troops"', ("north korean troops",)),
        ('"korean north"', None),
        ('"russia s kursk"', ("russia s kursk",)),
        ("troop*", ("troops",)),
        ("sold* OR troop*", ("soldiers", "troops")),
        ("de*", ("deployment",)),
        ("zz*", None),
        ("korea", None),  # words, not substrings
        ("korean -missile", ("korean",)),
        ("korean -kursk", None),
        ("korean AND NOT (missile OR rocket)", ("korean",)),
        ("missile OR pyongyang OR seoul", ("pyongyang", "seoul")),  # every matching branch
        ("title:kursk", ("kursk",)),
        ("text:kursk", None),
        ("title:pyongyang", None),
        ("text:pyongyang", ("pyongyang",)),
        ('title:"north korean"', ("north korean",)),
        ('text:"north korean"', None),
        ("outlet:reuters", ("reuters",)),
        ('outlet:"reuters world"', ("reuters world",)),
        ("outlet:reu*", ("reuters",)),
        ("outlet:bbc", None),
        ("korean outlet:reuters", ("korean", "reuters")),
        ("lang:en korean", ("en", "korean")),
        ("lang:de korean", None),
        # NEAR: at most n words between, either order, same field
        ("troops NEAR/0 arrive", ("troops", "arrive")),
        ("arrive NEAR/0 troops", ("arrive", "troops")),
        ("north NEAR/1 troops", ("north", "troops")),
        ("north NEAR/0 troops", None),
        ('"north korean" NEAR/3 russia', ("north korean", "russia")),
        ('"north korean" NEAR/2 russia', None),
        ('kursk NEAR/5 "north korean"', ("kursk", "north korean")),
        ("kursk NEAR/10 pyongyang", None),  # different fields
        ("title:kursk NEAR/10 title:troops", ("kursk", "troops")),
        ("text:kursk NEAR/10 text:troops", None),
        ("troop* NEAR/2 north", ("troops", "north")),
        ("korean NEAR/0 korean", ("korean",)),  # overlapping spans are near (as in FTS5)
        ('"north korean" NEAR/0 "korean troops"', ("north korean", "korean troops")),
    ],
)
def test_evaluate(query: str, terms: tuple[str, ...] | None) -> None:
    assert parse_query(query).evaluate(ARTICLE) == terms


def test_accent_and_case_insensitive_both_ways() -> None:
    d = doc(title="Émile Zola, CAFÉ owner in Zürich")
    assert parse_query("emile cafe zurich").evaluate(d) == ("emile", "cafe", "zurich")
    assert parse_query("ZÜRICH Café").evaluate(doc(title="zurich cafe")) == ("zurich", "cafe")


def test_phrase_repeated_word_and_multiple_occurrences() -> None:
    d = doc(text="new york new york city")
    assert parse_query('"york new york city"').evaluate(d) == ("york new york city",)
    assert parse_query('"new york city"').evaluate(d) == ("new york city",)
    assert parse_query('"city new"').evaluate(d) is None


def test_phrase_does_not_cross_title_and_text() -> None:
    d = doc(title="Troops from North", text="Korea arrive")
    assert parse_query('"north korea"').evaluate(d) is None
    assert parse_query("north NEAR/0 korea").evaluate(d) is None
    assert parse_query("north korea").evaluate(d) == ("north", "korea")


def test_empty_document_and_missing_language() -> None:
    assert parse_query("a OR bb*").evaluate(doc()) is None
    assert parse_query("a lang:en").evaluate(doc(title="a")) is None


def test_hand_built_query_without_presence_still_evaluates() -> None:
    # The parser refuses it, but the AST is public; evaluation must stay correct.
    q = Query("NOT x", Not(Term("x")))
    assert q.evaluate(doc(title="y")) == ()
    assert q.evaluate(doc(title="x")) is None


def test_document_from_article() -> None:
    now = datetime(2024, 10, 23, tzinfo=UTC)
    article = Article(
        feed="Yonhap English",
        guid="1",
        url=None,
        canonical_url=None,
        title="N. Korea sends troops",
        title_raw="N. Korea sends troops - Yonhap",
        summary="summary words",
        text="",
        html="",
        author=None,
        published=now,
        published_estimated=False,
        fetched_at=now,
        language="en",
        content_hash="0",
    )
    d = document_from_article(article)
    assert parse_query("title:troops outlet:yonhap lang:en").evaluate(d) is not None
    # No text: the summary stands in for it.
    assert parse_query("text:summary").evaluate(d) == ("summary",)


def test_str_round_trips_through_the_parser() -> None:
    for text in ['(a OR "b c") -d title:ee*', 'x NEAR/4 "y z" lang:de outlet:"bbc news"']:
        q = parse_query(text)
        assert parse_query(str(q)).root == q.root


# --- the shipped topic ----------------------------------------------------------------


def _cases(name: str) -> list[tuple[str, str]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if line and not line.startswith("#")]  # type: ignore[misc]


MUST_MATCH = _cases("north_korean_troops.match.txt")
MUST_NOT_MATCH = _cases("north_korean_troops.nomatch.txt")


def test_shipped_topic_has_enough_cases() -> None:
    assert len(MUST_MATCH) >= 15
    assert len(MUST_NOT_MATCH) >= 15


@pytest.mark.parametrize(("title", "lead"), MUST_MATCH)
def test_nk_troops_topic_matches(title: str, lead: str) -> None:
    terms = parse_query(NK_TROOPS_QUERY).evaluate(doc(title=title, text=lead))
    assert terms is not None
    assert len(terms) >= 3  # an NK word, a troops word and a Russia word: the "why"


@pytest.mark.parametrize(("title", "lead"), MUST_NOT_MATCH)
def test_nk_troops_topic_does_not_match(title: str, lead: str) -> None:
    assert parse_query(NK_TROOPS_QUERY).evaluate(doc(title=title, text=lead)) is None


def test_nk_troops_topic_on_the_seed_article() -> None:
    title, _, body = (DATA / "seed-article.txt").read_text(encoding="utf-8").partition("\n")
    terms = parse_query(NK_TROOPS_QUERY).evaluate(doc(title=title, text=body))
    assert terms is not None
    assert {"north korean", "troops", "kursk"} <= set(terms)


_TEXT_CHARS = st.one_of(
    st.characters(max_codepoint=0x7F),
    st.characters(min_codepoint=0xA0, max_codepoint=0x17F),
    st.characters(min_codepoint=0x2000, max_codepoint=0x206F),
    st.sampled_from(["\u0301", "\u0308", "я", "Ё", "ß", "ǅ", "_", "́", "\ufe0f", "ि", "ﬁ"]),
)


@settings(max_examples=500, deadline=None)
@given(st.text(_TEXT_CHARS, max_size=40))
def test_tokenize_fast_paths_equal_the_unicode_path(text: str) -> None:
    assert tokenize(text) == _tokenize_unicode(text)


def test_deep_nesting_and_huge_queries_are_query_errors() -> None:
    with pytest.raises(QueryError, match="nested more than 32"):
        parse_query("(" * 33 + "a" + ")" * 33)
    with pytest.raises(QueryError, match="nested more than 32"):
        parse_query("a " + "NOT " * 40 + "b")
    parse_query("(" * 32 + "a" + ")" * 32)  # the limit itself is fine
    with pytest.raises(QueryError, match="longer than"):
        parse_query("a " * 6000)


_QUERY_CHARS = st.one_of(
    st.sampled_from([*'()"*:-+/ ', "AND ", "OR ", "NOT ", "NEAR/", "NEAR/2 ", "title:"]),
    st.sampled_from(["a", "b", "korea", "lang:", "outlet:", "text:", "x:", "5", "é", "_"]),
    st.characters(),
)


def _error_or_none(fn: object, *args: object) -> QueryError | None:
    try:
        fn(*args)  # type: ignore[operator]
    except QueryError as exc:
        return exc
    return None


@settings(max_examples=600, deadline=None)
@given(st.lists(_QUERY_CHARS, max_size=30).map("".join))
def test_any_input_parses_or_raises_query_error(text: str) -> None:
    error = _error_or_none(parse_query, text)
    if error is not None:
        assert error.reason
        assert error.position is not None
        assert 0 <= error.position <= len(text)
        return
    # What parses can be evaluated, printed and re-parsed to the same AST
    # (tests/test_store_search.py translates it for both engines).
    query = parse_query(text)
    query.evaluate(doc(title="a b korea", text="korea a"))
    assert parse_query(str(query)).root == query.root
