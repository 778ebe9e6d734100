"""Pairwise and BCubed precision / recall / F1 of a clustering against gold labels.

    python benchmarks/cluster_scoring.py GOLD.jsonl PRED.jsonl [--json]

Both files are JSON Lines with an ``id`` and a ``cluster`` (string or integer; the
id 7 and "7" are the same id). Every gold id must be predicted exactly once and no
other id may be: anything else is a ``ScoreError`` (exit status 2, message on stderr).

The metrics are the ones the benchmark data's scorer computes (the project's
``eval_clusters.py`` tool, written for these data sets), reimplemented here so that
the repository needs nothing beside it:

* pairwise (Miranda et al., EMNLP 2018, "Multilingual Clustering of Streaming
  News"): an unordered pair of distinct items is a true positive when it shares a
  gold and a predicted cluster; P = TP / predicted pairs, R = TP / gold pairs;
* BCubed (Bagga and Baldwin 1998; Amigó et al. 2009): per item, the share of its
  predicted cluster in its gold cluster (precision) and of its gold cluster in its
  predicted cluster (recall), averaged over the items.

Both come from the contingency table of (gold, predicted) cell sizes, so scoring is
linear in the number of items. A ratio with a zero denominator is 0.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Label = tuple[str, str | int]  # (type name, value): the integer 7 and "7" differ as clusters


class ScoreError(Exception):
    """Input that cannot be scored; the message says why."""


def _label(value: object, where: str, field: str) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ScoreError(f'{where}: "{field}" must be a string or an integer, got {value!r}')
    return value


def read_assignments(path: Path) -> dict[str, Label]:
    """{id: cluster label} from a JSON Lines file (blank lines skipped)."""
    out: dict[str, Label] = {}
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ScoreError(f"cannot open {path}: {exc.strerror or exc}") from exc
    with handle:
        for lineno, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            where = f"{path} line {lineno}"
            try:
                obj = json.loads(text)
            except ValueError as exc:
                raise ScoreError(f"{where}: not valid JSON ({exc})") from exc
            if not isinstance(obj, dict):
                raise ScoreError(f"{where}: expected a JSON object")
            for field in ("id", "cluster"):
                if field not in obj:
                    raise ScoreError(f'{where}: missing "{field}"')
            key = str(_label(obj["id"], where, "id"))
            if key in out:
                raise ScoreError(f"{where}: duplicate id {obj['id']!r}")
            cluster = _label(obj["cluster"], where, "cluster")
            out[key] = (type(cluster).__name__, cluster)
    if not out:
        raise ScoreError(f"{path}: no items")
    return out


def _some(ids: set[str], limit: int = 5) -> str:
    shown = sorted(ids)[:limit]
    rest = len(ids) - len(shown)
    return ", ".join(repr(i) for i in shown) + (f" and {rest} more" if rest > 0 else "")


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score(gold: Mapping[str, Any], pred: Mapping[str, Any]) -> dict[str, Any]:
    """Counts and metrics of ``pred`` against ``gold`` (both {id: hashable label})."""
    missing = gold.keys() - pred.keys()
    extra = pred.keys() - gold.keys()
    problems = []
    if missing:
        problems.append(f"{len(missing)} gold id(s) missing from the prediction: {_some(missing)}")
    if extra:
        problems.append(f"{len(extra)} predicted id(s) not in the gold file: {_some(extra)}")
    if problems:
        raise ScoreError("; ".join(problems))
    cells = Counter((gold[i], pred[i]) for i in gold)
    gold_sizes = Counter(gold.values())
    pred_sizes = Counter(pred.values())
    n = len(gold)
    tp = sum(math.comb(c, 2) for c in cells.values())
    gold_pairs = sum(math.comb(c, 2) for c in gold_sizes.values())
    pred_pairs = sum(math.comb(c, 2) for c in pred_sizes.values())
    p = _ratio(tp, pred_pairs)
    r = _ratio(tp, gold_pairs)
    bp = math.fsum(c * c / pred_sizes[pk] for (_, pk), c in cells.items()) / n
    br = math.fsum(c * c / gold_sizes[gk] for (gk, _), c in cells.items()) / n
    return {
        "items": n,
        "gold_clusters": len(gold_sizes),
        "pred_clusters": len(pred_sizes),
        "gold_singletons": sum(1 for c in gold_sizes.values() if c == 1),
        "pred_singletons": sum(1 for c in pred_sizes.values() if c == 1),
        "pairwise": {
            "tp": tp,
            "fp": pred_pairs - tp,
            "fn": gold_pairs - tp,
            "gold_pairs": gold_pairs,
            "pred_pairs": pred_pairs,
            "precision": p,
            "recall": r,
            "f1": _f1(p, r),
        },
        "bcubed": {"precision": bp, "recall": br, "f1": _f1(bp, br)},
    }


def report(res: Mapping[str, Any]) -> str:
    pw, bc = res["pairwise"], res["bcubed"]
    return "\n".join(
        [
            f"items            {res['items']}",
            f"gold clusters    {res['gold_clusters']} ({res['gold_singletons']} singletons)",
            f"pred clusters    {res['pred_clusters']} ({res['pred_singletons']} singletons)",
            f"pairs            TP={pw['tp']} FP={pw['fp']} FN={pw['fn']} "
            f"(gold pairs {pw['gold_pairs']}, predicted pairs {pw['pred_pairs']})",
            "",
            "            precision  recall      F1",
            f"pairwise    {pw['precision']:9.4f}  {pw['recall']:6.4f}  {pw['f1']:6.4f}",
            f"BCubed      {bc['precision']:9.4f}  {bc['recall']:6.4f}  {bc['f1']:6.4f}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Pairwise and BCubed P/R/F1 of a clustering.")
    ap.add_argument("gold", type=Path, help="gold JSON Lines (id, cluster)")
    ap.add_argument("pred", type=Path, help="predicted JSON Lines (id, cluster)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    try:
        res = score(read_assignments(args.gold), read_assignments(args.pred))
    except ScoreError as exc:
        print(f"cluster_scoring: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(res, sort_keys=True) if args.json else report(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
