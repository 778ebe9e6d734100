"""One vocabulary for the API and the CLI: `lang`, the same times (`since=3d`), 404 /
exit 1 for unknown topics, feeds and events, HEAD wherever GET works; and read-only
commands that need no secrets. Real HTTP on 127.0.0.1, both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from aggregator.api import ApiSettings, create_app
from aggregator.cli import main
from aggregator.errors import ConfigError
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
from aggregator.store.migrate import current_revision
from aggregator.when import parse_when
from tests.support.archive_data import T0, kursk_archive, serve_in_thread


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_db_engine(database_url)
    kursk_archive(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def client(engine: Engine) -> Iterator[httpx.Client]:
    app = create_app(Archive(engine), ApiSettings(topics=("korea", "quiet")))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


def _ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    body = response.json()
    items = body["items"] if isinstance(body, dict) else body
    return sorted(i["id"] for i in items)


# -- times -------------------------------------------------------------------------


def test_parse_when_reads_dates_timestamps_and_ages() -> None:
    now = datetime(2026, 1, 10, 12, tzinfo=UTC)
    assert parse_when("2024-11-01", now) == datetime(2024, 11, 1, tzinfo=UTC)
    assert parse_when("2024-11-01T06:30", now) == datetime(2024, 11, 1, 6, 30, tzinfo=UTC)
    assert parse_when("2024-11-01T06:30+02:00", now) == datetime(2024, 11, 1, 4, 30, tzinfo=UTC)
    assert parse_when("3d", now) == now - timedelta(days=3)
    assert parse_when("1h30m", now) == now - timedelta(minutes=90)
    for bad in ("yesterday", "3 parsecs", "", "0001-01-01T00:00+01:00"):
        with pytest.raises(ValueError, match="bad time"):
            parse_when(bad, now)


def test_api_takes_the_cli_s_times(client: httpx.Client) -> None:
    everything = _ids(client.get("/api/v1/articles", params={"order": "date"}))
    assert len(everything) == 5
    # An age: 3d ago is after the whole 2024 archive; 100 weeks * 52 is before it.
    assert _ids(client.get("/api/v1/articles", params={"since": "3d"})) == []
    assert _ids(client.get("/api/v1/articles", params={"since": "5200w"})) == everything
    iso = (T0 + timedelta(hours=4)).isoformat()
    later = _ids(client.get("/api/v1/articles", params={"since": iso}))
    assert len(later) == 1  # Moldova, 5 h after T0
    assert _ids(client.get("/api/v1/articles", params={"until": iso})) == sorted(
        set(everything) - set(later)
    )
    assert _ids(client.get("/api/v1/articles", params={"since": T0.date().isoformat()})) == (
        everything
    )
    bad = client.get("/api/v1/articles", params={"since": "yesterday"})
    assert bad.status_code == 422
    assert "3d" in bad.text


def test_events_filter_by_since_and_outlets(client: httpx.Client) -> None:
    assert _ids(client.get("/api/v1/events")) == [1, 2]
    assert _ids(client.get("/api/v1/events", params={"min_sources": 3})) == [1]
    since = (T0 + timedelta(hours=4)).isoformat()
    assert _ids(client.get("/api/v1/events", params={"since": since})) == [2]
    assert _ids(client.get("/api/v1/events", params={"since": "3d"})) == []
    assert client.get("/api/v1/events", params={"before": "nonsense"}).status_code == 422


def test_lang_is_the_parameter_and_is_applied(client: httpx.Client) -> None:
    fr = _ids(client.get("/api/v1/articles", params={"lang": "fr"}))
    assert len(fr) == 1
    assert _ids(client.get("/api/v1/articles", params={"lang": "xx"})) == []
    # The old name still works, and saying two different things is refused.
    assert _ids(client.get("/api/v1/articles", params={"language": "fr"})) == fr
    both = client.get("/api/v1/articles", params={"lang": "fr", "language": "en"})
    assert both.status_code == 422
    params = client.get("/openapi.json").json()["paths"]["/api/v1/articles"]["get"]["parameters"]
    assert "lang" in {p["name"] for p in params}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/events", {"topic": "nope"}),
        ("/api/v1/articles", {"topic": "nope"}),
        ("/api/v1/articles", {"feed": ["bbc", "nope"]}),
        ("/api/v1/articles", {"cluster": 999}),
        ("/api/v1/topics/nope", {}),
        ("/api/v1/feeds/nope", {}),
        ("/api/v1/events/999", {}),
    ],
)
def test_unknown_names_are_404(client: httpx.Client, path: str, params: dict[str, object]) -> None:
    r = client.get(path, params=params)  # type: ignore[arg-type]
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    assert r.json()["detail"].startswith("no ")


def test_known_names_without_results_are_empty_not_404(client: httpx.Client) -> None:
    # "quiet" is configured but has no matches yet; "broken" has no articles.
    assert client.get("/api/v1/events", params={"topic": "quiet"}).json() == []
    assert _ids(client.get("/api/v1/articles", params={"feed": "broken"})) == []
    assert client.get("/api/v1/topics/quiet").status_code == 200


@pytest.mark.parametrize(
    "path", ["/healthz", "/api/v1/events", "/api/v1/topics", "/api/v1/feeds/bbc", "/openapi.json"]
)
def test_head_works_wherever_get_does(client: httpx.Client, path: str) -> None:
    got = client.get(path)
    head = client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))
    assert client.head("/api/v1/events/999").status_code == 404


def test_head_is_not_a_way_around_a_write_endpoint(client: httpx.Client) -> None:
    assert client.head("/api/v1/alerts/a3/retry").status_code == 405


# -- the CLI -------------------------------------------------------------------------


def _config(tmp_path: Path, database_url: str, extra: str = "") -> Path:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"settings:\n  database_url: {database_url}\n"
        "topics:\n  - name: korea\n    query: korea\n  - name: quiet\n    query: nothing\n" + extra
    )
    return config


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clusters", "--topic", "nope"], "no topic 'nope'"),
        (["search", "kursk", "--topic", "nope"], "no topic 'nope'"),
        (["search", "kursk", "--feed", "bbc", "--feed", "nope"], "no feed 'nope'"),
        (["export", "--feed", "nope"], "no feed 'nope'"),
        (["export", "--topic", "nope"], "no topic 'nope'"),
        (["cluster", "show", "999"], "no event 999"),
        (["feeds", "show", "nope"], "no feed 'nope'"),
    ],
)
def test_cli_unknown_names_are_a_named_error_with_exit_1(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    config = _config(tmp_path, database_url)
    assert main(["--config", str(config), *args]) == 1
    captured = capsys.readouterr()
    assert f"error: {message}" in captured.err
    assert captured.out == ""


def test_cli_reads_times_and_lang_as_the_api_does(
    engine: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_config(tmp_path, database_url))
    assert main(["--config", config, "clusters", "--topic", "quiet"]) == 0
    assert "no events found" in capsys.readouterr().out
    assert main(["--config", config, "clusters", "--since", "3d", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert main(["--config", config, "clusters", "--min-sources", "3", "--json"]) == 0
    assert '"id": 1' in capsys.readouterr().out
    assert main(["--config", config, "search", "soldats", "--lang", "fr", "--json"]) == 0
    assert "Koursk" in capsys.readouterr().out
    assert main(["--config", config, "search", "soldats", "--lang", "en", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"


# -- secrets -------------------------------------------------------------------------

SECRETS = """\
  http:
    token: ${DEMO_API_TOKEN}
