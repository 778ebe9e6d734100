"""The ``aggregator`` command: its parser and dispatch. The subcommands live in
``cli/archive.py`` (search, clusters, cluster, export), ``cli/feeds.py`` (feeds, feeds
show) and ``cli/ops.py`` (run, db, poll, alerts, opml, feeds add).

Exit status: 0 success, 1 the work failed (e.g. polls failed, database error), 2 bad
usage or an invalid configuration.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from aggregator import __version__
from aggregator.errors import AggregatorError, ConfigError, StorageError

# Only what parsing the command line needs is imported up here: `--help` answers
# without the configuration's pydantic models and YAML, and each command imports its
# own module (and so its own libraries) when it runs (issue 17: `aggregator feeds`
# took 1.3-1.5 s, most of it importing what only the daemon uses).
if TYPE_CHECKING:
    from aggregator.config import LoadedConfig

CONFIG_ENV = "AGGREGATOR_CONFIG"

# `import httpx` also imports httpx's own command-line client, and with it click,
# pygments and rich: 100 modules, 5-6 MiB resident in `poll` and 3.6 in the daemon
# with its API (uvicorn imports click anyway), which never run that client (issue 17;
# the `httpx` program is a process of its own and unaffected). httpx falls back to a
# stub for it when `httpx._main` cannot be imported; marking that module absent before
# anything imports httpx takes that path.
# tests/test_cli_imports.py checks that httpx works and its client stays out.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def _default_config() -> str:
    return os.environ.get(CONFIG_ENV, "feeds.yaml")


def _parse_since(value: str) -> datetime:
    """``2024-11-01``, an ISO timestamp, or a relative age like ``3d`` / ``12h`` (the
    API reads ``since=`` the same way: aggregator.when)."""
    from aggregator.when import parse_when

    try:
        return parse_when(value, datetime.now(UTC))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(value: str) -> str:
    """A duration as written (``30m``), checked here and kept verbatim for feeds.yaml."""
    from aggregator.config import parse_duration

    try:
        parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value.strip()


def build_parser(*, complete: bool = True) -> argparse.ArgumentParser:
    """The command line's parser. ``complete=False`` (``main``): each subcommand's
    parser gets its arguments only when the command line names it (``_WhenChosen``)."""
    parser = argparse.ArgumentParser(
        prog="aggregator", description="News-feed aggregator and monitor."
    )
    parser.add_argument("--version", action="version", version=f"aggregator {__version__}")
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        help=f"configuration file (default: ${CONFIG_ENV} or ./feeds.yaml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = cast(
        _WhenChosen,
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND", action=_WhenChosen),
    )
    for name, help_text, arguments in _SUBCOMMANDS:
        sub.add_parser(name, help=help_text)
        sub.pending[name] = arguments
    if complete:
        for name in list(sub.pending):
            sub.complete(name)
    return parser


if TYPE_CHECKING:
    _SubParsersAction = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsersAction = argparse._SubParsersAction


class _WhenChosen(_SubParsersAction):
    """The subcommands, each parser given its arguments when the command line names it
    (before it parses or prints anything, so help, errors and results are those of
    the complete parser): a command builds the one parser it runs, not all twenty-two
    with their hundred arguments, each of which argparse gives a help formatter (the
    terminal's width) and a look for its translations: ~5 ms of every command's start
    (issue 17)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: dict[str, Callable[[argparse.ArgumentParser], None]] = {}

    def complete(self, name: str) -> None:
        arguments = self.pending.pop(name, None)
        if arguments is not None:
            sub = self.choices[name]
            arguments(sub)
            _everywhere_in(sub)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if isinstance(values, list) and values:
            self.complete(values[0])
        super().__call__(parser, namespace, values, option_string)


def _run_arguments(p: argparse.ArgumentParser) -> None:
    pass


def _poll_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="poll once (the only mode; for clarity)")
    p.add_argument(
        "--feed", action="append", metavar="URL|NAME", help="poll this feed now (repeatable)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="poll the named feeds even if they were polled within settings.poll.manual_gap",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def _search_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "words", nargs="+", help='a query: words, "phrases", AND/OR/NOT, troop*, title:…'
    )
    s.add_argument("--since", type=_parse_since, help="YYYY-MM-DD, ISO time or age (3d)")
    s.add_argument("--until", type=_parse_since, help="published before this")
    s.add_argument("--feed", action="append", help="only this feed (repeatable)")
    s.add_argument("--topic", help="only articles that matched this topic")
    s.add_argument("--lang", help="only articles in this language (a code: en, de …)")
    s.add_argument("--order", choices=("date", "relevance"), default="date")
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--json", action="store_true")


