"""`aggregator config check` and the alert keys of issue 15: developing and feed_health
rules, Apprise channels — accepted and explained, or refused with their paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.cli import main
from aggregator.compose import alert_rules, channels, load_config, webhook_client
from aggregator.errors import ConfigError

GOOD = """
topics: [{name: nk, query: '"north korean" AND troops'}]
channels:
  - {name: push, type: apprise, urls: ['gotify://127.0.0.1:9/${GOTIFY_TOKEN}', 'json://127.0.0.1:9/'],
     timeout: 10s}
alerts:
  - {name: grows, topic: nk, trigger: developing, min_sources: 3, new_outlets: 5,
     min_gap: 2h, channels: [push]}
  - {name: busy, topic: nk, trigger: developing, new_articles: 20, channels: [push]}
  - {name: sources, trigger: feed_health, quiet_factor: 4, quiet_min: 12h, channels: [push]}
  - {name: sources-default, trigger: feed_health, channels: [push]}
"""
ENV = {"GOTIFY_TOKEN": "AbCdEfGhIjKlMnO"}


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(None, text=text, env=ENV)
    return err.value.problems


async def test_the_new_keys_are_accepted_and_reach_the_rules() -> None:
    loaded = load_config(None, text=GOOD, env=ENV)
    rules = {r.name: r for r in alert_rules(loaded)}
    assert rules["grows"].new_outlets == 5
    assert rules["grows"].gap.total_seconds() == 7200
    assert rules["busy"].gap.total_seconds() == 3600  # the default min_gap
    assert rules["sources"].quiet == (4, rules["sources"].quiet[1])
    assert rules["sources"].quiet[1].total_seconds() == 12 * 3600
    assert rules["sources-default"].quiet[0] == 5
    assert rules["sources-default"].topic == ""
    async with webhook_client() as client:
        assert set(channels(loaded, client)) == {"push"}
    # The token came from the environment and is kept out of reprs.
    assert "AbCdEfGhIjKlMnO" not in repr(loaded.config.channels[0])


def test_config_check_explains_each_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(GOOD.replace("${GOTIFY_TOKEN}", "AbCdEfGhIjKlMnO"))
    assert main(["--config", str(path), "config", "check"]) == 0
    out = capsys.readouterr().out
    assert "grows: developing on topic 'nk'" in out
    assert "+5 outlets since the last alert, at most once per 2h" in out
    assert "sources: feed_health: alerts on a feed that becomes broken or gone" in out
    assert "4x its usual gap (at least 12h)" in out
    assert "AbCdEfGhIjKlMnO" not in out


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "{name: a, topic: nk, trigger: developing, channels: [push]}",
            "alerts[0].new_outlets: a developing rule needs new_outlets or new_articles",
        ),
        (
            "{name: a, topic: nk, trigger: developing, new_outlets: 0, channels: [push]}",
            "alerts[0].new_outlets: Input should be greater than or equal to 1",
        ),
        (
            "{name: a, topic: nk, trigger: developing, new_outlets: 2, min_gap: 0s, "
            "channels: [push]}",
            "alerts[0].min_gap: must be a positive duration",
        ),
        (
            "{name: a, topic: nk, trigger: new_event, new_outlets: 2, channels: [push]}",
            "alerts[0].new_outlets: only developing rules have new_outlets",
        ),
        (
            "{name: a, topic: nk, trigger: feed_health, channels: [push]}",
            "alerts[0].topic: feed_health rules watch every feed, they take no topic",
        ),
        (
            "{name: a, trigger: feed_health, quiet_factor: 0.5, channels: [push]}",
            "alerts[0].quiet_factor: Input should be greater than or equal to 1",
        ),
        (
            "{name: a, topic: nk, trigger: min_sources, quiet_min: 1h, channels: [push]}",
            "alerts[0].quiet_min: only feed_health rules have quiet_min",
        ),
        (
            "{name: a, trigger: new_event, channels: [push]}",
            "alerts[0].topic: must not be empty",
        ),
        (
            "{name: a, topic: nk, trigger: sometimes, channels: [push]}",
            "alerts[0].trigger: Input should be",
        ),
    ],
)
def test_bad_rule_keys_are_refused_with_their_paths(rule: str, expected: str) -> None:
    text = (
        "topics: [{name: nk, query: troops}]\n"
        "channels: [{name: push, type: apprise, urls: ['json://127.0.0.1:9/']}]\n"
        f"alerts: [{rule}]\n"
    )
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("{name: push, type: apprise}", "channels[0].urls: Field required"),
        ("{name: push, type: apprise, urls: []}", "channels[0].urls: Tuple should have at least 1"),
        (
            "{name: push, type: apprise, urls: ['json://127.0.0.1/', 'bogus://tok3n@x']}",
            "channels[0].urls[1]: not a URL Apprise can send to (scheme 'bogus')",
        ),
        (
            "{name: push, type: apprise, urls: ['json://127.0.0.1/'], colour: red}",
            "channels[0].colour: unknown key",
        ),
        ("{name: push, type: slack, url: 'x'}", "channels[0]: Input tag 'slack' found"),
    ],
)
def test_bad_apprise_channels_are_refused_with_their_paths(channel: str, expected: str) -> None:
    found = problems(f"channels: [{channel}]\n")
    assert any(p.startswith(expected) for p in found), found
    assert all("tok3n" not in p for p in found)
