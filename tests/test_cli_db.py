"""The database as an operator meets it: a file from a newer version, a file that is
not a database, and `alerts retry` on an alert a worker is sending right now."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from aggregator.cli import main
from aggregator.store import Store
from aggregator.store.migrate import upgrade
from tests.factories import NOW
from tests.test_delivery import enqueue_two_events


def config_for(tmp_path: Path, db: Path) -> str:
    path = tmp_path / "feeds.yaml"
    path.write_text(f"settings: {{database_url: 'sqlite:///{db}'}}\n")
    return str(path)


def test_a_database_from_a_newer_version_is_a_named_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "agg.db"
    store = Store.open(f"sqlite:///{db}")
    upgrade(store.engine)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    cfg = config_for(tmp_path, db)
    assert main(["--config", cfg, "db", "upgrade"]) == 1
    err = capsys.readouterr().err
    assert "'9999'" in err
    assert "newer version" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["feeds"], ["alerts"], ["search", "x"], ["db", "prune"]])
def test_a_file_that_is_not_a_database_is_a_named_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    db = tmp_path / "agg.db"
    db.write_bytes(b"this is a text file, not a database " * 10)
    assert main(["--config", config_for(tmp_path, db), *command]) == 1
    err = capsys.readouterr().err
    assert err.startswith("database error: ")
    assert "not a database" in err


def test_retry_leaves_an_alert_being_sent_to_its_worker(store: Store) -> None:
    enqueue_two_events(store, ("hook",))
    claimed = store.claim_due_alerts(NOW, owner="worker-a", lease_seconds=120, limit=1)
    assert len(claimed) == 1
    # The operator retries it while worker-a is still sending it.
    assert not store.retry_alert(claimed[0].id, NOW + timedelta(seconds=1))
    # So no other claim can send it a second time meanwhile.
    again = store.claim_due_alerts(
        NOW + timedelta(seconds=2), owner="worker-b", lease_seconds=120, limit=10
    )
    assert claimed[0].id not in {a.id for a in again}
    # A lease that expired (the worker died) is the operator's to retry.
    assert store.retry_alert(claimed[0].id, NOW + timedelta(seconds=121))


def test_cli_retry_of_a_sent_or_unknown_alert_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "agg.db"
    store = Store.open(f"sqlite:///{db}")
    upgrade(store.engine)
    enqueue_two_events(store, ("hook",))
    sent = store.list_alerts()[0]
    store.mark_alert_sent(sent.id, "w", NOW)
    store.close()
    cfg = config_for(tmp_path, db)
    for alert_id in (sent.id, "no-such-alert"):
        assert main(["--config", cfg, "alerts", "retry", alert_id]) == 2
        assert f"no failed or pending alert with id {alert_id!r}" in capsys.readouterr().err