feeds:
  - name: paid
    url: https://paid.example/feed.xml
    username: me
    password: ${DEMO_FEED_PASSWORD}
channels:
  - name: hook
    type: webhook
    url: https://hooks.example/in
    secret: ${DEMO_WEBHOOK_SECRET}
alerts:
  - name: korea-hook
    topic: korea
    channels: [hook]
"""
MISSING = "channels[0].secret: environment variable DEMO_WEBHOOK_SECRET is not set"


@pytest.fixture
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a user who has not exported the configuration's secrets."""
    for name in ("DEMO_API_TOKEN", "DEMO_FEED_PASSWORD", "DEMO_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)


def _secret_config(tmp_path: Path, database_url: str) -> Path:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"settings:\n  database_url: {database_url}\n{SECRETS}"
        "topics:\n  - name: korea\n    query: korea\n"
    )
    return config


@pytest.mark.parametrize(
    "args",
    [
        ["clusters"],
        ["search", "kursk"],
        ["cluster", "show", "1"],
        ["feeds"],
        ["feeds", "show", "bbc"],
        ["export", "--topic", "korea"],
        ["alerts"],
        ["db", "upgrade"],
    ],
)
def test_read_only_commands_need_no_secrets(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    no_secrets: None,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    config = _secret_config(tmp_path, database_url)
    assert main(["--config", str(config), *args]) == 0, capsys.readouterr().err
    assert "not set" not in capsys.readouterr().err
    assert current_revision(engine) is not None


@pytest.mark.parametrize("args", [["alerts", "test", "korea-hook"], ["config", "check"]])
def test_what_uses_the_secret_stops_with_the_same_message(
    database_url: str,
    tmp_path: Path,
    no_secrets: None,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    config = _secret_config(tmp_path, database_url)
    assert main(["--config", str(config), *args]) == 2
    err = capsys.readouterr().err
    assert MISSING in err
    assert "environment variable DEMO_FEED_PASSWORD is not set" in err


@pytest.mark.parametrize("args", [["run"], ["poll"]])
def test_polling_needs_the_feeds_secrets_but_not_the_channels(
    database_url: str,
    tmp_path: Path,
    no_secrets: None,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    config = _secret_config(tmp_path, database_url)
    assert main(["--config", str(config), *args]) == 2
    err = capsys.readouterr().err
    assert "feeds[0].password: environment variable DEMO_FEED_PASSWORD is not set" in err
    assert "DEMO_WEBHOOK_SECRET" not in err


def test_the_daemon_defers_a_channel_whose_secret_is_missing() -> None:
    from aggregator.compose import load_config

    text = (
        "topics:\n  - name: t\n    query: x\n"
        "channels:\n  - name: mail\n    type: email\n    host: 127.0.0.1\n"
        "    from: a@b.example\n    to: [c@d.example]\n"
        "  - name: hook\n    type: webhook\n    url: https://h.example/\n"
        "    secret: ${DEMO_WEBHOOK_SECRET}\n"
        "alerts:\n  - name: r\n    topic: t\n    channels: [hook, mail]\n"
    )
    loaded = load_config(None, text=text, env={}, defer_channels=True)
    assert [c.name for c in loaded.config.channels] == ["mail"]
    assert loaded.unavailable_channels == (
        ("hook", "channels[1].secret: environment variable DEMO_WEBHOOK_SECRET is not set"),
    )
    assert loaded.config.alerts[0].channels == ("hook", "mail")
    # Without deferral (config check, alerts test) it is the usual refusal.
    with pytest.raises(ConfigError) as err:
        load_config(None, text=text, env={})
    assert "channels[1].secret: environment variable DEMO_WEBHOOK_SECRET is not set" in (
        err.value.problems
    )
    # Anything else wrong is still refused in the daemon's reading too.
    with pytest.raises(ConfigError) as err:
        load_config(None, text=text + "bogus: 1\n", env={}, defer_channels=True)
    assert err.value.problems == ("bogus: unknown key",)


def test_a_read_only_command_still_refuses_a_broken_file(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("DEMO_WEBHOOK_SECRET", raising=False)
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"settings:\n  database_url: {database_url}\n"
        "channels:\n  - name: hook\n    type: webhook\n    url: https://h.example/\n"
        "    secret: ${DEMO_WEBHOOK_SECRET}\n    colour: red\n"
    )
    assert main(["--config", str(config), "clusters"]) == 2
    err = capsys.readouterr().err
    assert "channels[0].colour: unknown key" in err
    assert "DEMO_WEBHOOK_SECRET" not in err


def test_sections_are_left_out_only_when_a_secret_they_need_is_missing() -> None:
    from aggregator.compose import load_config

    text = (
        "topics:\n  - name: t\n    query: x\n"
        "channels:\n  - name: hook\n    type: webhook\n    url: https://h.example/\n"
        "    secret: ${DEMO_WEBHOOK_SECRET}\n"
        "alerts:\n  - name: r\n    topic: t\n    channels: [hook]\n"
    )
    leave = ("channels", "alerts")
    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    whole = load_config(None, text=text, env={"DEMO_WEBHOOK_SECRET": secret}, leave_out=leave)
    assert whole.left_out == ()
    assert [c.name for c in whole.config.channels] == ["hook"]
    partial = load_config(None, text=text, env={}, leave_out=leave)
    assert partial.left_out == leave
    assert partial.config.channels == ()
    assert [t.name for t in partial.config.topics] == ["t"]
