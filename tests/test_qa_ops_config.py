"""A demanding operator's feeds.yaml: every bad line is named with its path and exit
status 2, never a traceback, never a hang, never a file `config check` passes and the
daemon then refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.cli import main
from aggregator.compose import load_config
from aggregator.errors import ConfigError

HOOK = (
    "{name: hook, type: webhook, url: 'http://127.0.0.1:9/h', "
    "secret: whsec_c2VjcmV0c2VjcmV0c2VjcmV0}"
)


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(None, text=text, env=env or {})
    return err.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("feeds: 5", "feeds: Input should be a valid tuple"),
        ("topics: 5", "topics: Input should be a valid tuple"),
        ("alerts: 5", "alerts: Input should be a valid tuple"),
        (
            "topics: [{name: t, query: x}]\nalerts: [{name: a, topic: t, channels: 5}]",
            "alerts[0].channels: Input should be a valid tuple",
        ),
    ],
)
def test_a_section_that_is_not_a_list_is_named_not_a_crash(text: str, expected: str) -> None:
    assert expected in problems(text)


def test_a_yaml_alias_bomb_is_refused_quickly() -> None:
    lines = ["a: &a [" + ", ".join(["x"] * 9) + "]"]
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    lines.append("feeds: *i")
    found = problems("\n".join(lines))
    assert len(found) == 1
    assert "YAML aliases" in found[0]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("poll.tick", "0s", "settings.poll.tick: must be a positive duration"),
        ("poll.lease", "0", "settings.poll.lease: must be a positive duration"),
        ("delivery.tick", "0", "settings.delivery.tick: must be a positive duration"),
        ("delivery.lease", "0s", "settings.delivery.lease: must be a positive duration"),
        ("poll.total_timeout", "0", "settings.poll.total_timeout: must be a positive duration"),
        ("poll.tick", ".nan", "settings.poll.tick: bad duration nan: not a finite number"),
        ("delivery.lease", ".inf", "settings.delivery.lease: bad duration inf"),
        ("poll.tick", "99999999999999999999999d", "longer than 100 years"),
        ("poll.max_body", "'0'", "settings.poll.max_body: bad size '0'"),
        ("poll.max_body", "0.1B", "settings.poll.max_body: bad size '0.1B'"),
    ],
)
def test_durations_and_sizes_the_daemon_cannot_run_with(
    key: str, value: str, expected: str
) -> None:
    section, name = key.split(".")
    found = problems(f"settings: {{{section}: {{{name}: {value}}}}}")
    assert any(expected in p for p in found), found


def test_a_channel_the_daemon_would_refuse_fails_the_check_with_its_path() -> None:
    text = f"""
channels:
  - {{name: hook, type: webhook, url: 'http://127.0.0.1:9/h', secret: 'not base64!!'}}
  - {{name: mail, type: email, host: h, from: a@example.org, to: [b@example.org],
     username: someone}}
  - {HOOK.replace("name: hook", "name: hook2").replace("}", ", timeout: 0}")}
"""
    found = problems(text)
    assert "channels[0].secret: must be 'whsec_' followed by base64" in found
    assert "channels[1].username/password: give both or neither" in found
    assert "channels[2].timeout: must be a positive duration" in found


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("garbage", "settings.database_url: not a database URL"),
        ("mysql://db/x", "settings.database_url: unsupported database 'mysql'"),
    ],
)
def test_a_database_url_that_cannot_work_is_a_config_problem(url: str, expected: str) -> None:
    found = problems(f"settings: {{database_url: '{url}'}}")
    assert any(expected in p for p in found), found


def test_the_database_url_from_the_environment_is_checked_under_its_name() -> None:
    found = problems("", env={"AGGREGATOR_DATABASE_URL": "nope"})
    assert any(p.startswith("AGGREGATOR_DATABASE_URL: not a database URL") for p in found)


def test_cli_reports_a_non_list_section_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: 5\n")
    assert main(["--config", str(path), "config", "check"]) == 2
    assert main(["--config", str(path), "feeds"]) == 2
    err = capsys.readouterr().err
    assert "feeds: Input should be a valid tuple" in err
    assert "Traceback" not in err
