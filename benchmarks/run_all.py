"""Run every benchmark (what ``make bench`` runs) and print a summary table.

    python benchmarks/run_all.py            # each benchmark's full default run
    python benchmarks/run_all.py --quick    # each with --quick (about a minute each)
    python benchmarks/run_all.py --only poll,match

Runs ``benchmarks/bench_*.py`` and ``benchmarks/cluster_*.py`` one after the other (the
machine's cores are the benchmarks' to measure, so never in parallel), streaming each
one's output as it comes. A benchmark that fails does not stop the others; the exit
status is non-zero if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Outcome:
    name: str
    status: int
    seconds: float
    last_line: str


def discover() -> list[Path]:
    return sorted([*HERE.glob("bench_*.py"), *HERE.glob("cluster_*.py")])


def run_one(script: Path, quick: bool, timeout: float) -> Outcome:
    cmd = [sys.executable, str(script), *(["--quick"] if quick else [])]
    print(f"\n=== {script.name} {'--quick' if quick else ''}".rstrip() + " ===", flush=True)
    t0 = time.monotonic()
    last = ""
    try:
        with subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=HERE.parent
        ) as proc:
            assert proc.stdout is not None
            # A silent, hung benchmark must not hold the rest: kill it at the timeout.
            killer = threading.Timer(timeout, proc.kill)
            killer.start()
            try:
                for line in proc.stdout:
                    print(line, end="", flush=True)
                    if line.strip():
                        last = line.strip()
                status = proc.wait()
            finally:
                killer.cancel()
            if status < 0 and time.monotonic() - t0 >= timeout:
                last = f"killed after {timeout:.0f} s"
    except OSError as exc:
        return Outcome(script.name, 127, time.monotonic() - t0, str(exc))
    return Outcome(script.name, status, time.monotonic() - t0, last)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="run each benchmark with --quick")
    ap.add_argument("--only", default="", help="comma-separated name fragments, e.g. poll,match")
    ap.add_argument(
        "--timeout", type=float, default=None, help="seconds per benchmark (default 600/7200)"
    )
    args = ap.parse_args(argv)
    scripts = discover()
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        scripts = [s for s in scripts if any(w in s.stem for w in wanted)]
    if not scripts:
        print("no benchmark matched", file=sys.stderr)
        return 2
    timeout = args.timeout or (600.0 if args.quick else 7200.0)
    outcomes = [run_one(s, args.quick, timeout) for s in scripts]

    print("\n=== summary" + (" (--quick)" if args.quick else "") + " ===")
    width = max(len(o.name) for o in outcomes)
    for o in outcomes:
        verdict = "ok" if o.status == 0 else f"FAILED ({o.status})"
        print(f"{o.name:<{width}}  {verdict:<12} {o.seconds:7.1f} s   {o.last_line[:70]}")
    failed = [o.name for o in outcomes if o.status != 0]
    if failed:
        print(f"{len(failed)} of {len(outcomes)} failed: {', '.join(failed)}")
        return 1
    print(f"all {len(outcomes)} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
