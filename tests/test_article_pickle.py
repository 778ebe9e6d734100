"""An article pickled as its values (``Article.__reduce__``, issue 17) comes back the
same as through the dataclass's own state: every field, by name, whatever its value.

The burst worker pickles every article it normalizes and the daemon unpickles them
(``aggregator.poll.burst_worker``); copy and deepcopy go the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from aggregator.models import Article
from aggregator.poll.burst_worker import _reply
from tests.support.farm import farm_calls

FETCHED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIELDS = [f.name for f in dataclasses.fields(Article)]


def every_field_its_own() -> Article:
    """An article whose every field holds a value of its own, none a default, so a
    value landing in another field cannot go unseen."""
    return Article(
        feed="Feed — Ünïcode",
        guid="guid-1",
        url="https://news.example/a?x=1",
        canonical_url="https://news.example/a",
        title="Title “quoted”",
        title_raw="Title “quoted” - Outlet",
        summary="Summary \ud7ff text",
        text="Text\n\nsecond paragraph 한국어",
        html="<p>Text</p><p>second</p>",
        author="Jane Doe",
        published=datetime(2026, 2, 28, 9, 30, 15, 123456, tzinfo=UTC),
        published_estimated=True,
        fetched_at=datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        language="ko",
        content_hash="ab" * 32,
        fingerprint=(1 << 64) - 3,
        fulltext="Full text",
        variant="v2",
        embedding=b"\x00\x01\xfe\xff",
    )


def with_nones() -> Article:
    return dataclasses.replace(
        every_field_its_own(),
        guid=None,
        url=None,
        canonical_url=None,
        author=None,
        language=None,
        fulltext=None,
        variant=None,
        embedding=None,
        fingerprint=0,
        published_estimated=False,
    )


def fields_of(article: Article) -> dict[str, Any]:
    return {name: getattr(article, name) for name in FIELDS}


def assert_same(back: object, article: Article) -> None:
    assert type(back) is Article
    assert fields_of(back) == fields_of(article)
    # Same types too (True is 1, but a bool column must get a bool back).
    assert [type(v) for v in fields_of(back).values()] == [
        type(v) for v in fields_of(article).values()
    ]
    assert back == article
    assert hash(back) == hash(article)


@pytest.mark.parametrize("make", [every_field_its_own, with_nones])
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_an_article_pickled_comes_back_the_same(make: Any, protocol: int) -> None:
    article = make()
    assert_same(pickle.loads(pickle.dumps(article, protocol=protocol)), article)


def test_the_values_are_pickled_in_field_order_and_nothing_else() -> None:
    article = every_field_its_own()
    rebuild, values = article.__reduce__()
    assert values == tuple(getattr(article, name) for name in FIELDS)
    assert_same(rebuild(*values), article)
    # Through the dataclass's own constructor, the same article.
    assert_same(Article(*values), article)


def test_copies_are_the_same_and_still_frozen() -> None:
    article = every_field_its_own()
    for back in (copy.copy(article), copy.deepcopy(article)):
        assert_same(back, article)
        with pytest.raises(dataclasses.FrozenInstanceError):
            back.title = "changed"  # type: ignore[misc]


def test_a_rebuild_with_a_value_missing_or_too_many_fails() -> None:
    rebuild, values = every_field_its_own().__reduce__()
    with pytest.raises(ValueError, match="zip"):
        rebuild(*values[:-1])
    with pytest.raises(ValueError, match="zip"):
        rebuild(*values, None)


def test_farm_articles_come_back_from_the_worker_s_answer_as_normalized() -> None:
    """What the burst worker sends (``_reply``) and the daemon reads, on farm feeds."""
    for call in farm_calls(FETCHED, feeds=6, items=12, seed=4):
        processed = call()
        ok, back = pickle.loads(_reply(True, processed))
        assert ok
        assert back == processed
        assert len(back.articles) == 12
        for got, article in zip(back.articles, processed.articles, strict=True):
            assert_same(got, article)
