"""What a search costs in the web stack beyond ``Archive.search`` (issue 17).

    python benchmarks/callgrind_web_stack.py sqlite|postgres [--links] cpu
    valgrind --tool=callgrind python benchmarks/callgrind_web_stack.py postgres cg

It measures this checkout, or the one ``BENCH_SEARCH_CODE`` names (as
``bench_search.py``, whose import puts it first on the path). The real application is
called as ASGI on the kept benchmark databases (those ``bench_search.py --keep
/work/bench/s100kL.sqlite --pg-keep bs100kl`` builds, or the URL in ``BENCH_SEARCH_URL``;
read only) with ``Archive.search``
answering from pages it read once beforehand, so only the web stack runs: the
middlewares, the plain path's arguments, ``_safe_summary``, ``dump_json``, the response.
``--links`` gives each article of those pages its own link (the benchmark's articles
have none, real ones always do). ``cpu`` prints the median ``time.process_time`` per
search of each kind (``ROUNDS`` x 25 calls); ``cg`` runs 2 x 25 searches a kind with a
callgrind dump before and after each (``callgrind_control --dump``): a kind's
``after`` dump over 50 is its instructions per search.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_search as bs

from aggregator.api.app import ApiSettings, create_app
from aggregator.store.archive import Archive
from aggregator.store.views import SearchPage

URLS = {
    "sqlite": "sqlite:////work/bench/s100kL.sqlite",
    "postgres": "postgresql+psycopg://postgres@127.0.0.1/bs100kl",
}
KINDS = ("plain", *bs.FILTER_KINDS)


def main() -> None:
    backend, mode, links = sys.argv[1], sys.argv[-1], "--links" in sys.argv
    archive = Archive(create_engine(os.environ.get("BENCH_SEARCH_URL") or URLS[backend]))
    queries = bs.two_term_queries(200)
    searches = bs.filtered_searches(queries, 100, 100_000) + [bs.Search(q) for q in queries[:25]]
    targets = [(s.kind, s.target) for s in searches]
    real, pages = archive.search, {}

    def read_before(q: str | None, filters: Any, **kw: Any) -> SearchPage:
        key = (q, filters, kw.get("order"), kw.get("cursor"), kw.get("limit"))
        if key not in pages:
            page = real(q, filters, **kw)
            if links:
                page = replace(page, items=tuple(replace(a, url=_link(a.id)) for a in page.items))
            pages[key] = page
        return pages[key]

    archive.search = read_before  # type: ignore[method-assign]
    app = create_app(archive, ApiSettings())

    async def call(target: str) -> None:
        path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8080"), (b"accept", b"*/*")],
            "client": ("127.0.0.1", 5),
            "server": ("127.0.0.1", 8080),
        }
        out: list[Any] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            out.append(message)

        await app(scope, receive, send)
        assert out[0]["status"] == 200, out

    async def run() -> None:
        for _, target in targets:  # the pages read, the app warm
            await call(target)
        for kind in KINDS:
            of_kind = [t for k, t in targets if k == kind]
            if mode == "cg":
                _dump(f"before.{kind}")
                for _ in range(2):
                    for target in of_kind:
                        await call(target)
                _dump(f"after.{kind}")
                continue
            spent = []
            for _ in range(int(os.environ.get("ROUNDS", 10))):
                for target in of_kind:
                    started = time.process_time()
                    await call(target)
                    spent.append(time.process_time() - started)
            print(f"{backend} {kind:6s} web stack {statistics.median(spent) * 1e6:5.1f} µs")

    asyncio.run(run())


def _dump(label: str) -> None:
    # Blocking on purpose: nothing else may run on the loop while the counts are cut.
    subprocess.run(
        ["callgrind_control", f"--dump={label}", str(os.getpid())], capture_output=True, check=False
    )


def _link(article_id: int) -> str:
    host = f"https://www.outlet{article_id % 97}.example.com"
    return f"{host}/news/2026/12/04/article-{article_id}-some-words?ref=rss"


if __name__ == "__main__":
    main()
