"""Deterministic generator of realistic 2-6 KB news articles (and their web pages).

Other benchmarks import it::

    from gen_articles import generate_articles, render_page
    for art in generate_articles(1000, seed=7):
        art.title, art.text, art.html, art.topic, art.author

Articles are built from topic vocabularies (people, places, organisations, events)
and a few hundred sentence frames, so two articles on one topic share names and
stock phrases but not sentences, like two outlets' own reports of one event.
``render_page`` wraps an article in the boilerplate of a real news page (nav,
breadcrumbs, share buttons, related links, sidebar, comments, footer) for
extraction benchmarks; the article body is known, so recall can be measured.

Run it to print a sample: ``python benchmarks/gen_articles.py --n 2 --seed 1``.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape

TOPICS: dict[str, dict[str, list[str]]] = {
    "kursk": {
        "people": [
            "Mark Rutte",
            "Volodymyr Zelensky",
            "Vladimir Putin",
            "Kim Jong Un",
            "John Foreman",
            "Lloyd Austin",
            "Andrii Sybiha",
            "Kyrylo Budanov",
        ],
        "places": [
            "Kursk",
            "Sudzha",
            "Belgorod",
            "Vladivostok",
            "Pyongyang",
            "Kyiv",
            "the Kursk region",
            "eastern Russia",
        ],
        "orgs": [
            "NATO",
            "the Pentagon",
            "Ukraine's military intelligence",
            "the Russian defence ministry",
            "South Korea's spy agency",
            "the Kremlin",
        ],
        "things": [
            "North Korean troops",
            "the deployment",
            "the counteroffensive",
            "artillery units",
            "the front line",
            "temporary barracks",
            "the border",
        ],
    },
    "rates": {
        "people": [
            "Jerome Powell",
            "Christine Lagarde",
            "Andrew Bailey",
            "Kazuo Ueda",
            "Isabel Schnabel",
            "Philip Lane",
            "Mary Daly",
        ],
        "places": ["Frankfurt", "Washington", "London", "Tokyo", "the euro zone", "Wall Street"],
        "orgs": [
            "the Federal Reserve",
            "the European Central Bank",
            "the Bank of England",
            "the Bank of Japan",
            "bond traders",
            "the Treasury",
        ],
        "things": [
            "interest rates",
            "inflation",
            "the policy rate",
            "bond yields",
            "core prices",
            "the labour market",
            "rate cuts",
        ],
    },
    "storm": {
        "people": [
            "Governor Ron DeSantis",
            "Ken Graham",
            "Deanne Criswell",
            "Jane Castor",
            "Michael Brennan",
            "Kevin Guthrie",
        ],
        "places": ["Tampa", "Sarasota", "the Gulf Coast", "Florida", "Cedar Key", "Fort Myers"],
        "orgs": [
            "the National Hurricane Center",
            "FEMA",
            "the National Guard",
            "utility crews",
            "emergency managers",
            "the Coast Guard",
        ],
        "things": [
            "the hurricane",
            "storm surge",
            "power outages",
            "evacuation orders",
            "flooding",
            "shelters",
            "the eye of the storm",
        ],
    },
    "election": {
        "people": [
            "Olaf Scholz",
            "Friedrich Merz",
            "Robert Habeck",
            "Christian Lindner",
            "Alice Weidel",
            "Frank-Walter Steinmeier",
        ],
        "places": ["Berlin", "Bavaria", "Saxony", "the Bundestag", "Hamburg", "Thuringia"],
        "orgs": [
            "the Social Democrats",
            "the Christian Democrats",
            "the Greens",
            "the Free Democrats",
            "pollsters",
            "the coalition",
        ],
        "things": [
            "the snap election",
            "the confidence vote",
            "the budget dispute",
            "coalition talks",
            "the campaign",
            "the debt brake",
        ],
    },
    "ai": {
        "people": [
            "Sam Altman",
            "Demis Hassabis",
            "Jensen Huang",
            "Margrethe Vestager",
            "Satya Nadella",
            "Lina Khan",
        ],
        "places": ["San Francisco", "Brussels", "Santa Clara", "London", "Seoul", "Paris"],
        "orgs": [
            "OpenAI",
            "Google DeepMind",
            "Nvidia",
            "the European Commission",
            "regulators",
            "Microsoft",
        ],
        "things": [
            "the new model",
            "chip exports",
            "data centres",
            "the AI Act",
            "training costs",
            "safety tests",
        ],
    },
    "football": {
        "people": [
            "Pep Guardiola",
            "Erling Haaland",
            "Mikel Arteta",
            "Bukayo Saka",
            "Arne Slot",
            "Mohamed Salah",
        ],
        "places": ["Manchester", "the Etihad", "Anfield", "the Emirates", "Liverpool", "London"],
        "orgs": [
            "Manchester City",
            "Arsenal",
            "Liverpool",
            "the Premier League",
            "the referees' body",
            "the medical staff",
        ],
        "things": [
            "the title race",
            "the injury",
            "the penalty",
            "the second half",
            "the transfer window",
            "the unbeaten run",
        ],
    },
    "quake": {
        "people": [
            "Shigeru Ishiba",
            "Yoshimasa Hayashi",
            "Fumio Kishida",
            "Naomi Tanaka",
            "Kenji Sato",
        ],
        "places": ["Noto", "Ishikawa", "Wajima", "Tokyo", "the Sea of Japan coast", "Suzu"],
        "orgs": [
            "the Japan Meteorological Agency",
            "the Self-Defense Forces",
            "rescue teams",
            "the fire department",
            "Tepco",
            "local officials",
        ],
        "things": [
            "the earthquake",
            "aftershocks",
            "the tsunami warning",
            "collapsed houses",
            "landslides",
            "evacuation centres",
        ],
    },
    "strike": {
        "people": [
            "Kelly Ortberg",
            "Jon Holden",
            "Julie Su",
            "Brian West",
            "Stephanie Pope",
            "Lisa Murkowski",
        ],
        "places": ["Seattle", "Renton", "Everett", "Washington state", "Portland", "Wichita"],
        "orgs": [
            "Boeing",
            "the machinists' union",
            "federal mediators",
            "suppliers",
            "airlines",
            "the Federal Aviation Administration",
        ],
        "things": [
            "the strike",
            "the contract offer",
            "the 737 production line",
            "pension benefits",
            "the wage increase",
            "the ratification vote",
        ],
    },
}

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
SAY = [
    "said",
    "told reporters",
    "said in a statement",
    "wrote on social media",
    "told a news conference",
    "said in an interview",
    "confirmed",
    "warned",
]
ADJ = [
    "significant",
    "serious",
    "unexpected",
    "limited",
    "growing",
    "sharp",
    "modest",
    "dangerous",
    "historic",
    "temporary",
    "fragile",
    "decisive",
    "costly",
]
VERB = [
    "raise",
    "ease",
    "expand",
    "delay",
    "review",
    "question",
    "support",
    "reject",
    "weigh",
    "challenge",
    "accelerate",
    "halt",
    "complicate",
    "reshape",
]
NOUN = [
    "concerns",
    "pressure",
    "uncertainty",
    "criticism",
    "hopes",
    "doubts",
    "losses",
    "gains",
    "tensions",
    "costs",
    "warnings",
    "questions",
    "expectations",
]
FIRST = [
    "Anna",
    "Peter",
    "Maria",
    "David",
    "Olena",
    "James",
    "Sofia",
    "Thomas",
    "Yuki",
    "Carlos",
    "Fatima",
    "Lukas",
    "Chloe",
    "Ivan",
    "Grace",
    "Omar",
]
LAST = [
    "Smith",
    "Kovalenko",
    "Müller",
    "Tanaka",
    "Rossi",
    "Dubois",
    "Nowak",
    "Park",
    "Garcia",
    "Okafor",
    "Lindqvist",
    "Haddad",
    "Brennan",
    "Silva",
    "Novak",
    "Reyes",
]

FRAMES = [
    "{person} {say} on {day} that {thing} would {verb} {noun} across {place}.",
    "According to {org}, {thing} had already begun to {verb} {noun} in {place}.",
    "The {adj} shift came as {org} tried to {verb} {thing} before the end of the week.",
    "Officials in {place} described {thing} as {adj}, but declined to give details.",
    "{org} estimated that about {num} people were affected by {thing}.",
    "\u201cWe are watching {thing} very closely,\u201d {person} {say}.",
    "\u201cThis is a {adj} moment for {place},\u201d {person} {say}, adding that "
    "{org} would {verb} its plans.",
    "Analysts expect {thing} to {verb} {noun}, though estimates vary widely.",
    "Last year {org} faced {adj} {noun} over its handling of {thing}.",
    "In {place}, residents reported {adj} {noun} as {thing} continued.",
    "{person}, who has led {org} since {year}, has repeatedly urged caution.",
    "The figures, published by {org} on {day}, showed a {adj} rise of {pct} percent.",
    "Critics argue that {thing} will only {verb} {noun} for ordinary people in {place}.",
    "{org} did not immediately respond to a request for comment.",
    "It was not clear how {thing} would affect {noun} in the coming months.",
    "A spokesperson for {org} said the situation in {place} remained {adj}.",
    "Some {num} kilometres from {place}, {org} set up a second base of operations.",
    "{person} is expected to travel to {place} later this month to discuss {thing}.",
    "The latest developments follow weeks of {adj} {noun} between {org} and {org2}.",
    "By {day} evening, {org2} had moved to {verb} {thing}, according to two sources.",
    "Data from {org} suggest {thing} could cost as much as ${num} million.",
    "{org2} said it would {verb} any decision that failed to address {noun}.",
    "Speaking in {place}, {person} called for calm and said {thing} was {adj}.",
    "The move is likely to {verb} {noun} among allies, {person} {say}.",
    "Neither {org} nor {org2} has published a timetable for {thing}.",
    "Previous efforts to {verb} {thing} in {year} ended in {adj} {noun}.",
    "Local media in {place} reported that {thing} had been {adj} but under control.",
    "Independent experts cautioned that the numbers given by {org} could not be verified.",
    "{person} {say} that {org2} had been informed of {thing} in advance.",
    "The {adj} response from {org} reflected {noun} that have built up since {year}.",
]

TITLE_FRAMES = [
    "{person} says {thing} will {verb} {noun}",
    "{org} warns of {adj} {noun} over {thing}",
    "{thing_cap} in {place}: what we know so far",
    "{org} moves to {verb} {thing} as {noun} mount",
    "{adj_cap} {noun} as {thing} hits {place}",
    "{person} and {org} clash over {thing}",
]


@dataclass(frozen=True, slots=True)
class GeneratedArticle:
    topic: str
    title: str
    paragraphs: tuple[str, ...]
    author: str

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def html(self) -> str:
        return "".join(f"<p>{escape(p, quote=False)}</p>" for p in self.paragraphs)


def _fill(frame: str, rng: random.Random, vocab: dict[str, list[str]]) -> str:
    org, org2 = rng.sample(vocab["orgs"], 2)
    thing = rng.choice(vocab["things"])
    adj = rng.choice(ADJ)
    values = {
        "person": rng.choice(vocab["people"]),
        "place": rng.choice(vocab["places"]),
        "org": org,
        "org2": org2,
        "thing": thing,
        "thing_cap": thing[:1].upper() + thing[1:],
        "say": rng.choice(SAY),
        "day": rng.choice(DAYS),
        "adj": adj,
        "adj_cap": adj.capitalize(),
        "verb": rng.choice(VERB),
        "noun": rng.choice(NOUN),
        "num": f"{rng.randint(2, 950):,}",
        "pct": f"{rng.randint(1, 90) / 10:.1f}",
        "year": str(rng.randint(2008, 2023)),
    }
    sentence = frame.format(**values)
    return sentence[:1].upper() + sentence[1:]


def generate_article(rng: random.Random, topic: str | None = None) -> GeneratedArticle:
    """One article of 2-6 KB (UTF-8) on ``topic`` (random when None)."""
    topic = topic or rng.choice(sorted(TOPICS))
    vocab = TOPICS[topic]
    target = rng.randint(2000, 5800)
    paragraphs: list[str] = []
    size = 0
    while size < target:
        para = " ".join(_fill(rng.choice(FRAMES), rng, vocab) for _ in range(rng.randint(2, 4)))
        paragraphs.append(para)
        size += len(para.encode()) + 2
    title = _fill(rng.choice(TITLE_FRAMES), rng, vocab)
    author = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    return GeneratedArticle(topic=topic, title=title, paragraphs=tuple(paragraphs), author=author)


def generate_articles(n: int, seed: int = 0) -> Iterator[GeneratedArticle]:
    """``n`` articles; the same ``seed`` always gives the same articles."""
    rng = random.Random(seed)
    for _ in range(n):
        yield generate_article(rng)


_NAV = [
    "World",
    "Politics",
    "Business",
    "Technology",
    "Science",
    "Sport",
    "Culture",
    "Opinion",
    "Video",
    "Podcasts",
    "Newsletters",
]


_DIV_SOUP = [
    ("<article>", '<div class="story">'),
    ("</article>", "</div>"),
    ("<main>", '<div id="content">'),
    ("</main>", "</div>"),
    ('<aside class="sidebar">', '<div class="col-right">'),
    ('<aside class="read-more">', '<div class="inline-promo">'),
    ("</aside>", "</div>"),
    ("<header>", '<div class="masthead">'),
    ("</header>", "</div>"),
    ("<footer>", '<div class="site-foot">'),
    ("</footer>", "</div>"),
    ("<nav>", '<div class="menu">'),
    ("</nav>", "</div>"),
    ('<section class="related">', '<div class="more-stories">'),
    ('<section class="comments">', '<div class="discussion">'),
    ("</section>", "</div>"),
]


def render_page(
    article: GeneratedArticle,
    rng: random.Random,
    *,
    outlet: str = "Daily Ledger",
    layout: str = "semantic",
) -> str:
    """A full news page around ``article``: the body is the only article text on it.

    ``layout="semantic"`` uses ``<article>``, ``<aside>``, ``<footer>``…;
    ``layout="divs"`` is the same page in ``<div>`` soup, as many sites still are;
    ``layout="br"`` is div soup whose body has no ``<p>`` at all, paragraphs being
    separated by ``<br><br>`` and interrupted by promo boxes (old CMSes).
    """
    page = _render(article, rng, outlet, br=layout == "br")
    if layout in ("divs", "br"):
        for old, new in _DIV_SOUP:
            page = page.replace(old, new)
    return page


def _render(article: GeneratedArticle, rng: random.Random, outlet: str, *, br: bool) -> str:
    nav = "".join(f'<li><a href="/{n.lower()}">{n}</a></li>' for n in _NAV)
    related = "".join(
        f'<li><a href="/story/{rng.randint(1000, 9999)}">'
        f"{escape(generate_article(rng).title)}</a></li>"
        for _ in range(rng.randint(3, 6))
    )
    trending = "".join(
        f'<li><a href="/t/{i}">{escape(generate_article(rng).title)}</a></li>' for i in range(5)
    )
    comments = "".join(
        f'<div class="comment"><span class="user">{rng.choice(FIRST)}{rng.randint(1, 99)}</span>'
        f"<p>{escape(_fill(rng.choice(FRAMES), rng, TOPICS[article.topic]))} "
        "Totally agree!</p></div>"
        for _ in range(rng.randint(2, 8))
    )
    body = article.html
    if br:
        parts = [escape(p, quote=False) for p in article.paragraphs]
        for k in range(2, len(parts), 3):
            parts[k] += (
                f'<div class="promo"><a href="/p/{k}">Listen to this story</a> · '
                f'<a href="/subscribe">Subscribe for $1</a></div>'
            )
        body = "<br><br>\n".join(parts)
    # an inline advert and a "read more" box in the middle of the body, like real pages
    mid = body.find("</p>", len(body) // 2)
    if mid > 0:
        body = (
            body[: mid + 4]
            + '<div class="ad-slot">Advertisement</div>'
            + f'<aside class="read-more"><a href="/story/{rng.randint(1, 999)}">Read more: '
            + f"{escape(generate_article(rng).title)}</a></aside>"
            + body[mid + 4 :]
        )
    slug = f"{article.topic}-{rng.randint(100000, 999999)}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(article.title)} | {outlet}</title>
<link rel="canonical" href="https://www.example-ledger.com/news/{slug}">
<meta property="og:title" content="{escape(article.title)}">
<meta name="description" content="{escape(article.paragraphs[0][:150])}">
<script>window.dataLayer=[];function track(){{return 1}}</script>
<style>body{{font-family:serif}} .ad-slot{{height:250px}}</style>
</head><body>
<header><div class="logo"><a href="/">{outlet}</a></div><nav><ul>{nav}</ul></nav>
<form class="search"><input name="q" placeholder="Search"></form>
<div class="cookie">We use cookies to improve your experience. <button>Accept all</button></div>
</header>
<main><div class="breadcrumbs"><a href="/">Home</a> › <a href="/world">World</a></div>
<article><h1>{escape(article.title)}</h1>
<div class="byline">By <a href="/authors/x">{escape(article.author)}</a>, {outlet} ·
<time datetime="2024-11-04T09:30:00Z">4 November 2024</time></div>
<div class="share"><a href="#">Share on X</a> <a href="#">Facebook</a> <a href="#">Email</a></div>
<div class="article-body">{body}</div>
<div class="tags">Topics: <a href="/t/a">{article.topic}</a></div>
</article>
<section class="related"><h2>Related stories</h2><ul>{related}</ul></section>
<section class="comments"><h2>Comments</h2>{comments}</section>
</main>
<aside class="sidebar"><h3>Trending</h3><ol>{trending}</ol>
<div class="newsletter">Sign up for our morning briefing. <input type="email"></div></aside>
<footer><ul><li><a href="/about">About us</a></li><li><a href="/privacy">Privacy policy</a></li>
<li><a href="/terms">Terms</a></li><li><a href="/contact">Contact</a></li></ul>
<p>© 2024 {outlet}. All rights reserved.</p></footer>
</body></html>"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--page", action="store_true", help="print the web page, not the text")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    for art in generate_articles(args.n, args.seed):
        if args.page:
            print(render_page(art, rng))
        else:
            print(f"# {art.title}\n({art.topic}, by {art.author}, {len(art.text.encode())} B)\n")
            print(art.text, end="\n\n")


if __name__ == "__main__":
    main()
