"""Cyrillic letters with a breve or diaeresis (й, ї, ў) are letters of their own: the
query language must not fold them, or archive search finds nothing on either engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from aggregator.query import Document, parse_query, tokenize
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from tests.support.archive_data import ArchiveBuilder


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    yield eng
    eng.dispose()


def test_tokenize_keeps_the_letters_and_still_folds_accents() -> None:
    assert tokenize("Российские войска у Київа; Беларусь: ўсё") == [
        "российские",
        "войска",
        "у",
        "київа",
        "беларусь",
        "ўсе",
    ]
    # Typed as a base letter plus a combining mark, it is the same letter.
    assert tokenize("вои\u0306ска") == ["войска"]
    assert tokenize("Élan, ёлка") == ["elan", "елка"]


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("войска", "Северокорейские войска в Курской области"),
        ("российский", "Российский МИД вызвал посла"),
        ("Київ", "Київ: війська відійшли"),
        ("війська", "Київ: війська відійшли"),
    ],
)
def test_archive_search_finds_words_with_these_letters(
    engine: Engine, query: str, title: str
) -> None:
    b = ArchiveBuilder(engine)
    b.article("wire", title, language="ru")
    b.article("wire", "Unrelated weather report", language="en")
    found = Archive(engine).search(query)
    assert [a.title for a in found.items] == [title]


def test_a_topic_matches_the_same_words() -> None:
    doc = Document.build(title="Российские войска в Курской области", text="")
    assert parse_query("войска AND российские").evaluate(doc) is not None
    assert parse_query("воиска").evaluate(doc) is None
