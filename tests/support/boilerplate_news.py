"""Realistic items whose shared text is boilerplate, not copying (issue 13, point 4).

- ``press_releases``: two different releases of one company (a CFO appointment, the
  quarterly revenue) that end with the same "About Acme" and forward-looking-statements
  paragraphs, and a newswire's re-post of the first one under its own footer.
- ``stock_farm``: feeds whose items each carry the two stock sentences "…, according to
  people familiar with the matter." and "Further details were not immediately
  available." Each feed words every story its own way, so items of one story are
  reports of one event, and items of different stories share only the stock text.
- ``headline_farm``: the same stock sentences after real headlines (the UCI DEV slice in
  ``tests/data/clustering``, credited there), as the issue's farm was built.
- ``rss``: an RSS 2.0 document for a local test server.

Deterministic: the same arguments give the same texts.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape


@dataclass(frozen=True, slots=True)
class Item:
    guid: str
    title: str
    text: str  # paragraphs separated by blank lines
    story: str  # what a reader would call the same story
    published: datetime


ABOUT_ACME = (
    "About Acme Robotics: Acme Robotics Inc. designs and builds autonomous mobile robots "
    "and warehouse automation software for retailers, third-party logistics providers and "
    "manufacturers. Founded in 2011 and headquartered in San Jose, California, the company "
    "serves more than 400 customers in 22 countries and employs about 1,900 people. For "
    "more information, visit the company's investor relations website."
)
FORWARD_LOOKING = (
    "Forward-Looking Statements: This press release contains forward-looking statements "
    "within the meaning of the Private Securities Litigation Reform Act of 1995, including "
    "statements regarding the company's expectations, beliefs, plans, objectives and "
    "future financial performance. These statements are based on current expectations and "
    "are subject to risks and uncertainties that could cause actual results to differ "
    "materially, including supply chain disruptions, customer demand, competition and "
    "general economic conditions. Acme Robotics undertakes no obligation to update any "
    "forward-looking statement, except as required by law."
)
MEDIA_CONTACT = "Media contact: Laura Chen, press office, Acme Robotics."

CFO = (
    "Acme Robotics appoints Jane Okafor as chief financial officer",
    [
        "SAN JOSE, Calif. -- Acme Robotics Inc. today announced the appointment of Jane "
        "Okafor as chief financial officer, effective April 1. Okafor joins from Northwind "
        "Logistics, where she led finance for eight years.",
        "She succeeds Tom Reyes, who retires after a decade in the role and will stay on as "
        "an adviser through the summer.",
    ],
)
REVENUE = (
    "Acme Robotics reports fourth-quarter revenue of $48.2 million",
    [
        "SAN JOSE, Calif. -- Acme Robotics Inc. today reported fourth-quarter revenue of "
        "$48.2 million, up 31 percent from a year earlier, as orders for its picking robots "
        "from European grocers doubled.",
        "Net loss narrowed to $3.1 million. The company expects first-quarter revenue "
        "between $50 million and $53 million.",
    ],
)
NEWSWIRE_FOOTER = (
    "Distributed by Global NewsWire. View the source version of this release on the "
    "Global NewsWire website. Global NewsWire is not responsible for the content of "
    "releases it distributes on behalf of its clients."
)


def press_releases(start: datetime) -> dict[str, list[Item]]:
    """The company's newsroom (two releases) and a newswire re-posting the first."""

    def release(title: str, body: list[str], guid: str, at: datetime, footer: str) -> Item:
        paras = [*body, ABOUT_ACME, FORWARD_LOOKING, footer]
        return Item(guid, title, "\n\n".join(paras), title, at)

    cfo_at, revenue_at = start, start + timedelta(hours=5)
    return {
        "acme-newsroom": [
            release(*CFO, "acme-cfo", cfo_at, MEDIA_CONTACT),
            release(*REVENUE, "acme-q4", revenue_at, MEDIA_CONTACT),
        ],
        "newswire": [
            release(*CFO, "nw-acme-cfo", cfo_at + timedelta(minutes=20), NEWSWIRE_FOOTER),
        ],
    }


STOCK_SOURCE = "according to people familiar with the matter"
STOCK_CLOSER = "Further details were not immediately available."
STOCK_ANONYMOUS = "who asked not to be identified because the deliberations are private"