def _clusters_arguments(cl: argparse.ArgumentParser) -> None:
    cl.add_argument("--topic", help="only events that matched this topic")
    cl.add_argument("--since", type=_parse_since, help="first reported since (3d, a date)")
    cl.add_argument("--min-sources", type=int, default=1, help="at least N outlets")
    cl.add_argument("--limit", type=int, default=30)
    cl.add_argument("--json", action="store_true")


def _cluster_arguments(cs: argparse.ArgumentParser) -> None:
    cssub = cs.add_subparsers(dest="cluster_command", required=True, metavar="SUBCOMMAND")
    csh = cssub.add_parser("show", help="an event's articles by outlet, timeline, first report")
    csh.add_argument("id", type=int)
    csh.add_argument("--explain", action="store_true", help="why each article joined")
    csh.add_argument("--json", action="store_true")


def _export_arguments(ex: argparse.ArgumentParser) -> None:
    ex.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    ex.add_argument("--query", help="a query in the query language")
    ex.add_argument("--topic")
    ex.add_argument("--feed", action="append")
    ex.add_argument("--lang", help="only articles in this language (a code: en, de …)")
    ex.add_argument("--since", type=_parse_since)
    ex.add_argument("--until", type=_parse_since)
    ex.add_argument("--output", "-o", help="a file (default: standard output)")


def _feeds_arguments(f: argparse.ArgumentParser) -> None:
    f.add_argument("--json", action="store_true")
    fsub = f.add_subparsers(dest="feeds_command", metavar="SUBCOMMAND")
    fs = fsub.add_parser("show", help="one feed's health and its last polls")
    fs.add_argument("name")
    fs.add_argument("--limit", type=int, default=20)
    fs.add_argument("--json", action="store_true")
    fa = fsub.add_parser(
        "add", help="find a website's feed, check it and print (or --write) its entry"
    )
    fa.add_argument("url", help="a website's address, or a feed's")
    fa.add_argument("--name", help="the feed's name (default: its title, made unique)")
    fa.add_argument(
        "--interval",
        type=_duration,
        metavar="DURATION",
        help="poll at this fixed interval (e.g. 30m) instead of the adaptive one",
    )
    fa.add_argument(
        "--fulltext", action="store_true", help="fetch each new article's page for its text"
    )
    fa.add_argument(
        "--tag", action="append", default=[], metavar="T", help="a tag for the feed (repeatable)"
    )
    fa.add_argument("--all", action="store_true", help="add every feed found, not only the first")
    fa.add_argument(
        "--write", action="store_true", help="append the entry to the configuration file"
    )
    fa.add_argument("--json", action="store_true", help="describe every candidate as JSON")


def _config_arguments(c: argparse.ArgumentParser) -> None:
    csub = c.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    cc = csub.add_parser("check", help="validate a configuration file")
    cc.add_argument("file", nargs="?", help="the file (default: the --config file)")


def _alerts_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--failed", action="store_true", help="only dead-lettered alerts")
    a.add_argument("--limit", type=int, default=50)
    a.add_argument("--json", action="store_true")
    asub = a.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND")
    ar = asub.add_parser("retry", help="send a failed alert again (same id)")
    ar.add_argument("id")
    at = asub.add_parser("test", help="send a sample alert through a rule's real channels")
    at.add_argument("rule")
    ae = asub.add_parser("enable", help="re-enable a channel disabled by a 410 Gone")
    ae.add_argument("channel")


def _opml_arguments(o: argparse.ArgumentParser) -> None:
    osub = o.add_subparsers(dest="opml_command", required=True, metavar="SUBCOMMAND")
    oi = osub.add_parser("import", help="print feeds.yaml entries for an OPML file's feeds")
    oi.add_argument("file")
    oi.add_argument(
        "--write", action="store_true", help="append the new feeds to the configuration file"
    )
    osub.add_parser("export", help="print the configured feeds as OPML")


def _db_arguments(d: argparse.ArgumentParser) -> None:
    dsub = d.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    dsub.add_parser("upgrade", help="apply the migrations")
    pr = dsub.add_parser(
        "prune", help="apply settings.retention now (the daemon does it every hour)"
    )
    pr.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    pr.add_argument("--json", action="store_true")


