"""How long the ``aggregator`` commands take to start and answer, beside ``python -c pass``.

    python benchmarks/bench_cli.py [--runs 10] [--quick] [--against /path/to/other/checkout]
        [--config feeds.yaml]

A command someone types (``aggregator feeds``) should answer at once; most of its time
is importing modules it never uses. This runs, interleaved (one of each in turn,
``--runs`` rounds), in fresh interpreters on a fresh SQLite archive with a few feeds
and articles: ``python -c pass`` (the interpreter's own start, the floor),
``aggregator --help``, ``aggregator feeds`` and ``aggregator search`` — and prints the
median and spread of each wall time, the median minus the floor, the median CPU time
(user + system: on a loaded machine it moves much less than the wall time), how many
modules the command imported, and the load average. Goals (issue 17): ``--help`` <=
0.15 s, ``feeds`` and ``search`` <= 0.5 s on an idle machine.

``--breakdown`` adds where ``aggregator feeds`` spends its CPU: each library and module
group imported in turn in one interpreter, the garbage collector held as the command
holds it while loading (median of ``--runs`` interpreters), then the command's own work.

``--config FILE`` has the commands read that configuration instead of the two-feed
one (``--config feeds.yaml``: the shipped twenty feeds, where reading the YAML shows).

``--against DIR`` runs the same commands from another checkout too (``/work/main``:
the branch's baseline), its turns interleaved with this tree's, on the same archive.

Every interpreter reads and writes its bytecode under one temporary
``PYTHONPYCACHEPREFIX`` (a warm-up round, not counted, fills it), as an installed
package's bytecode is compiled once: both checkouts are measured alike, nothing is
written into either, and ``PYTHONDONTWRITEBYTECODE`` in the caller's environment
(which would compile every module of the checkout at each start) does not apply.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def prepare(workdir: Path, text: str = CONFIG) -> tuple[Path, dict[str, str]]:
    config = workdir / "feeds.yaml"
    config.write_text(text)
    env = dict(
        os.environ,
        AGGREGATOR_DATABASE_URL=f"sqlite:///{workdir / 'archive.db'}",
        PYTHONPYCACHEPREFIX=str(workdir / "pycache"),
        PYTHONPATH=str(ROOT),
        BENCH_CLI_DIR=str(workdir),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # One daemon-less migration and sync, so the commands read a real archive.
    subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "--config", str(config), "db", "upgrade"],
        env=env,
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    return config, env


# Imported in this order, each step timed (CPU) after the ones before it; the last step
# runs the command itself, in the same interpreter, its output discarded.
BREAKDOWN = """
import contextlib, gc, io, json, sys, time
gc.disable()  # as `aggregator` holds it while a command loads (cli.main)
steps = json.loads(sys.argv[1])
out, before = {}, time.process_time()
for name, modules in steps:
    if modules == ["<first model>"]:
        import pydantic
        class First(pydantic.BaseModel):
            a: int = 1
    elif modules == ["<command>"]:
        from aggregator.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(sys.argv[2:]) == 0
    else:
        for module in modules:
            __import__(module)
    now = time.process_time()
    out[name] = now - before
    before = now
