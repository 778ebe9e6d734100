"""TopicIndex: anchors, candidates, and equality with evaluating every topic."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.errors import QueryError
from aggregator.models import Match
from aggregator.process.match import TopicIndex, anchors_of, match_all
from aggregator.query import Document, Not, Query, Term, parse_query

NK_TROOPS_QUERY = (
    Path(__file__).parent / "data" / "query" / "north_korean_troops.query"
).read_text(encoding="utf-8")


def doc(title: str = "", text: str = "", outlet: str = "", language: str | None = None) -> Document:
    return Document.build(title=title, text=text, outlet=outlet, language=language)


@pytest.mark.parametrize(
    ("query", "anchors"),
    [
        ("korea", {("word", "korea")}),
        ('"north korean troops"', {("word", "korean")}),  # the longest word of a phrase
        ("a OR troop*", {("word", "a"), ("prefix", "troop")}),
        ("korea (russia OR kursk)", {("word", "korea")}),  # the smaller side of an AND
        ("(russia OR kursk) -korea", {("word", "russia"), ("word", "kursk")}),
        ("troop* russia", {("word", "russia")}),  # a word beats a prefix
        ("lang:en korea", {("word", "korea")}),  # a word beats a whole language
        ("lang:en", {("lang", "en")}),
        ("outlet:reuters", {("outlet", "reuters")}),
        ("outlet:reu*", {("outlet-prefix", "reu")}),
        ("kursk NEAR/3 troops", {("word", "troops")}),  # the longer word
        ("troop* NEAR/3 kursk", {("word", "kursk")}),  # a word beats a prefix
    ],
)
def test_anchors(query: str, anchors: set[tuple[str, str]]) -> None:
    assert anchors_of(parse_query(query).root) == anchors


def test_index_evaluates_only_topics_whose_anchor_is_present() -> None:
    index = TopicIndex(
        {
            "nk": parse_query(NK_TROOPS_QUERY),
            "missiles": parse_query("missile* (launch OR test)"),
            "weather": parse_query("storm OR typhoon"),
            "bbc": parse_query("outlet:bbc"),
            "german": parse_query("lang:de"),
        }
    )
    d = doc(title="North Korean troops arrive in Russia", text="A storm hit Kursk.", language="en")
    assert index.candidates(d) == ["nk", "weather"]
    assert index.match(d) == [
        Match("nk", ("north korean", "troops", "russia", "kursk")),
        Match("weather", ("storm",)),
    ]
    assert index.candidates(doc(title="x", outlet="BBC News", language="de")) == ["bbc", "german"]
    assert index.candidates(doc(title="nothing relevant")) == []
    assert index.stats.unanchored == 0


def test_prefix_anchor_finds_words_by_their_head() -> None:
    index = TopicIndex(
        {"t": parse_query("troop*"), "k": parse_query("ko*"), "x": parse_query("xyz*")}
    )
    assert index.candidates(doc(text="Troopers of Korea")) == ["t", "k"]
    # "tro" shares no 4-letter head with "troop": not even a candidate.
    assert index.candidates(doc(text="tro")) == []


def test_unanchored_topic_is_always_evaluated_and_counted() -> None:
    hand_built = Query("NOT war", Not(Term("war")))  # the parser would refuse it
    index = TopicIndex({"peace": hand_built, "war": parse_query("war")})
    assert index.unanchored == ("peace",)
    assert index.stats.unanchored == 1
    assert index.match(doc(title="calm day")) == [Match("peace", ())]
    assert index.match(doc(title="war")) == [Match("war", ("war",))]


def test_empty_index() -> None:
    assert TopicIndex({}).match(doc(title="anything")) == []


# --- property: the index returns exactly what evaluating every topic returns ---------

WORDS = ["korea", "korean", "troops", "troop", "russia", "kursk", "army", "war", "ab", "abc"]
OUTLETS = ["Reuters World", "BBC News", "AP"]

word = st.sampled_from(WORDS)
leaf = st.one_of(
    word,
    word.map(lambda w: w[:2] + "*"),
    word.map(lambda w: w[:4] + "*"),
    st.lists(word, min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"'),
    st.tuples(st.sampled_from(["title:", "text:"]), word).map("".join),
    st.sampled_from(["outlet:reuters", "outlet:bbc", 'outlet:"bbc news"', "lang:en", "lang:de"]),
    st.tuples(word, st.integers(0, 3), word).map(lambda t: f"{t[0]} NEAR/{t[1]} {t[2]}"),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda cs: "(" + " ".join(cs) + ")"),
        st.lists(children, min_size=2, max_size=3).map(lambda cs: "(" + " OR ".join(cs) + ")"),
        st.tuples(children, children).map(lambda t: f"({t[0]} -{t[1]})"),
    )


query_text = st.recursive(leaf, _combine, max_leaves=6)
document = st.builds(
    doc,
    title=st.lists(word, max_size=6).map(" ".join),
    text=st.lists(word, max_size=20).map(" ".join),
    outlet=st.sampled_from(OUTLETS),
    language=st.sampled_from(["en", "de", None]),
)


def _parse_or_none(text: str) -> Query | None:
    try:
        return parse_query(text)
    except QueryError:
        return None


@settings(max_examples=150, deadline=None)
@given(st.lists(query_text, min_size=1, max_size=12), st.lists(document, min_size=1, max_size=5))
def test_index_equals_evaluating_every_topic(texts: list[str], docs: list[Document]) -> None:
    topics = {f"t{i}": q for i, t in enumerate(texts) if (q := _parse_or_none(t)) is not None}
    index = TopicIndex(topics)
    for d in docs:
        assert index.match(d) == match_all(topics.items(), d)


def test_index_equals_evaluating_every_topic_on_a_seeded_corpus() -> None:
    # Many topics at once (the hypothesis test above shrinks well but uses few).
    rng = random.Random(5)
    vocab = [*WORDS, "missile", "kim", "seoul", "drone", "kyiv", "attack", "border"]

    def item() -> str:
        word = rng.choice(vocab)
        return rng.choice([word, word[:3] + "*", f'"{word} {rng.choice(vocab)}"', "title:" + word])

    def topic() -> str:
        groups = [" OR ".join(item() for _ in range(rng.randint(1, 3))) for _ in range(3)]
        text = " ".join(f"({g})" for g in groups[: rng.randint(1, 3)])
        if rng.random() < 0.3:
            text += f" -{rng.choice(vocab)}"
        if rng.random() < 0.1:
            text += rng.choice([" lang:en", " outlet:bbc", ' outlet:"reuters world"'])
        return text

    topics = {f"t{i}": parse_query(topic()) for i in range(400)}
    index = TopicIndex(topics)
    matched = 0
    for _ in range(150):
        d = doc(
            title=" ".join(rng.choices(vocab, k=rng.randint(3, 8))),
            text=" ".join(rng.choices(vocab, k=rng.randint(0, 60))),
            outlet=rng.choice(OUTLETS),
            language=rng.choice(["en", "de", None]),
        )
        expected = match_all(topics.items(), d)
        assert index.match(d) == expected
        assert len(index.candidates(d)) <= len(topics)
        matched += len(expected)
    assert matched > 100  # the corpus exercises real matches, not just misses
