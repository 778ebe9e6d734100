"""The archive's commands: search, clusters, cluster show, export (``feeds``: cli/feeds.py)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aggregator.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    dump,
    new_table,
    open_engine,
    print_table,
    ts,
)
from aggregator.config import LoadedConfig
from aggregator.errors import NotFoundError

# Every command here reads the archive: the store (SQLAlchemy) is imported with this
# module, while the command loads (see cli.main on the garbage collector), not later.
from aggregator.store.archive import Archive

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from aggregator.store.events import Explanation


def open_archive(loaded: LoadedConfig) -> tuple[Engine, Archive]:
    """The engine (the caller disposes of it) and the archive over it."""
    engine = open_engine(loaded)
    return engine, Archive(engine)


def configured_topics(loaded: LoadedConfig) -> list[str]:
    return [t.name for t in loaded.config.topics]


def cmd_search(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.errors import QueryError
    from aggregator.store.hits import Filters
    from aggregator.store.lookup import require_known

    if args.limit < 1:
        print("--limit must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    engine, archive = open_archive(loaded)
    query = " ".join(args.words)
    filters = Filters(
        topic=args.topic,
        feeds=tuple(args.feed or ()),
        language=args.lang,
        since=args.since,
        until=args.until,
    )
    try:
        require_known(archive.engine, filters, configured_topics(loaded))
        page = archive.search(query, filters, order=args.order, limit=args.limit)
    except QueryError as exc:
        print(f"bad query: {exc}", file=sys.stderr)
        if exc.position is not None:
            print(f"  {query}\n  {' ' * exc.position}^", file=sys.stderr)
        return EXIT_USAGE
    finally:
        engine.dispose()
    if args.json:
        dump([asdict(h) for h in page.items])
        return EXIT_OK
    if not page.items:
        print("no articles found")
        return EXIT_OK
    table = new_table(("published", "feed", "title", "event", "url"), show_lines=False)
    for h in page.items:
        event = str(h.cluster_id) if h.cluster_id is not None else ""
        table.add_row(ts(h.published), h.feed, h.title, event, h.url or "")
    print_table(table)
    return EXIT_OK


def cmd_clusters(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.store.lookup import events_matching, require_topic

    if args.limit < 1 or args.min_sources < 1:
        print("--limit and --min-sources must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    engine, archive = open_archive(loaded)
    try:
        if args.topic is not None:
            require_topic(archive.engine, args.topic, configured_topics(loaded))
        found = events_matching(
            archive,
            topic=args.topic,
            since=args.since,
            min_sources=args.min_sources,
            limit=args.limit,
        )
    finally:
        engine.dispose()
    if args.json:
        dump([asdict(e) for e in found])
        return EXIT_OK
    if not found:
        print("no events found")
        return EXIT_OK
    table = new_table(("event", "first report", "updated", "outlets", "articles", "headline"))
    for e in found:
        table.add_row(
            str(e.id),
            ts(e.first_seen),
            ts(e.last_updated),
            str(e.outlet_count),
            str(e.article_count),
            e.headline,
        )
    print_table(table)
    return EXIT_OK


def cmd_cluster_show(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.store import Store

    engine, archive = open_archive(loaded)
    try:
        detail = archive.event(args.id)
        why = Store(engine).cluster_explanations(detail.event.id) if detail and args.explain else {}
    finally:
        engine.dispose()
    if detail is None:
        raise NotFoundError("event", args.id)
    ev = detail.event
    if args.json:
        data = asdict(detail)
        if args.explain:
            data["explain"] = {str(k): asdict(v) for k, v in why.items()}
        dump(data)
        return EXIT_OK
    if ev.id != args.id:
        print(f"(event {args.id} was merged into {ev.id})")
    print(f"event {ev.id}: {ev.headline}")
    print(
        f"  {ev.article_count} articles from {ev.outlet_count} outlets; first report "
        f"{ts(ev.first_seen)}, last {ts(ev.last_updated)}; status {ev.status}"
    )
    if detail.absorbed:
        ids = ", ".join(str(i) for i in detail.absorbed)
        plural = "s" if len(detail.absorbed) > 1 else ""
        print(f"  merged in: event{plural} {ids} (a report matched both)")
    if ev.top_terms:
        print(f"  terms: {', '.join(ev.top_terms)}")
    if ev.timeline:
        peak = max(h.count for h in ev.timeline) or 1
        print("  articles per hour:")
        for h in ev.timeline:
            print(f"    {ts(h.hour)}  {'#' * max(1, round(20 * h.count / peak))} {h.count}")
    first = min((a for g in detail.outlets for a in g.articles), key=lambda a: (a.published, a.id))
    print(f"  first report: {first.feed} at {ts(first.published)}: {first.title}")
    for group in detail.outlets:
        print(f"\n  {group.feed}")
        for a in group.articles:
            line = f"    {ts(a.published)}  {a.title}"
            if a.url:
                line += f"  <{a.url}>"
            print(line)
            if args.explain and a.id in why:
                w = why[a.id]
                if w.score == 0 and not w.terms:
                    # After a merge, each merged event's first report is a starter here.
                    how = (
                        "started one of the merged events"
                        if detail.absorbed
                        else "started the event"
                    )
                else:
                    how = f"score {w.score:.3f}, matched: {', '.join(w.terms) or '-'}"
                how += copy_explanation(w)
                print(f"      why: {how}")
                for signal in w.signals:
                    print(f"           {signal}")
    return EXIT_OK


def copy_explanation(w: Explanation) -> str:
    """The dedup half of an article's "why": what it copied, or what it did not."""
    out = ""
    c = w.copy
    if w.duplicate_of is not None:
        out += f"; copy of article {w.duplicate_of} ({w.duplicate_kind}"
        if c is not None and w.duplicate_kind == "near":
            out += f", {c.similarity:.0%} of the distinctive text shared"
        out += ")"
    if c is not None and c.not_copy_of is not None:
        why = (
            "its lead (the story) is not in it"
            if c.reason == "lead"
            else "they share only boilerplate"
        )
        out += f"; not a copy of article {c.not_copy_of}: {why}"
    if c is not None and c.boilerplate:
        out += "; ignored as boilerplate: " + ", ".join(f'"{p}"' for p in c.boilerplate)
    return out


def cmd_export(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from aggregator.errors import QueryError
    from aggregator.store.lookup import require_known
    from aggregator.store.views import Filters, write_export

    engine, archive = open_archive(loaded)
    filters = Filters(
        topic=args.topic,
        feeds=tuple(args.feed or ()),
        language=args.lang,
        since=args.since,
        until=args.until,
    )
    try:
        require_known(archive.engine, filters, configured_topics(loaded))
        with contextlib.ExitStack() as stack:
            out: Any = sys.stdout
            if args.output:
                out = stack.enter_context(open(args.output, "w", encoding="utf-8", newline=""))
            n = write_export(archive.export(filters, args.query), args.format, out)
    except QueryError as exc:
        print(f"bad query: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        engine.dispose()
    print(f"{n} articles exported", file=sys.stderr)
    return EXIT_OK
