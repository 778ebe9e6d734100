"""Pure helpers of the web page: words, snippets, highlighting, the timeline, times.

No I/O and no framework here: each function turns records into what a template
prints, so it is tested on its own (tests/test_web_render.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from markupsafe import Markup, escape

from aggregator.config import parse_duration
from aggregator.errors import QueryError
from aggregator.models import HourCount
from aggregator.query import parse_query
from aggregator.query.nodes import Near, Node, Not, Phrase, Term
from aggregator.query.tokens import fold

# -- words -------------------------------------------------------------------------


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 event``, ``2 events``; ``many`` for irregular plurals (``copy``/``copies``)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def when(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def clock(value: datetime, day: datetime) -> str:
    """``HH:MM`` on ``day``'s date (UTC), else the full time: short labels in a list
    that mostly shares one day."""
    moment, ref = value.astimezone(UTC), day.astimezone(UTC)
    return f"{moment:%H:%M}" if moment.date() == ref.date() else when(moment)


SNIPPET_CHARS = 320  # about three lines on a desktop, six on a phone


def paragraphs(text: str) -> list[str]:
    """The stored text's paragraphs (normalize separates them by a blank line)."""
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The first paragraph, cut at a word boundary near ``limit`` characters."""
    paras = paragraphs(text)
    if not paras:
        return ""
    first = " ".join(paras[0].split())
    if len(first) <= limit:
        return first
    cut = first.rfind(" ", 0, limit)
    return first[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + "…"


def rest(text: str, limit: int = SNIPPET_CHARS) -> list[str]:
    """The paragraphs a reader has not seen in the snippet: after the first, or all of
    them when the snippet had to cut the first one short."""
    paras = paragraphs(text)
    if paras and len(" ".join(paras[0].split())) > limit:
        return paras
    return paras[1:]


def page_url(path: str, **params: str | int | None) -> str:
    """``path`` with the given query parameters, leaving out the empty ones."""
    kept = {k: v for k, v in params.items() if v is not None and v != ""}
    return f"{path}?{urlencode(kept)}" if kept else path


def parse_count(value: str | None, name: str) -> int:
    """A form's whole number; empty means 0 (a form sends empty fields as ``name=``)."""
    text = (value or "").strip()
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        raise QueryError(value or "", f"{name}: {value!r} is not a whole number")
    return int(text)


# -- since ---------------------------------------------------------------------------


def parse_since(value: str, now: datetime) -> datetime:
    """``2024-11-01``, an ISO time (UTC unless it says otherwise) or an age (``3d``,
    ``12h``, ``1h30m``) before ``now``: what the CLI's ``--since`` accepts."""
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    try:
        return now - timedelta(seconds=parse_duration(text))
    except (ValueError, OverflowError):
        raise QueryError(
            value, f"since: {value!r} is not a date (2024-11-01), an ISO time or an age like 3d"
        ) from None


# -- highlighting ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Highlight:
    """The words a search asked for: folded whole words and prefixes."""

    words: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.words or self.prefixes)

    def wants(self, word: str) -> bool:
        folded = fold(word)
        return folded in self.words or any(folded.startswith(p) for p in self.prefixes)


def highlight_terms(query_text: str | None) -> Highlight:
    """What to mark in results of ``query_text``: its words and phrases, not those
    under NOT (they are absent), nor outlet:/lang: (they name no words of the text)."""
    if not query_text or not query_text.strip():
        return Highlight()
    try:
        root = parse_query(query_text).root
    except QueryError:
        return Highlight()
    words: set[str] = set()
    prefixes: list[str] = []

    def visit(node: Node) -> None:
        if isinstance(node, Not):
            return
        if isinstance(node, Term):
            if node.field in (None, "title", "text"):
                (prefixes.append(node.token) if node.prefix else words.add(node.token))
        elif isinstance(node, Phrase):
            if node.field in (None, "title", "text"):
                words.update(node.tokens)
        elif isinstance(node, Near):
            visit(node.left)
            visit(node.right)
        else:
            for child in getattr(node, "children", ()):
                visit(child)

    visit(root)
    return Highlight(frozenset(words), tuple(prefixes))


# Words split as the query language splits them (tokenize): on anything that is not
# a letter or digit, so "Korea's" holds the word "Korea".
_WORD = re.compile(r"[^\W_]+")


def highlight(text: str, terms: Highlight) -> Markup:
    """``text`` escaped, the searched words wrapped in ``<mark>``."""
    if not terms:
        return Markup(escape(text))
    out: list[str] = []
    pos = 0
    for m in _WORD.finditer(text):
        if terms.wants(m.group()):
            out.append(escape(text[pos : m.start()]))
            out.append(Markup("<mark>") + escape(m.group()) + Markup("</mark>"))
            pos = m.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


