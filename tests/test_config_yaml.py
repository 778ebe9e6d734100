"""feeds.yaml is read by libyaml's C parser when PyYAML has it (config._FastStrictLoader),
and by the pure-Python parser (config._StrictLoader) when the C parser refuses a
document, so that every message stays the pure parser's. These tests hold the fast path
to the old one: the same data for every document both read, the same ConfigError for
every document either refuses. The one difference allowed: a document nested deeper
than the pure parser's recursion can go (it raised RecursionError, a traceback) may be
read by the C parser."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from aggregator import config
from aggregator.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def outcome(text: str, *, fast: bool) -> tuple[str, Any]:
    """What read_yaml gives, with the C parser or with the pure one only (as before):
    ("data", repr of the data: types, NaN and key order included) or ("problems", …)."""
    with pytest.MonkeyPatch.context() as mp:
        if not fast:
            mp.setattr(config, "_FastStrictLoader", None)
        try:
            return "data", repr(config.read_yaml(text))
        except ConfigError as err:
            return "problems", err.problems
        except RecursionError:
            return "recursion", None
        except Exception as exc:  # PyYAML's own slips (`!!int ` -> IndexError) alike
            return type(exc).__name__, str(exc)


def assert_same(text: str) -> None:
    old = outcome(text, fast=False)
    new = outcome(text, fast=True)
    if old[0] == "recursion":
        assert new[0] in ("recursion", "data")
    else:
        assert new == old, text


def test_the_fast_path_is_in_use_where_pyyaml_has_libyaml() -> None:
    # Otherwise every comparison below would compare the pure parser with itself.
    assert yaml.__with_libyaml__
    assert config._FastStrictLoader is not None
    calls: list[object] = []

    def construct_document(self: object, node: object) -> dict[str, object]:
        calls.append(node)
        return {}

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config._FastStrictLoader, "construct_document", construct_document)
        config.read_yaml("feeds: []\n")
    assert calls
    # And the shipped file is one it reads (none of what sends a file to the pure one).
    assert not config._C_PARSER_DIFFERS.search((ROOT / "feeds.yaml").read_text("utf-8"))


def _yaml_strings_in_tests() -> list[str]:
    """Every string constant in the configuration tests that looks like a document."""
    found = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and ":" in text and "\n" in text:
                found.append(text)
    return found


TRICKY = [
    "a: 1\na: 2\n",  # a duplicate key: the pure parser's line numbers in the message
    "settings:\n  poll: {tick: 1s}\nsettings: {}\n",
    "base: &b {tick: 5s, jitter: 0.2}\npoll:\n  <<: *b\n  <<: *b\n  tick: 1s\n",
    "x: [1, 2\n",
    "x: {a: 1\n",
    "x: 'unterminated\n",
    "x:\n\t- tab indented\n",
    "- a\nb: c\n",
    "key: value: other\n",
    "\ufefffeeds: []\n",
    "feeds\t\n",  # the C parser alone accepts these five (config._C_PARSER_DIFFERS)
    "x: |#c\n",
    "1:\r\ufeff",
    "[true-? 'q'\n]",
    "x: a\u2028b: c\n",
    "!!int \n",
    "feeds: [\ufeff]\n",
    "x: \x07bell\n",
    "x: \x85next\n",
    "x: ! !\n",
    "x: !!python/object:os.system ls\n",
    "x: !!binary aGVsbG8=\n",
    "x: 2024-11-01\ny: 2024-11-01T10:00:00Z\nz: 0o17\nw: 0x1F\nv: 1_000\nu: .nan\nt: ~\n",
    "x: yes\ny: No\nz: on\nw: 1e3\nv: +.inf\n",
    "? [a, b]\n: v\n",
    "? {a: 1}\n: v\n",
    "x: *undefined\n",
    "%YAML 1.1\n---\nx: 1\n...\n",
    "--- a\n--- b\n",
    "x: |\n  literal\n   kept\ny: >-\n  folded\n  text\n",
    'x: "esc \\u00e9 \\x41 \\N \\_"\n',
    'x: "bad \\q escape"\n',
    "x: 'it''s'\n",
    "x: a # comment\n# only a comment\n",
    "\n",
    "",
    "[" * 80 + "]" * 80,
    "{a: [b, {c: [d, e]}], f: {g: h}}\n",
    "названия:\n  - 北朝鮮\n  - 러시아\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_documents_read_alike(text: str) -> None:
    assert_same(text)


def test_the_shipped_configuration_and_every_test_document_read_alike() -> None:
    docs = [(ROOT / "feeds.yaml").read_text(encoding="utf-8"), *_yaml_strings_in_tests()]
    assert len(docs) > 50
    for text in docs:
        assert_same(text)


def test_a_duplicate_key_keeps_its_message_with_both_lines() -> None:
    kind, problems = outcome("feeds: []\ntopics: []\nfeeds: []\n", fast=True)
    assert kind == "problems"
    assert problems == (
        "line 3, column 1: duplicate key 'feeds' (first at line 1); YAML would keep only "
        "the last one, so merge the two",
    )


PIECES = st.sampled_from(
    [
        "feeds",
        "settings",
        "x",
        "'q'",
        '"d"',
        ":",
        ": ",
        "- ",
        "-",
        "\n",
        "  ",
        "    ",
        "\t",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a",
        "<<: ",
        "!!str ",
        "!!int ",
        "!x ",
        "#",
        "? ",
        "|",
        ">",
        "---",
        "...",
        "%YAML 1.1",
        "1",
        "1.5",
        ".nan",
        "~",
        "null",
        "true",
        "yes",
        "2024-11-01",
        "0x1F",
        "é",
        "北",
        "\ufeff",
        "\x00",
        "\x85",
        "\\",
        "'",
        '"',
        "%",
        "@",
        "`",
        " ",
        "\r\n",
        "\r",
        "\u2028",
        "|#",
        ">-#",
        "|2",
        "?",
    ]
)


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=40).map("".join))
@example("a: &x [1]\nb: *x\nc:\n  <<: {d: 1}\n")
def test_random_documents_read_alike(text: str) -> None:
    assert_same(text)
