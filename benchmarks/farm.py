"""A local feed farm: N feeds x M items (RSS 2.0 and Atom 1.0) served on 127.0.0.1.

    python benchmarks/farm.py --feeds 500 --items 50 [--latency 0.1-0.3] [--port 8000]

prints ``READY http://127.0.0.1:PORT`` once every feed is built, then serves until
SIGTERM/SIGINT. Everything is deterministic for a given ``--seed``:

* half the feeds are RSS 2.0 (``/feed/N.rss``), half Atom 1.0 (``/feed/N.atom``);
* each item carries a 2-6 KB HTML body (paragraphs, links, emphasis, lists, quotes,
  images, entities and accented words), a title, a link, a GUID/id and dates;
* most feeds send validators — both ETag and Last-Modified on 70 %, only an ETag on
  10 %, only Last-Modified on 10 % — and answer 304 when a request matches them; the
  remaining 10 % send none, so every poll of them gets the full body again;
* bodies are served gzip-compressed when the client asks for it (as real servers do),
  compressed once at start-up so the server spends no CPU on it during a poll;
* ``--latency A-B`` delays every response by a uniform random time in [A, B] seconds,
  standing in for the 100-300 ms a real feed server takes to answer.

The server is aiohttp.web on one event loop in its own process (the benchmark starts it
with :class:`FarmServer`), so hundreds of concurrent connections cost it little CPU.
Control endpoints, not counted in the statistics:

* ``GET /_index``: every feed as JSON (path, kind, entries, which validators);
* ``GET /_stats``: requests, 200s, 304s, conditional requests on feeds that gave
  validators, body bytes sent, peak concurrent requests — since the last reset;
* ``POST /_reset``: zero the statistics (the benchmark resets before each phase).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from html import escape
from pathlib import Path
from types import TracebackType
from typing import Any

# The fixed "now" of the farm: item dates lie before it, so they are never "in the
# future" whatever day the benchmark runs.
EPOCH = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
_VOCABULARY = """
government minister troops border agreement talks president election market energy
prices inflation report storm coast rescue officials city council vote court ruling
police investigation hospital vaccine study researchers climate summit ceasefire
sanctions exports harvest drought flood airport strike union company shares profit
quarter central bank rates parliament coalition opposition protest capital region
province village bridge railway satellite launch mission museum festival
championship final coach season transfer record weather warning café naïve résumé
Zürich São Paulo Kraków Málaga Reykjavík Düsseldorf
"""
WORDS = _VOCABULARY.split()
VALIDATOR_KINDS = ("both",) * 7 + ("etag", "last_modified", "none")


@dataclass(frozen=True, slots=True)
class FarmSettings:
    feeds: int = 500
    items: int = 50
    seed: int = 1
    # Seconds added to every response, drawn uniformly from [low, high].
    latency: tuple[float, float] = (0.0, 0.0)
    min_body: int = 2000  # bytes of HTML per item, before XML escaping
    max_body: int = 6000


@dataclass(frozen=True, slots=True)
class FarmFeed:
    path: str
    kind: str  # "rss" or "atom"
    entries: int
    body: bytes
    gzipped: bytes
    etag: str | None
    last_modified: str | None

    def index_row(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "entries": self.entries,
            "etag": self.etag is not None,
            "last_modified": self.last_modified is not None,
        }


def parse_latency(text: str) -> tuple[float, float]:
    """``"0.1-0.3"`` → (0.1, 0.3); ``"0.2"`` → (0.2, 0.2); ``"0"`` → no latency."""
    low, _, high = text.partition("-")
    lo, hi = float(low), float(high or low)
    if lo < 0 or hi < lo:
        raise ValueError(f"bad latency range {text!r}: want LOW-HIGH seconds, LOW <= HIGH")
    return lo, hi


# -- generation ----------------------------------------------------------------------


class _Text:
    """Random but deterministic prose: a pool of HTML paragraphs items draw from.

    Drawing from a pool keeps 100,000 items' generation to seconds; each item still
    starts with its own paragraph, so no two bodies are equal.
    """

    def __init__(self, rng: random.Random, pool_size: int = 1500) -> None:
        self.rng = rng
        self.pool = [self._paragraph() for _ in range(pool_size)]

    def words(self, n: int) -> str:
        return " ".join(self.rng.choices(WORDS, k=n))

    def sentence(self) -> str:
        s = self.words(self.rng.randint(8, 22))
        return s[0].upper() + s[1:] + self.rng.choice([".", ".", ".", "?", " — officials said."])

    def _paragraph(self) -> str:
        rng = self.rng
        shape = rng.random()
        if shape < 0.08:
            items = "".join(f"<li>{escape(self.sentence())}</li>" for _ in range(rng.randint(3, 5)))
            return f"<ul>{items}</ul>"
        if shape < 0.14:
            return f"<blockquote><p>“{escape(self.sentence())}”</p></blockquote>"
        if shape < 0.18:
            n = rng.randint(1, 99999)
            return (
                f'<figure><img src="https://img.news.example/{n}.jpg" alt="{self.words(4)}" '
                f'width="640" height="360"><figcaption>{escape(self.sentence())}</figcaption>'
                "</figure>"
            )
        parts = []
        for _ in range(rng.randint(2, 5)):
            s = escape(self.sentence())
            r = rng.random()
            if r < 0.25:
                w = s.split(" ", 3)
                s = f'{w[0]} <a href="https://news.example/{rng.randint(1, 10**6)}">{w[1]}</a> ' + (
                    " ".join(w[2:])
                )
            elif r < 0.35:
                s = f"<strong>{s}</strong>"
            elif r < 0.45:
                s = f"<em>{s}</em> &amp; more"
            parts.append(s)
        return "<p>" + " ".join(parts) + "</p>"

    def body(self, first: str, size: int) -> str:
        out = [f"<p>{escape(first)}</p>"]
        length = len(out[0])
        while length < size:
            p = self.rng.choice(self.pool)
            out.append(p)
            length += len(p) + 1
        return "\n".join(out)


def _item_fields(text: _Text, feed: int, item: int, settings: FarmSettings) -> dict[str, str]:
    rng = text.rng
    title = text.words(rng.randint(5, 11)).capitalize()
    when = EPOCH - timedelta(minutes=37 * item + feed % 60, seconds=rng.randint(0, 59))
    first = f"{title} (report {feed}-{item}). {text.sentence()}"
    return {
        "title": title,
        "link": f"https://news.example/f{feed}/{item}-{'-'.join(title.lower().split()[:4])}",
        "guid": f"farm-{feed}-{item}",
        "date": format_datetime(when, usegmt=True),
        "iso": when.isoformat().replace("+00:00", "Z"),
        "body": text.body(first, rng.randint(settings.min_body, settings.max_body)),
        "author": f"{text.words(1).capitalize()} Reporter",
    }


def _rss(feed: int, items: list[dict[str, str]]) -> str:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:atom="http://www.w3.org/2005/Atom"><channel>',
        f"<title>Farm outlet {feed}</title><link>https://news.example/f{feed}/</link>",
        f"<description>Local benchmark feed {feed}</description><language>en</language>",
    ]
    for it in items:
        # One item in seven has no GUID (identity then comes from the link), as in
        # the wild.
        guid = "" if int(it["guid"].rsplit("-", 1)[1]) % 7 == 3 else it["guid"]
        guid_xml = f'<guid isPermaLink="false">{guid}</guid>' if guid else ""
        out.append(
            f"<item><title>{escape(it['title'])}</title><link>{escape(it['link'])}</link>"
            f"{guid_xml}<pubDate>{it['date']}</pubDate>"
            f"<author>desk@news.example ({escape(it['author'])})</author>"
            f"<description>{escape(it['body'])}</description></item>"
        )
    out.append("</channel></rss>\n")
    return "\n".join(out)


def _atom(feed: int, items: list[dict[str, str]]) -> str:
    updated = items[0]["iso"] if items else EPOCH.isoformat()
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>Farm outlet {feed}</title><id>urn:farm:{feed}</id><updated>{updated}</updated>",
        f'<link rel="alternate" href="https://news.example/f{feed}/"/>',
    ]
    for it in items:
        out.append(
            f"<entry><title>{escape(it['title'])}</title>"
            f'<link rel="alternate" href="{escape(it["link"])}"/>'
            f"<id>urn:{it['guid']}</id><published>{it['iso']}</published>"
            f"<updated>{it['iso']}</updated>"
            f"<author><name>{escape(it['author'])}</name></author>"
            f'<content type="html">{escape(it["body"])}</content></entry>'
        )
    out.append("</feed>\n")
    return "\n".join(out)


def feed_kind(index: int) -> str:
    return "rss" if index % 2 == 0 else "atom"


def feed_path(index: int) -> str:
    return f"/feed/{index}.{feed_kind(index)}"


def build_feed(index: int, settings: FarmSettings, text: _Text) -> FarmFeed:
    items = [_item_fields(text, index, j, settings) for j in range(settings.items)]
    kind = feed_kind(index)
    body = (_rss(index, items) if kind == "rss" else _atom(index, items)).encode("utf-8")
    validators = VALIDATOR_KINDS[random.Random(f"{settings.seed}:v:{index}").randrange(10)]
    etag = last_modified = None
    if validators in ("both", "etag"):
        etag = f'"farm-{settings.seed}-{index}-{len(body):x}"'
    if validators in ("both", "last_modified"):
        last_modified = format_datetime(EPOCH - timedelta(minutes=index % 500), usegmt=True)
    return FarmFeed(
        path=feed_path(index),
        kind=kind,
        entries=len(items),
        body=body,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        etag=etag,
        last_modified=last_modified,
    )


def build_farm(settings: FarmSettings) -> Iterator[FarmFeed]:
    """Every feed of the farm, in index order (deterministic for a seed)."""
    text = _Text(random.Random(settings.seed))
    for index in range(settings.feeds):
        # One generator per feed: feed k is the same whatever the farm's size.
        text.rng = random.Random(f"{settings.seed}:{index}")
        yield build_feed(index, settings, text)


# -- serving ---------------------------------------------------------------------------


@dataclass
class FarmStats:
    requests: int = 0
    ok: int = 0  # 200
    not_modified: int = 0  # 304
    not_found: int = 0
    on_validator_feeds: int = 0  # requests for feeds that send validators
    conditional: int = 0  # ... of those, how many carried If-None-Match/If-Modified-Since
    body_bytes: int = 0  # bytes of bodies sent (compressed when gzip was asked for)
    gzip: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    user_agents: dict[str, int] = field(default_factory=dict)


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip() for t in header.split(",")]
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


def _not_modified(headers: Any, feed: FarmFeed) -> bool:
    inm = headers.get("If-None-Match")
    if inm is not None:
        return feed.etag is not None and _etag_matches(inm, feed.etag)
    ims = headers.get("If-Modified-Since")
    if ims is not None and feed.last_modified is not None:
        if ims == feed.last_modified:
            return True
        try:
            return parsedate_to_datetime(ims) >= parsedate_to_datetime(feed.last_modified)
        except (TypeError, ValueError):
            return False
    return False


def _accepts_gzip(header: str) -> bool:
    for part in header.lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() in ("gzip", "x-gzip", "*"):
            q = params.strip().removeprefix("q=").strip()
            try:
                return not q or float(q) > 0
            except ValueError:
                return False
    return False


def make_app(feeds: dict[str, FarmFeed], latency: tuple[float, float], seed: int) -> Any:
    from aiohttp import web

    stats = FarmStats()
    rng = random.Random(seed)
    index = [f.index_row() for f in feeds.values()]

    async def handle(request: web.Request) -> web.StreamResponse:
        nonlocal stats
        s = stats
        s.requests += 1
        s.in_flight += 1
        s.peak_in_flight = max(s.peak_in_flight, s.in_flight)
        try:
            ua = request.headers.get("User-Agent", "-").split("/", 1)[0][:40]
            s.user_agents[ua] = s.user_agents.get(ua, 0) + 1
            if latency[1] > 0:
                await asyncio.sleep(rng.uniform(*latency))
            feed = feeds.get(request.path)
            if feed is None:
                s.not_found += 1
                return web.Response(status=404, text="no such feed\n")
            headers = {"Vary": "Accept-Encoding"}
            if feed.etag:
                headers["ETag"] = feed.etag
            if feed.last_modified:
                headers["Last-Modified"] = feed.last_modified
            if feed.etag or feed.last_modified:
                s.on_validator_feeds += 1
                if "If-None-Match" in request.headers or "If-Modified-Since" in request.headers:
                    s.conditional += 1
            if _not_modified(request.headers, feed):
                s.not_modified += 1
                return web.Response(status=304, headers=headers)
            s.ok += 1
            body = feed.body
            if _accepts_gzip(request.headers.get("Accept-Encoding", "")):
                body = feed.gzipped
                headers["Content-Encoding"] = "gzip"
                s.gzip += 1
            s.body_bytes += len(body)
            ctype = "application/rss+xml" if feed.kind == "rss" else "application/atom+xml"
            headers["Content-Type"] = f"{ctype}; charset=utf-8"
            return web.Response(status=200, body=body, headers=headers)
        finally:
            s.in_flight -= 1

    async def get_index(request: web.Request) -> web.Response:
        return web.json_response(index)

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(asdict(stats))

    async def reset(request: web.Request) -> web.Response:
        nonlocal stats
        in_flight = stats.in_flight
        stats = FarmStats(in_flight=in_flight)
        return web.json_response({"reset": True})

    app = web.Application()
    app.router.add_get("/_index", get_index)
    app.router.add_get("/_stats", get_stats)
    app.router.add_post("/_reset", reset)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def serve(settings: FarmSettings, host: str, port: int) -> None:
    from aiohttp import web

    t0 = time.monotonic()
    feeds = {f.path: f for f in build_farm(settings)}
    built = time.monotonic() - t0
    runner = web.AppRunner(make_app(feeds, settings.latency, settings.seed), access_log=None)
    await runner.setup()
    # A deep backlog: pollers open hundreds of connections at once.
    site = web.TCPSite(runner, host, port, backlog=4096, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1]
    size = sum(len(f.body) for f in feeds.values())
    print(
        f"READY http://{host}:{bound} feeds={len(feeds)} entries={settings.feeds * settings.items} "
        f"bytes={size} built_in={built:.1f}s",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


class FarmServer:
    """Runs the farm in a child process (``python farm.py``): its own core, its own loop.

    Use as a context manager; ``base_url`` is set once the farm is built and listening.
    """

    def __init__(self, settings: FarmSettings, *, python: str = sys.executable) -> None:
        self.settings = settings
        self.python = python
        self.base_url = ""
        self.banner = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> FarmServer:
        s = self.settings
        cmd = [
            self.python,
            str(Path(__file__).resolve()),
            "--feeds",
            str(s.feeds),
            "--items",
            str(s.items),
            "--seed",
            str(s.seed),
            "--latency",
            f"{s.latency[0]}-{s.latency[1]}",
            "--min-body",
            str(s.min_body),
            "--max-body",
            str(s.max_body),
            "--port",
            "0",
        ]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("READY "):
            self.close()
            raise RuntimeError(f"the farm did not start: {line!r}")
        self.banner = line.strip()
        self.base_url = line.split()[1]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def close(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--latency", type=parse_latency, default=(0.0, 0.0), help="e.g. 0.1-0.3")
    ap.add_argument("--min-body", type=int, default=2000)
    ap.add_argument("--max-body", type=int, default=6000)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    args = ap.parse_args(argv)
    settings = FarmSettings(
        feeds=args.feeds,
        items=args.items,
        seed=args.seed,
        latency=args.latency,
        min_body=args.min_body,
        max_body=args.max_body,
    )
    asyncio.run(serve(settings, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
