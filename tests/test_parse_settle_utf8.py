"""``parse._settle_encoding`` checks UTF-8 in pieces, with the same outcome (issue 17).

``_decodes(body, "utf-8")`` asks ``fastparse.is_utf8`` (an incremental decoder fed
32 KB pieces) instead of decoding the whole body into a text it throws away. These
tests hold ``_settle_encoding`` (bytes, headers, warnings) to the same function with
the old whole-body decode, on the farm, every fixture under several Content-Types and
random documents, hold ``is_utf8`` to ``bytes.decode`` on documents whose characters
straddle the pieces, show that no document-sized text is built any more, and that
the flag it returns (the body decodes as UTF-8, which fastparse then does not check
again) is sound.
"""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.poll import fastparse, parse
from tests.support.farm import load_farm
from tests.test_parse_utf8_head import HEADERS, _documents, _outcome

DATA = Path(__file__).parent / "data"
FIXTURES = sorted(p for p in DATA.rglob("*") if p.is_file())


def _decodes_whole(body: bytes, encoding: str) -> bool:
    """``_decodes`` as it was: one decode of the whole body."""
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _settle(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str], bool, list[str]]:
    ctx = parse._Context(
        url="http://feed.test/",
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
        settings=parse.ParseSettings(),
    )
    out, out_headers, utf8 = parse._settle_encoding(body, headers, ctx)
    return out, dict(out_headers), utf8, ctx.warnings


def assert_same(body: bytes, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    ours = _settle(body, headers)
    with monkeypatch.context() as m:
        m.setattr(parse, "_decodes", _decodes_whole)
        theirs = _settle(body, headers)
    assert ours == theirs
    out, out_headers, utf8, _ = ours
    if utf8:
        # the flag is sound: the body decodes, and the fast reader, told so, gives
        # what it gives when it checks for itself
        assert out is body
        assert _decodes_whole(body, "utf-8")
        told, checked = (fastparse.parse(out, out_headers, utf8=f) for f in (True, False))
        assert _outcome(told or {}) == _outcome(checked or {})


def test_the_farm_settles_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    farm = load_farm()
    for feed in farm.build_farm(farm.FarmSettings(feeds=8, items=20, seed=5)):
        for headers in HEADERS:
            assert_same(feed.body, headers, monkeypatch)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(DATA)))
def test_every_fixture_settles_the_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = path.read_bytes()
    for headers in HEADERS:
        assert_same(body, headers, monkeypatch)
        # the same document past a piece boundary, its characters cut anywhere
        assert_same(body + b"\n" + body[: fastparse._UTF8_PIECE + 7], headers, monkeypatch)


@settings(
    derandomize=True,
    database=None,
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(document=_documents())
def test_random_documents_settle_the_same(
    monkeypatch: pytest.MonkeyPatch, document: tuple[bytes, dict[str, str]]
) -> None:
    assert_same(*document, monkeypatch)


_CHARS = st.sampled_from(
    [b"a", b"<", b"\n", b"\xc3\xa9", b"\xe2\x80\x9c", b"\xf0\x9f\x98\x80", b"\xc3", b"\xe2\x80",
     b"\xff", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x80", b"\x00"]
)  # fmt: skip


@settings(derandomize=True, database=None, max_examples=400, deadline=None)
@given(
    st.integers(min_value=0, max_value=3 * fastparse._UTF8_PIECE),
    st.lists(_CHARS, max_size=6),
    st.lists(_CHARS, max_size=6),
)
def test_is_utf8_is_decoding_across_pieces(
    pad: int, before: list[bytes], after: list[bytes]
) -> None:
    # a run of characters placed at any offset, so that one may straddle two pieces
    data = b"a" * pad + b"".join(before) + b"".join(after)
    assert fastparse.is_utf8(data) == _decodes_whole(data, "utf-8")
    assert parse._decodes(data, "utf-8") == _decodes_whole(data, "utf-8")


def test_no_text_the_size_of_the_document_is_built() -> None:
    # a 650 KB UTF-8 document of curly quotes: decoded whole, a ~1.2 MB text
    # (2 bytes a character) besides the body
    item = "<item><title>\u201cquoted\u201d</title></item>\n".encode()
    body = b'<?xml version="1.0" encoding="utf-8"?>\n<rss><channel>' + item * 16000
    headers = {"content-type": "application/rss+xml; charset=utf-8"}
    tracemalloc.start()
    try:
        _settle(body, headers)  # warm up: imports, compiled patterns
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        settled, _, utf8, warnings = _settle(body, headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert settled is body
    assert utf8
    assert warnings == []
    assert peak - before < len(body) // 2, (peak - before, len(body))
