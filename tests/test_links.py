"""links.http_url_problem: the everyday-shape answer given without httpx is httpx's.

The configuration checks each feed URL as the fetcher would send it; for a URL of the
everyday shape it answers without importing httpx (issue 17: the import was a fifth of
`aggregator feeds`). These tests hold that answer beside httpx's own on the URLs the
repository ships and on random ones built to sit on both sides of every rule.
"""

from __future__ import annotations

import random
import re
import string
from pathlib import Path

import pytest

from aggregator import links
from aggregator.links import http_url_problem

ROOT = Path(__file__).resolve().parents[1]
_URL_IN_TEXT = re.compile(r"""https?://[^\s"'<>`)\]}]+""")


def shipped_urls() -> list[str]:
    """Every http(s) URL written in the shipped configuration, the demo and the tests."""
    found: set[str] = set()
    sources = [ROOT / "feeds.yaml", *(ROOT / "aggregator").rglob("*.py")]
    sources += [*(ROOT / "tests").glob("*.py"), *(ROOT / "tests").rglob("*.yaml")]
    for source in sources:
        found.update(_URL_IN_TEXT.findall(source.read_text(encoding="utf-8", errors="replace")))
    return sorted(found)


def expected(url: str) -> str | None:
    """The answer before the everyday shape was recognised: control characters, then
    httpx."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "control characters (NUL, TAB, newline…) are not allowed in a URL"
    return links._httpx_url_problem(url)


EDGES = [
    "http://example.com",
    "https://example.com/",
    "https://EXAMPLE.com/Feed.XML?x=1#top",
    "http://a.b-c.d/%zz/%41?q=%&r=[]{}|^`\\",
    "http://localhost:8080/rss",
    "http://localhost:0/",
    "http://localhost:0000/",
    "http://localhost:9999/",
    "http://localhost:65535/",
    "http://localhost:65536/",
    "http://localhost:/",
    "http://localhost:x/",
    "http://127.0.0.1:9/harbour.xml",
    "http://256.0.0.1/",
    "http://01.2.3.4/",
    "http://1.2.3/",
    "http://1.2.3.4.5/",
    "http://1x2x3x4/",
    "http://123/",
    "http://-a.com/",
    "http://a-.com/",
    "http://a..com/",
    "http://.a.com/",
    "http://a.com./",
    "http://a_b.com/",
    "http://" + "a" * 63 + ".com/",
    "http://" + "a" * 64 + ".com/",
    "http://[::1]/",
    "http://[::g]/",
    "http://bücher.example/",
    "http://xn--bcher-kva.example/",
    "http://user:pw@a.com/",
    "http://a.com/ space",
    "http://a.com/\u00e9",
    "http:///path",
    "http:/a.com",
    "https://",
    "ftp://a.com/",
    "HTTP://a.com/",
    "javascript:alert(1)",
    "http://a.com/" + "x" * 70000,
    "http://a.com/" + "x" * 2100,
    "http://a.com\x00/",
    "http://a.com/\t",
]


@pytest.mark.parametrize("url", EDGES)
def test_an_edge_url_gets_httpx_answer(url: str) -> None:
    assert http_url_problem(url) == expected(url)


def test_every_shipped_url_gets_httpx_answer_and_most_without_httpx() -> None:
    urls = shipped_urls()
    assert len(urls) > 50  # the corpus is there to be read
    for url in urls:
        assert http_url_problem(url) == expected(url), url
    # The shipped feeds (feeds.yaml) are all of the everyday shape: a configuration
    # like them is checked without httpx.
    shipped_feeds = _URL_IN_TEXT.findall((ROOT / "feeds.yaml").read_text(encoding="utf-8"))
    assert shipped_feeds
    assert all(links._plainly_sendable(u) for u in shipped_feeds)


def random_url(rng: random.Random) -> str:
    """A URL assembled from parts chosen to fall on both sides of each rule: about half
    of each part clean, the rest with what a rule looks at (digits, hyphens, dots,
    lengths around 63, ports around 65535, spaces, non-ASCII)."""
    scheme = rng.choice(["http", "https", "http", "https", "HTTP", "ftp", "", "http:/"])
    clean = string.ascii_lowercase * 3 + string.digits + "-"
    noisy = string.ascii_letters + string.digits + "-" * 4 + "_.é%@:[]"
    labels = []
    for _ in range(rng.randint(0, 4)):
        kind = rng.random()
        if kind < 0.25:
            labels.append(str(rng.choice([0, 1, 9, 10, 99, 127, 255, 256, 300, 999, 1000])))
        elif kind < 0.3:
            labels.append("0" + str(rng.randint(0, 9)))
        elif kind < 0.8:
            size = rng.choice([1, 2, 3, 5, 8, 62, 63, 64])
            labels.append(rng.choice(string.ascii_letters) + "".join(
                rng.choice(clean) for _ in range(size - 1)))  # fmt: skip
        else:
            size = rng.choice([0, 1, 2, 5, 62, 63, 64])
            labels.append("".join(rng.choice(noisy) for _ in range(size)))
    host = ".".join(labels)
    if rng.random() < 0.15:
        octets = ["0", "1", "9", "10", "99", "127", "255", "256", "300", "01", "1000"]
        host = ".".join(rng.choice(octets) for _ in range(rng.choice([3, 4, 4, 4, 5])))
    elif rng.random() < 0.05:
        host = rng.choice(["[::1]", "[::g]", "[2001:db8::1]", "[", "]"])
    port = rng.choice(["", "", "", "", ":", ":0", ":80", ":0080", ":9999", ":65535",
                       ":65536", ":99999", ":-1", ":8a"])  # fmt: skip
    printable = "".join(chr(i) for i in range(0x21, 0x7F))
    tail_chars = rng.choice([printable, printable + " é\u2028"])
    tail = "".join(rng.choice(tail_chars) for _ in range(rng.choice([0, 1, 3, 12, 40])))
    lead = rng.choice(["/", "/", "/", "?", "#", "", "\\", " "])
    return f"{scheme}://{host}{port}{lead}{tail}"


def test_random_urls_get_httpx_answer() -> None:
    rng = random.Random(17)
    fast = ipv4 = 0
    for _ in range(20_000):
        url = random_url(rng)
        if links._plainly_sendable(url):
            fast += 1
            ipv4 += bool(re.match(r"https?://[0-9.]+[:/?#]", url + "/"))
        assert http_url_problem(url) == expected(url), url
    # Enough of them take the short answer for the comparison to mean something (a
    # few hundred, some with an IPv4 address), and most do not.
    assert fast > 500
    assert ipv4 > 20
    assert fast < 10_000