_COMPANIES = [
    "Halvorsen Shipping",
    "Corvid Semiconductors",
    "Baltic Rail Freight",
    "Pemberton Foods",
    "Kestrel Airlines",
    "Oakridge Pharma",
    "Lumen Grid",
    "Tasman Copper",
    "Vireo Telecom",
    "Ashgrove Bank",
    "Nordhavn Wind",
    "Calder Steel",
    "Mirabel Cosmetics",
    "Sundial Solar",
    "Quarry Point Cement",
    "Brightwater Utilities",
    "Falcon Ridge Mining",
    "Orchid Hotels",
]
_MOVES = [
    ("is exploring a sale of its {unit} division", "explores sale of {unit} unit"),
    ("plans to cut about {n} jobs at its {unit} business", "plans {n} job cuts in {unit}"),
    ("is in talks to buy a {unit} rival for roughly ${n} million", "in talks for {unit} deal"),
    ("will delay the opening of its {unit} plant by a year", "delays {unit} plant"),
    ("is preparing a bid for a {unit} contract worth ${n} million", "eyes ${n} million bid"),
    ("has hired advisers to weigh a listing of its {unit} arm", "weighs {unit} listing"),
]
_UNITS = [
    "logistics",
    "chip packaging",
    "cold storage",
    "regional cargo",
    "generic drugs",
    "battery storage",
    "smelting",
    "fibre network",
    "consumer lending",
    "offshore",
]
_OPENERS = ["", "Sources say ", "Exclusive: ", "Report: "]
_LEADS = [
    "{company} {move}, {source}.",
    "{company} {move} this quarter, {source}.",
    "Executives at {company} said privately the company {move}, {source}.",
    "In a move that surprised analysts, {company} {move}, {source}.",
]
_SECONDS = [
    "Shares of {company} rose {p} percent in early trading.",
    "{company} shares were {p} percent higher by midday.",
    "The stock gained {p} percent after the report.",
    "A {company} spokesperson declined to comment; shares rose {p} percent.",
]


def stock_farm(
    start: datetime, *, feeds: int = 12, stories: int = 12, seed: int = 13
) -> dict[str, list[Item]]:
    """``feeds`` outlets, each reporting every one of ``stories`` stories in its words."""
    if stories > len(_COMPANIES) * len(_MOVES):
        raise ValueError(f"at most {len(_COMPANIES) * len(_MOVES)} distinct stories")
    rng = random.Random(seed)
    plan = []
    for k in range(stories):
        company = _COMPANIES[k % len(_COMPANIES)]
        # a company appears again only with another move: every story is its own
        move, headline = _MOVES[(k + k // len(_COMPANIES)) % len(_MOVES)]
        unit, n = rng.choice(_UNITS), rng.choice([120, 450, 800, 1200, 2300])
        plan.append((company, move.format(unit=unit, n=n), headline.format(unit=unit, n=n)))
    out: dict[str, list[Item]] = {}
    for f in range(feeds):
        items = []
        for k, (company, move, headline) in enumerate(plan):
            lead = _LEADS[(f + k) % len(_LEADS)].format(
                company=company, move=move, source=STOCK_SOURCE
            )
            second = _SECONDS[(f * 3 + k) % len(_SECONDS)].format(
                company=company, p=rng.choice([2, 3, 4, 5, 7, 9])
            )
            text = f"{lead} {second}\n\n{STOCK_CLOSER}"
            title = f"{_OPENERS[(f + k) % len(_OPENERS)]}{company} {headline}"
            at = start + timedelta(minutes=7 * k + f)
            items.append(Item(f"farm{f}-{k}", title, text, f"story-{k}", at))
        out[f"farm{f:02d}"] = items
    return out


def rss(name: str, items: list[Item], base_url: str = "https://news.example.org") -> bytes:
    """An RSS 2.0 document: each item's text as paragraphs in ``description``."""
    parts = [f'<?xml version="1.0"?><rss version="2.0"><channel><title>{escape(name)}</title>']
    parts.append(f"<link>{base_url}/{name}</link><description>{escape(name)}</description>")
    for it in items:
        html = "".join(f"<p>{escape(p)}</p>" for p in it.text.split("\n\n"))
        parts.append(
            f"<item><title>{escape(it.title)}</title><link>{base_url}/{name}/{it.guid}</link>"
            f"<guid>{it.guid}</guid><pubDate>{format_datetime(it.published)}</pubDate>"
            f"<description>{escape(html)}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


UCI_SLICE = Path(__file__).resolve().parent.parent / "data" / "clustering" / "uci-dev-slice.jsonl"


def headline_farm(start: datetime, *, feeds: int = 12) -> dict[str, list[Item]]:
    """Real headlines (the UCI DEV slice: 200 of 10 stories), each item's text the
    headline with the two stock sentences, spread round-robin over ``feeds`` outlets in
    a seeded shuffled order, a minute apart: the farm of issue 13."""
    rows = [json.loads(line) for line in UCI_SLICE.read_text(encoding="utf-8").splitlines()]
    random.Random(13).shuffle(rows)
    out: dict[str, list[Item]] = {f"wire{f:02d}": [] for f in range(feeds)}
    for i, row in enumerate(rows):
        title = str(row["title"]).strip()
        text = f"{title.rstrip('.')}, {STOCK_SOURCE}, {STOCK_ANONYMOUS}.\n\n{STOCK_CLOSER}"
        item = Item(
            f"uci-{row['id']}", title, text, str(row["cluster"]), start + timedelta(minutes=i)
        )
        out[f"wire{i % feeds:02d}"].append(item)
    return out