# The subcommands in the order `--help` lists them: name, help, their arguments.
_SUBCOMMANDS: tuple[tuple[str, str, Callable[[argparse.ArgumentParser], None]], ...] = (
    ("run", "run the daemon", _run_arguments),
    ("poll", "poll feeds once and exit", _poll_arguments),
    ("search", "search stored articles (full text, query language)", _search_arguments),
    ("clusters", "events (story clusters), newest first", _clusters_arguments),
    ("cluster", "one event", _cluster_arguments),
    ("export", "stream the archive as JSON lines or CSV", _export_arguments),
    ("feeds", "list feeds and their health", _feeds_arguments),
    ("config", "configuration tools", _config_arguments),
    ("alerts", "alert deliveries: list, retry, test", _alerts_arguments),
    ("opml", "OPML import and export of feeds", _opml_arguments),
    ("db", "database tools", _db_arguments),
)


_HELP = {
    "--limit": "at most this many (default: %(default)s)",
    "--json": "print JSON instead of a table",
}


def _everywhere_in(sub: argparse.ArgumentParser) -> None:
    """``--config`` and ``-v`` after the subcommand too (``aggregator run --config
    FILE`` is how people type it), and help for the options repeated everywhere: in a
    subcommand's parser, once its own arguments are in, and in those under it."""
    options = {o for a in sub._actions for o in a.option_strings}
    if "--config" not in options:
        # SUPPRESS: unset unless given here, so the top-level value stands.
        sub.add_argument("-c", "--config", default=argparse.SUPPRESS, help="configuration file")
    if "--verbose" not in options:
        sub.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
            help="debug logging",
        )  # fmt: skip
    for action in sub._actions:
        if action.help is None:
            for option in action.option_strings:
                action.help = _HELP.get(option, action.help)
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                _everywhere_in(nested)


