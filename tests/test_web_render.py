"""The web page's pure helpers: words, snippets, highlighting, the timeline, times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.api.render import (
    highlight,
    highlight_terms,
    page_url,
    parse_count,
    parse_since,
    plural,
    rest,
    snippet,
    timeline_chart,
)
from aggregator.api.web import outlet_runs
from aggregator.errors import QueryError
from aggregator.store.views import ArticleSummary, EventArticle

T0 = datetime(2024, 11, 4, 6, 0, tzinfo=UTC)


def test_plural() -> None:
    assert plural(1, "event") == "1 event"
    assert plural(0, "event") == "0 events"
    assert plural(2, "outlet") == "2 outlets"
    assert plural(1, "match", "matches") == "1 match"
    assert plural(3, "match", "matches") == "3 matches"
    assert plural(1000, "article") == "1,000 articles"


def test_snippet_is_the_first_paragraph_cut_at_a_word() -> None:
    text = "First paragraph here.\n\nSecond one.\n\nThird."
    assert snippet(text) == "First paragraph here."
    assert rest(text) == ["Second one.", "Third."]
    long = " ".join(["word"] * 200)
    cut = snippet(long, limit=50)
    assert cut.endswith("…")
    assert len(cut) <= 51
    assert not cut[:-1].endswith(" ")
    # The snippet cut the first paragraph short: the full text shows it whole.
    assert rest(long + "\n\nNext.", limit=50) == [long, "Next."]
    assert snippet("") == ""
    assert rest("One paragraph only.") == []


def test_highlight_marks_searched_words_and_escapes_the_rest() -> None:
    terms = highlight_terms('kursk troop* "north korean" -moscow outlet:bbc')
    out = str(highlight("<b>Troops</b> from North Korea's army reach Kursk, not Moscow", terms))
    assert out == (
        "&lt;b&gt;<mark>Troops</mark>&lt;/b&gt; from <mark>North</mark> Korea&#39;s army "
        "reach <mark>Kursk</mark>, not Moscow"
    )
    # Accents and case are folded as the search folds them.
    assert "<mark>Koürsk</mark>" in str(highlight("Koürsk", highlight_terms("koursk")))
    # Nothing to mark: a bad query, no query, only filters.
    for q in ("NOT kursk", "", None, "outlet:bbc lang:en"):
        assert str(highlight("a <i>", highlight_terms(q))) == "a &lt;i&gt;"


def test_parse_since_takes_what_the_cli_takes() -> None:
    now = datetime(2024, 11, 4, 12, 0, tzinfo=UTC)
    assert parse_since("2024-11-01", now) == datetime(2024, 11, 1, tzinfo=UTC)
    assert parse_since("2024-11-01T10:00", now) == datetime(2024, 11, 1, 10, tzinfo=UTC)
    assert parse_since("2024-11-01T10:00+02:00", now) == datetime(2024, 11, 1, 8, tzinfo=UTC)
    assert parse_since("3d", now) == now - timedelta(days=3)
    assert parse_since("1h30m", now) == now - timedelta(minutes=90)
    for bad in ("yesterday", "3x", "-3d", "2024-13-01"):
        with pytest.raises(QueryError, match="is not a date"):
            parse_since(bad, now)


def test_parse_count() -> None:
    assert parse_count(None, "n") == 0
    assert parse_count(" ", "n") == 0
    assert parse_count("4", "n") == 4
    for bad in ("-1", "2.5", "²", "x", "9999999"):
        with pytest.raises(QueryError, match="not a whole number"):
            parse_count(bad, "min_outlets")


def test_page_url_leaves_out_empty_values() -> None:
    assert page_url("/", topic=None, since="", sort="first") == "/?sort=first"
    assert page_url("/events/1") == "/events/1"
    assert page_url("/search", q="a&b c") == "/search?q=a%26b+c"


def test_timeline_of_a_one_hour_event() -> None:
    times = [T0 + timedelta(minutes=m) for m in (0, 1, 2, 14, 31, 55)]
    chart = timeline_chart(times)
    assert chart is not None
    assert chart.bin_label == "5 minutes"
    assert len(chart.bars) == 12
    assert [b.height > 0 for b in chart.bars] == [
        True, False, True, False, False, False, True, False, False, False, False, True,
    ]  # fmt: skip
    assert chart.peak == 3
    assert [t.label for t in chart.ticks] == [
        "06:00", "06:10", "06:20", "06:30", "06:40", "06:50", "07:00",
    ]  # fmt: skip
    assert chart.ticks[0].x == chart.left
    assert chart.ticks[-1].x == chart.right
    assert chart.bars[0].title == "04 Nov 06:00–06:05 UTC: 3 articles"


def test_timeline_of_a_lone_report_still_has_an_hour_of_axis() -> None:
    chart = timeline_chart([T0 + timedelta(minutes=7)])
    assert chart is not None
    assert chart.start == T0 + timedelta(minutes=5)
    assert chart.end == chart.start + timedelta(hours=1)
    assert sum(1 for b in chart.bars if b.height) == 1
    assert timeline_chart([]) is None


def test_timeline_of_a_week_labels_days() -> None:
    times = [T0 + timedelta(hours=h) for h in range(0, 24 * 7, 5)]
    chart = timeline_chart(times)
    assert chart is not None
    assert chart.bin_label == "6 hours"
    assert len(chart.bars) <= 48
    labels = [t.label for t in chart.ticks]
    assert labels[0] == "05 Nov"
    assert all(" Nov" in label for label in labels)
    xs = [t.x for t in chart.ticks]
    assert xs == sorted(xs)
    assert all(chart.left <= x <= chart.right for x in xs)


def _item(aid: int, feed: str) -> EventArticle:
    summary = ArticleSummary(aid, feed, None, f"t{aid}", None, T0, "en", "", 1, None)
    return EventArticle(summary, "", ())


def test_outlet_runs_group_consecutive_articles() -> None:
    items = [_item(1, "a"), _item(2, "a"), _item(3, "b"), _item(4, "c"), _item(5, "c")]
    runs = outlet_runs(items, continues=True)
    assert [(r.feed, [i.article.id for i in r.articles], r.continued) for r in runs] == [
        ("a", [1, 2], True),
        ("b", [3], False),
        ("c", [4, 5], False),
    ]
    assert outlet_runs([], continues=False) == []
