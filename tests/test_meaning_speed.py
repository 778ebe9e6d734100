"""The meaning rules' fast paths decide exactly what the plain ones did.

``MeaningIndex.ranked`` orders only the nearest rows unless a caller reads past them
and keeps the last query's cosines while the matrix is unchanged; an event keeps its
meaning's norm (for its cosine with each article and its unit meaning);
``semantic.lead_text`` splits only the start of a long text. Each must give the same
floats in the same order as the plain computation (as the clusterer had it), so that
not one decision changes: these tests hold them to it, directly and on a stream of
articles with vectors in two scripts, decision by decision.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from aggregator import semantic
from aggregator.models import Article, ClusterDecision
from aggregator.process.clustering import Clusterer, ClusterSettings, engine, proposal
from tests import factories

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def plain_ranked(
    self: proposal.MeaningIndex, meaning: semantic.Vector
) -> Iterator[tuple[float, int]]:
    """``ranked`` as it was: every row's cosine, every row sorted, on every call."""
    used = len(self._owner)
    if not self._row:
        return
    cosines = np.empty(used, dtype=np.float32)
    for start in range(0, used, proposal._BLOCK):
        end = min(start + proposal._BLOCK, used)
        cosines[start:end] = self._rows[start:end] @ meaning
    cosines *= self._inverse_norms[:used]
    owner = self._owner
    for i in np.argsort(-cosines, kind="stable").tolist():
        if owner[i] >= 0:
            yield float(cosines[i]), owner[i]


def plain_meaning_cosine(
    self: Clusterer, meaning: semantic.Vector | None, cluster: object
) -> float | None:
    total = getattr(cluster, "meaning", None)
    if meaning is None or total is None:
        return None
    return semantic.cosine(meaning, total)


def plain_unit(cluster: engine._Cluster) -> semantic.Vector:
    """An event's unit meaning as it was: its norm computed again each time."""
    total = cluster.meaning
    assert total is not None
    norm = float(np.linalg.norm(total))
    unit: semantic.Vector = total / norm if norm > 0.0 else total
    return unit


def plain_lead_text(title: str, text: str, lead_chars: int = semantic.LEAD_CHARS) -> str:
    body = " ".join(text.split())
    if len(body) > lead_chars:
        cut = body[:lead_chars]
        body = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return f"{title.strip()}\n{body}" if body else title.strip()


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(semantic.DIM)
    return v / np.linalg.norm(v)