print(json.dumps(out))
"""
STEPS = [
    ("aggregator.cli (argparse, the parser)", ["aggregator.cli"]),
    ("PyYAML", ["yaml"]),
    ("pydantic", ["pydantic"]),
    ("pydantic's first model (its own lazy modules)", ["<first model>"]),
    ("aggregator.config (our models)", ["aggregator.config"]),
    ("SQLAlchemy", ["sqlalchemy"]),
    ("SQLAlchemy's SQLite dialect", ["sqlalchemy.dialects.sqlite"]),
    # What `feeds` imports of the store: the engine, the schema and its one query (the
    # archive's read side, the write side and the PostgreSQL dialect stay out:
    # tests/test_cli_imports.py).
    ("aggregator.store.engine (engine, schema)", ["aggregator.store.engine"]),
    ("aggregator.store.feedlist (the query, records)", ["aggregator.store.feedlist"]),
    ("rich (the table)", ["rich.console", "rich.table"]),
    ("aggregator.cli.feeds", ["aggregator.cli.feeds"]),
    ("the command: configuration, query, table", ["<command>"]),
]


def breakdown(config: Path, env: dict[str, str], runs: int) -> None:
    import json

    argv = [sys.executable, "-c", BREAKDOWN, json.dumps(STEPS), "--config", str(config), "feeds"]
    samples: dict[str, list[float]] = {name: [] for name, _ in STEPS}
    for _ in range(runs):
        proc = subprocess.run(
            argv, env=env, cwd=env["BENCH_CLI_DIR"], capture_output=True, text=True, check=True
        )
        for name, seconds in json.loads(proc.stdout.splitlines()[-1]).items():
            samples[name].append(seconds)
    total = sum(statistics.median(v) for v in samples.values())
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nwhere `aggregator feeds` spends its CPU after the interpreter's start ({runs} runs,")
    print(f"medians, CPU ms, each step after those above it; load {load}):")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"  {name:<50} {1000 * med:>6.0f}  {med / total:>4.0%}")
    print(f"  {'total':<50} {1000 * total:>6.0f}")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one run, and its standard error."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # Run from elsewhere: `python -c` puts the working directory first on sys.path,
    # before PYTHONPATH, and would import the checkout the benchmark was started in.
    proc = subprocess.run(
        argv, env=env, cwd=env["BENCH_CLI_DIR"], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, cpu, proc.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="5 runs")
    ap.add_argument("--against", type=Path, help="another checkout, measured alongside")
    ap.add_argument("--breakdown", action="store_true", help="where `feeds` spends its CPU")
    ap.add_argument("--config", type=Path, help="the configuration the commands read")
    args = ap.parse_args()
    runs = 5 if args.quick else args.runs
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        text = CONFIG if args.config is None else args.config.read_text(encoding="utf-8")
        config, env = prepare(Path(tmp), text)
        cli = [sys.executable, "-c", COUNTING]
        commands = {
            "--help": [*cli, "--help"],
            "feeds": [*cli, "--config", str(config), "feeds"],
            "search": [*cli, "--config", str(config), "search", "harbour"],
        }
        trees = {"": ROOT}
        if args.against is not None:
            trees = {"": ROOT, f" [{args.against.name or args.against}]": args.against.resolve()}
        plan = {"python -c pass": ([sys.executable, "-c", "pass"], env)}
        for suffix, tree in trees.items():
            for name, argv in commands.items():
                plan[f"aggregator {name}{suffix}"] = (argv, dict(env, PYTHONPATH=str(tree)))
        walls: dict[str, list[float]] = {name: [] for name in plan}
        cpus: dict[str, list[float]] = {name: [] for name in plan}
        modules: dict[str, int] = {}
        for argv, run_env in plan.values():  # warm-up: fills the bytecode cache
            timed(argv, run_env)
        for _ in range(runs):
            for name, (argv, run_env) in plan.items():
                wall, cpu, stderr = timed(argv, run_env)
                walls[name].append(wall)
                cpus[name].append(cpu)
                for line in stderr.splitlines():
                    if line.startswith("MODULES "):
                        modules[name] = int(line.split()[1])
        floor = statistics.median(walls["python -c pass"])
        cpu_floor = statistics.median(cpus["python -c pass"])
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"{runs} runs each, interleaved; {os.cpu_count()} cores, load {load}")
        print(f"this tree: {ROOT}" + (f"; against: {args.against}" if args.against else ""))
        head = ("command", "median s", "min", "max", "- floor", "cpu s", "- floor", "modules")
        print(
            f"{head[0]:<32} {head[1]:>9} {head[2]:>7} {head[3]:>7} {head[4]:>8} "
            f"{head[5]:>7} {head[6]:>8} {head[7]:>8}"
        )
        for name, ts in walls.items():
            med = statistics.median(ts)
            cpu = statistics.median(cpus[name])
            print(
                f"{name:<32} {med:>9.3f} {min(ts):>7.3f} {max(ts):>7.3f} "
                f"{med - floor:>8.3f} {cpu:>7.3f} {cpu - cpu_floor:>8.3f} "
                f"{modules.get(name, 0):>8}"
            )
        if args.breakdown:
            breakdown(config, env, runs)


if __name__ == "__main__":
    main()
