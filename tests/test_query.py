"""The query language: tokenizer, parser (AST and errors), evaluator, shipped topic."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.errors import QueryError
from aggregator.models import Article
from aggregator.query import (
    TSVECTOR_SQL,
    And,
    Document,
    Near,
    Not,
    Or,
    Phrase,
    Query,
    Term,
    document_from_article,
    fts5_plan,
    index_text,
    parse_query,
    to_fts5,
    to_tsquery,
    tokenize,
    tsquery_plan,
    walk,
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


def test_index_text_is_space_joined_tokens() -> None:
    assert index_text("Kim's  TROOPS, in Kursk.") == "kim s troops in kursk"


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


# --- archive search: translation, checked against the real engines --------------------

VOCAB = ["korea", "korean", "north", "troops", "troop", "russia", "kursk", "army", "war", "ab"]


def _corpus() -> list[tuple[str, str, str, str | None]]:
    """(title, text, outlet, language): real-looking rows plus seeded random ones."""
    import random

    rng = random.Random(7)
    rows = [
        (title, lead, outlet, lang)
        for (title, lead), outlet, lang in zip(
            MUST_MATCH + MUST_NOT_MATCH,
            ["Reuters World", "BBC News", "AP", "Yonhap"] * 10,
            ["en", "en", "de", None] * 10,
            strict=False,
        )
    ]
    for i in range(60):
        title = " ".join(rng.choices(VOCAB, k=rng.randint(0, 6)))
        text = " ".join(rng.choices(VOCAB, k=rng.randint(0, 25)))
        rows.append((title.title(), text, ["Reuters World", "BBC News", "AP"][i % 3],
                     ["en", "de", None][i % 3]))  # fmt: skip
    rows.append(("Émile à Zürich", "Straße café NAÏVE", "Le Monde", "fr"))
    return rows


CORPUS = _corpus()
DOCS = [doc(t, x, o, lang) for t, x, o, lang in CORPUS]
OUTLET_NAMES = sorted({row[2] for row in CORPUS})
LANGUAGES = sorted({row[3] for row in CORPUS}, key=str)

ENGINE_QUERIES = [
    "korea",
    "korean troops",
    "north korean troops",
    '"north korean troops"',
    '"korean north"',
    "troop*",
    "kor* -korea",
    "korea OR kursk",
    "(korea OR kursk) (troops OR army) -war",
    "korean -(russia OR kursk)",
    "title:korea",
    "text:korea -title:korea",
    'title:"north korean"',
    "title:(korea OR war) text:troop*",
    "korea NEAR/0 troops",
    "troops NEAR/2 korea",
    '"north korea" NEAR/3 troops',
    'title:kursk NEAR/5 title:"north korean"',
    "text:troop* NEAR/1 text:war",
    "zürich CAFE",
    '"strasse cafe"',
    "korea outlet:reuters",
    "troops -outlet:bbc",
    'korea outlet:"bbc news" lang:en',
    "outlet:(ap OR yonhap)",
    "lang:de",
    "korea (lang:en OR lang:fr)",
    "army -lang:en",
    "a OR b korea",
    "korea -(war -army)",
    "korea -(war OR -army)",
]

_query_word = st.sampled_from(VOCAB)
_near_side = st.one_of(
    _query_word,
    _query_word.map(lambda w: w[:3] + "*"),
    st.lists(_query_word, min_size=2, max_size=2).map(lambda ws: '"' + " ".join(ws) + '"'),
)
_sql_leaf = st.one_of(
    _query_word,
    _query_word.map(lambda w: w[:3] + "*"),
    st.lists(_query_word, min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"'),
    st.tuples(st.sampled_from(["title:", "text:"]), _query_word).map("".join),
    st.tuples(_near_side, st.integers(0, 4), _near_side).map(
        lambda t: f"{t[0]} NEAR/{t[1]} {t[2]}"
    ),
    st.tuples(st.sampled_from(["title:", "text:"]), _query_word, _query_word).map(
        lambda t: f"{t[0]}{t[1]} NEAR/2 {t[0]}{t[2]}"
    ),
)
_sql_query = st.recursive(
    _sql_leaf,
    lambda kids: st.one_of(
        st.lists(kids, min_size=2, max_size=3).map(lambda cs: "(" + " ".join(cs) + ")"),
        st.lists(kids, min_size=2, max_size=3).map(lambda cs: "(" + " OR ".join(cs) + ")"),
        st.tuples(kids, kids).map(lambda t: f"({t[0]} -{t[1]})"),
    ),
    max_leaves=5,
)
_sql_filters = st.sampled_from(["", " outlet:reuters", " -outlet:bbc", " lang:en", " -lang:de"])


def expected_ids(query: Query) -> set[int]:
    return {i for i, d in enumerate(DOCS) if query.evaluate(d) is not None}


def _near_sides_may_overlap(query: Query) -> bool:
    """A NEAR whose sides can cover the same word: the case tsquery cannot express."""

    def words(node: Term | Phrase) -> set[str]:
        return {node.token} if isinstance(node, Term) else set(node.tokens)

    def covers(node: Term | Phrase, other: Term | Phrase) -> bool:
        if isinstance(node, Term) and node.prefix:
            return any(w.startswith(node.token) or node.token.startswith(w) for w in words(other))
        return bool(words(node) & words(other))

    return any(
        isinstance(n, Near) and (covers(n.left, n.right) or covers(n.right, n.left))
        for n in walk(query.root)
    )


@pytest.fixture(scope="module")
def fts5() -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, outlet TEXT, lang TEXT)")
    con.execute("CREATE VIRTUAL TABLE docs_fts USING fts5(title, text)")
    for i, (title, text, outlet, lang) in enumerate(CORPUS):
        con.execute("INSERT INTO docs VALUES (?, ?, ?)", (i, outlet, lang))
        con.execute(
            "INSERT INTO docs_fts (rowid, title, text) VALUES (?, ?, ?)",
            (i, index_text(title), index_text(text)),
        )
    yield con
    con.close()


def fts5_ids(con: sqlite3.Connection, query: Query) -> set[int]:
    plan = fts5_plan(query)
    sql, args = "SELECT d.id, d.outlet, d.lang FROM docs d", []
    if plan.match is not None:
        sql += " JOIN docs_fts f ON f.rowid = d.id WHERE docs_fts MATCH ?"
        args.append(plan.match)
    rows = con.execute(sql, args).fetchall()
    # The store would put these in SQL as `IN (...)`; the sets are what matters here.
    outlets = plan.filters.outlets(OUTLET_NAMES)
    langs = plan.filters.languages(LANGUAGES)
    return {
        i
        for i, outlet, lang in rows
        if (outlets is None or outlet in outlets) and (langs is None or lang in langs)
    }


@pytest.mark.parametrize("text", ENGINE_QUERIES)
def test_fts5_agrees_with_evaluator(fts5: sqlite3.Connection, text: str) -> None:
    query = parse_query(text)
    try:
        got = fts5_ids(fts5, query)
    except QueryError:
        assert text == "korea -(war OR -army)"  # the one FTS5 cannot express, below
        return
    assert got == expected_ids(query)


@settings(max_examples=250, deadline=None)
@given(_sql_query, _sql_filters)
def test_fts5_agrees_with_evaluator_on_random_queries(
    fts5: sqlite3.Connection, text: str, filters: str
) -> None:
    try:
        query = parse_query(text + filters)
    except QueryError:
        return
    try:
        got: set[int] | str = fts5_ids(fts5, query)
    except QueryError as exc:  # a clear refusal is fine; a crash is not
        got = exc.reason
    if isinstance(got, str):
        assert "cannot run this NOT" in got
    else:
        assert got == expected_ids(query)


def test_fts5_translation_text() -> None:
    q = parse_query('title:"north korean" troop* -(war OR kursk) x NEAR/2 "y z"')
    assert to_fts5(q) == (
        '((title : "north korean" AND "troop"* AND NEAR("x" "y z", 2)) NOT ("war" OR "kursk"))'
    )


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("korea (troops OR -war)", 17),  # "troops OR NOT war" has no FTS5 form
        ("korea -(war OR -army)", 15),
    ],
)
def test_fts5_refuses_what_it_cannot_run(text: str, position: int) -> None:
    with pytest.raises(QueryError) as info:
        fts5_plan(parse_query(text))
    assert info.value.position == position
    # PostgreSQL has a unary NOT and runs them.
    assert tsquery_plan(parse_query(text)).match


@pytest.mark.parametrize(
    ("text", "position"),
    [("korea OR outlet:bbc", 9), ("(outlet:bbc OR lang:de) korea", 1), ("korea OR lang:en", 9)],
)
def test_filters_only_narrow_the_whole_query(text: str, position: int) -> None:
    for plan in (fts5_plan, tsquery_plan):
        with pytest.raises(QueryError) as info:
            plan(parse_query(text))
        assert info.value.position == position
        assert "can only narrow the whole query" in info.value.reason


def test_plans_return_filters_separately() -> None:
    plan = fts5_plan(parse_query('korea outlet:"bbc news" -lang:de'))
    assert plan.match == '"korea"'
    assert plan.filters.outlets(["BBC News", "BBC", "Reuters"]) == ["BBC News"]
    assert plan.filters.languages(["en", "de", None]) == ["en", None]
    only = tsquery_plan(parse_query("outlet:reuters"))
    assert only.match is None
    assert only.filters.languages(["en"]) is None
    with pytest.raises(QueryError):
        to_fts5(parse_query("korea lang:en"))
    with pytest.raises(QueryError):
        to_tsquery(parse_query("lang:en"))


def test_tsquery_translation_text() -> None:
    assert to_tsquery(parse_query('title:korea text:troop* -"x y"')) == (
        "('korea':A & 'troop':*B & !(('x':A <-> 'y':A) | ('x':B <-> 'y':B)))"
    )
    assert to_tsquery(parse_query("a NEAR/1 text:b".replace("a ", "text:a "))) == (
        "('a':B <1> 'b':B | 'b':B <1> 'a':B | 'a':B <2> 'b':B | 'b':B <2> 'a':B)"
    )


PG_DSN = os.environ.get("AGGREGATOR_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=test")


@pytest.fixture(scope="module")
def pg() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    try:
        con = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable under CI: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    # A temporary table is private to this session, so parallel runs cannot collide.
    con.execute(
        "CREATE TEMP TABLE query_test_docs (id int PRIMARY KEY, outlet text, lang text,"
        " tsv tsvector)"
    )
    tsv = TSVECTOR_SQL.format(title="%s", text="%s")
    with con.cursor() as cur:
        cur.executemany(
            f"INSERT INTO query_test_docs VALUES (%s, %s, %s, {tsv})",
            [
                (i, o, lang, index_text(t), index_text(x))
                for i, (t, x, o, lang) in enumerate(CORPUS)
            ],
        )
    yield con
    con.execute("DROP TABLE query_test_docs")
    con.close()


def pg_ids(con: psycopg.Connection[tuple[object, ...]], query: Query) -> set[int]:
    plan = tsquery_plan(query)
    sql = "SELECT id FROM query_test_docs WHERE true"
    args: list[object] = []
    if plan.match is not None:
        sql += " AND tsv @@ to_tsquery('simple', %s)"
        args.append(plan.match)
    if (outlets := plan.filters.outlets(OUTLET_NAMES)) is not None:
        sql += " AND outlet = ANY(%s)"
        args.append(outlets)
    if (langs := plan.filters.languages(LANGUAGES)) is not None:
        sql += " AND (lang = ANY(%s)" + (" OR lang IS NULL)" if None in langs else ")")
        args.append([x for x in langs if x is not None])
    return {int(row[0]) for row in con.execute(sql, args)}  # type: ignore[call-overload]


def _check_pg(con: psycopg.Connection[tuple[object, ...]], query: Query) -> None:
    got = pg_ids(con, query)  # runs without error in every case
    if not _near_sides_may_overlap(query):  # documented: tsquery misses overlapping spans
        assert got == expected_ids(query)


@pytest.mark.parametrize("text", ENGINE_QUERIES)
def test_tsquery_agrees_with_evaluator(
    pg: psycopg.Connection[tuple[object, ...]], text: str
) -> None:
    _check_pg(pg, parse_query(text))


@settings(max_examples=250, deadline=None)
@given(_sql_query, _sql_filters)
def test_tsquery_agrees_with_evaluator_on_random_queries(
    pg: psycopg.Connection[tuple[object, ...]], text: str, filters: str
) -> None:
    try:
        query = parse_query(text + filters)
    except QueryError:
        return
    _check_pg(pg, query)


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
    # What parses can be evaluated, printed and re-parsed to the same AST, and
    # translated for both engines (or refused with a QueryError that has a position).
    query = parse_query(text)
    query.evaluate(doc(title="a b korea", text="korea a"))
    assert parse_query(str(query)).root == query.root
    for plan in (fts5_plan, tsquery_plan):
        refused = _error_or_none(plan, query)
        assert refused is None or refused.position is not None
