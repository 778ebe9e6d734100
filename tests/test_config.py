from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.cli import main
from aggregator.compose import load_config, user_agent
from aggregator.config import DEFAULT_DATABASE_URL, parse_duration, parse_size
from aggregator.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def problems_of(text: str, env: dict[str, str] | None = None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        load_config(None, text=text, env=env or {})
    return info.value.problems


def test_shipped_feeds_yaml_is_valid() -> None:
    loaded = load_config(ROOT / "feeds.yaml", env={})
    cfg = loaded.config
    assert len(cfg.feeds) >= 12
    assert any(t.name == "nk-troops-russia" for t in cfg.topics)
    assert loaded.database_url == DEFAULT_DATABASE_URL
    # every format the issue names is represented
    urls = " ".join(f.url for f in cfg.feeds)
    assert "rdf" in urls
    assert "feed=atom" in urls


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800), (90, 90), ("1.5h", 5400)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5 minutes", "m5", "-3s", "1h junk", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_sizes() -> None:
    assert parse_size("10MiB") == 10 * 1024 * 1024
    assert parse_size("500 KB") == 500_000
    assert parse_size(2048) == 2048
    with pytest.raises(ValueError, match="size"):
        parse_size("ten megs")


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    text = """
settings:
  poll:
    tick: soon
    colour: blue
feeds:
  - name: A
    url: https://a.example/feed
  - name: A
    url: ftp://b.example/feed
  - name: C
    url: https://c.example/feed
    interval: 1 fortnight
  - url: https://d.example/feed
topics:
  - name: t
    query: "korea"
alerts:
  - name: r
    topic: nope
    channels: [ops-mail]
bogus: 1
"""
    problems = problems_of(text)
    joined = "\n".join(problems)
    assert "settings.poll.tick: bad duration 'soon'" in joined
    assert "settings.poll.colour: unknown key" in joined
    assert "feeds[1].name: duplicate name 'A' (first at feeds[0])" in joined
    assert "feeds[1].url: not an http(s) URL" in joined
    assert "feeds[2].interval: bad duration" in joined
    assert "feeds[3].name: Field required" in joined
    assert "alerts[0].topic: unknown topic 'nope'" in joined
    assert "alerts[0].channels[0]: unknown channel 'ops-mail'" in joined
    assert "bogus: unknown key" in joined


def test_env_substitution_and_missing_variables() -> None:
    text = """
settings:
  database_url: ${DB_URL}
  contact: ${CONTACT:-ops@example.org}
feeds:
  - name: a
    url: https://${HOST}/feed
"""
    loaded = load_config(None, text=text, env={"DB_URL": "sqlite:///x.db", "HOST": "h.example"})
    assert loaded.database_url == "sqlite:///x.db"
    assert loaded.config.settings.contact == "ops@example.org"
    assert loaded.config.feeds[0].url == "https://h.example/feed"
    problems = problems_of(text, env={})
    assert "settings.database_url: environment variable DB_URL is not set" in problems
    assert "feeds[0].url: environment variable HOST is not set" in problems


def test_database_url_from_environment_wins() -> None:
    loaded = load_config(
        None,
        text="settings: {database_url: 'sqlite:///a.db'}",
        env={"AGGREGATOR_DATABASE_URL": "postgresql+psycopg://u@h/db"},
    )
    assert loaded.database_url == "postgresql+psycopg://u@h/db"


def test_yaml_syntax_error_names_the_line() -> None:
    (problem,) = problems_of("feeds:\n  - name: a\n   url: [oops\n")
    assert problem.startswith("line ")
    assert "YAML syntax error" in problem


def test_semantic_checks() -> None:
    text = """
settings: {poll: {min_interval: 2h, max_interval: 1h}}
feeds: [{name: a, url: "https://a.example/", interval: 10s}]
"""
    problems = problems_of(text)
    assert "settings.poll.min_interval: larger than max_interval" in problems
    assert "feeds[0].interval: below the 1-minute floor" in problems


