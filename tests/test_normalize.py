"""normalize: data-file cases (tests/data/normalize) and properties of the helpers."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.models import ParsedEntry
from aggregator.poll.normalize import (
    NormalizeSettings,
    canonical_url,
    clean_author,
    clean_title,
    normalize_entry,
)
from aggregator.text import (
    content_hash,
    detect_language,
    html_to_text,
    remove_repeats,
    sanitize_html,
    words,
)

DATA = Path(__file__).parent / "data" / "normalize"
SEED = DATA / "seed-article.txt"


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def _resolve(value: Any) -> Any:
    # "@file.txt" in a case file means "the content of that file beside it"
    if isinstance(value, str) and value.startswith("@"):
        return (DATA / value[1:]).read_text(encoding="utf-8").strip()
    return value


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


ENTRY_CASES = sorted((DATA / "entries").glob("*.json"))


@pytest.mark.parametrize("path", ENTRY_CASES, ids=[p.stem for p in ENTRY_CASES])
def test_entry_case(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    e = case["entry"]
    entry = ParsedEntry(
        guid=e["guid"],
        link=e["link"],
        title=e["title"],
        summary_html=_resolve(e["summary_html"]),
        content_html=_resolve(e["content_html"]),
        author=e["author"],
        published=_dt(e["published"]),
        updated=_dt(e["updated"]),
        date_flagged=e["date_flagged"],
    )
    settings = NormalizeSettings(**case.get("settings", {}))
    article = normalize_entry(
        entry, feed=case["feed"], fetched_at=_dt(case["fetched_at"]), settings=settings
    )
    for field, expected in case["expected"].items():
        got = getattr(article, field)
        if isinstance(got, datetime):
            got = got.isoformat()
        assert got == _resolve(expected), field


def test_seed_article_keeps_every_paragraph_once_in_order() -> None:
    raw = SEED.read_text(encoding="utf-8")
    text = remove_repeats(html_to_text(raw))
    paragraphs = text.split("\n\n")
    # every distinct line of the scrape, once, in first-seen order
    distinct: list[str] = []
    for line in raw.splitlines():
        line = line.strip().strip("*")
        if line and line not in distinct:
            distinct.append(line)
    assert paragraphs == distinct
    assert len(paragraphs) == 8  # teaser, headline, sub-headline, five paragraphs
    headline = (
        "North Korean Soldiers Arrive in Kursk, Heightening Tensions in Russia-Ukraine Conflict"
    )
    assert text.count(headline) == 1
    assert text.count("On Monday, NATO Secretary General Mark Rutte") == 1


@pytest.mark.parametrize(("raw", "expected"), _load("titles.json"))
def test_clean_title(raw: str, expected: str) -> None:
    assert clean_title(raw) == expected


@pytest.mark.parametrize(("url", "page", "expected"), _load("urls.json"))
def test_canonical_url(url: str, page: str | None, expected: str) -> None:
    assert canonical_url(url, page_canonical=page) == expected


@pytest.mark.parametrize(("raw", "expected"), _load("authors.json"))
def test_clean_author(raw: str, expected: str | None) -> None:
    assert clean_author(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), _load("repeats.json"))
def test_remove_repeats(raw: str, expected: str) -> None:
    assert remove_repeats(raw) == expected


HTML_CASES = sorted((DATA / "html").glob("*.html"))


@pytest.mark.parametrize("path", HTML_CASES, ids=[p.stem for p in HTML_CASES])
def test_html_to_text(path: Path) -> None:
    expected = path.with_suffix(".txt").read_text(encoding="utf-8")
    assert html_to_text(path.read_text(encoding="utf-8")) == expected


def test_html_to_text_keeps_clean_paragraphs_as_they_are() -> None:
    text = html_to_text((DATA / "html" / "basic.html").read_text(encoding="utf-8"))
    paragraphs = "\n\n".join(" ".join(p.split()) for p in text.split("\n\n"))
    assert html_to_text(paragraphs) == paragraphs


def test_html_to_text_output_has_no_controls_and_is_nfc() -> None:
    import unicodedata

    text = html_to_text("<p>a\x00b\x1bc\u202ed\ufeffe\u00ade</p><p>Cafe\u0301</p>")
    assert text == "abcdee\n\nCafé"
    assert unicodedata.is_normalized("NFC", text)


def test_sanitize_never_lets_a_script_url_through() -> None:
    attacks = [
        '<a href="javascript:alert(1)">a</a>',
        '<a href="JaVaScRiPt:alert(1)">a</a>',
        '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:alert(1)">a</a>',
        '<a href="jav&#x09;ascript:alert(1)">a</a>',
        '<a href=" javascript:alert(1)">a</a>',
        '<a href="vbscript:msgbox(1)">a</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD4=">a</a>',
        '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
        "<svg><script>alert(1)</script></svg>",
        '<div onmouseover="alert(1)">x</div>',
    ]
    for allow_images in (False, True):
        for attack in attacks:
            out = sanitize_html(attack, allow_images=allow_images).lower()
            assert "javascript" not in out
            assert "vbscript" not in out
            assert "data:" not in out
            assert "<script" not in out
            assert "onmouseover" not in out
            assert "onload" not in out


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("a<!-- note -->b<?pi x?>c<p>d</p>", "abc\n\nd"),  # comments go, their tails stay
        ("<p>one<br>two<br><br>three</p>", "one\ntwo\n\nthree"),  # two <br>: a paragraph
        ("<p>x<script>alert(1)<b>y</b></script>z</p>", "xz"),
        ("<p>a\x01b</p><p>c&#1;d</p>", "ab\n\ncd"),  # control characters are not breaks
        ("<p> a \u200b b \n c </p>", "a b c"),  # invisible characters leave one space
        ("<p>caf\u00c3\u00a9 au lait</p>", "café au lait"),  # mojibake repaired
        ("<p>e\u0301</p>", "\u00e9"),  # NFC
        # A control character in leading text once sent the whole body, tags and
        # all, to the plain-text path.
        ("\x0bword</b>", "word"),
        ("&#1;<p>x</p>", "x"),
        ("<!doctype html><html><head><title>t</title></head><body><p>b</p></body></html>", "b"),
        ("<html><head><title>only a head</title></head></html>", ""),
    ],
)
def test_html_to_text_structure(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_content_hash_ignores_formatting_but_not_words() -> None:
    a = content_hash("Troops arrive", "One “two” three.\n\nFour five.")
    b = content_hash("troops  arrive", 'One "two" three. Four five!')
    c = content_hash("Troops arrive", "One two three. Four six.")
    assert a == b
    assert a != c
    assert len(a) == 64


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_content_hash_is_the_hash_of_the_words(title: str, text: str) -> None:
    # content_hash takes the words paragraph by paragraph (from cached keys); stored
    # hashes were made from the words of the whole text, so the two must agree.
    key = " ".join(words(title)) + "\n" + " ".join(words(text))
    assert content_hash(title, text) == hashlib.sha256(key.encode("utf-8")).hexdigest()


def test_normalize_is_deterministic_and_utc() -> None:
    entry = ParsedEntry(
        guid=None,
        link="https://example.com/a",
        title="Kursk",
        summary_html="",
        content_html=SEED.read_text(encoding="utf-8"),
        author=None,
        published=None,
        updated=None,
    )
    fetched = datetime(2024, 11, 4, 12, tzinfo=UTC)
    a = normalize_entry(entry, feed="x", fetched_at=fetched, settings=NormalizeSettings())
    b = normalize_entry(entry, feed="x", fetched_at=fetched, settings=NormalizeSettings())
    assert a == b
    assert a.published.tzinfo is UTC


def test_language_detection_can_be_switched_off() -> None:
    entry = ParsedEntry(
        guid=None,
        link=None,
        title="Nordkoreanische Soldaten in Kursk eingetroffen",
        summary_html="",
        content_html="<p>Die NATO spricht von einer gefährlichen Ausweitung des Krieges.</p>",
        author=None,
        published=None,
        updated=None,
    )
    settings = replace(NormalizeSettings(), detect_language=False)
    fetched = datetime(2024, 11, 4, 12, tzinfo=UTC)
    article = normalize_entry(entry, feed="dw", fetched_at=fetched, settings=settings)
    assert article.language is None


_KURSK = {
    "en": "North Korean troops have arrived in Russia's Kursk region, officials in Kyiv "
    "and Washington said, and are being prepared for combat.",
    "fr": "Des soldats nord-coréens sont arrivés dans la région russe de Koursk, selon "
    "des responsables à Kiev et à Washington.",
    "de": "Nordkoreanische Soldaten sind in der russischen Region Kursk angekommen, "
    "sagen Vertreter in Kiew und Washington.",
    "ko": "북한군이 러시아 쿠르스크 지역에 도착했다고 키이우와 워싱턴 당국자들이 밝혔다. "
    "병사들은 전투 준비를 하고 있다.",
    "ru": "Северокорейские войска прибыли в Курскую область России, сообщили "
    "официальные лица в Киеве и Вашингтоне.",
    "uk": "Північнокорейські війська прибули до Курської області Росії, повідомили "
    "посадовці в Києві та Вашингтоні.",
    "zh": "朝鲜军队已抵达俄罗斯库尔斯克地区，基辅和华盛顿的官员表示，这些士兵正在为作战做准备。",
    "he": "חיילים צפון קוריאנים הגיעו למחוז קורסק שברוסיה, כך אמרו גורמים רשמיים בקייב "
    "ובוושינגטון.",
}


@pytest.mark.parametrize("code", sorted(_KURSK))
def test_language_is_detected_as_an_iso_639_1_code(code: str) -> None:
    # Hebrew is the case CLD2 itself answers with the withdrawn code "iw".
    assert detect_language(_KURSK[code]) == code


@pytest.mark.parametrize(
    "text",
    [
        "\x00" + _KURSK["en"],  # CLD2 calls control characters invalid UTF-8
        _KURSK["en"].replace(" ", "\x85", 3),
        _KURSK["en"] + "\x7f\x0b",
    ],
)
def test_control_characters_do_not_stop_language_detection(text: str) -> None:
    assert detect_language(text) == "en"


def test_language_detection_abstains_or_answers_but_never_fails() -> None:
    assert detect_language("Kursk") is None  # too short to tell
    assert detect_language("\ud800" + _KURSK["en"]) == "en"  # a lone surrogate is skipped
    assert detect_language("12345 67890 12345 67890 12345 --- ### 2024-11-04") is None


@given(st.text(min_size=20, max_size=800))
@settings(max_examples=300, deadline=None)
def test_language_detection_takes_any_text(text: str) -> None:
    code = detect_language(text)
    assert code is None or (code.isascii() and code.isalpha() and code.islower())


# ------------------------------------------------------------ properties

_html_bits = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<br>",
        "<div>",
        "</div>",
        "&amp;",
        "&#x6a;",
        "\x00",
        "\u200b",
        "\u00ad",
        "\r\n",
        "  ",
        "é",
        "e\u0301",
        "Kursk",
        "troops",
        "<script>x</script>",
        "<!-- c -->",
        '<a href="javascript:alert(1)">',
        "</a>",
        "<img src=data:x>",
        "**",
        "\t",
    ]
)
_html = st.lists(st.one_of(_html_bits, st.text(max_size=8)), max_size=30).map("".join)


@settings(max_examples=150, deadline=None)
@given(_html)
def test_html_to_text_output_is_clean(html: str) -> None:
    import unicodedata

    text = html_to_text(html)
    assert text == text.strip()
    assert "\n\n\n" not in text
    assert unicodedata.is_normalized("NFC", text)
    for ch in text:
        assert ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cs", "Co") or ch == "\t"
        assert ch not in "\u200b\u00ad\ufeff"


@settings(max_examples=150, deadline=None)
@given(_html)
def test_remove_repeats_is_idempotent(html: str) -> None:
    once = remove_repeats(html_to_text(html))
    assert remove_repeats(once) == once


@settings(max_examples=150, deadline=None)
@given(_html)
def test_sanitized_html_has_no_script_urls(html: str) -> None:
    out = sanitize_html(html, allow_images=True).lower()
    assert "javascript:" not in out
    assert "data:" not in out
    assert "<script" not in out


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(["Example.com", "news.example.co.uk", "EXAMPLE.com:8443", "x.example:443"]),
    st.lists(st.sampled_from(["a", "b", "story", "2024", "%20", "ü"]), max_size=4),
    st.lists(
        st.tuples(
            st.sampled_from(["id", "utm_source", "fbclid", "page", "q"]), st.text(max_size=4)
        ),
        max_size=4,
    ),
    st.sampled_from(["", "#top", "#"]),
)
def test_canonical_url_is_idempotent(
    scheme: str, host: str, path: list[str], query: list[tuple[str, str]], fragment: str
) -> None:
    from urllib.parse import urlencode

    url = f"{scheme}://{host}/{'/'.join(path)}"
    if query:
        url += "?" + urlencode(query)
    url += fragment
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert "#" not in once
    assert "utm_source" not in once
    assert "fbclid" not in once
