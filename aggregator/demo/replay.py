"""The demo's local world on 127.0.0.1: the outlets' feeds (released over time), their
article pages, and a mailbox that keeps the alerts the daemon sends.

* ``/feeds/{outlet}.xml``: the outlet's RSS, with the items released so far; an ETag
  that changes when an item is added, so the daemon's conditional requests get 304s.
* ``/articles/{id}``: an article's page (the ECB+ items have no address of their own).
* ``/mailbox``: the alerts received, newest first, read from the Maildir.

The SMTP side is aiosmtpd writing every accepted message into a Maildir folder; it
runs on the same event loop.
"""

from __future__ import annotations

import asyncio
import mailbox
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from html import escape
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from aggregator.demo.data import (
    DemoItem,
    outlets,
    paragraphs_html,
    published,
    released,
    render_rss,
    slug,
)

_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:1rem auto;padding:0 1rem}"
    "article{border-top:1px solid #ccc;padding:.5rem 0}pre{white-space:pre-wrap}"
)


def current_step(elapsed: float, step_seconds: float, final: int) -> int:
    """Steps passed after ``elapsed`` seconds (step 1 comes after one step), capped."""
    if elapsed < 0:
        return 0
    return min(final, math.floor(elapsed / step_seconds))


@dataclass(frozen=True, slots=True)
class Mail:
    subject: str
    sender: str
    to: str
    date: datetime | None
    body: str


def read_mailbox(path: Path) -> list[Mail]:
    """The messages in the Maildir, newest first (an absent folder holds none)."""
    if not (path / "cur").is_dir():
        return []
    box = mailbox.Maildir(path, create=False)
    found: list[Mail] = []
    for message in box:
        found.append(_mail(message))
    return sorted(found, key=lambda m: m.date.timestamp() if m.date else 0.0, reverse=True)


def _mail(message: Message) -> Mail:
    try:
        date = parsedate_to_datetime(message.get("Date", ""))
    except (TypeError, ValueError):
        date = None
    body = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                body = payload.decode(part.get_content_charset() or "utf-8", "replace")
            break
    return Mail(
        # A long subject arrives folded over two lines.
        subject=" ".join(str(message.get("Subject", "")).split()),
        sender=str(message.get("From", "")),
        to=str(message.get("To", "")),
        date=date,
        body=body,
    )


def _page(title: str, body: str) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang=en><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style><body>{body}</body></html>"
    )
    return HTMLResponse(html, headers={"content-security-policy": _CSP})


class Clock:
    """Where the replay stands. Until ``begin`` (the daemon is up) only the backlog is
    out, so the developing stories start growing in front of the viewer."""

    def __init__(self, step_seconds: float, final: int) -> None:
        self.step_seconds = step_seconds
        self.final = final
        self.wall = datetime.now(UTC)  # when step 0 is: the backlog is dated before it
        self._started: float | None = None

    def begin(self) -> None:
        self.wall = datetime.now(UTC)
        self._started = time.monotonic()

    def step(self) -> int:
        if self._started is None:
            return 0
        return current_step(time.monotonic() - self._started, self.step_seconds, self.final)

    def finished(self) -> bool:
        return self.step() >= self.final


def create_replay_app(
    items: tuple[DemoItem, ...],
    *,
    clock: Clock,
    maildir: Path,
) -> FastAPI:
    """The replay's web application."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    by_slug = {slug(name): name for name in outlets(items)}
    by_id = {item.id: item for item in items}

    @app.api_route("/", methods=["GET", "HEAD"])
    def index() -> HTMLResponse:
        links = "".join(
            f"<li><a href='/feeds/{s}.xml'>{escape(name)}</a></li>" for s, name in by_slug.items()
        )
        return _page(
            "Demo outlets",
            f"<h1>Demo outlets</h1><p>Step {clock.step()} of {clock.final}. "
            f"<a href='/mailbox'>Mailbox</a></p><ul>{links}</ul>",
        )

    @app.api_route("/feeds/{name}.xml", methods=["GET", "HEAD"])
    def feed(name: str, request: Request) -> Response:
        outlet = by_slug.get(name)
        if outlet is None:
            return Response("no such outlet", status_code=404, media_type="text/plain")
        step = clock.step()
        shown = released(items, outlet, step)
        etag = f'"{name}-{len(shown)}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        # Links point back here, at the address the daemon used (the port is picked
        # when the server binds).
        base = str(request.base_url).rstrip("/")
        body = render_rss(
            outlet, shown, base=base, start=clock.wall, step_seconds=clock.step_seconds
        )
        return Response(body, media_type="application/rss+xml", headers={"etag": etag})

    @app.api_route("/articles/{item_id}", methods=["GET", "HEAD"])
    def article(item_id: str) -> HTMLResponse:
        item = by_id.get(item_id)
        if item is None or item.step > clock.step():
            return _page("Not found", "<h1>No such article</h1>")
        when = published(item, clock.wall, clock.step_seconds).strftime("%Y-%m-%d %H:%M UTC")
        return _page(
            item.title,
            f"<h1>{escape(item.title)}</h1><p>{escape(item.outlet)}, {when}</p>"
            f"{paragraphs_html(item.text)}<p><small>Source: {escape(item.source)}</small></p>",
        )

    @app.api_route("/mailbox", methods=["GET", "HEAD"])
    def mailbox_page() -> HTMLResponse:
        mails = read_mailbox(maildir)
        rows = "".join(
            f"<article><h2>{escape(m.subject)}</h2><p>to {escape(m.to)}"
            f"{', ' + m.date.strftime('%H:%M:%S UTC') if m.date else ''}</p>"
            f"<pre>{escape(m.body)}</pre></article>"
            for m in mails
        )
        empty = "" if mails else "<p>No alert yet: the rules fire as the stories grow.</p>"
        return _page(
            f"Mailbox ({len(mails)})",
            f"<h1>Mailbox: {len(mails)} alert{'s' if len(mails) != 1 else ''}</h1>"
            f"<p>The Maildir is <code>{escape(str(maildir))}</code>.</p>{empty}{rows}",
        )

    return app


async def start_smtp(maildir: Path, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """An SMTP server on ``host:port`` that files every message in ``maildir``."""
    # aiosmtpd is installed by `make demo` (the `demo` extra), not by the daemon's own
    # dependencies: only the demo and the tests receive mail.
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import SMTP

    maildir.parent.mkdir(parents=True, exist_ok=True)
    mailbox.Maildir(maildir, create=True)  # its new/cur/tmp folders, before any reader
    handler: Any = Mailbox(maildir)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, hostname="demo.invalid"), host=host, port=port
    )
