"""A document the fast reader finds free of what ``strip_control`` removes
(``fastparse.CONTROL_FREE``) is parsed without ``strip_control`` on each field (issue
17): the same ParsedFeed as with it, on the farm, every fixture and documents holding
each such character raw, as a reference, in text, CDATA, attributes and titles; and
``_control_free`` never says "free" of a document whose characters hold one.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.links import strip_control
from aggregator.poll import fastparse, parse
from tests.support.farm import load_farm

DATA = Path(__file__).parent / "data"
FETCHED_AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
XML = {"content-type": "application/xml"}

# strip_control's characters, and characters next to them that it keeps.
REMOVED = [*map(chr, [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)])]
REMOVED += ["\ufffe", "\uffff"]
KEPT = ["\t", "\n", "\r", " ", "a", "\xa0", "é", "\u2019", "\ufffd", "\ufeff", "😀", "\U0010fffd"]


@contextmanager
def always_stripped() -> Iterator[None]:
    """The fast reader never says "free": every field goes through strip_control."""
    real = fastparse._control_free
    fastparse._control_free = lambda data: False
    try:
        yield
    finally:
        fastparse._control_free = real


def parsed(body: bytes, headers: dict[str, str]) -> object:
    try:
        return parse.parse_feed(
            body, url="https://feeds.example/f", headers=headers, fetched_at=FETCHED_AT
        )
    except ParseError as exc:
        return ("error", str(exc))


def fast_result(body: bytes) -> dict[str, object] | None:
    return fastparse.parse(body, {"content-type": "application/xml"})


def assert_same(body: bytes, headers: dict[str, str] = XML) -> bool | None:
    """The same ParsedFeed either way; returns what the fast reader said (None: it
    declined the document)."""
    with always_stripped():
        stripped = parsed(body, headers)
    assert parsed(body, headers) == stripped
    result = fast_result(body)
    return None if result is None else bool(result[fastparse.CONTROL_FREE])


def _reference(ch: str, rng: random.Random) -> str:
    code = ord(ch)
    zeros = "0" * rng.randint(0, 2)
    return rng.choice([f"&#{zeros}{code};", f"&#x{zeros}{code:x};", f"&#x{zeros}{code:X};"])


def _piece(rng: random.Random, odd: float) -> str:
    """Some text, now and then with a character strip_control removes, raw or as a
    character reference."""
    out = []
    for _ in range(rng.randint(1, 12)):
        roll = rng.random()
        if roll < odd:
            ch = rng.choice(REMOVED)
            out.append(_reference(ch, rng) if rng.random() < 0.5 else ch)
        elif roll < 0.3:
            ch = rng.choice(KEPT)
            out.append(_reference(ch, rng) if rng.random() < 0.3 else ch)
        else:
            out.append(rng.choice(["word", "News ", "&amp;", "&lt;p&gt;", "x"]))
    return "".join(out)


def random_document(rng: random.Random, odd: float) -> bytes:
    items = []
    for i in range(rng.randint(1, 4)):
        body = _piece(rng, odd)
        if rng.random() < 0.3 and "]]>" not in body:
            body = f"<![CDATA[{body}]]>"
        link = f"https://news.example/{i}?q={_piece(rng, odd / 2)}"
        items.append(
            f"<item><title>{_piece(rng, odd)}</title><link>{link}</link>"
            f"<guid isPermaLink='false'>g{i}{_piece(rng, odd / 2)}</guid>"
            f"<author>desk@news.example ({_piece(rng, odd)})</author>"
            f"<description>{body}</description></item>"
        )
    text = (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{_piece(rng, odd)}</title><link>https://news.example/</link>"
        f"{''.join(items)}</channel></rss>"
    )
    return text.encode("utf-8", "surrogatepass")


_REFERENCE = re.compile(r"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def characters_read(body: bytes) -> str:
    """The document's characters with its character references resolved: every text
    the reader can give is made of these."""
    text = body.decode("utf-8", "surrogatepass")

    def resolve(match: re.Match[str]) -> str:
        code = int(match[1], 16) if match[1] else int(match[2])
        return chr(code) if code <= 0x10FFFF else ""

    return _REFERENCE.sub(resolve, text)


def test_the_farm_is_found_free_and_parses_the_same() -> None:
    farm = load_farm()
    for feed in farm.build_farm(farm.FarmSettings(feeds=6, items=10, seed=2)):
        assert assert_same(feed.body) is True, feed.path


FIXTURES = sorted(
    p for p in DATA.rglob("*") if p.is_file() and not p.name.endswith((".json", ".query"))
)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(DATA)))
def test_every_fixture_parses_the_same(path: Path) -> None:
    assert_same(path.read_bytes())


@pytest.mark.parametrize("ch", REMOVED, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("how", ["raw", "decimal", "hex"])
def test_each_character_strip_control_removes_makes_a_document_not_free(ch: str, how: str) -> None:
    text = ch if how == "raw" else f"&#{ord(ch)};" if how == "decimal" else f"&#x{ord(ch):x};"
    for where in ("title", "description", "cdata", "link"):
        inner = f"<![CDATA[a{text}b]]>" if where == "cdata" else f"a{text}b"
        element = "description" if where == "cdata" else where
        body = (
            "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>t</title>"
            f"<item><guid>g</guid><{element}>{inner}</{element}></item></channel></rss>"
        ).encode("utf-8", "surrogatepass")
        assert assert_same(body) in (None, False), (where, how)


def test_random_documents_parse_the_same_and_free_means_free() -> None:
    rng = random.Random(1717)
    said = {True: 0, False: 0, None: 0}
    for n in range(1500):
        body = random_document(rng, odd=[0.0, 0.01, 0.05, 0.2][n % 4])
        free = assert_same(body)
        said[free] += 1
        if free:
            text = characters_read(body)
            assert strip_control(text) == text, body
    # Each answer was given often enough to mean something.
    assert min(said.values()) > 50, said