# -- the sparkline of event lists --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


# -- the event's timeline -----------------------------------------------------------------

# Bin widths to choose from: the smallest giving at most MAX_BINS bars, so a one-hour
# event gets 5-minute bars and a week-long one 6-hour bars.
_BINS = tuple(
    timedelta(minutes=m) for m in (5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
)
_TICKS = (*_BINS, timedelta(days=14), timedelta(days=28))
MAX_BINS = 48
MIN_BINS = 12  # a lone report still gets an hour of axis (at 5 minutes a bar)
MAX_TICKS = 6

CHART_WIDTH = 480
CHART_HEIGHT = 112
_LEFT = 34  # room for the count labels
_RIGHT = 22  # half a time label: the last tick's label stays inside
_TOP = 8
_PLOT = 70  # bar area height; the time labels sit below it


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """An SVG timeline: bars of reports per bin over a labelled UTC time axis."""

    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    peak: int
    bin_label: str  # "5 minutes", "1 hour"
    start: datetime
    end: datetime
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = _LEFT
    top: int = _TOP
    plot_height: int = _PLOT

    @property
    def baseline(self) -> int:
        return self.top + self.plot_height

    @property
    def right(self) -> int:
        return self.width - _RIGHT


def _floor(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    seconds = int((moment - epoch).total_seconds())
    step_s = int(step.total_seconds())
    return epoch + timedelta(seconds=seconds - seconds % step_s)


def _span_label(step: timedelta) -> str:
    minutes = int(step.total_seconds() // 60)
    if minutes % 1440 == 0:
        return plural(minutes // 1440, "day")
    if minutes % 60 == 0:
        return plural(minutes // 60, "hour")
    return plural(minutes, "minute")


def timeline_chart(times: Sequence[datetime]) -> Chart | None:
    """Reports per bin from the first to the last, with time ticks at round times.

    The bin width adapts to the event's length; ticks fall on multiples of a round
    step (15 minutes ... 4 weeks), labelled HH:MM, or the date at midnight.
    """
    if not times:
        return None
    ordered = sorted(t.astimezone(UTC) for t in times)
    first, last = ordered[0], ordered[-1]
    span = last - first
    step = next((b for b in _BINS if span / b < MAX_BINS), _BINS[-1])
    start = _floor(first, step)
    n = max(MIN_BINS, int((_floor(last, step) - start) / step) + 1)
    end = start + n * step
    counts = [0] * n
    for t in ordered:
        counts[min(n - 1, int((t - start) / step))] += 1
    peak = max(counts)
    inner = CHART_WIDTH - _LEFT - _RIGHT
    width = inner / n

    def x_of(moment: datetime) -> float:
        return round(_LEFT + inner * ((moment - start) / (end - start)), 2)

    bars = []
    for i, c in enumerate(counts):
        tall = 0.0 if c == 0 else max(2.0, _PLOT * c / peak)
        lo = start + i * step
        bars.append(
            Bar(
                x=round(_LEFT + i * width, 2),
                y=round(_TOP + _PLOT - tall, 2),
                width=round(max(width - 1, 1), 2),
                height=round(tall, 2),
                title=f"{lo:%d %b %H:%M}–{lo + step:%H:%M} UTC: {plural(c, 'article')}",
            )
        )
    window = end - start
    tick = next((t for t in _TICKS if t >= step and window / t <= MAX_TICKS), _TICKS[-1])
    ticks = []
    moment = _floor(start, tick)
    if moment < start:
        moment += tick
    while moment <= end:
        daily = tick >= timedelta(days=1) or (moment.hour == 0 and moment.minute == 0)
        ticks.append(Tick(x_of(moment), f"{moment:%d %b}" if daily else f"{moment:%H:%M}"))
        moment += tick
    return Chart(tuple(bars), tuple(ticks), peak, _span_label(step), start, end)


def sparkline(timeline: Sequence[HourCount], width: int = 144, height: int = 28) -> list[Bar]:
    """Bars of an articles-per-hour sparkline, scaled to the busiest hour."""
    if not timeline:
        return []
    peak = max(h.count for h in timeline) or 1
    step = width / len(timeline)
    bars = []
    for i, h in enumerate(timeline):
        hour, count = h.hour, h.count
        tall = 0.0 if count == 0 else max(2.0, height * count / peak)
        bars.append(
            Bar(
                x=round(i * step, 2),
                y=round(height - tall, 2),
                width=round(max(step - 1, 1), 2),
                height=round(tall, 2),
                title=f"{hour:%d %b %H}:00 UTC — {plural(count, 'article')}",
            )
        )
    return bars
