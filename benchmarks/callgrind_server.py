"""Instructions per search of the whole API server, search included (issue 17).

    python benchmarks/callgrind_server.py sqlite|postgres OUTDIR [--code TREE]

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("backend", choices=sorted(URLS))
    ap.add_argument("out", type=Path)
    ap.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--url", help="database URL (default: the kept benchmark database)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    queries = bs.two_term_queries(200)
    searches = bs.filtered_searches(queries, 100, 100_000) + [bs.Search(q) for q in queries[:50]]
    code = str(args.code.resolve())
    source = SERVE.format(
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
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "BENCH_SEARCH_CODE": code, "PYTHONPATH": code},
    )
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    if not port.isdigit():
        proc.kill()
        raise SystemExit(f"the server did not start: {port!r}")
    client = bs.LeanClient(f"http://127.0.0.1:{port}")

    def control(*options: str) -> None:
        subprocess.run(
            ["callgrind_control", *options, str(proc.pid)], capture_output=True, check=True
        )

    try:
        for _ in range(2):
            for search in searches:
                client.get(search.target)
        for kind in ("plain", *bs.FILTER_KINDS):
            of_kind = [s for s in searches if s.kind == kind]
            control("-i", "on")
            for search in of_kind:
                client.get(search.target)
            control("-i", "off")
            control(f"--dump={kind}.{len(of_kind)}")
    finally:
        client.close()
        proc.terminate()
        proc.wait()
    for dump in sorted(args.out.glob(f"cg.{proc.pid}.*")):
        lines = dump.read_text().splitlines()
        label = next(x for x in lines if x.startswith("desc: Trigger")).rsplit(" ", 1)[-1]
        total = int(next(x for x in lines if x.startswith("totals:")).split()[1])
        kind, count = label.rsplit(".", 1)
        print(f"{args.backend} {kind:6s} {total / int(count):12,.0f} instructions a request")


if __name__ == "__main__":
    main()
