"""`aggregator cluster show` on a stored archive: merges and why each report joined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update

from aggregator.cli import main
from aggregator.store import create_db_engine
from aggregator.store.schema import articles
from tests.support.archive_data import kursk_archive


def test_cluster_show_names_merged_events_and_their_starters(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_db_engine(database_url)
    try:
        b = kursk_archive(engine)
        joined = b.article("bbc", "Troops reach the front", cluster=1)
        with engine.begin() as conn:
            conn.execute(
                update(articles)
                .where(articles.c.id == joined)
                .values(cluster_score=0.42, cluster_terms=json.dumps(["troops", "kursk"]))
            )
    finally:
        engine.dispose()
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  database_url: {database_url}\nfeeds: []\n")

    assert main(["--config", str(config), "cluster", "show", "3", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "(event 3 was merged into 1)" in out
    assert "merged in: event 3 (a report matched both)" in out
    assert "why: score 0.420, matched: troops, kursk" in out
    assert "why: started one of the merged events" in out
    assert "why: started the event" not in out

    assert main(["--config", str(config), "cluster", "show", "2", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "merged in" not in out
    assert "why: started the event" in out


def test_cluster_show_explain_prints_the_signals_that_decided(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_db_engine(database_url)
    try:
        b = kursk_archive(engine)
        joined = b.article("bbc", "Troops reach the front", cluster=1)
        why = {
            "terms": ["troops", "kursk"],
            "signals": ["names agree 0.81: kursk, pentagon, 8,000"],
        }
        with engine.begin() as conn:
            conn.execute(
                update(articles)
                .where(articles.c.id == joined)
                .values(cluster_score=0.42, cluster_terms=json.dumps(why))
            )
    finally:
        engine.dispose()
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  database_url: {database_url}\nfeeds: []\n")

    assert main(["--config", str(config), "cluster", "show", "1", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "why: score 0.420, matched: troops, kursk\n" in out
    assert "           names agree 0.81: kursk, pentagon, 8,000\n" in out
    assert main(["--config", str(config), "cluster", "show", "1", "--explain", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["explain"][str(joined)]["signals"] == why["signals"]
