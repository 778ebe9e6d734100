"""Fetcher throughput: httpx's own pool vs the httpx-aiohttp transport, under latency.

Real feed servers answer in 100-300 ms, so a poller needs hundreds of requests in
flight. This starts the test HTTP server in a *separate process* (so its threads do not
compete with the client for the GIL), adds ``--latency`` seconds before every response,
and fetches a gzip-compressed ~4 KB feed through ``aggregator.poll.fetch.Fetcher`` with
C concurrent requests (``requests = rounds × C``), once with httpx's default
transport and once with the default aiohttp-backed transport, fresh connections per
run. It prints the median wall time per configuration, requests/s, the ideal time
(``rounds × latency``: what a zero-overhead client would take) and the ratio between
the transports.

    python benchmarks/bench_fetch.py --quick  # < 60 s: C = 100, 300; 1 request/slot; 3 runs
    python benchmarks/bench_fetch.py          # ~5 min: C = 100, 200, 300; 3 per slot; 5 runs

Most of the time goes to the httpx-pool runs: that slowness is what is being measured.
It then times ``parse_feed`` against bare ``feedparser.parse`` (sanitizer off; with and
without its relative-URI resolution, which parse_feed replaces by a regex pass) on
farm-like feeds (50 items, 2-6 KB HTML bodies with relative links).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import multiprocessing
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import feedparser
import httpx

from aggregator.models import FetchRequest, FetchSettings
from aggregator.poll.fetch import Fetcher
from aggregator.poll.parse import parse_feed
from tests.support.httpserver import LocalServer, Response


def _feed(items: int = 10) -> bytes:
    body = "".join(
        f"<item><title>Story {i}</title><link>https://bench.example/{i}</link>"
        f"<guid>g{i}</guid><description>{'Lorem ipsum dolor sit amet. ' * 12}</description></item>"
        for i in range(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel>{body}</channel></rss>'.encode()


def _serve(latency: float, conn: Connection) -> None:
    with LocalServer(latency=latency) as server:
        server.route(
            "/feed.xml",
            Response(
                body=gzip.compress(_feed()),
                headers={"Content-Encoding": "gzip", "ETag": '"bench"'},
                content_type="application/rss+xml",
            ),
        )
        conn.send(server.base_url)
        conn.recv()  # block until the benchmark is done


async def _run(base_url: str, transport: str, concurrency: int, rounds: int) -> float:
    settings = FetchSettings(
        user_agent="aggregator-bench/0.1",
        allow_private_networks=True,
        max_connections=concurrency,
        per_host_connections=concurrency,  # one local host stands in for many
    )
    custom = None
    if transport == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        custom = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    requests = [FetchRequest(f"{base_url}/feed.xml?n={i}") for i in range(concurrency * rounds)]
    async with Fetcher(settings, transport=custom) as fetcher:
        started = time.perf_counter()
        results = await asyncio.gather(*(fetcher.fetch(r) for r in requests))
        elapsed = time.perf_counter() - started
    failures = [r.error for r in results if r.error is not None]
    if failures:
        raise SystemExit(f"{transport}: {len(failures)} failures, first: {failures[0]!r}")
    return elapsed


def _farm_feed(items: int = 50, seed: int = 1) -> bytes:
    """An RSS 2.0 feed like the issue's benchmark farm: 2-6 KB HTML bodies per item."""
    rng = random.Random(seed)
    words = [
        "troops",
        "region",
        "border",
        "talks",
        "minister",
        "report",
        "city",
        "army",
        "officials",
        "said",
    ]
    parts = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>F</title>']
    for i in range(items):
        paragraphs: list[str] = []
        size = rng.randint(2000, 6000)
        while sum(map(len, paragraphs)) < size:
            sentence = " ".join(rng.choice(words) for _ in range(12))
            paragraphs.append(f"<p>{sentence.capitalize()}. <a href='/x/{i}'>more</a></p>")
        body = "".join(paragraphs).replace("&", "&amp;").replace("<", "&lt;")
        parts.append(
            f"<item><title>Story {i}</title><link>https://farm.example/{i}</link>"
            f"<guid>farm-{i}</guid><pubDate>Wed, 30 Oct 2024 08:{i % 60:02d}:00 GMT</pubDate>"
            f"<description>{body}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def bench_parse(runs: int, feeds: int) -> None:
    """parse_feed (feedparser + our safety pass) against bare feedparser, same bodies."""
    bodies = [_farm_feed(50, seed) for seed in range(feeds)]
    headers = {"content-type": "application/rss+xml"}
    url = "https://farm.example/feed.xml"
    now = datetime.now(UTC)

    def bare(resolve: bool) -> Callable[[], None]:
        def run() -> None:
            for body in bodies:
                feedparser.parse(
                    io.BytesIO(body),
                    response_headers={**headers, "content-location": url},
                    sanitize_html=False,
                    resolve_relative_uris=resolve,
                )

        return run

    def ours() -> None:
        for body in bodies:
            parse_feed(body, url=url, headers=headers, fetched_at=now)

    entries = 50 * feeds
    print(f"\nparse: {feeds} feeds x 50 items, 2-6 KB HTML each; median of {runs} runs, one core")
    contenders = {
        "feedparser, sanitizer off": bare(True),
        "feedparser, sanitizer+resolve off": bare(False),
        "parse_feed (ours, complete)": ours,
    }
    results: dict[str, float] = {}
    for name, fn in contenders.items():
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        results[name] = statistics.median(times)
        print(f"  {name:<34} {entries / results[name]:>7.0f} entries/s")
    ours_time = results["parse_feed (ours, complete)"]
    for name in list(contenders)[:2]:
        print(f"  speed-up of parse_feed over {name}: {results[name] / ours_time:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer configurations and runs")
    parser.add_argument("--latency", type=float, default=0.15, help="server delay (s)")
    parser.add_argument("--rounds", type=int, help="requests per slot (default 3; quick 1)")
    args = parser.parse_args()
    levels = (100, 300) if args.quick else (100, 200, 300)
    runs = 3 if args.quick else 5
    args.rounds = args.rounds or (1 if args.quick else 3)

    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=_serve, args=(args.latency, child), daemon=True)
    proc.start()
    base_url = parent.recv()
    try:
        asyncio.run(_run(base_url, "httpx", 20, 1))  # warm up both code paths
        asyncio.run(_run(base_url, "aiohttp", 20, 1))
        ideal = args.rounds * args.latency
        print(
            f"latency {args.latency * 1000:.0f} ms, {args.rounds} requests per slot, "
            f"median of {runs} runs (fresh connections each run); ideal = {ideal:.2f} s"
        )
        cols = ("C", "requests", "transport", "median s", "req/s", "x ideal")
        print("{:>4} {:>8}  {:<9} {:>8} {:>7} {:>7}".format(*cols))
        for concurrency in levels:
            medians: dict[str, float] = {}
            for transport in ("httpx", "aiohttp"):
                # Alternate runs would be fairer against drift; runs are short enough.
                times = [
                    asyncio.run(_run(base_url, transport, concurrency, args.rounds))
                    for _ in range(runs)
                ]
                medians[transport] = statistics.median(times)
                n = concurrency * args.rounds
                print(
                    f"{concurrency:>4} {n:>8}  {transport:<9} {medians[transport]:>8.3f} "
                    f"{n / medians[transport]:>7.0f} {medians[transport] / ideal:>7.2f}"
                )
            ratio = medians["httpx"] / medians["aiohttp"]
            print(f"{'':>4} {'':>8}  httpx / aiohttp time ratio: {ratio:.2f}x")
    finally:
        parent.send("stop")
        proc.join(timeout=10)
    bench_parse(runs=3 if args.quick else 5, feeds=4 if args.quick else 10)


if __name__ == "__main__":
    main()
