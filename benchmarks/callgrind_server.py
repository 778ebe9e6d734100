"""Instructions per search of the whole API server, search included (issue 17).

    python benchmarks/callgrind_server.py sqlite|postgres OUTDIR [--code TREE] [--raw]

Serves the kept benchmark database (``bench_search``'s ``--serve``: the daemon's
``serve()``, uvicorn, the application, ``Archive.search`` and, on SQLite, the engine)
in a process of its own under ``valgrind --tool=callgrind`` with instrumentation off,
and sends it ``bench_search``'s searches over one keep-alive connection
(``bench_search.LeanClient``): every search twice to warm it, then instrumentation on
for one kind at a time (plain, then each filtered kind) and a dump per kind
(``OUTDIR/cg.PID.N``, its description naming the kind and the number of requests):
a dump's total over that number is the kind's instructions per request, the server's
user-space work only (the kernel's is not counted). ``--code`` serves another source
tree (e.g. main's, ``git archive main`` extracted), as ``bench_search --baseline``.

Under valgrind a search runs ~50x slower than its own time, so the server's inline
budget (``api.app.INLINE_BUDGET``, 50 ms) is raised to 2.5 s for the run: otherwise a
SQLite search past it is stopped and run again in the pool, and the count depends on
the machine's timing instead of the code's work.

``--raw`` counts the raw engine instead, the baseline of ``bench_search``'s ratios:
the same searches, warmed the same, its plain ones through ``raw_query`` and the
filtered ones through ``replayed`` (the statements the archive sent, on one DB-API
connection), in a process that reads each kind's name on its stdin. Each dump's
instructions are also printed by shared object (``libsqlite3``, ``libpython``...):
where the server's count and the raw engine's differ (docs/benchmarks.md, "What a
SQLite search costs the server beyond the engine").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_search as bs

URLS = {
    "sqlite": "sqlite:////work/bench/s100kL.sqlite",
    "postgres": "postgresql+psycopg://postgres@127.0.0.1/bs100kl",
}
SERVE = """
import sys
sys.path.insert(0, {benchmarks!r})
import bench_search as bs  # puts BENCH_SEARCH_CODE first on the path
import aggregator.api.app as app
app.INLINE_BUDGET = 2.5
bs.serve_forever({url!r})
"""
# --raw: the raw engine over the same searches, a kind at a time as named on stdin
RAW = """
import sys
sys.path.insert(0, {benchmarks!r})
import bench_search as bs
import callgrind_server as cs
from aggregator.store import create_db_engine
from aggregator.store.archive import Archive
engine = create_db_engine({url!r})
archive = Archive(engine)
searches = cs.searches()
plain = bs.raw_query(engine, archive)
filtered = bs.replayed(engine, archive, [s for s in searches if s.kind != "plain"])
print("ready", flush=True)
for line in sys.stdin:
    kind = line.strip()
    for s in searches:
        if kind in ("all", s.kind):
            plain(s.q) if s.kind == "plain" else filtered(s)
    print("done", flush=True)
"""


def searches() -> list[bs.Search]:
    """The counted searches: 100 filtered ones (25 of each kind), then 50 plain ones."""
    queries = bs.two_term_queries(200)
    return bs.filtered_searches(queries, 100, 100_000) + [bs.Search(q) for q in queries[:50]]


def by_object(dump: Path) -> dict[str, int]:
    """Self instructions of a callgrind dump by shared object (file name only).

    The format's cost lines follow ``fn=``, under the last ``ob=``; the line after a
    ``calls=`` line is the called function's inclusive cost, not the caller's own.
    Names are compressed: ``ob=(3) /path`` (or ``cob=``) names id 3, a later ``ob=(3)``
    reuses it.
    """
    names: dict[str, str] = {}
    totals: dict[str, int] = {}
    current = "?"
    after_call = False
    for line in dump.read_text().splitlines():
        if line.startswith(("ob=", "cob=")):  # one namespace: either may name an id first
            ref, _, name = line.partition("=")[2].partition(" ")
            if name:
                names[ref] = name.rsplit("/", 1)[-1]
            if line.startswith("ob="):
                current = names.get(ref, ref)
        elif line.startswith("calls="):
            after_call = True
        elif line[:1].isdigit() or line[:1] in "+-*":
            fields = line.split()
            if after_call:
                after_call = False
            elif len(fields) > 1:
                totals[current] = totals.get(current, 0) + int(fields[1])
    return totals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("backend", choices=sorted(URLS))
    ap.add_argument("out", type=Path)
    ap.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--url", help="database URL (default: the kept benchmark database)")
    ap.add_argument("--raw", action="store_true", help="count the raw engine, not the server")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    counted = searches()
    code = str(args.code.resolve())
    source = (RAW if args.raw else SERVE).format(
        benchmarks=str(Path(__file__).resolve().parent), url=args.url or URLS[args.backend]
    )
    proc = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={args.out.resolve()}/cg.%p",
            sys.executable,
            "-c",
            source,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "BENCH_SEARCH_CODE": code, "PYTHONPATH": code},
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    if not (first == "ready" if args.raw else first.isdigit()):
        proc.kill()
        raise SystemExit(f"the {'raw engine' if args.raw else 'server'} did not start: {first!r}")
    client = None if args.raw else bs.LeanClient(f"http://127.0.0.1:{first}")

    def run(kind: str) -> None:
        if client is not None:
            for search in counted:
                if kind in ("all", search.kind):
                    client.get(search.target)
            return
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(kind + "\n")
        proc.stdin.flush()
        if proc.stdout.readline().strip() != "done":
            raise SystemExit(f"the raw engine failed on the {kind} searches")

    def control(*options: str) -> None:
        subprocess.run(
            ["callgrind_control", *options, str(proc.pid)], capture_output=True, check=True
        )

    try:
        for _ in range(2):
            run("all")
        for kind in ("plain", *bs.FILTER_KINDS):
            control("-i", "on")
            run(kind)
            control("-i", "off")
            control(f"--dump={kind}.{sum(s.kind == kind for s in counted)}")
    finally:
        if client is not None:
            client.close()
            proc.terminate()
        proc.stdin.close()
        proc.wait()
    what = "raw engine" if args.raw else "server"
    for dump in sorted(args.out.glob(f"cg.{proc.pid}.*")):
        lines = dump.read_text().splitlines()
        label = next(x for x in lines if x.startswith("desc: Trigger")).rsplit(" ", 1)[-1]
        total = int(next(x for x in lines if x.startswith("totals:")).split()[1])
        kind, count = label.rsplit(".", 1)
        n = int(count)
        print(f"{args.backend} {what} {kind:6s} {total / n:12,.0f} instructions a request")
        objects = sorted(by_object(dump).items(), key=lambda item: -item[1])
        print("    " + ", ".join(f"{name} {cost / n / 1e3:,.0f}k" for name, cost in objects[:6]))


if __name__ == "__main__":
    main()
