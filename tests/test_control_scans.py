"""The scans for control characters on a first poll's every text look in the UTF-8
bytes, and answer what the regular expressions over the characters answered (issue 17):
``links.strip_control``, ``text._cld2_input`` (CLD2's input) and ``fastparse``'s
``_repairable``. Each is held to the expression it replaced, kept here as the
reference, on the benchmark farm, on every test fixture and on random input built
around the boundaries of each character range.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import links
from aggregator import text as text_module
from aggregator.poll import fastparse
from tests.support.farm import load_farm

DATA = Path(__file__).parent / "data"

REFERENCE_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
REFERENCE_REPAIRABLE = re.compile(
    rb"\xc2[\x80-\xbf]|&#[xX]0*[89abAB][0-9a-fA-F];|&#0*1(?:2[89]|[3-8][0-9]|9[01]);"
)


def reference_strip_control(text: str) -> str:
    return REFERENCE_CONTROL.sub("", text)


def reference_cld2_input(sample: str) -> bytes:
    return text_module._controls_to_spaces(sample).encode("utf-8", "replace")


# Each range's edges and its neighbours, the lead bytes the fast paths look for, and
# characters of several UTF-8 lengths.
_EDGES = [chr(c) for c in (*range(0x00, 0x21), *range(0x7E, 0xC3), 0xEF, 0xFF, 0x100)]
_EDGES += ["\ud7ff", "\ud800", "\udbff", "\udc00", "\udfff", "\ue000", "\ufeff", "\ufffd"]
_EDGES += ["\ufffe", "\uffff", "\U00010000", "\U0010ffff", "é", "—", "가", "😀", "a", " "]
_TEXTS = st.lists(
    st.sampled_from(_EDGES) | st.characters(codec=None, exclude_categories=()), max_size=40
).map("".join)

_REFERENCES = ["&#", "&#x", "&#X", "0", "00", "8", "9", "a", "B", "c", "f", "F", "g", ";"]
_REFERENCES += ["12", "128", "159", "160", "191", "192", "1", "3", "x"]
_BYTES = st.lists(
    st.sampled_from(
        [b"\xc2", b"\x80", b"\x9f", b"\xa0", b"\xbf", b"\xc0", b"\xc3", b"#", b"&", b"<p>"]
        + [r.encode() for r in _REFERENCES]
    )
    | st.binary(max_size=3),
    max_size=30,
).map(b"".join)


def fixture_texts() -> list[str]:
    """Every fixture file as text, undecodable bytes kept as lone surrogates."""
    return [
        p.read_bytes().decode("utf-8", "surrogateescape")
        for p in sorted(DATA.rglob("*"))
        if p.is_file()
    ]


def farm_bodies() -> list[bytes]:
    farm = load_farm()
    return [f.body for f in farm.build_farm(farm.FarmSettings(feeds=6, items=20, seed=1))]


def test_the_fixtures_and_the_farm_give_the_same_answers() -> None:
    texts = fixture_texts()
    bodies = farm_bodies()
    texts += [b.decode("utf-8") for b in bodies]
    assert any(REFERENCE_CONTROL.search(t) for t in texts)  # both branches are taken
    for t in texts:
        assert links.strip_control(t) == reference_strip_control(t)
        for sample in (t[:600], t[-600:]):
            assert text_module._cld2_input(sample) == reference_cld2_input(sample)
    for data in [t.encode("utf-8", "surrogateescape") for t in texts] + bodies:
        assert fastparse._repairable(data) == (REFERENCE_REPAIRABLE.search(data) is not None)


@settings(derandomize=True, database=None, max_examples=600, deadline=None)
@given(_TEXTS)
def test_random_text_loses_the_same_characters(text: str) -> None:
    assert links.strip_control(text) == reference_strip_control(text)


@settings(derandomize=True, database=None, max_examples=600, deadline=None)
@given(_TEXTS)
def test_random_text_reaches_cld2_as_before(text: str) -> None:
    assert text_module._cld2_input(text) == reference_cld2_input(text)


@settings(derandomize=True, database=None, max_examples=600, deadline=None)
@given(_BYTES)
def test_random_documents_are_repairable_as_before(data: bytes) -> None:
    assert fastparse._repairable(data) == (REFERENCE_REPAIRABLE.search(data) is not None)


def test_each_kind_of_character_is_found() -> None:
    for ch in ("\x00", "\x0b", "\x1f", "\x7f", "\x80", "\x9f", "\ud800", "\ufffe", "\uffff"):
        assert links.strip_control(f"a{ch}b") == "ab", repr(ch)
    for ch in ("\t", "\n", "\r", " ", "\xa0", "\ufeff", "\ufffd", "é"):
        assert links.strip_control(f"a{ch}b") == f"a{ch}b", repr(ch)
    assert text_module._cld2_input("a\x85b\x01c\ud800") == b"a b c?"
    assert fastparse._repairable("\xa0".encode())
    assert fastparse._repairable(b"x &#x9F; y")
    assert fastparse._repairable(b"x &#191; y")
    assert not fastparse._repairable(b"x &#192; &#x7f; \xc3\xa9 # y")