def test_ranked_is_the_full_stable_order_read_partly_or_wholly() -> None:
    rng = np.random.default_rng(3)
    pyrng = random.Random(3)
    for size in (1, 2, 31, 32, 33, 40, 300):
        index = proposal.MeaningIndex()
        # Few distinct rows: ties at every cut, the 32nd included.
        palette = [_unit(rng).astype(np.float32) for _ in range(5)]
        for cid in range(size):
            index.set(cid, palette[pyrng.randrange(5)] * pyrng.choice((1.0, 2.0, 3.0)))
        for cid in pyrng.sample(range(size), size // 4):
            index.drop(cid)  # free rows among the used ones
        for _ in range(20):
            query = palette[pyrng.randrange(5)] if pyrng.random() < 0.5 else _unit(rng)
            query = query.astype(np.float32)
            full = list(plain_ranked(index, query))
            assert list(index.ranked(query)) == full
            k = pyrng.randrange(0, size + 2)
            assert list(itertools_islice(index.ranked(query), k)) == full[:k]
            # A change of the matrix is seen by the next query (no stale cosines).
            cid = pyrng.randrange(size + 3)
            if pyrng.random() < 0.5:
                index.set(cid, palette[pyrng.randrange(5)])
            else:
                index.drop(cid)
            assert list(index.ranked(query)) == list(plain_ranked(index, query))


def itertools_islice(it: Iterator[tuple[float, int]], k: int) -> Iterator[tuple[float, int]]:
    for _, item in zip(range(k), it, strict=False):
        yield item


def test_set_returns_the_norm_semantic_cosine_divides_by() -> None:
    rng = np.random.default_rng(8)
    index = proposal.MeaningIndex()
    total = sum(
        (_unit(rng).astype(np.float32) for _ in range(5)), np.zeros(semantic.DIM, np.float32)
    )
    assert index.set(1, total) == float(np.linalg.norm(total))
    assert index.set(2, np.zeros(semantic.DIM, np.float32)) == 0.0


def test_lead_text_reads_only_the_start_as_the_whole_split_did() -> None:
    rng = random.Random(4)
    spaces = [" ", " ", " ", "\n", "\n\n", "\t", "\u00a0", "\u2003", "  \r\n "]
    for _ in range(400):
        words = [
            "".join(rng.choice("abcdefgh") for _ in range(rng.choice((1, 3, 7, 30, 500))))
            for _ in range(rng.randrange(0, 120))
        ]
        text = "".join(w + rng.choice(spaces) * rng.choice((1, 1, 1, 40)) for w in words)
        if rng.random() < 0.5:
            text = rng.choice(spaces) * rng.randrange(0, 900) + text
        if rng.random() < 0.5:
            text = text.rstrip()
        chars = rng.choice((0, 1, 5, 50, 400, 401))
        assert semantic.lead_text("  A title ", text, chars) == plain_lead_text(
            "  A title ", text, chars
        )


# A Latin and a Cyrillic alphabet: two scripts, so the rules across scripts run too.
LATIN = "abdegiklmnoprstuvz"
CYRILLIC = "абдегиклмнопрстуўз"


def _stream(seed: int, n: int) -> Iterator[Article]:
    """Events reported in English and Russian, each article with a vector: a common
    part (e5's high baseline), its event's direction and its own, in float16."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    common = {lang: _unit(nrng) for lang in ("en", "ru")}
    background = ["".join(rng.choice(LATIN) for _ in range(6)) for _ in range(300)]
    events: list[tuple[list[str], np.ndarray, str]] = []
    for i in range(n):
        if not events or rng.random() < 0.1:
            number = str(rng.randrange(2, 90) * 100)
            events.append((rng.sample(background[150:], 8), _unit(nrng), number))
        words, direction, number = events[-1 - min(int(rng.expovariate(0.4)), len(events) - 1)]
        lang = "ru" if rng.random() < 0.25 else "en"
        table = str.maketrans(LATIN, CYRILLIC) if lang == "ru" else None
        title = " ".join([*rng.sample(words, 3), *rng.choices(background[:150], k=4)])
        body = ". ".join(
            " ".join([*rng.choices(background, k=9), *rng.sample(words, 2), number]).capitalize()
            for _ in range(rng.choice((1, 4, 10)))
        )
        if table is not None:
            title, body = title.translate(table), body.translate(table)
        noise = rng.uniform(0.03, 0.2)
        v = (
            np.sqrt(0.8 - noise / 2) * common[lang]
            + np.sqrt(0.2 - noise / 2) * direction
            + np.sqrt(noise) * _unit(nrng)
        )
        v /= np.linalg.norm(v)
        article = factories.article(
            title.capitalize(),
            text=body,
            feed=f"outlet{rng.randrange(12)}",
            url=f"https://example.org/{i}",
            canonical_url=None,
            summary="",
            html="",
            published=T0 + timedelta(minutes=40 * i + rng.randrange(-60, 5)),
            fetched_at=T0,
            content_hash=str(i),
        )
        yield dataclasses.replace(article, language=lang, embedding=v.astype(np.float16).tobytes())


def _decisions(articles: list[Article], settings: ClusterSettings) -> list[ClusterDecision]:
    clusterer = Clusterer(settings)
    return [
        clusterer.assign(i, art, duplicate_of=i - 3 if i % 10 == 9 else None)
        for i, art in enumerate(articles)
    ]


@pytest.mark.parametrize(
    "settings",
    [
        ClusterSettings(),
        # Looser levels: the vector proposes, rejoins and merges far more often.
        ClusterSettings(semantic_support=0.85, crosslingual_support=0.6, meaning_margin=0.005),
    ],
)
def test_meaning_rules_decide_as_the_plain_ones(
    settings: ClusterSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    articles = list(_stream(5, 500))
    fast = _decisions(articles, settings)
    with monkeypatch.context() as m:
        m.setattr(proposal.MeaningIndex, "ranked", plain_ranked)
        m.setattr(Clusterer, "_meaning_cosine", plain_meaning_cosine)
        m.setattr(semantic, "lead_text", plain_lead_text)
        m.setattr(engine, "_unit", plain_unit)
        plain = _decisions(articles, settings)
    assert fast == plain
    # The paths that matter were taken: the vector choosing among the words' events,
    # its proposals across languages (refused, said why), its veto across scripts,
    # bridged merges it refused.
    said = " | ".join(s for d in fast for s in d.signals)
    for path in ("meaning chose it", "nearest by meaning", "other scripts", "not merged"):
        assert path in said
    assert 10 < sum(d.is_new for d in fast) < 400
