"""The ``aggregator`` command.

Exit status: 0 success, 1 the work failed (e.g. polls failed, database error), 2 bad
usage or an invalid configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from aggregator import __version__
from aggregator.config import LoadedConfig, load_config
from aggregator.errors import AggregatorError, ConfigError, StorageError

CONFIG_ENV = "AGGREGATOR_CONFIG"
SLOW_POLL_SECONDS = 5.0  # a feed whose polls average more than this is flagged "slow"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _default_config() -> str:
    return os.environ.get(CONFIG_ENV, "feeds.yaml")


def _parse_since(value: str) -> datetime:
    """``2024-11-01``, an ISO timestamp, or a relative age like ``3d`` / ``12h``."""
    from aggregator.config import parse_duration

    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        when = datetime.fromisoformat(value)
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(value))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad date {value!r}: use YYYY-MM-DD, an ISO timestamp or an age like 3d"
        ) from None


def build_parser() -> argparse.ArgumentParser:
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
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run the daemon")

    p = sub.add_parser("poll", help="poll feeds once and exit")
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

    s = sub.add_parser("search", help="search stored articles (full text, query language)")
    s.add_argument(
        "words", nargs="+", help='a query: words, "phrases", AND/OR/NOT, troop*, title:…'
    )
    s.add_argument("--since", type=_parse_since, help="YYYY-MM-DD, ISO time or age (3d)")
    s.add_argument("--until", type=_parse_since, help="published before this")
    s.add_argument("--feed", action="append", help="only this feed (repeatable)")
    s.add_argument("--topic", help="only articles that matched this topic")
    s.add_argument("--order", choices=("date", "relevance"), default="date")
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--json", action="store_true")

    cl = sub.add_parser("clusters", help="events (story clusters), newest first")
    cl.add_argument("--topic", help="only events that matched this topic")
    cl.add_argument("--since", type=_parse_since, help="first reported since (3d, a date)")
    cl.add_argument("--min-sources", type=int, default=1, help="at least N outlets")
    cl.add_argument("--limit", type=int, default=30)
    cl.add_argument("--json", action="store_true")
    cs = sub.add_parser("cluster", help="one event")
    cssub = cs.add_subparsers(dest="cluster_command", required=True, metavar="SUBCOMMAND")
    csh = cssub.add_parser("show", help="an event's articles by outlet, timeline, first report")
    csh.add_argument("id", type=int)
    csh.add_argument("--explain", action="store_true", help="why each article joined")
    csh.add_argument("--json", action="store_true")

    ex = sub.add_parser("export", help="stream the archive as JSON lines or CSV")
    ex.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    ex.add_argument("--query", help="a query in the query language")
    ex.add_argument("--topic")
    ex.add_argument("--feed", action="append")
    ex.add_argument("--since", type=_parse_since)
    ex.add_argument("--until", type=_parse_since)
    ex.add_argument("--output", "-o", help="a file (default: standard output)")

    f = sub.add_parser("feeds", help="list feeds and their health")
    f.add_argument("--json", action="store_true")
    fsub = f.add_subparsers(dest="feeds_command", metavar="SUBCOMMAND")
    fs = fsub.add_parser("show", help="one feed's health and its last polls")
    fs.add_argument("name")
    fs.add_argument("--limit", type=int, default=20)
    fs.add_argument("--json", action="store_true")

    c = sub.add_parser("config", help="configuration tools")
    csub = c.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    cc = csub.add_parser("check", help="validate a configuration file")
    cc.add_argument("file", nargs="?", help="the file (default: the --config file)")

    a = sub.add_parser("alerts", help="alert deliveries: list, retry, test")
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

    o = sub.add_parser("opml", help="OPML import and export of feeds")
    osub = o.add_subparsers(dest="opml_command", required=True, metavar="SUBCOMMAND")
    oi = osub.add_parser("import", help="print feeds.yaml entries for an OPML file's feeds")
    oi.add_argument("file")
    oi.add_argument(
        "--write", action="store_true", help="append the new feeds to the configuration file"
    )
    osub.add_parser("export", help="print the configured feeds as OPML")

    d = sub.add_parser("db", help="database tools")
    dsub = d.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    dsub.add_parser("upgrade", help="apply the migrations")
    return parser


def _setup_logging(verbose: bool, level: str = "INFO") -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Library chatter (every HTTP request, every scheduler run) would drown our one
    # line per poll.
    for noisy in ("httpx", "httpcore", "aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances reached" is how our jobs are meant
    # to behave (one at a time), not news worth a log line every tick.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def _load(args: argparse.Namespace, path: str | None = None) -> LoadedConfig:
    return load_config(path or args.config or _default_config())


def _print_problems(err: ConfigError, source: str) -> None:
    n = len(err.problems)
    print(f"{source}: invalid configuration ({n} problem{'s' if n != 1 else ''})", file=sys.stderr)
    for problem in err.problems:
        print(f"  {problem}", file=sys.stderr)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(type(value).__name__)


def _dump(data: Any) -> None:
    print(json.dumps(data, default=_json_default, ensure_ascii=False, indent=2))


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    source = args.config or _default_config()
    try:
        if args.command == "config":
            return cmd_config_check(args)
        loaded = _load(args)
        _setup_logging(args.verbose, loaded.config.settings.log_level)
        return COMMANDS[args.command](args, loaded)
    except ConfigError as err:
        _print_problems(err, source)
        return EXIT_USAGE
    except StorageError as err:
        print(f"database error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except AggregatorError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def cmd_config_check(args: argparse.Namespace) -> int:
    path = args.file or args.config or _default_config()
    try:
        loaded = load_config(path)
    except ConfigError as err:
        _print_problems(err, path)
        return EXIT_USAGE
    cfg = loaded.config
    print(
        f"{path}: OK — {len(cfg.feeds)} feeds, {len(cfg.topics)} topics, "
        f"{len(cfg.alerts)} alert rules, {len(cfg.channels)} channels"
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.scheduler import Daemon

    return asyncio.run(Daemon(loaded).run())


def cmd_db(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.store import Store
    from aggregator.store.migrate import current_revision, upgrade

    store = Store.open(loaded.database_url)
    try:
        upgrade(store.engine)
        print(f"database at revision {current_revision(store.engine)}")
    finally:
        store.close()
    return EXIT_OK


def cmd_poll(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.pipeline import PollSummary
    from aggregator.scheduler import poll_once

    names = args.feed
    if names:
        known = {f.name for f in loaded.config.feeds} | {f.url for f in loaded.config.feeds}
        unknown = [n for n in names if n not in known]
        if unknown:
            print(f"not in the configuration: {', '.join(unknown)}", file=sys.stderr)
            return EXIT_USAGE

    console = Console(stderr=True)
    interactive = sys.stdout.isatty() and not args.json
    progress: Any = None
    task: Any = None

    def on_claimed(n: int) -> None:
        nonlocal progress, task
        if interactive and n:
            from rich.progress import Progress

            progress = Progress(console=console, transient=True)
            progress.start()
            task = progress.add_task("polling", total=n)

    def on_result(summary: PollSummary) -> None:
        if progress is not None:
            progress.advance(task)

    try:
        gap = 0.0 if args.force else loaded.config.settings.poll.manual_gap
        results = asyncio.run(
            poll_once(
                loaded,
                names=names,
                on_result=on_result,
                on_claimed=on_claimed,
                manual_gap=gap,
            )
        )
    finally:
        if progress is not None:
            progress.stop()
    totals = {
        "ok": sum(r.outcome == "ok" for r in results),
        "not_modified": sum(r.outcome in ("not_modified", "unchanged") for r in results),
        "failed": sum(r.outcome == "failed" for r in results),
        "new_articles": sum(r.new for r in results),
        "updated_articles": sum(r.updated for r in results),
    }
    if names and len(results) < len(set(names)):
        polled = {r.feed for r in results}
        skipped = [n for n in names if n not in polled]
        print(
            f"not polled (polled within the last {loaded.config.settings.poll.manual_gap:.0f}s, "
            f"or gone/removed; --force to insist): {', '.join(skipped)}",
            file=sys.stderr,
        )
    if args.json:
        _dump({"summary": totals, "polls": [asdict(r) for r in results]})
    else:
        for r in sorted(results, key=lambda r: r.feed):
            if r.outcome == "failed":
                print(f"FAILED  {r.feed}: {r.error}")
        print(
            f"polled {len(results)} feeds: {totals['ok']} ok, "
            f"{totals['not_modified']} not modified, {totals['failed']} failed; "
            f"{totals['new_articles']} new articles, {totals['updated_articles']} updated"
        )
    return EXIT_FAILED if results and totals["failed"] == len(results) else EXIT_OK


def _archive(loaded: LoadedConfig) -> Any:
    from aggregator.store import Store
    from aggregator.store.archive import Archive

    store = Store.open(loaded.database_url)
    _require_schema(store)
    return store, Archive(store.engine)


def cmd_search(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.errors import QueryError
    from aggregator.store.views import Filters

    if args.limit < 1:
        print("--limit must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    store, archive = _archive(loaded)
    query = " ".join(args.words)
    filters = Filters(
        topic=args.topic, feeds=tuple(args.feed or ()), since=args.since, until=args.until
    )
    try:
        page = archive.search(query, filters, order=args.order, limit=args.limit)
    except QueryError as exc:
        print(f"bad query: {exc}", file=sys.stderr)
        if exc.position is not None:
            print(f"  {query}\n  {' ' * exc.position}^", file=sys.stderr)
        return EXIT_USAGE
    finally:
        store.close()
    if args.json:
        _dump([asdict(h) for h in page.items])
        return EXIT_OK
    if not page.items:
        print("no articles found")
        return EXIT_OK
    table = Table(show_lines=False)
    for col in ("published", "feed", "title", "event", "url"):
        table.add_column(col, overflow="fold")
    for h in page.items:
        event = str(h.cluster_id) if h.cluster_id is not None else ""
        table.add_row(_ts(h.published), h.feed, h.title, event, h.url or "")
    Console(width=max(120, Console().width)).print(table)
    return EXIT_OK


def cmd_clusters(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    store, archive = _archive(loaded)
    found: list[Any] = []
    before = None
    try:
        # Newest first by first report, page by page, until enough pass the filters.
        while len(found) < args.limit:
            page = archive.events(topic=args.topic, before=before, limit=200)
            if not page:
                break
            for e in page:
                if args.since is not None and e.first_seen < args.since:
                    page = []
                    break
                if e.outlet_count >= args.min_sources:
                    found.append(e)
            if not page:
                break
            before = page[-1].first_seen
    finally:
        store.close()
    found = found[: args.limit]
    if args.json:
        _dump([asdict(e) for e in found])
        return EXIT_OK
    if not found:
        print("no events found")
        return EXIT_OK
    table = Table()
    for col in ("event", "first report", "updated", "outlets", "articles", "headline"):
        table.add_column(col, overflow="fold")
    for e in found:
        table.add_row(
            str(e.id),
            _ts(e.first_seen),
            _ts(e.last_updated),
            str(e.outlet_count),
            str(e.article_count),
            e.headline,
        )
    Console(width=max(120, Console().width)).print(table)
    return EXIT_OK


def cmd_cluster_show(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    store, archive = _archive(loaded)
    try:
        detail = archive.event(args.id)
        why = store.cluster_explanations(detail.event.id) if detail and args.explain else {}
    finally:
        store.close()
    if detail is None:
        print(f"no event {args.id}", file=sys.stderr)
        return EXIT_USAGE
    ev = detail.event
    if args.json:
        data = asdict(detail)
        if args.explain:
            data["explain"] = {str(k): asdict(v) for k, v in why.items()}
        _dump(data)
        return EXIT_OK
    if ev.id != args.id:
        print(f"(event {args.id} was merged into {ev.id})")
    print(f"event {ev.id}: {ev.headline}")
    print(
        f"  {ev.article_count} articles from {ev.outlet_count} outlets; first report "
        f"{_ts(ev.first_seen)}, last {_ts(ev.last_updated)}; status {ev.status}"
    )
    if ev.top_terms:
        print(f"  terms: {', '.join(ev.top_terms)}")
    if ev.timeline:
        peak = max(h.count for h in ev.timeline) or 1
        print("  articles per hour:")
        for h in ev.timeline:
            print(f"    {_ts(h.hour)}  {'#' * max(1, round(20 * h.count / peak))} {h.count}")
    first = min((a for g in detail.outlets for a in g.articles), key=lambda a: (a.published, a.id))
    print(f"  first report: {first.feed} at {_ts(first.published)}: {first.title}")
    for group in detail.outlets:
        print(f"\n  {group.feed}")
        for a in group.articles:
            line = f"    {_ts(a.published)}  {a.title}"
            if a.url:
                line += f"  <{a.url}>"
            print(line)
            if args.explain and a.id in why:
                w = why[a.id]
                how = (
                    "started the event"
                    if w.score == 0 and not w.terms
                    else (f"score {w.score:.3f}, matched: {', '.join(w.terms) or '-'}")
                )
                if w.duplicate_of is not None:
                    how += f"; copy of article {w.duplicate_of} ({w.duplicate_kind})"
                print(f"      why: {how}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.errors import QueryError
    from aggregator.store.views import Filters, write_export

    store, archive = _archive(loaded)
    filters = Filters(
        topic=args.topic, feeds=tuple(args.feed or ()), since=args.since, until=args.until
    )
    try:
        with contextlib.ExitStack() as stack:
            out: Any = sys.stdout
            if args.output:
                out = stack.enter_context(open(args.output, "w", encoding="utf-8", newline=""))
            n = write_export(archive.export(filters, args.query), args.format, out)
    except QueryError as exc:
        print(f"bad query: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        store.close()
    print(f"{n} articles exported", file=sys.stderr)
    return EXIT_OK


def _require_schema(store: Any) -> None:
    from aggregator.store.migrate import current_revision

    if current_revision(store.engine) is None:
        raise AggregatorError(
            "the database has no tables yet: run `aggregator db upgrade` or start the daemon"
        )


def cmd_feeds(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    store, archive = _archive(loaded)
    try:
        if args.feeds_command == "show":
            return _feed_show(archive, args)
        statuses = archive.feeds()
    finally:
        store.close()
    if args.json:
        _dump([asdict(s) for s in statuses])
        return EXIT_OK
    table = Table()
    for col in ("feed", "state", "last poll", "status", "articles", "next poll", "last error"):
        table.add_column(col, overflow="fold")
    for s in statuses:
        state = s.state if s.enabled else "disabled"
        if s.avg_duration is not None and s.avg_duration > SLOW_POLL_SECONDS:
            state += f", slow ({s.avg_duration:.1f}s)"
        style = "red" if s.state in ("broken", "gone") else None
        status = s.last_outcome or "never"
        if s.last_http_status:
            status += f" ({s.last_http_status})"
        table.add_row(
            s.name,
            state,
            _ts(s.last_polled_at),
            status,
            str(s.article_count),
            _ts(s.next_poll_at),
            (s.last_error or "")[:80],
            style=style,
        )
    Console(width=max(120, Console().width)).print(table)
    return EXIT_OK


def _feed_show(archive: Any, args: argparse.Namespace) -> int:
    found = archive.feeds(polls_per_feed=args.limit, name=args.name)
    if not found:
        print(f"no feed named {args.name!r}", file=sys.stderr)
        return EXIT_USAGE
    status = found[0]
    polls = status.recent_polls
    if args.json:
        data = asdict(status)
        data["polls"] = data.pop("recent_polls")
        _dump({"feed": {k: v for k, v in data.items() if k != "polls"}, "polls": data["polls"]})
        return EXIT_OK
    print(f"{status.name}  [{status.state}]  {status.url}")
    interval = f"{status.interval_seconds / 60:.0f} min" if status.interval_seconds else "-"
    print(
        f"  articles {status.article_count}, failures in a row {status.error_count}, "
        f"interval {interval}, next poll {_ts(status.next_poll_at)}"
    )
    if status.last_error:
        print(f"  last error: {status.last_error}")
    table = Table(title="last polls")
    for col in ("time", "outcome", "HTTP", "s", "bytes", "new", "upd", "validators", "error"):
        table.add_column(col, overflow="fold")
    for p in polls:
        sent = "INM" if p.etag_sent else ""
        sent += "+IMS" if p.last_modified_sent else ""
        table.add_row(
            _ts(p.started_at),
            p.outcome,
            str(p.http_status or "-"),
            f"{p.duration:.2f}",
            str(p.bytes_wire),
            str(p.new_entries),
            str(p.updated_entries),
            sent or "-",
            (p.error or "")[:60],
        )
    Console(width=max(120, Console().width)).print(table)
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.store import Store

    store = Store.open(loaded.database_url)
    try:
        _require_schema(store)
        if args.alerts_command == "retry":
            if not store.retry_alert(args.id, datetime.now(UTC)):
                print(f"no failed or pending alert with id {args.id!r}", file=sys.stderr)
                return EXIT_USAGE
            print(f"alert {args.id} queued again; the daemon sends it with the same id")
            return EXIT_OK
        if args.alerts_command == "test":
            return _alerts_test(args.rule, loaded)
        if args.alerts_command == "enable":
            if args.channel not in store.disabled_channels():
                print(f"channel {args.channel!r} is not disabled", file=sys.stderr)
                return EXIT_USAGE
            store.enable_channel(args.channel)
            print(f"channel {args.channel} enabled; retry its dead alerts with `alerts retry ID`")
            return EXIT_OK
        items = store.list_alerts(statuses=("dead",) if args.failed else None, limit=args.limit)
        counts = store.alert_counts()
        disabled = store.disabled_channels()
    finally:
        store.close()
    if args.json:
        _dump(
            {
                "rules": [
                    {"rule": r, "channel": c, "counts": n, "disabled": disabled.get(c)}
                    for (r, c), n in sorted(counts.items())
                ],
                "alerts": [asdict(i) | {"payload": json.loads(i.payload)} for i in items],
            }
        )
        return EXIT_OK
    console = Console(width=max(120, Console().width))
    summary = Table(title="rules and channels")
    for col in ("rule", "channel", "sent", "pending", "dead", "channel state"):
        summary.add_column(col)
    for (rule, channel), n in sorted(counts.items()):
        summary.add_row(
            rule,
            channel,
            str(n.get("sent", 0)),
            str(n.get("pending", 0)),
            str(n.get("dead", 0)),
            f"disabled: {disabled[channel]}" if channel in disabled else "ok",
            style="red" if n.get("dead") or channel in disabled else None,
        )
    console.print(summary)
    table = Table(title="dead-lettered alerts" if args.failed else "recent alerts")
    for col in ("created", "id", "rule", "channel", "status", "tries", "event", "last error"):
        table.add_column(col, overflow="fold")
    for i in items:
        headline = ""
        events = json.loads(i.payload).get("events") or []
        if events:
            headline = events[0].get("headline", "")[:60]
        table.add_row(
            _ts(i.created_at),
            i.id,
            i.rule,
            i.channel,
            i.status,
            str(i.attempts),
            headline,
            (i.last_error or "")[:60],
        )
    console.print(table)
    return EXIT_OK


def _alerts_test(rule_name: str, loaded: LoadedConfig) -> int:
    from aggregator import wiring
    from aggregator.alerts.message import sample_message
    from aggregator.errors import DeliveryError

    rule = next((r for r in loaded.config.alerts if r.name == rule_name), None)
    if rule is None:
        print(f"no alert rule named {rule_name!r}", file=sys.stderr)
        return EXIT_USAGE
    msg = sample_message(
        rule.name, rule.topic, rule.trigger, datetime.now(UTC), timezone=rule.timezone
    )

    async def send_all() -> int:
        failures = 0
        async with wiring.webhook_client() as client:
            for name in rule.channels:
                cfg = loaded.config.channel(name)
                assert cfg is not None  # the configuration check guarantees it
                try:
                    await wiring.channel(cfg, client).send(msg)
                    print(f"{name}: sent (alert id {msg.alert_id})")
                except DeliveryError as exc:
                    failures += 1
                    kind = "permanent" if exc.permanent else "temporary"
                    print(f"{name}: FAILED ({kind}): {exc.reason}")
        return failures

    return EXIT_FAILED if asyncio.run(send_all()) else EXIT_OK


def cmd_opml(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.opml import OpmlFeed, feeds_yaml_entries, read_opml, write_opml

    if args.opml_command == "export":
        feeds = [OpmlFeed(title=f.name, xml_url=f.url) for f in loaded.config.feeds]
        sys.stdout.write(write_opml(feeds, title="aggregator feeds"))
        return EXIT_OK
    try:
        with open(args.file, "rb") as fh:
            found = read_opml(fh.read())
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    known_urls = {f.url for f in loaded.config.feeds}
    known_names = {f.name for f in loaded.config.feeds}
    new = [f for f in found if f.xml_url not in known_urls]
    entries = feeds_yaml_entries(new, taken=known_names)
    print(
        f"# {len(found)} feeds in {args.file}: {len(new)} new, "
        f"{len(found) - len(new)} already configured",
        file=sys.stderr,
    )
    if not args.write:
        sys.stdout.write(entries)
        return EXIT_OK
    if loaded.path is None:
        print("no configuration file to write to", file=sys.stderr)
        return EXIT_USAGE
    text = loaded.path.read_text(encoding="utf-8")
    if new:
        from aggregator.opml import append_feeds

        updated = append_feeds(text, entries)
        load_config(None, text=updated)  # refuse to write a file that would not load
        loaded.path.write_text(updated, encoding="utf-8")
    print(f"{loaded.path}: {len(new)} feeds added")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, LoadedConfig], int]] = {
    "run": cmd_run,
    "poll": cmd_poll,
    "search": cmd_search,
    "feeds": cmd_feeds,
    "db": cmd_db,
    "alerts": cmd_alerts,
    "clusters": cmd_clusters,
    "cluster": cmd_cluster_show,
    "export": cmd_export,
    "opml": cmd_opml,
}


if __name__ == "__main__":
    sys.exit(main())
