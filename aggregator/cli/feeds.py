"""``aggregator feeds`` and ``feeds show``: the feeds' health.

A module of its own, beside ``cli/archive.py``, so that listing the feeds imports the
one query it runs (``store.feedlist``), not the archive's read side with full-text
search and the query language (issue 17: a command's start is mostly imports).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from aggregator.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    SLOW_POLL_SECONDS,
    dump,
    new_table,
    open_engine,
    print_table,
    ts,
)
from aggregator.config import LoadedConfig
from aggregator.errors import NotFoundError

# Imported with this module, while the command loads (see cli.main on the garbage
# collector), not later.
from aggregator.store.feedlist import FeedList


def cmd_feeds(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    engine = open_engine(loaded)
    feed_list = FeedList(engine)
    try:
        if args.feeds_command == "show":
            return _feed_show(feed_list, args)
        statuses = feed_list.feeds()
    finally:
        engine.dispose()
    if args.json:
        dump([asdict(s) for s in statuses])
        return EXIT_OK
    table = new_table(
        ("feed", "state", "last poll", "status", "articles", "next poll", "last error")
    )
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
            ts(s.last_polled_at),
            status,
            str(s.article_count),
            ts(s.next_poll_at),
            (s.last_error or "")[:80],
            style=style,
        )
    print_table(table)
    return EXIT_OK


def _feed_show(feed_list: FeedList, args: argparse.Namespace) -> int:
    found = feed_list.feeds(polls_per_feed=args.limit, name=args.name)
    if not found:
        # "reuters" for "Reuters": names are typed from memory. Exact first, then the
        # one feed whose name matches ignoring case (several: say which).
        folded = args.name.casefold()
        same = [f.name for f in feed_list.feeds() if f.name.casefold() == folded]
        if len(same) == 1:
            found = feed_list.feeds(polls_per_feed=args.limit, name=same[0])
        elif same:
            print(f"several feeds are named {args.name!r} ignoring case: {', '.join(same)}",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
    if not found:
        raise NotFoundError("feed", args.name)
    status = found[0]
    polls = status.recent_polls
    if args.json:
        data = asdict(status)
        data["polls"] = data.pop("recent_polls")
        dump({"feed": {k: v for k, v in data.items() if k != "polls"}, "polls": data["polls"]})
        return EXIT_OK
    print(f"{status.name}  [{status.state}]  {status.url}")
    interval = f"{status.interval_seconds / 60:.0f} min" if status.interval_seconds else "-"
    print(
        f"  articles {status.article_count}, failures in a row {status.error_count}, "
        f"interval {interval}, next poll {ts(status.next_poll_at)}"
    )
    if status.last_error:
        print(f"  last error: {status.last_error}")
    cols = ("time", "outcome", "HTTP", "s", "wait", "bytes", "new", "upd", "validators", "error")
    table = new_table(cols, title="last polls")
    for p in polls:
        sent = "INM" if p.etag_sent else ""
        sent += "+IMS" if p.last_modified_sent else ""
        table.add_row(
            ts(p.started_at),
            p.outcome,
            str(p.http_status or "-"),
            f"{p.duration:.2f}",
            f"{p.waited:.2f}" if p.waited else "-",
            str(p.bytes_wire),
            str(p.new_entries),
            str(p.updated_entries),
            sent or "-",
            (p.error or "")[:60],
        )
    print_table(table)
    return EXIT_OK
