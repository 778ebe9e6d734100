"""The operating commands: run, db, poll, alerts, opml, feeds add."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aggregator.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    dump,
    require_schema,
    ts,
)
from aggregator.config import LoadedConfig
from aggregator.errors import AggregatorError, ConfigError

if TYPE_CHECKING:
    from aggregator.poll.discover import Candidate, Discovery


def cmd_run(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.daemon import Daemon
    from aggregator.memory import LEAN_FLAGS, OPTIMIZE_ENV, REEXEC_ENV
    from aggregator.service import early_stop_signal

    early = early_stop_signal()
    if early is not None:
        logging.getLogger("aggregator.daemon").info(
            "received %s during start-up: stopping before the daemon starts", early.name
        )
        return EXIT_OK
    if os.environ.get(REEXEC_ENV):
        logging.getLogger("aggregator.daemon").info(
            "running under python %s: docstrings and column tables left out to save "
            "memory (%s=0 keeps them)",
            " ".join(LEAN_FLAGS),
            OPTIMIZE_ENV,
        )
    return asyncio.run(Daemon(loaded).run())


def cmd_db(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.store import Store
    from aggregator.store.migrate import current_revision, upgrade

    store = Store.open(loaded.database_url)
    try:
        if args.db_command == "prune":
            return _prune(args, loaded, store)
        upgrade(store.engine)
        print(f"database at revision {current_revision(store.engine)}")
    finally:
        store.close()
    return EXIT_OK


def _prune(args: argparse.Namespace, loaded: LoadedConfig, store: Any) -> int:
    from aggregator import compose

    require_schema(store.engine)
    counts = compose.prune(store, loaded, dry_run=args.dry_run)
    if args.json:
        dump({"dry_run": args.dry_run, **asdict(counts)})
        return EXIT_OK
    r = loaded.config.settings.retention
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {counts.polls} polls (older than {r.polls / 86400:g} days, "
        f"keeping {r.polls_per_feed} per feed)"
    )
    if r.articles is None:
        print("articles are kept forever (settings.retention.articles is not set)")
    else:
        print(
            f"{verb} {counts.events} events last reported over {r.articles / 86400:g} days "
            f"ago, with {counts.articles} articles and {counts.alerts} settled alerts"
        )
    return EXIT_OK


def cmd_poll(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.compose import poll_once
    from aggregator.poll.poller import PollSummary

    names = args.feed
    if names:
        known = {f.name for f in loaded.config.feeds} | {f.url for f in loaded.config.feeds}
        unknown = [n for n in names if n not in known]
        if unknown:
            print(f"not in the configuration: {', '.join(unknown)}", file=sys.stderr)
            return EXIT_USAGE

    interactive = sys.stdout.isatty() and not args.json
    progress: Any = None
    task: Any = None

    def on_claimed(n: int) -> None:
        nonlocal progress, task
        if interactive and n:
            # rich only for a terminal: the daemon (this module's `run`) never loads it.
            from rich.console import Console
            from rich.progress import Progress

            progress = Progress(console=Console(stderr=True), transient=True)
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
        "filtered_entries": sum(r.filtered for r in results),
        "too_old_entries": sum(r.too_old for r in results),
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
        dump({"summary": totals, "polls": [asdict(r) for r in results]})
    else:
        for r in sorted(results, key=lambda r: r.feed):
            if r.outcome == "failed":
                print(f"FAILED  {r.feed}: {r.error}")
        dropped, old = totals["filtered_entries"], totals["too_old_entries"]
        print(
            f"polled {len(results)} feeds: {totals['ok']} ok, "
            f"{totals['not_modified']} not modified, {totals['failed']} failed; "
            f"{totals['new_articles']} new articles, {totals['updated_articles']} updated"
            + (f", {dropped} dropped by the feeds' filters" if dropped else "")
            + (f", {old} older than the article retention" if old else "")
        )
    return EXIT_FAILED if results and totals["failed"] == len(results) else EXIT_OK


def cmd_alerts(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.store import Store

    store = Store.open(loaded.database_url)
    try:
        require_schema(store.engine)
        if args.alerts_command == "retry":
            if not store.retry_alert(args.id, datetime.now(UTC)):
                print(
                    f"no failed or pending alert with id {args.id!r} "
                    "(sent already, unknown, or being sent right now)",
                    file=sys.stderr,
                )
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
        dump(
            {
                "rules": [
                    {"rule": r, "channel": c, "counts": n, "disabled": disabled.get(c)}
                    for (r, c), n in sorted(counts.items())
                ],
                "alerts": [asdict(i) | {"payload": json.loads(i.payload)} for i in items],
            }
        )
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

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
            ts(i.created_at),
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
    from aggregator import compose
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
        async with compose.webhook_client() as client:
            for name in rule.channels:
                cfg = loaded.config.channel(name)
                assert cfg is not None  # the configuration check guarantees it
                try:
                    await compose.channel(cfg, client).send(msg)
                    print(f"{name}: sent (alert id {msg.alert_id})")
                except DeliveryError as exc:
                    failures += 1
                    kind = "permanent" if exc.permanent else "temporary"
                    print(f"{name}: FAILED ({kind}): {exc.reason}")
        return failures

    return EXIT_FAILED if asyncio.run(send_all()) else EXIT_OK


def cmd_opml(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.opml import OpmlFeed, feeds_yaml_entries, parse_opml, write_opml

    if args.opml_command == "export":
        sites = _site_urls(loaded)
        feeds = [
            OpmlFeed(title=f.name, xml_url=f.url, html_url=sites.get(f.name), tags=f.tags)
            for f in loaded.config.feeds
        ]
        sys.stdout.write(write_opml(feeds, title="aggregator feeds"))
        return EXIT_OK
    try:
        with open(args.file, "rb") as fh:
            document = parse_opml(fh.read())
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    found = list(document.feeds)
    for line in document.skipped:
        print(f"# skipped {line}", file=sys.stderr)
    known_urls = {f.url for f in loaded.config.feeds}
    known_names = {f.name for f in loaded.config.feeds}
    new = [f for f in found if f.xml_url not in known_urls]
    entries = feeds_yaml_entries(new, taken=known_names)
    print(
        f"# {len(found)} feeds in {args.file}: {len(new)} new, "
        f"{len(found) - len(new)} already configured, {len(document.skipped)} skipped",
        file=sys.stderr,
    )
    if not args.write:
        sys.stdout.write(entries)
        return EXIT_OK
    if loaded.path is None:
        print("no configuration file to write to", file=sys.stderr)
        return EXIT_USAGE
    if new and _write_entries(loaded.path, entries) is None:
        return EXIT_USAGE
    print(f"{loaded.path}: {len(new)} feeds added")
    if new:
        print(pickup_note(loaded))
    return EXIT_OK


def _site_urls(loaded: LoadedConfig) -> dict[str, str]:
    """Feed name -> its website (htmlUrl), as the last polls found it; {} when the
    database is not there yet or cannot be read (the export goes on without)."""
    from aggregator.store import create_db_engine
    from aggregator.store.archive import Archive
    from aggregator.store.migrate import current_revision

    url = loaded.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return {}
    engine = create_db_engine(url)
    try:
        if current_revision(engine) is None:
            return {}
        return {f.name: f.site_url for f in Archive(engine).feeds() if f.site_url}
    except AggregatorError:
        return {}
    finally:
        engine.dispose()


def pickup_note(loaded: LoadedConfig) -> str:
    """Whether a running daemon will poll what was just written to the file."""
    from aggregator.service import running_daemon

    holder = running_daemon(loaded.database_url)
    if holder is None:
        return (
            "no daemon is running on this database: the new feeds are polled when it "
            "starts (`aggregator run`)"
        )
    pid = holder.removeprefix("pid ") if holder.startswith("pid ") else "PID"
    return (
        f"a daemon is running on this database ({holder}): it polls the new feeds once "
        f"it reloads its configuration (`systemctl reload aggregator` or `kill -HUP {pid}`)"
        ", if it reads this file"
    )


def _write_entries(path: Path, entries: str, *, show: bool = True) -> LoadedConfig | None:
    """Append the entries to the file (checked, atomically); on refusal say why, print
    the entries for the user to add by hand (``show``), and return None."""
    from aggregator.opml import write_feeds

    try:
        return write_feeds(path, entries)
    except ConfigError as err:
        print(f"{path} not changed:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        if show:
            print("the entries to add:", file=sys.stderr)
            sys.stdout.write(entries)
        return None


def cmd_feeds_add(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    """Find the feed at a website's address, check it, and append it to feeds.yaml."""
    from pydantic import TypeAdapter, ValidationError

    from aggregator.config import Name
    from aggregator.poll.discover import discover
    from aggregator.poll.fetch import Fetcher

    url = args.url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        print(f"not an http(s) URL: {url!r} (e.g. https://example.org/)", file=sys.stderr)
        return EXIT_USAGE
    if loaded.path is None:
        print("no configuration file to add to", file=sys.stderr)
        return EXIT_USAGE
    # The configuration compares URLs stripped and names exactly; so do we, before
    # asking anything of the network. The database knows where feeds live now.
    configured = _stored_feed_urls(loaded.database_url) | {
        f.url: f.name for f in loaded.config.feeds
    }
    taken = {f.name for f in loaded.config.feeds}
    if url in configured:
        print(f"{url} is already configured as feed {configured[url]!r}", file=sys.stderr)
        return EXIT_USAGE
    name = None
    if args.name is not None:
        name = args.name.strip()
        try:
            TypeAdapter(Name).validate_python(name)
        except ValidationError as exc:
            print(f"--name {args.name!r}: {exc.errors()[0]['msg']}", file=sys.stderr)
            return EXIT_USAGE
        if name in taken:
            print(f"a feed named {name!r} is already configured", file=sys.stderr)
            return EXIT_USAGE
    # Options the configuration would refuse (an interval under the floor) are refused
    # now, on a stand-in entry, rather than after the requests.
    text = loaded.path.read_text(encoding="utf-8")
    problems = _problems_with(text, _entries(args, [(name or url, url)], taken))
    if problems:
        _print_entry_problems(problems)
        return EXIT_USAGE

    from aggregator.compose import fetch_settings

    async def run() -> Discovery:
        async with Fetcher(fetch_settings(loaded)) as fetcher:
            return await discover(url, fetcher)

    found = asyncio.run(run())
    if not args.json:
        _report_discovery(found)
    chosen: list[Candidate] = []
    for candidate in found.valid if args.all else found.valid[:1]:
        if all(candidate.feed_url != c.feed_url for c in chosen):
            chosen.append(candidate)
    known = {
        c.feed_url: configured.get(c.feed_url) or configured[c.url]
        for c in chosen
        if c.feed_url in configured or c.url in configured
    }
    new = [c for c in chosen if c.feed_url not in known]
    titles = [(name or c.title or urlsplit(c.feed_url).hostname or "", c.feed_url) for c in new]
    entries = _entries(args, titles, taken) if new else ""
    written: str | None = None
    status = EXIT_OK
    if not chosen:
        print(f"no feed found at {url}", file=sys.stderr)
        status = EXIT_FAILED
    for feed_url, feed_name in known.items():
        print(f"{feed_url} is already configured as feed {feed_name!r}", file=sys.stderr)
    if chosen and not new:
        status = EXIT_USAGE
    if new:
        # Read again: the file may have been edited while the requests ran.
        text = loaded.path.read_text(encoding="utf-8")
        problems = _problems_with(text, entries)
        if problems:
            _print_entry_problems(problems)
            status = EXIT_USAGE
        elif args.write:
            # In JSON the entries are in the report; stdout must stay one document.
            check = _write_entries(loaded.path, entries, show=not args.json)
            if check is None:
                status = EXIT_USAGE
            else:
                written = str(loaded.path)
                if not args.json:
                    print(
                        f"{loaded.path}: {len(new)} feed{'s' if len(new) != 1 else ''} added; "
                        f"configuration OK ({len(check.config.feeds)} feeds)"
                    )
                    print(pickup_note(loaded))
        elif not args.json:
            sys.stdout.write(entries)
    if args.json:
        dump(_discovery_json(found, chosen, known, entries, written))
    return status


