from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aggregator.cli import main
from aggregator.compose import load_config
from aggregator.errors import ConfigError
from aggregator.opml import (
    OpmlFeed,
    append_feeds,
    appended,
    entry_problems,
    feeds_yaml_entries,
    read_opml,
    write_feeds,
    write_opml,
)

ROOT = Path(__file__).resolve().parents[1]

NESTED = b"""<?xml version="1.0"?>
<opml version="1.0"><head><title>subs</title></head><body>
  <outline text="World">
    <outline text="BBC &amp; friends" type="rss" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"
             htmlUrl="https://www.bbc.co.uk/news"/>
    <outline text="Korea"><outline title="Yonhap" xmlUrl="https://en.yna.co.kr/RSS/news.xml"/></outline>
  </outline>
  <outline text="dup" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
  <outline text="bad scheme" xmlUrl="javascript:alert(1)"/>
  <outline text="New one" xmlUrl="https://example.org/feed"/>
</body></opml>"""


def test_read_nested_outlines_into_tags() -> None:
    feeds = read_opml(NESTED)
    assert [f.title for f in feeds] == ["BBC & friends", "Yonhap", "New one"]
    assert feeds[0].tags == ("World",)
    assert feeds[1].tags == ("World", "Korea")
    assert feeds[0].html_url == "https://www.bbc.co.uk/news"


def test_export_then_import_round_trips() -> None:
    cfg = load_config(ROOT / "feeds.yaml", env={}).config
    feeds = [OpmlFeed(title=f.name, xml_url=f.url) for f in cfg.feeds]
    again = read_opml(write_opml(feeds, title="t <&>").encode())
    assert [(f.title, f.xml_url) for f in again] == [(f.title, f.xml_url) for f in feeds]


def test_hostile_opml_is_refused_or_harmless() -> None:
    bomb = b"""<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">
    <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
    <opml><body><outline text="&c;" xmlUrl="https://x.example/feed"/></body></opml>"""
    with pytest.raises(ConfigError, match="declares XML entities"):
        read_opml(bomb)
    with pytest.raises(ConfigError, match="not an OPML file"):
        read_opml(b"<html><body>nope</body></html>")
    with pytest.raises(ConfigError, match="not an OPML file"):
        read_opml(b"\x00garbage")


def test_append_keeps_comments_and_loads(tmp_path: Path) -> None:
    text = (ROOT / "feeds.yaml").read_text()
    known = {f.url for f in load_config(None, text=text, env={}).config.feeds}
    new = [f for f in read_opml(NESTED) if f.xml_url not in known]
    assert 'name: "BBC & friends (2)"' in feeds_yaml_entries(
        read_opml(NESTED), taken={"BBC & friends"}
    )
    entries = feeds_yaml_entries(new, taken=set())
    updated = append_feeds(text, entries)
    assert updated.count("#") == text.count("#")
    cfg = load_config(None, text=updated, env={}).config
    original = load_config(None, text=text, env={}).config
    assert len(cfg.feeds) == len(original.feeds) + 1
    assert cfg.topics == original.topics
    assert append_feeds("feeds: []\n", entries).startswith("feeds:\n  - name:")


def test_cli_import_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "feeds.yaml"
    shutil.copy(ROOT / "feeds.yaml", config)
    opml = tmp_path / "subs.opml"
    opml.write_bytes(NESTED)
    assert main(["--config", str(config), "opml", "import", str(opml)]) == 0
    out = capsys.readouterr()
    assert "3 feeds" in out.err
    assert "1 new, 2 already configured" in out.err
    assert 'url: "https://example.org/feed"' in out.out
    assert main(["--config", str(config), "opml", "import", str(opml), "--write"]) == 0
    assert "1 feeds added" in capsys.readouterr().out
    assert main(["--config", str(config), "opml", "export"]) == 0
    exported = read_opml(capsys.readouterr().out.encode())
    assert "https://example.org/feed" in {f.xml_url for f in exported}
    assert main(["--config", str(config), "opml", "import", str(tmp_path / "none.opml")]) == 2


# -- appending to feeds.yaml as people write it ----------------------------------------

OLD = "  - name: Old\n    url: https://old.example/feed\n"
NEW_ENTRY = feeds_yaml_entries(
    [OpmlFeed(title="New", xml_url="https://new.example/feed")], taken=set()
)
AFTER = "topics:\n  - {name: t, query: kursk}\n"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("feeds:\n" + OLD + AFTER, id="2-space"),
        pytest.param(
            "feeds:\n- name: Old\n  url: https://old.example/feed\n" + AFTER, id="0-indent"
        ),
        pytest.param(
            "feeds:\n    -   name: Old\n        url: https://old.example/feed\n" + AFTER,
            id="4-space",
        ),
        pytest.param("\ufefffeeds:\n" + OLD + AFTER, id="BOM"),
        pytest.param(AFTER + "feeds:\n  # the first one\n\n" + OLD, id="comment-first"),
    ],
)
def test_append_follows_the_lists_indent(text: str) -> None:
    updated = appended(text, NEW_ENTRY)
    cfg = load_config(None, text=updated, env={}).config
    assert [(f.name, f.url) for f in cfg.feeds] == [
        ("Old", "https://old.example/feed"),
        ("New", "https://new.example/feed"),
    ]
    assert [t.name for t in cfg.topics] == ["t"]
    assert updated.startswith("\ufeff") == text.startswith("\ufeff")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("feeds: [{name: Old, url: 'https://old.example/feed'}]\n", id="flow"),
        pytest.param(
            "\ufefffeeds: [{name: Old, url: 'https://old.example/feed'}]\n", id="BOM+flow"
        ),
        pytest.param("feeds:\n  [{name: Old, url: 'https://old.example/feed'}]\n", id="flow-below"),
    ],
)
def test_append_refuses_a_layout_it_would_break(text: str) -> None:
    # Appending a second `feeds:` key (what happened before) dropped the old feeds.
    with pytest.raises(ConfigError, match="add the entries by hand"):
        appended(text, NEW_ENTRY)
    # The entries themselves are fine there: only the text edit is refused.
    assert entry_problems(text, NEW_ENTRY) == ()


def test_entry_problems_are_those_of_the_file_with_the_entries() -> None:
    taken = "feeds: [{name: Old, url: 'https://new.example/feed'}]\n"
    assert entry_problems(taken, NEW_ENTRY) == ("feeds[1].url: same URL as feeds[0]",)


def test_write_feeds_is_atomic_and_keeps_the_mode(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n" + OLD, encoding="utf-8")
    config.chmod(0o640)
    loaded = write_feeds(config, NEW_ENTRY)
    assert [f.name for f in loaded.config.feeds] == ["Old", "New"]
    assert config.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.yaml"]  # no temp file left
    flow = "feeds: [{name: Old, url: 'https://old.example/feed'}]\n"
    config.write_text(flow, encoding="utf-8")
    with pytest.raises(ConfigError):
        write_feeds(config, NEW_ENTRY)
    assert config.read_text(encoding="utf-8") == flow
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.yaml"]


def test_cli_import_refuses_a_flow_style_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "feeds.yaml"
    flow = "feeds: [{name: Old, url: 'https://old.example/feed'}]\n"
    config.write_text(flow, encoding="utf-8")
    opml = tmp_path / "subs.opml"
    opml.write_bytes(NESTED)
    assert main(["--config", str(config), "opml", "import", str(opml), "--write"]) == 2
    out = capsys.readouterr()
    assert "add the entries by hand" in out.err
    assert 'url: "https://example.org/feed"' in out.out  # what to add, printed
    assert config.read_text(encoding="utf-8") == flow
