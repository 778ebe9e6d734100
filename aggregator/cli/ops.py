"""The operating commands: run, db, poll, alerts, opml."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from aggregator.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    dump,
    require_schema,
    ts,
)
from aggregator.config import LoadedConfig, load_config


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
        "filtered_entries": sum(r.filtered for r in results),
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
        dropped = totals["filtered_entries"]
        print(
            f"polled {len(results)} feeds: {totals['ok']} ok, "
            f"{totals['not_modified']} not modified, {totals['failed']} failed; "
            f"{totals['new_articles']} new articles, {totals['updated_articles']} updated"
            + (f", {dropped} dropped by the feeds' filters" if dropped else "")
        )
    return EXIT_FAILED if results and totals["failed"] == len(results) else EXIT_OK


def cmd_alerts(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.store import Store

    store = Store.open(loaded.database_url)
    try:
        require_schema(store)
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
