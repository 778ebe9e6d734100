"""How long the ``aggregator`` commands take to start and answer, beside ``python -c pass``.

    python benchmarks/bench_cli.py [--runs 10] [--quick]

A command someone types (``aggregator feeds``) should answer at once; most of its time
is importing modules it never uses. This runs, interleaved (one of each in turn,
``--runs`` rounds), in fresh interpreters on a fresh SQLite archive with a few feeds
and articles: ``python -c pass`` (the interpreter's own start, the floor),
``aggregator --help``, ``aggregator feeds`` and ``aggregator search`` — and prints the
median and spread of each wall time, the median minus the floor, how many modules
the command imported, and the load average. Goals (issue 17): ``--help`` <= 0.15 s,
``feeds`` and ``search`` <= 0.5 s on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
settings:
  http: {enabled: false}
feeds:
  - {name: Harbour Daily, url: "http://127.0.0.1:9/harbour.xml"}
  - {name: Council Wire, url: "http://127.0.0.1:9/council.xml"}
"""

# Counts the modules a command imported, printed at exit (stderr), without changing
# what it imports: the command runs as ``python -m aggregator.cli`` would.
COUNTING = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('MODULES', len(sys.modules), file=sys.stderr))\n"
    "sys.argv = ['aggregator', *sys.argv[1:]]\n"
    "runpy.run_module('aggregator.cli', run_name='__main__')\n"
)


def prepare(workdir: Path) -> tuple[Path, dict[str, str]]:
    config = workdir / "feeds.yaml"
    config.write_text(CONFIG)
    env = dict(os.environ, AGGREGATOR_DATABASE_URL=f"sqlite:///{workdir / 'archive.db'}")
    # One daemon-less migration and sync, so the commands read a real archive.
    subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "--config", str(config), "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    return config, env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="5 runs")
    args = ap.parse_args()
    runs = 5 if args.quick else args.runs
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        config, env = prepare(Path(tmp))
        cli = [sys.executable, "-c", COUNTING]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "aggregator --help": [*cli, "--help"],
            "aggregator feeds": [*cli, "--config", str(config), "feeds"],
            "aggregator search": [*cli, "--config", str(config), "search", "harbour"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        modules: dict[str, int] = {}
        for _ in range(runs):
            for name, argv in commands.items():
                t0 = time.perf_counter()
                proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
                times[name].append(time.perf_counter() - t0)
                if proc.returncode != 0:
                    raise SystemExit(f"{name} failed ({proc.returncode}): {proc.stderr[-2000:]}")
                for line in proc.stderr.splitlines():
                    if line.startswith("MODULES "):
                        modules[name] = int(line.split()[1])
        floor = statistics.median(times["python -c pass"])
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"{runs} runs each, interleaved; {os.cpu_count()} cores, load {load}")
        head = ("command", "median s", "min", "max", "- floor", "modules")
        print(f"{head[0]:<20} {head[1]:>9} {head[2]:>7} {head[3]:>7} {head[4]:>8} {head[5]:>8}")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(
                f"{name:<20} {med:>9.3f} {min(ts):>7.3f} {max(ts):>7.3f} "
                f"{med - floor:>8.3f} {modules.get(name, 0):>8}"
            )


if __name__ == "__main__":
    main()
