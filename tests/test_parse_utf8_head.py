"""``fastparse._to_utf8`` gives what feedparser's ``convert_to_utf8`` gives (issue 17).

It runs convert_to_utf8 on the document's head only, and appends the rest, when the
rest cannot change the answer; these tests hold the two alike, bytes and result, on
the benchmark farm, every fixture under several Content-Types and random documents
built around what decides the encoding (BOMs, markers, declarations over two lines,
labels, bytes that do not decode), and show that the farm takes the short way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from feedparser.encodings import convert_to_utf8
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.poll import fastparse
from tests.support.farm import load_farm

DATA = Path(__file__).parent / "data"
HEADERS: list[dict[str, str]] = [
    {"content-type": "application/xml", "content-location": ""},
    {"content-type": "application/rss+xml; charset=utf-8", "content-location": ""},
    {"content-type": "application/atom+xml; charset=UTF-8", "content-location": ""},
    {"content-type": "application/xml; charset=windows-1252", "content-location": ""},
    {"content-type": "text/xml", "content-location": ""},
    {"content-type": "text/xml; charset=utf-8", "content-location": ""},
    {"content-type": "text/html", "content-location": ""},
    {"content-location": ""},
    {},
]


def _outcome(result: dict[str, Any]) -> dict[str, Any]:
    exc = result.get("bozo_exception")
    out = {k: v for k, v in result.items() if k != "bozo_exception"}
    if exc is not None:
        out["bozo_exception"] = (type(exc), exc.args)
    return out


def assert_same(body: bytes, headers: dict[str, str]) -> None:
    ours: dict[str, Any] = {"bozo": False}
    theirs: dict[str, Any] = {"bozo": False}
    assert fastparse._to_utf8(headers, body, ours) == convert_to_utf8(headers, body, theirs)
    assert _outcome(ours) == _outcome(theirs)


def test_the_farm_converts_the_same_from_its_head_only(monkeypatch: pytest.MonkeyPatch) -> None:
    farm = load_farm()
    feeds = list(farm.build_farm(farm.FarmSettings(feeds=8, items=20, seed=5)))
    for feed in feeds:
        for headers in HEADERS:
            assert_same(feed.body, headers)
    sizes: list[int] = []

    def recording(headers: dict[str, str], data: bytes, result: dict[str, Any]) -> Any:
        sizes.append(len(data))
        return convert_to_utf8(headers, data, result)

    monkeypatch.setattr(fastparse, "convert_to_utf8", recording)
    for feed in feeds:
        fastparse._to_utf8(HEADERS[1], feed.body, {})
    # each document's declaration line only, not the document
    assert len(sizes) == len(feeds)
    assert max(sizes) < 100, sizes


FIXTURES = sorted(p for p in DATA.rglob("*") if p.is_file())


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(DATA)))
def test_every_fixture_converts_the_same(path: Path) -> None:
    body = path.read_bytes()
    for headers in HEADERS:
        assert_same(body, headers)


_STARTS = [
    b"",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\xff\xfe\x00\x00",
    b"\x00\x00\xfe\xff",
    b"<\x00?\x00",
    b"\x00<\x00?",
    b"<\x00\x00\x00",
    b"Lo\xa7\x94",
    b" ",
    b"\n",
]
_DECLARATIONS = [
    b"",
    b'<?xml version="1.0"?>',
    b'<?xml version="1.0" encoding="utf-8"?>',
    b"<?xml version='1.0' encoding='UTF-8'?>",
    b'<?xml version="1.0" encoding="windows-1252"?>',
    b'<?xml version="1.0" encoding="iso-8859-1"?>',
    b'<?xml version="1.0" encoding="gb2312"?>',
    b'<?xml version="1.0" encoding="utf-16"?>',
    b'<?xml version="1.0" encoding="no-such"?>',
    b'<?xml version="1.0"\nencoding="windows-1252"?>',
    b'<?xml version="1.0" encoding="utf-8"\n?>',
    b"<?xml-stylesheet href='a>b'?>",
    b'<?xml caf\xc3\xa9 encoding="utf-8"?>',
    b'<?xml caf\xe9 encoding="utf-8"?>',
    b"<?xml",
]
_PIECES = st.sampled_from(
    [
        b"<rss>", b"</rss>", b"\n", b">", b"<", b"text", b"caf\xc3\xa9", b"caf\xe9",
        b"\xe2\x80\x9cq\xe2\x80\x9d", b"\x93q\x94", b"\xc3", b"\xed\xa0\x80", b"\x00",
        b"\xf0\x9f\x98\x80", b"\r\n", b"<?xml version='1.0'?>",
    ]
)  # fmt: skip


@st.composite
def _documents(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    start = draw(st.sampled_from(_STARTS))
    declaration = draw(st.sampled_from(_DECLARATIONS))
    gap = draw(st.sampled_from([b"\n", b"", b"\r\n", b" "]))
    rest = b"".join(draw(st.lists(_PIECES | st.binary(max_size=3), max_size=12)))
    return start + declaration + gap + rest, draw(st.sampled_from(HEADERS))


@settings(
    derandomize=True,
    database=None,
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_documents())
def test_random_documents_convert_the_same(document: tuple[bytes, dict[str, str]]) -> None:
    assert_same(*document)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        # One line: the declaration's encoding is looked for on the whole first line
        # (greedy), past the first ">", so the head must hold a newline too.
        (b'<?xml version="1.0"?><a b="encoding=\'windows-1252\'?>">caf\xc3\xa9</a>', {}),
        # A UTF-16LE marker ("<" then NUL): the declaration is read from the whole
        # document decoded as UTF-16LE, which an odd length fails and the head's even
        # one (its newline is a character's high byte) does not.
        (
            '<?xml version="1.0" encoding="utf-8"?>\u0a41'.encode("utf-16-le") + b"\x00",
            {"content-location": ""},
        ),
    ],
)
def test_documents_whose_head_would_decide_otherwise(body: bytes, headers: dict[str, str]) -> None:
    assert_same(body, headers)


@pytest.mark.parametrize("cut", [0, 1, 2, 3])
@pytest.mark.parametrize("char", ["é", "\u201c", "\U0001f600"])
def test_the_rest_is_checked_across_its_pieces(cut: int, char: str) -> None:
    # a character split between two pieces is whole; one cut off at the end is not
    piece = fastparse._UTF8_PIECE
    data = b"a" * (piece - cut) + char.encode() + b"b"
    assert fastparse.is_utf8(data)
    assert not fastparse.is_utf8(data[: piece - cut + len(char.encode()) - 1])
    assert not fastparse.is_utf8(data + b"\xff")
    assert not fastparse.is_utf8(b"a" * piece + b"\xed\xa0\x80")  # a surrogate