def _stored_feed_urls(database_url: str) -> dict[str, str]:
    """URL -> name of the feeds the database polls: a feed that moved with a 301 is
    polled at its new address, a feed added over the API is in no file. Empty when
    there is no database yet (none is created) or it cannot be read: the check is a
    courtesy, the configuration's own is the rule."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from aggregator.errors import AggregatorError
    from aggregator.store import Store
    from aggregator.store.archive import Archive
    from aggregator.store.migrate import current_revision

    try:
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
            return {}
        store = Store.open(database_url)
        try:
            if current_revision(store.engine) is None:
                return {}
            feeds = Archive(store.engine).feeds()
            return {f.url: f.name for f in feeds if f.state != "removed"}
        finally:
            store.close()
    except (AggregatorError, SQLAlchemyError):
        return {}


def _entries(args: argparse.Namespace, feeds: list[tuple[str, str]], taken: set[str]) -> str:
    """feeds.yaml items for (title, url) pairs with the command's options."""
    from aggregator.opml import OpmlFeed, feeds_yaml_entries

    return feeds_yaml_entries(
        [OpmlFeed(title=title, xml_url=url, tags=tuple(args.tag)) for title, url in feeds],
        taken=taken,
        interval=args.interval,
        fulltext=args.fulltext,
    )


