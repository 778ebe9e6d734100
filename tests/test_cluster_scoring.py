"""The benchmark scorer: pairwise and BCubed figures worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.benchmarks import load_benchmark

sc = load_benchmark("cluster_scoring")
GOLD = {"1": "A", "2": "A", "3": "A", "4": "B", "5": "B"}  # 3 + 1 = 4 gold pairs


def test_perfect_under_other_names() -> None:
    res = sc.score(GOLD, {"1": 7, "2": 7, "3": 7, "4": 9, "5": 9})
    assert (res["pairwise"]["tp"], res["pairwise"]["fp"], res["pairwise"]["fn"]) == (4, 0, 0)
    assert res["pairwise"]["f1"] == 1.0
    assert res["bcubed"]["f1"] == 1.0


def test_one_big_cluster() -> None:
    res = sc.score(GOLD, dict.fromkeys(GOLD, "all"))
    # 10 predicted pairs, 4 of them true.
    assert res["pairwise"]["precision"] == pytest.approx(0.4)
    assert res["pairwise"]["recall"] == 1.0
    # BCubed precision: A items 3/5 each, B items 2/5 each -> (9/5 + 4/5) / 5.
    assert res["bcubed"]["precision"] == pytest.approx(13 / 25)
    assert res["bcubed"]["recall"] == 1.0


def test_all_singletons() -> None:
    res = sc.score(GOLD, {i: i for i in GOLD})
    assert res["pairwise"]["precision"] == 0.0  # no predicted pair: 0 by definition
    assert res["pairwise"]["f1"] == 0.0
    assert res["bcubed"]["precision"] == 1.0
    assert res["bcubed"]["recall"] == pytest.approx((3 * (1 / 3) + 2 * (1 / 2)) / 5)
    assert res["pred_singletons"] == 5


def test_missing_and_extra_ids_are_named(tmp_path: Path) -> None:
    with pytest.raises(sc.ScoreError, match=r"missing.*'5'.*not in the gold file.*'9'"):
        sc.score(GOLD, {"1": 1, "2": 1, "3": 1, "4": 2, "9": 2})
    bad = tmp_path / "pred.jsonl"
    bad.write_text(json.dumps({"id": True, "cluster": 1}) + "\n")
    with pytest.raises(sc.ScoreError, match="must be a string or an integer"):
        sc.read_assignments(bad)


def test_files_int_and_str_ids_are_one_id(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    pred = tmp_path / "pred.jsonl"
    gold.write_text(
        "".join(json.dumps({"id": int(k), "cluster": v}) + "\n" for k, v in GOLD.items())
    )
    pred.write_text("".join(json.dumps({"id": k, "cluster": v}) + "\n" for k, v in GOLD.items()))
    assert sc.main([str(gold), str(pred), "--json"]) == 0
    res = sc.score(sc.read_assignments(gold), sc.read_assignments(pred))
    assert res["pairwise"]["f1"] == 1.0