def _setup_logging(verbose: bool, level: str = "INFO") -> None:
    import logging

    logging.basicConfig(
        level=logging.DEBUG if verbose else getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Library chatter (every HTTP request, every scheduler run) would drown our one
    # line per poll.
    for noisy in ("httpx", "httpcore", "aiohttp", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances reached" is how our jobs are meant
    # to behave (one at a time), not news worth a log line every tick.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


# What the commands that only read the archive (or migrate it) never use: the feeds'
# credentials, the alert channels, the API token. Left out, their ${SECRETS} need not
# be in the environment to search or list; the daemon and `alerts test` read them all.
READ_ONLY_LEAVES_OUT = ("feeds", "channels", "alerts", "settings.http")


def leaves_out(args: argparse.Namespace) -> tuple[str, ...]:
    """The configuration sections this command does not use."""
    command = args.command
    if command in ("search", "clusters", "cluster", "export", "db"):
        return READ_ONLY_LEAVES_OUT
    if command == "feeds" and args.feeds_command != "add":
        return READ_ONLY_LEAVES_OUT
    if command == "alerts" and args.alerts_command != "test":
        return READ_ONLY_LEAVES_OUT
    return ()


def _load(args: argparse.Namespace, path: str | None = None) -> LoadedConfig:
    # The daemon (and a one-off poll, which only queues alerts) go on without a
    # channel whose secret is missing: only its deliveries fail, with the message.
    return _load_config(
        path or args.config or _default_config(),
        leave_out=leaves_out(args),
        defer_channels=args.command in ("run", "poll"),
    )


def _load_config(
    path: str, *, leave_out: Sequence[str] = (), defer_channels: bool = False
) -> LoadedConfig:
    if leave_out:
        # A command that only reads the archive is checked for what it uses (the
        # file's structure, the database URL, topic names), not by every stage: the
        # stages' checks import the stages (numpy, feedparser, the HTTP stack) and cost
        # a second per command (issue 17). A topic's query is still parsed, with its
        # error, when a command uses it; `config check` and the daemon run every check.
        from aggregator.config import load_config as read_config

        return read_config(path, checks=_no_stage_checks, leave_out=leave_out)
    # Late: the stages' checks bring the stages in, which `--help` does not need.
    from aggregator.compose import load_config

    return load_config(path, leave_out=leave_out, defer_channels=defer_channels)


def _no_stage_checks(raw: Mapping[str, Any]) -> list[str]:
    return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(complete=False)
    args = parser.parse_args(argv)
    from aggregator.cli.common import EXIT_FAILED, EXIT_USAGE, print_problems

    # Called as the program (no argv: the `aggregator` script, `python -m`), a command
    # that ends when its work does spends a third of its CPU in the cyclic garbage
    # collector: its start is imports (SQLAlchemy's and pydantic's tables, our
    # dataclasses), hundreds of thousands of objects that live until exit, which the
    # collector walks again and again as they are made and once more at exit, finding
    # nothing (issue 17; benchmarks/bench_cli.py). So it waits while the command loads;
    # what loaded is set aside for good (gc.freeze: never walked again) before the
    # command's own work, which runs with the collector as usual (an export or a poll
    # may be long). The daemon is left as it is, and so are callers in the same
    # process (the tests), whose objects must stay collectable.
    program = argv is None and args.command != "run"
    if program:
        gc.disable()
    source = args.config or _default_config()
    if args.command == "run" and argv is None:
        _run_lean()  # as the program: runs it again under -OO, unless already so
    if args.command == "run":
        # First thing: a SIGTERM while the configuration is read is a clean stop.
        from aggregator.service import catch_early_stop  # imports SQLAlchemy: not for --help

        catch_early_stop()
    try:
        if args.command == "config":
            return _loaded_then(program, cmd_config_check, args)
        loaded = _load(args)
        _setup_logging(args.verbose, loaded.config.settings.log_level)
        return _loaded_then(program, command_for(args), args, loaded)
    except ConfigError as err:
        print_problems(err, source)
        return EXIT_USAGE
    except StorageError as err:
        print(f"database error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except AggregatorError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Whoever read our output stopped early (`aggregator search … | head`): not a
        # failure of ours. Point stdout at /dev/null so the interpreter's last flush
        # cannot raise again, and exit as a process ended by SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + signal.SIGPIPE
    finally:
        if program:
            # What is left is freed at exit anyway; walking it first is the cost.
            gc.freeze()


def _run_lean() -> None:
    """Replace this process by the same command under ``-OO -X no_debug_ranges``
    (``aggregator.memory.lean_argv``: why, and how to keep the docstrings), before the
    daemon imports anything: the same pid, environment and arguments, so systemd, a
    shell's ``exec`` and a supervisor see one process. Returns when there is nothing to
    do, or when the interpreter cannot be run again (the daemon then runs as it is)."""
    from aggregator.memory import REEXEC_ENV, lean_argv

    again = lean_argv(
        executable=sys.executable,
        orig_argv=sys.orig_argv,
        optimize=sys.flags.optimize,
        env=os.environ,
    )
    if again is None:
        return
    os.environ[REEXEC_ENV] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    # A SIGTERM from here until the new run's catch_early_stop stays pending (a blocked
    # signal and the mask survive exec), so the stop is still a clean one.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        os.execv(again[0], again)
    except OSError as err:
        del os.environ[REEXEC_ENV]
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        print(f"aggregator: running without -OO ({err})", file=sys.stderr)


def _loaded_then(program: bool, run: Callable[..., int], *args: Any) -> int:
    """``run(*args)``, the collector back on first if it was held for the start (main)."""
    if program:
        gc.freeze()
        gc.enable()
    return run(*args)


def cmd_config_check(args: argparse.Namespace) -> int:
    from aggregator.cli.common import EXIT_OK, EXIT_USAGE, print_problems

    path = args.file or args.config or _default_config()
    try:
        loaded = _load_config(path)
    except ConfigError as err:
        print_problems(err, path)
        return EXIT_USAGE
    cfg = loaded.config
    print(
        f"{path}: OK — {len(cfg.feeds)} feeds, {len(cfg.topics)} topics, "
        f"{len(cfg.alerts)} alert rules, {len(cfg.channels)} channels"
    )
    from aggregator.alerts.rules import describe
    from aggregator.compose import rule_spec

    for rule in cfg.alerts:
        print(f"  alert {describe(rule_spec(rule))}{'' if rule.enabled else ' [disabled]'}")
    return EXIT_OK


# Each command as "module:function", imported when that command runs.
COMMANDS: dict[str, str] = {
    "run": "aggregator.cli.ops:cmd_run",
    "poll": "aggregator.cli.ops:cmd_poll",
    "search": "aggregator.cli.archive:cmd_search",
    "feeds": "aggregator.cli.feeds:cmd_feeds",
    "feeds add": "aggregator.cli.ops:cmd_feeds_add",
    "db": "aggregator.cli.ops:cmd_db",
    "alerts": "aggregator.cli.ops:cmd_alerts",
    "clusters": "aggregator.cli.archive:cmd_clusters",
    "cluster": "aggregator.cli.archive:cmd_cluster_show",
    "export": "aggregator.cli.archive:cmd_export",
    "opml": "aggregator.cli.ops:cmd_opml",
}


def command_for(args: argparse.Namespace) -> Callable[[argparse.Namespace, LoadedConfig], int]:
    """The command's function, its module imported."""
    # `feeds add` works on the configuration file and the network, not the database.
    if args.command == "feeds" and args.feeds_command == "add":
        return command("feeds add")
    return command(args.command)


def command(name: str) -> Callable[[argparse.Namespace, LoadedConfig], int]:
    module, function = COMMANDS[name].split(":")
    found: Callable[[argparse.Namespace, LoadedConfig], int] = getattr(
        importlib.import_module(module), function
    )
    return found