def _problems_with(text: str, entries: str) -> tuple[str, ...]:
    """What the configuration check would say of ``text`` with ``entries`` added (however
    its feeds list is written: a layout we cannot append to is refused on writing)."""
    from aggregator.opml import entry_problems

    return entry_problems(text, entries)


def _print_entry_problems(problems: tuple[str, ...]) -> None:
    print("the new entry would not be valid:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def _describe(c: Candidate) -> str:
    if not c.ok:
        return f"FAILED  {c.url}: {c.error}"
    moved = f" (moved permanently to {c.feed_url})" if c.permanent_url else ""
    title = repr(c.title) if c.title else "untitled"
    return f"ok      {c.url}{moved}: {title}, {c.format}, {c.entries} entries"


def _report_discovery(found: Discovery) -> None:
    def say(line: str) -> None:
        print(f"# {line}", file=sys.stderr)

    where = found.url if found.final_url == found.url else f"{found.url} (→ {found.final_url})"
    if found.fetch_failed:
        say(f"{where}: {found.page_error}")
        return
    if found.page_error is None:
        say(f"{where} is a feed")
    else:
        say(f"{where}: {found.page_error}")
        named = sum(c.source == "link" for c in found.candidates) + len(found.unchecked)
        if named:
            say(f"the page names {named} feed{'s' if named != 1 else ''}:")
        else:
            say("the page names no feed; trying the usual places on its site:")
    for c in found.candidates:
        say(f"  {_describe(c)}")
    if found.unchecked:
        say(f"  not checked (only the first few are): {', '.join(found.unchecked)}")


def _discovery_json(
    found: Discovery,
    chosen: list[Candidate],
    known: dict[str, str],
    entries: str,
    written: str | None,
) -> dict[str, Any]:
    import yaml

    return {
        "url": found.url,
        "final_url": found.final_url,
        "page_error": found.page_error,
        "page_error_type": found.page_error_type,
        "candidates": [
            asdict(c) | {"ok": c.ok, "feed_url": c.feed_url, "chosen": c in chosen}
            for c in found.candidates
        ],
        "unchecked": list(found.unchecked),
        "already_configured": [{"url": u, "name": n} for u, n in known.items()],
        "entries": yaml.safe_load(entries) if entries else [],
        "yaml": entries,
        "written": written,
    }