def test_user_agent_is_descriptive() -> None:
    ua = user_agent("mailto:ops@example.org")
    assert ua.startswith("aggregator/")
    assert "+http" in ua
    assert "ops@example.org" in ua
    assert "Mozilla" not in ua


def test_cli_config_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("feeds: [{name: a, url: 'https://a.example/feed'}]\n")
    assert main(["config", "check", str(good)]) == 0
    assert "OK — 1 feeds" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds: [{name: a, url: 'nope'}, {name: a, url: 'https://x.example'}]\n")
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "invalid configuration (2 problems)" in err
    assert "feeds[0].url: not an http(s) URL: 'nope'" in err
    assert "feeds[1].name: duplicate name 'a'" in err
    assert main(["config", "check", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_run_refuses_invalid_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds: [{name: a, url: 'nope'}]\n")
    assert main(["--config", str(bad), "run"]) == 2
    assert "feeds[0].url" in capsys.readouterr().err


def test_shipped_topic_is_the_tested_query() -> None:
    from aggregator.query import parse_query

    cfg = load_config(ROOT / "feeds.yaml", env={}).config
    tested = (ROOT / "tests" / "data" / "query" / "north_korean_troops.query").read_text()
    (topic,) = (t for t in cfg.topics if t.name == "nk-troops-russia")
    assert parse_query(topic.query).root == parse_query(tested).root


def test_channels_and_rules_are_typed_and_checked() -> None:
    text = """
topics:
  - {name: nk, query: '"north korea" AND (troops'}
  - {name: ok, query: 'kursk'}
channels:
  - {name: mail, type: email, host: smtp.example.org, from: a@example.org, to: [nobody]}
  - {name: hook, type: webhook, url: 'ftp://x', secret: short}
  - {name: pager, type: sms}
alerts:
  - {name: r1, topic: ok, trigger: digest, channels: [mail]}
  - {name: r2, topic: ok, trigger: new_event, channels: [hook], quiet_hours: '22-7'}
  - {name: r3, topic: ok, trigger: min_sources, min_sources: 0, channels: [mail],
     timezone: Mars/Olympus}
"""
    problems = "\n".join(problems_of(text))
    assert "topics[0].query: " in problems
    assert "at position" in problems
    assert "channels[0].to: not an email address: 'nobody'" in problems
    assert "channels[1].url: not an http(s) URL" in problems
    assert "channels[1].secret" in problems
    assert "channels[2]: Input tag 'sms'" in problems
    assert "alerts[0].schedule: a digest rule needs a cron schedule" in problems
    assert "alerts[1].quiet_hours: expected HH:MM-HH:MM" in problems
    assert "alerts[2].min_sources" in problems


def test_a_valid_rule_set_loads(tmp_path: Path) -> None:
    text = """
topics: [{name: nk, query: 'kursk'}]
channels:
  - {name: mail, type: email, host: 127.0.0.1, port: 2525, security: none,
     from: a@example.org, to: [b@example.org], username: a, password: '${PW}'}
  - {name: hook, type: webhook, url: 'http://127.0.0.1:9/h', secret: '${SECRET}'}
alerts:
  - {name: r, topic: nk, channels: [mail, hook], quiet_hours: '22:00-07:00',
     timezone: Europe/Berlin, throttle: 10m, max_per_hour: 5}
  - {name: d, topic: nk, trigger: digest, schedule: '0 7 * * 1-5', channels: [mail]}
"""
    loaded = load_config(
        None, text=text, env={"PW": "pw", "SECRET": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0"}
    )
    mail = loaded.config.channel("mail")
    assert mail is not None
    assert mail.type == "email"
    assert mail.password == "pw"
    assert "pw" not in repr(mail)
    from aggregator.compose import alert_rules

    rules = {r.name: r for r in alert_rules(loaded)}
    assert rules["r"].quiet_hours is not None
    assert rules["r"].throttle is not None
    assert rules["d"].digest_cron == "0 7 * * 1-5"


def test_clustering_and_dedup_settings_reach_the_stages() -> None:
    from datetime import timedelta

    from aggregator.compose import consumer_settings

    text = """
settings:
  clustering: {threshold: 0.1, max_silence: 12h, window: 1d}
  dedup: {window: 2d, min_containment: 0.7}
"""
    settings = consumer_settings(load_config(None, text=text, env={}))
    assert settings.cluster.threshold == 0.1
    assert settings.cluster.max_silence == timedelta(hours=12)
    assert settings.cluster.merge_threshold == 0.35  # untouched: the stage's default
    assert settings.dedup.window == timedelta(days=2)
    assert settings.dedup.min_containment == 0.7
    problems = problems_of("settings: {clustering: {window: 1h, max_silence: 2h, threshold: 2}}")
    assert "settings.clustering.threshold: must be in (0, 1]" in problems
    assert "settings.clustering.window: must be at least max_silence" in problems


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("clustering: {thresold: 0.1}", "settings.clustering.thresold: unknown key"),
        ("clustering: {threshold: high}", "settings.clustering.threshold: expected a number"),
        ("clustering: {max_terms: 2.5}", "settings.clustering.max_terms: expected a whole number"),
        ("clustering: {url_weight: -1}", "settings.clustering.url_weight: must not be negative"),
        ("clustering: {window: soon}", "settings.clustering.window: bad duration"),
        ("clustering: {threshold: true}", "settings.clustering.threshold: expected a number"),
        ("dedup: {shingle_size: 1}", "settings.dedup.shingle_size: must be from 2 to 10"),
        ("dedup: {min_containment: 0}", "settings.dedup.min_containment: must be in (0, 1]"),
        ("dedup: [window]", "settings.dedup: Input should be a valid dictionary"),
    ],
)
def test_the_stage_sections_are_checked_against_the_stages_settings(
    section: str, problem: str
) -> None:
    problems = problems_of(f"settings:\n  {section}\n")
    assert any(p.startswith(problem) for p in problems), problems


def test_clustering_name_settings_reach_the_clusterer_and_are_checked() -> None:
    from aggregator.compose import consumer_settings

    text = """
settings:
  clustering: {entity_agreement: 0.4, text_merge_threshold: 0.5, max_entity_chars: 0}
"""
    cluster = consumer_settings(load_config(None, text=text, env={})).cluster
    assert cluster.entity_agreement == 0.4
    assert cluster.text_merge_threshold == 0.5
    assert cluster.max_entity_chars == 0  # the name signal off
    assert cluster.singleton_entity_agreement == 0.45  # untouched: the stage's default
    # Checked by the stage's own settings (ClusterSettings), with the section's path.
    problems = problems_of("settings: {clustering: {merge_entity_agreement: 1.5}}")
    assert problems == ("settings.clustering.merge_entity_agreement: must be in [0, 1]",)


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    # PyYAML keeps the last of two equal keys: the first feeds list would vanish.
    text = (
        "feeds:\n"
        "  - {name: a, url: 'https://a.example/'}\n"
        "topics: []\n"
        "feeds: [{name: b, url: 'https://b.example/'}]\n"
    )
    (problem,) = problems_of(text)
    assert problem.startswith("line 4, column 1: duplicate key 'feeds' (first at line 1)")
    nested = "settings:\n  poll: {min_interval: 1m, min_interval: 2m}\n"
    (problem,) = problems_of(nested)
    assert "line 2" in problem
    assert "duplicate key 'min_interval'" in problem
    # Merge keys are not duplicates, and a key may override what a merge brought.
    merged = (
        "base: &b {url: 'https://a.example/', interval: 1h}\n"
        "feeds: [{<<: *b, name: a, interval: 2h}]\n"
    )
    assert "duplicate" not in " ".join(problems_of(merged))


# --------------------------------------------------------------------------------------
# A demanding operator's feeds.yaml: every bad line is named with its path and exit
# status 2, never a traceback, never a hang, never a file `config check` passes and the
# daemon then refuses.
# --------------------------------------------------------------------------------------


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
