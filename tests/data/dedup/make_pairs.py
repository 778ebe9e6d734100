"""Build the labelled near-duplicate set ``pairs.jsonl`` (deterministic).

    PYTHONPATH=. python tests/data/dedup/make_pairs.py

Each line: ``{"id", "label", "kind", "a", "b"}`` where ``label`` is 1 when ``b`` is a
copy of ``a`` (the same story, edited) and 0 when it is a different story, and
``a``/``b`` are texts with paragraphs separated by blank lines.

Copies (label 1), the edits outlets really make to wire copy:
- ``rerun``: an outlet's own intro line and outro ("Reporting by …"), a few words changed
- ``update``: "UPDATE 2": new lead paragraphs, figures changed, the last paragraph cut
- ``trimmed``: the first 50-80 % of the paragraphs
- ``lead``: only the first three paragraphs of a long story (a feed's excerpt)
- ``reparagraphed``: paragraphs merged and split, quotes restyled, a few words changed
- ``edited``: about 5 % of the words replaced, one sentence dropped

Different stories (label 0), the hard cases:
- ``same_topic``: two reports on one topic: same names, places and stock phrases
- ``shared_background``: two reports that share a copied background paragraph
- ``follow_up``: a later story quoting the earlier one's first paragraph
- ``kursk``: hand-written reports of the Kursk deployment (the project's own example)
  against each other and the seed article
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from gen_articles import TOPICS, generate_article  # noqa: E402

SEED = 20241104
N_PER_KIND = 24

SYNONYMS = {
    "said": "stated",
    "about": "around",
    "began": "started",
    "expected": "likely",
    "reported": "said",
    "rise": "increase",
    "people": "residents",
    "officials": "authorities",
    "later": "afterwards",
    "weeks": "days",
    "month": "week",
    "closely": "carefully",
    "described": "called",
    "continued": "went on",
    "urged": "called for",
}
INTROS = [
    "(Adds details, quotes from paragraph 4)",
    "Our correspondent in the region contributed to this report.",
    "This article was first published by a partner agency and is republished here.",
    "Breaking: the story is developing and will be updated.",
    "Here is what we know so far.",
]
OUTROS = [
    "Reporting by Anna Smith; Additional reporting by Omar Haddad; Editing by Peter Park",
    "Follow us for the latest updates on this story.",
    "Copyright 2024 The Associated Press. All rights reserved. This material may not be "
    "published, broadcast, rewritten or redistributed.",
    "Sign up for our newsletter to get the day's top stories in your inbox.",
    "Writing by Grace Novak; Editing by Lukas Müller and David Reyes",
]

KURSK = [
    # hand-written: different reports of the same event (none copies another)
    "Ukraine's military intelligence said on Tuesday that the first units of North Korean "
    "soldiers had been moved by train from the far east to the Kursk region, where "
    "Ukrainian forces hold a strip of Russian territory.\n\n"
    "The agency said roughly 7,000 men had been issued Russian uniforms and identity "
    "papers describing them as natives of Buryatia, a Siberian republic.\n\n"
    "Kyiv has asked its allies for permission to strike the camps where the soldiers are "
    "being trained, arguing that waiting for them to reach the front would cost lives.\n\n"
    "Moscow has not confirmed the deployment. Asked about the reports, a Kremlin spokesman "
    "said that cooperation with Pyongyang was a matter for the two countries alone.",
    "South Korea summoned the Russian ambassador on Wednesday to protest what Seoul called "
    "an illegal military alliance between Moscow and Pyongyang.\n\n"
    "Officials in Seoul said they were considering sending weapons directly to Ukraine for "
    "the first time, a shift from a long-standing policy of not arming countries at war.\n\n"
    "The National Intelligence Service told lawmakers that North Korean officers had "
    "visited the front line in eastern Ukraine and that more troops were likely to follow "
    "by December.\n\n"
    "Analysts in Seoul said Pyongyang was probably being paid in cash, oil and military "
    "technology, including help with satellites and submarines.",
    "The Pentagon said on Monday that about 10,000 North Korean troops were now in Russia "
    "and that some had moved into the Kursk region, near the border with Ukraine.\n\n"
    "A spokeswoman said Washington expected the soldiers to be used in combat or in support "
    "roles against Ukrainian forces in the coming weeks, and warned that they would be "
    "legitimate targets.\n\n"
    "Defence Secretary Lloyd Austin urged China, North Korea's main ally, to use its "
    "influence to stop the deployment, which he called a dangerous development.\n\n"
    "In Brussels, NATO officials briefed ambassadors from South Korea, Japan, Australia "
    "and New Zealand on the intelligence behind the assessment.",
    "Residents of Sudzha, the largest Russian town held by Ukrainian troops, said they had "
    "heard rumours of foreign soldiers arriving on the other side of the front.\n\n"
    "Ukrainian commanders in the area said artillery fire had intensified over the past "
    "week and that Russian assaults were now supported by drones and glide bombs.\n\n"
    "Military bloggers in Russia posted videos they said showed Asian soldiers at a "
    "training ground, though the footage could not be verified independently.\n\n"
    "A Ukrainian officer said his unit was preparing for a larger offensive aimed at "
    "pushing it back across the border before winter.",
]


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


def join(paras: list[str]) -> str:
    return "\n\n".join(paras)


def replace_words(text: str, rng: random.Random, share: float) -> str:
    def swap(m: re.Match[str]) -> str:
        w = m.group(0)
        if rng.random() < share:
            return SYNONYMS.get(w.lower(), w[::-1] if len(w) > 6 else w + "s")
        return w

    return re.sub(r"[A-Za-z]+", swap, text)


def change_numbers(text: str, rng: random.Random) -> str:
    return re.sub(
        r"\d[\d,]*", lambda m: f"{rng.randint(2, 999):,}" if rng.random() < 0.5 else m[0], text
    )


def sentences(para: str) -> list[str]:
    return re.split(r"(?<=[.!?\u201d])\s+(?=[A-Z\u201c])", para)


def base(rng: random.Random, topic: str | None = None) -> str:
    return generate_article(rng, topic).text


def copy_of(kind: str, text: str, rng: random.Random) -> str:
    paras = paragraphs(text)
    if kind == "rerun":
        out = [rng.choice(INTROS), *paras, rng.choice(OUTROS)]
        return replace_words(join(out), rng, 0.01)
    if kind == "update":
        lead = [base(rng).split("\n\n")[0] for _ in range(rng.randint(1, 2))]
        body = [change_numbers(p, rng) for p in paras[: max(2, len(paras) - 1)]]
        return join([*lead, *body])
    if kind == "trimmed":
        keep = max(2, round(len(paras) * rng.uniform(0.5, 0.8)))
        return join(paras[:keep])
    if kind == "lead":
        return join(paras[:3])
    if kind == "reparagraphed":
        flat = [s for p in paras for s in sentences(p)]
        out, i = [], 0
        while i < len(flat):
            n = rng.randint(1, 5)
            out.append(" ".join(flat[i : i + n]))
            i += n
        text2 = join(out).replace("\u201c", '"').replace("\u201d", '"')
        return replace_words(text2, rng, 0.02)
    if kind == "edited":
        flat = [sentences(p) for p in paras]
        victim = rng.randrange(len(flat))
        if len(flat[victim]) > 1:
            flat[victim].pop(rng.randrange(len(flat[victim])))
        return replace_words(join([" ".join(s) for s in flat]), rng, 0.05)
    raise ValueError(kind)


def different(kind: str, rng: random.Random) -> tuple[str, str]:
    if kind == "same_topic":
        topic = rng.choice(sorted(TOPICS))
        return base(rng, topic), base(rng, topic)
    if kind == "shared_background":
        topic = rng.choice(sorted(TOPICS))
        a, b = paragraphs(base(rng, topic)), paragraphs(base(rng, topic))
        background = paragraphs(base(rng, topic))[0]
        a.insert(len(a) // 2, background)
        b.append(background)
        return join(a), join(b)
    if kind == "follow_up":
        topic = rng.choice(sorted(TOPICS))
        a = base(rng, topic)
        first = paragraphs(a)[0]
        b = paragraphs(base(rng, topic))
        b.insert(1, "Earlier this week: " + first)
        return a, join(b)
    raise ValueError(kind)


def main() -> None:
    rng = random.Random(SEED)
    seed_text = (ROOT / "tests" / "data" / "normalize" / "seed-article.expected.txt").read_text()
    rows: list[dict[str, object]] = []

    def add(label: int, kind: str, a: str, b: str) -> None:
        rows.append({"id": len(rows), "label": label, "kind": kind, "a": a, "b": b})

    for kind in ("rerun", "update", "trimmed", "lead", "reparagraphed", "edited"):
        for _ in range(N_PER_KIND):
            a = base(rng)
            add(1, kind, a, copy_of(kind, a, rng))
    for kind in ("rerun", "update", "trimmed", "reparagraphed", "edited"):
        add(1, f"{kind}-seed", seed_text.strip(), copy_of(kind, seed_text.strip(), rng))
    for kind in ("same_topic", "shared_background", "follow_up"):
        for _ in range(N_PER_KIND * 2):
            add(0, kind, *different(kind, rng))
    texts = [seed_text.strip(), *KURSK]
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            add(0, "kursk", texts[i], texts[j])
    with (HERE / "pairs.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    pos = sum(1 for r in rows if r["label"] == 1)
    print(f"{len(rows)} pairs: {pos} copies, {len(rows) - pos} different stories")


if __name__ == "__main__":
    main()
