"""Among the events the words accept for an article with no names, the meaning chooses
(``Clusterer._choose``, ``ClusterSettings.meaning_chooses``).

The vectors are built here, not by the model, so that each case sets exactly the
geometry the rule reads (as in ``test_cluster_rejoin.py``): a report of an event is
the event's direction plus a little noise of its own.
"""

from __future__ import annotations

import numpy as np

from aggregator import semantic
from aggregator.process.clustering import ClusterSettings
from tests.support.meaning import axis
from tests.test_cluster_rejoin import Stream, _vector

# Two bankruptcies in headlines: the pizza chain's reports and the exchange's share
# no word; the headline that decides shares more words with the pizza chain's
# ("files for bankruptcy protection", "pizza chain") than with the exchange's
# ("Mt Gox"), but says the exchange's news.
PIZZA = (
    "Sbarro pizza chain files for bankruptcy protection",
    "Pizza chain Sbarro files for bankruptcy again",
)
EXCHANGE = (
    "Bitcoin exchange Mt Gox seeks US court shield",
    "Mt Gox bitcoin exchange seeks court shield in US",
)
FOLLOWS = "Mt Gox files for bankruptcy protection in pizza chain's footsteps"
PIZZA_AXIS, EXCHANGE_AXIS = axis(0), axis(1)


def _two_events(settings: ClusterSettings | None = None) -> Stream:
    s = Stream(settings)
    for i, title in enumerate(PIZZA):
        s.add(title, _vector(PIZZA_AXIS, 10 + i))
    for i, title in enumerate(EXCHANGE):
        s.add(title, _vector(EXCHANGE_AXIS, 20 + i))
    assert s.event_of(PIZZA[0]) != s.event_of(EXCHANGE[0])
    return s


def test_the_meaning_chooses_among_the_events_the_words_accept() -> None:
    s = _two_events()
    decision = s.add(FOLLOWS, _vector(EXCHANGE_AXIS, 30))
    assert s.event_of(FOLLOWS) == s.event_of(EXCHANGE[0])
    pizza = s.event_of(PIZZA[0])
    (said,) = [x for x in decision.signals if x.startswith("meaning chose it")]
    # The words preferred the pizza chain (0.60) and accepted both.
    assert f"among 2 events the words accept: 0.92 on average, 0.00 for event {pizza}" in said
    assert "(words 0.60)" in said


def test_off_the_words_choose() -> None:
    s = _two_events(ClusterSettings(meaning_chooses=False))
    decision = s.add(FOLLOWS, _vector(EXCHANGE_AXIS, 30))
    assert s.event_of(FOLLOWS) == s.event_of(PIZZA[0])
    assert not [x for x in decision.signals if x.startswith("meaning chose it")]


def test_the_meaning_adds_no_event_the_words_did_not_accept() -> None:
    # Its words reach only the pizza chain's event; its vector is the exchange's
    # (below ``semantic_support`` with that core, so no proposal either): the
    # words' one candidate stands.
    s = _two_events()
    title = "Pizza chain Sbarro closes restaurants after bankruptcy filing"
    decision = s.add(title, _vector(EXCHANGE_AXIS, 31, noise=0.6))
    assert s.event_of(title) == s.event_of(PIZZA[0])
    assert not [x for x in decision.signals if x.startswith("meaning chose it")]


def test_an_article_with_names_is_left_to_words_and_names() -> None:
    # A body long enough to give names (``min_entity_text``): the names check the
    # words' choice, and the meaning does not choose.
    settings = ClusterSettings(min_entity_text=20)
    s = _two_events(settings)
    body = "The filing was made in New York on Monday. " * 2
    s.n += 1
    from tests import factories  # the Stream's own article, with a body

    article = factories.article(
        FOLLOWS,
        text=body,
        feed="outlet-named",
        published=s.clusterer._now or factories.NOW,
        embedding=_vector(EXCHANGE_AXIS, 32),
    )
    decision = s.clusterer.assign(s.n, article)
    assert not [x for x in decision.signals if x.startswith("meaning chose it")]


def _unit(v: np.ndarray) -> bytes:
    return (v / np.linalg.norm(v)).astype(np.float16).tobytes()


def test_a_loose_core_does_not_win_by_its_spread() -> None:
    # LOOSE's two reports point two ways (orthogonal vectors), TIGHT's two one way.
    # The article's vector: 0.85 with one LOOSE report, 0 with the other, 0.53 with
    # both TIGHT reports. Its cosine with LOOSE's sum is 0.60 (the sum of two
    # orthogonal vectors is short), above TIGHT's 0.53, and the words prefer LOOSE
    # too; its mean cosine with LOOSE's reports is 0.43, below TIGHT's: it joins TIGHT.
    loose = ("Stocks fall on weak China trade data", "Stocks fall as copper slides")
    tight = (
        "Yuan drops as central bank cuts reference rate",
        "Central bank cuts yuan reference rate",
    )
    s = Stream()
    s.add(loose[0], _unit(axis(0)))
    s.add(loose[1], _unit(axis(2)))
    for title in tight:
        s.add(title, _unit(axis(1)))
    assert s.event_of(loose[0]) == s.event_of(loose[1]) != s.event_of(tight[0])
    vector = _unit(0.85 * axis(0) + float(np.sqrt(1 - 0.85**2)) * axis(1))
    meaning = semantic.unpack(vector)
    loose_sum = s.clusterer._clusters[s.event_of(loose[0])].meaning
    assert meaning is not None
    assert loose_sum is not None
    assert semantic.cosine(meaning, loose_sum) > 0.59  # the sum would choose LOOSE
    title = "Stocks fall on weak trade data as copper slides and yuan drops"
    decision = s.add(title, vector)
    assert s.event_of(title) == s.event_of(tight[0])
    (said,) = [x for x in decision.signals if x.startswith("meaning chose it")]
    assert said.endswith(f"0.53 on average, 0.43 for event {s.event_of(loose[0])} (words 0.78)")
