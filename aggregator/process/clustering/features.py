"""Article → weighted terms: tokens, stop words, light stemming, entity-like boost."""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlsplit

from aggregator.models import Article
from aggregator.process.clustering.settings import ClusterSettings

_WORD = re.compile(r"[^\W_]+(?:['’.&][^\W_]+)*")
# The characters that join two runs of word characters into one token ("U.S", "AT&T",
# "don’t"); a token never starts or ends with one.
_JOINERS = "'’.&"
_STOP_WORDS = """a about above after again against all also am an and any are as at be because
    been before being below between both but by can could did do does doing down during
    each few for from further had has have having he her here hers him his how i if in
    into is it its itself just me more most my no nor not now of off on once only or
    other our ours out over own same she should so some such than that the their theirs
    them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours
    says said say may might must shall get gets got new news via vs report reports
    update updated updates watch video photos photo live today week day first one two
    just still back here now year years"""
_STOP = frozenset(_STOP_WORDS.split())
# URL path words that name site sections or page types, not events.
_URL_NOISE_WORDS = """html htm php aspx asp shtml cms story stories article articles news index
    www com net org blog blogs post posts view content detail page id category
    section tag tags feed rss amp print"""
_URL_NOISE = frozenset(_URL_NOISE_WORDS.split())


def _cp1252(text: str) -> tuple[bytes, str] | None:
    """``text`` in one byte a character and the codec that gives it back ("ascii" or
    "cp1252"), or None when a character has no cp1252 byte.

    cp1252 is Latin-1 with the curly quotes, dashes and ellipsis that English news
    is full of in place of the C1 controls: most texts of the Latin-script languages
    fit, and a byte table then reads them in C, where the regular expressions spend
    some 400 instructions a character (``_words``, ``_name_tokens``).
    """
    if text.isascii():
        return text.encode("ascii"), "ascii"
    try:
        return text.encode("cp1252"), "cp1252"
    except UnicodeEncodeError:
        return None


def _words(text: str) -> list[str]:
    """``_WORD.findall(text)``, read through a byte table where the text fits cp1252.

    Every character that is neither a word character nor a joiner becomes a space;
    each space-separated piece is then one token once the joiners at its ends are
    dropped (none, if it was a lone joiner), provided no two joiners stand side by
    side ("a..b" is two tokens to the pattern, "a" and "b"): such a text, and one
    outside cp1252, goes to the pattern itself. Without two side by side, a joiner
    at a piece's end stands beside a space: the replacements below drop exactly those.
    """
    encoded = _cp1252(text)
    if encoded is None:
        return _WORD.findall(text)
    data, codec = encoded
    if b".." in data.translate(_JOINER_BYTES):
        return _WORD.findall(text)
    spaced = b" " + data.translate(_SPACED_BYTES) + b" "
    for edge in _JOINER_EDGES:
        spaced = spaced.replace(edge, b"  ")
    return spaced.decode(codec).split()


def _stem(word: str) -> str:
    """Light English suffix stripping: possessives, plurals, -ing/-ed, final -e.

    Deliberately weak (no Porter): headlines are short and full of names, and
    aggressive stemming conflates them. The final ``e`` goes so that "release",
    "released", "releases" and "releasing" meet at one stem.
    """
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and not word.endswith(("aies", "eies")):
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is", "aes", "ees", "oes")):
        word = word[:-1]  # "releases" -> "release"; the final "e" goes below
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4 and not word.endswith("eed"):
        word = word[:-2]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


# Memo of _token_info: a pure function of the token, so sharing it is safe and it
# changes no decision. Cleared when full (a plain dict is several times faster than
# functools.lru_cache on this path, which runs for every token of every article).
_TOKEN_MEMO: dict[str, tuple[str, int]] = {}
# Cleared when full. 65,536 tokens cover nearly every token of a news window (the
# vocabulary is Zipfian); at 262,144 the memo alone held ~35 MiB once a long-running
# daemon had seen that many distinct tokens (issue 17).
_TOKEN_MEMO_MAX = 1 << 16


def _token(token: str) -> tuple[str, int]:
    info = _TOKEN_MEMO.get(token)
    if info is None:
        if len(_TOKEN_MEMO) >= _TOKEN_MEMO_MAX:
            _TOKEN_MEMO.clear()
        info = _TOKEN_MEMO[token] = _token_info(token)
    return info


def _token_info(token: str) -> tuple[str, int]:
    """A token's term ("" for a stop word) and entity class.

    Entity class: 2 for acronyms, numbers and mixed case ("NATO", "7.1", "iPhone"),
    which name things wherever they stand; 1 for a plain capitalised word, a name
    only inside a sentence-case text; 0 otherwise. News vocabulary is Zipfian, so
    the cache answers almost every token of a long text.
    """
    lower = token.lower().replace("’", "'")
    capital = 1 if token[0].isupper() else 0
    if lower in _STOP or (len(lower) < 2 and not lower.isdigit()):
        return "", capital  # the capital still tells Title Case from sentence case
    term = _stem(lower.replace(".", "").replace("'", ""))
    if not term or term in _STOP:
        return "", capital
    if (
        any(ch.isdigit() for ch in token)
        or (len(token) >= 2 and token.isupper())
        or (token[0].islower() and not token.islower())
    ):
        return term, 2
    return term, capital


def _field_terms(
    text: str, settings: ClusterSettings, weight: float, out: dict[str, float]
) -> None:
    """Add weighted unigram (and, when asked, bigram) counts of one field to ``out``."""
    raw = _words(text)
    if not raw:
        return
    boost = weight * settings.entity_boost
    if settings.bigram_weight > 0.0:
        _ordered_terms(raw, weight, boost, weight * settings.bigram_weight, out)
        return
    # Without pairs the order is irrelevant: count distinct tokens once (in C), then
    # look each up once; a 1.5 KB lead has ~250 tokens but ~150 distinct ones.
    counts = Counter(raw)
    memo = _TOKEN_MEMO
    kinds = [(memo.get(tok) or _token(tok), n) for tok, n in counts.items()]
    caps = sum(n for (_, kind), n in kinds if kind)
    # In Title Case every word is capitalised and capitals say nothing; in sentence
    # case a capital marks a name, except on the first word (and sentence starts,
    # which are mostly stop words).
    capital_is_name = caps * 2 <= len(raw)
    first = _token(raw[0])
    for (term, kind), n in kinds:
        if not term:
            continue
        if kind == 2:
            out[term] = out.get(term, 0.0) + n * boost
        elif kind == 1 and capital_is_name:
            plain = 1 if (term, kind) == first else 0
            out[term] = out.get(term, 0.0) + (n - plain) * boost + plain * weight
        else:
            out[term] = out.get(term, 0.0) + n * weight


def _ordered_terms(
    raw: list[str], weight: float, boost: float, pair_weight: float, out: dict[str, float]
) -> None:
    tokens = [_token(t) for t in raw]
    caps = sum(1 for _, kind in tokens if kind)
    capital_is_name = caps * 2 <= len(tokens)
    prev = ""
    for i, (term, kind) in enumerate(tokens):
        if not term:
            prev = ""
            continue
        if kind == 2 or (kind == 1 and capital_is_name and i > 0):
            out[term] = out.get(term, 0.0) + boost
        else:
            out[term] = out.get(term, 0.0) + weight
        if prev:
            pair = prev + " " + term
            out[pair] = out.get(pair, 0.0) + pair_weight
        prev = term


def _url_words(url: str) -> str:
    """The words of a URL's path (its slug), without host, ids and page types."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return ""
    words = re.split(r"[^A-Za-z]+", path)
    return " ".join(w for w in words if len(w) >= 3 and w.lower() not in _URL_NOISE)


def title_words(title: str) -> list[tuple[str, str]]:
    """(term, lower-cased word) for each content word of a title, for display."""
    out = []
    for word in _words(title):
        term = _token(word)[0]
        if term:
            out.append((term, word.lower()))
    return out


def featurize(article: Article, settings: ClusterSettings) -> dict[str, float]:
    """Raw weighted term counts of an article (title, lead of the text, URL slug)."""
    counts: dict[str, float] = {}
    _field_terms(article.title, settings, 1.0, counts)
    body = article.fulltext or article.text
    if body and settings.text_weight > 0.0:
        _field_terms(body[: settings.max_text_chars], settings, settings.text_weight, counts)
    url = article.canonical_url or article.url
    if url and settings.url_weight > 0.0:
        # The slug is written like a headline but lower-cased: no entity signal.
        _field_terms(_url_words(url).lower(), settings, settings.url_weight, counts)
    return counts


# A capitalised word or a number. After a sentence end (. ! ? … a line break, an
# opening quote) a word is capitalised by grammar, not because it names something.
# Only cased scripts have capitals (Latin, Greek, Cyrillic ranges here); a pattern
# that starts with a character class lets the regex engine skip the other words
# in C, which keeps the cost of a 3 KB text low.
_NAME = re.compile(
    r"[0-9A-ZÀ-ÖØ-ÞĀ-ɏΆ-ΫЀ-ЯѠ-ӿ][^\W_]*"
    # "8,000 troops" is one number, not "8" and "000"; no alternation before the
    # first class, which would stop the engine from skipping ahead in C.
    r"(?:['’.&][^\W_]+|,[0-9]{3}(?![0-9]))*"
)


def _byte_tables() -> tuple[bytes, bytes, bytes]:
    """Per cp1252 byte: (itself for a word character or a joiner, else a space;
    "." for a joiner, else a space; 1 for a character ``_NAME`` starts with, else 0).

    Built by asking the patterns themselves about each character, so that a table
    and its pattern cannot disagree.
    """
    spaced, joiners, starts = bytearray(256), bytearray(256), bytearray(256)
    word = re.compile(r"[^\W_]")
    for code in range(256):
        try:
            ch = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            ch = "\x00"  # undefined in cp1252: no encoded text holds it
        spaced[code] = code if word.fullmatch(ch) or ch in _JOINERS else 32
        joiners[code] = 46 if ch in _JOINERS else 32
        starts[code] = 1 if _NAME.match(ch) else 0
    return bytes(spaced), bytes(joiners), bytes(starts)


_SPACED_BYTES, _JOINER_BYTES, _NAME_START_BYTES = _byte_tables()
# A joiner beside a space, in ``_words``' spaced text: at the end of a piece.
_JOINER_EDGES = [
    edge
    for joiner in _JOINERS.encode("cp1252")
    for edge in (bytes([joiner, 32]), bytes([32, joiner]))
]

_SENTENCE_END = frozenset('.!?…\n"“«')
_OPENERS = " \t\r'\"”’»)]"
# Words capitalised for reasons other than naming this event's who/where/when: days
# and months recur across unrelated events, and headline-style words are not names.
_NOT_NAME_WORDS = """monday tuesday wednesday thursday friday saturday sunday january
    february march april may june july august september october november december
    mr mrs ms dr breaking exclusive update"""
_NOT_NAMES = frozenset(_stem(w) for w in _NOT_NAME_WORDS.split())


def entities(article: Article, settings: ClusterSettings) -> dict[str, float]:
    """Who, where, when and how many: name-like terms of the title and full text.

    A term counts when its token is an acronym, a number or mixed case anywhere, or a
    capitalised word that does not start a sentence (in a Title Case headline every
    word is capitalised, so the title gives names only when it is in sentence case,
    and its first word never does). Title names count double: the headline says whom
    the story is about. The body is read up to ``max_entity_chars``: names recur in
    the lead, and the tail costs time.

    Scripts without case (Korean, Chinese, Japanese, Arabic) give no capitalised
    names, only numbers: for them the join rests on the content vector alone, which
    is why the gate only applies when both sides have names (``Clusterer``).
    """
    body = article.fulltext or article.text
    if len(body) < settings.min_entity_text or settings.max_entity_chars <= 0:
        # A headline (or a one-line summary) names one or two things: too few to
        # tell two events apart by, and too few to disagree on without splitting one.
        return {}
    out: dict[str, float] = {}
    _names(article.title, 2.0, out, title=True)
    _names(body[: settings.max_entity_chars], 1.0, out, title=False)
    return out


def _names(text: str, weight: float, out: dict[str, float], *, title: bool) -> None:
    # Plain dicts, not Counters: a Counter's missing key goes through a Python-level
    # ``__missing__``, and this loop runs for every capitalised word of 3 KB of text.
    counts: dict[str, int] = {}
    starts: dict[str, int] = {}
    found = 0
    ends = _SENTENCE_END
    openers = _OPENERS
    memo = _TOKEN_MEMO
    for start, tok in _name_tokens(text):
        i = start - 1
        if i >= 0 and (text[i].isalnum() or text[i] in "'’.&,"):
            continue  # inside a word ("iPhone") or a number: not a word of its own
        found += 1
        while i >= 0 and text[i] in openers:
            i -= 1
        if (i < 0 or text[i] in ends) and (memo.get(tok) or _token(tok))[1] != 2:
            # First word of the text or of a sentence, not an acronym or number:
            # capitalised by grammar. It is a name only if the text also capitalises
            # it mid-sentence (below).
            starts[tok] = starts.get(tok, 0) + 1
        else:
            counts[tok] = counts.get(tok, 0) + 1
    for tok, n in starts.items():
        if tok in counts:
            counts[tok] += n
    if title and found * 2 > len(_words(text)):
        # Title Case: every word is capitalised, so capitals name nothing; acronyms
        # and numbers still do.
        counts = {tok: n for tok, n in counts.items() if _is_strong(tok)}
    for tok, n in counts.items():
        term, kind = memo.get(tok) or _token(tok)
        if term and kind and term not in _NOT_NAMES:
            out[term] = out.get(term, 0.0) + n * weight


def _name_tokens(text: str) -> list[tuple[int, str]]:
    """(start, text) of each match of ``_NAME.finditer(text)``.

    The pattern matches wherever a character it starts with stands (its rest may be
    empty), so on text that fits cp1252 each match is the pattern's match at the next
    such character at or after the end of the last: found by ``bytes.find`` in a
    byte table, instead of the pattern trying every character of 3 KB in turn.
    """
    encoded = _cp1252(text)
    if encoded is None:
        return [(m.start(), m.group()) for m in _NAME.finditer(text)]
    starts = encoded[0].translate(_NAME_START_BYTES)
    out = []
    match = _NAME.match
    at = starts.find(1)
    while at >= 0:
        found = match(text, at)
        assert found is not None  # its first character matches, the rest may be empty
        out.append((at, found.group()))
        at = starts.find(1, found.end())
    return out


def _is_strong(token: str) -> bool:
    return (_TOKEN_MEMO.get(token) or _token(token))[1] == 2


_MONTH_WORDS = """january february march april may june july august september october
    november december"""
# A month's name and its abbreviations ("December", "Dec", "Sept") -> "dec".
_MONTHS = {
    **{m.capitalize(): m[:3] for m in _MONTH_WORDS.split()},
    **{m[:3].capitalize(): m[:3] for m in _MONTH_WORDS.split()},
    "Sept": "sep",
}
# Capitalised words that may be a month: a scan for one character class is much
# cheaper than trying the whole pattern at every position of 3 KB of text.
_MONTH_LIKE = re.compile(r"[JFMASOND][a-z]{2,8}")
# The day after the month ("Dec. 11", "Dec.11", "December 11th"; not "March 8,000",
# nor "May 2008") or before it ("11 December", "the 11th of Dec.").
_DAY_AFTER = re.compile(r"\.?\s*(?<=[.\s])([0-9]{1,2})(?:st|nd|rd|th)?\b(?!,[0-9])")
_DAY_BEFORE = re.compile(r"\b([0-9]{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?\Z")


def days(article: Article, settings: ClusterSettings) -> frozenset[str]:
    """The days of the year the full text names, as ``"dec11"``: when it happened.

    Read where ``entities`` reads (the title and the first ``max_entity_chars`` of a
    body of at least ``min_entity_text``; a headline gives none). A month alone or a
    weekday recurs across events of one kind ("on Tuesday"); a month and its day
    rarely does: on ECB+ DEV, of the pairs of reports of one topic whose texts both
    name days, 122 of one event share one and none of two events do.
    """
    body = article.fulltext or article.text
    if len(body) < settings.min_entity_text or settings.max_entity_chars <= 0:
        return frozenset()
    out: set[str] = set()
    _days(article.title, out)
    _days(body[: settings.max_entity_chars], out)
    return frozenset(out)


def _days(text: str, out: set[str]) -> None:
    for match in _MONTH_LIKE.finditer(text):
        month = _MONTHS.get(match.group())
        if month is None:
            continue
        start, end = match.span()
        if (start and (text[start - 1].isalnum() or text[start - 1] == "_")) or (
            end < len(text) and (text[end].isalnum() or text[end] == "_")
        ):
            continue  # part of a longer word ("Mayday", "AMarch")
        after = _DAY_AFTER.match(text, end)
        before = None if after else _DAY_BEFORE.search(text, max(0, start - 12), start)
        found = after or before
        if found is not None and 1 <= (day := int(found.group(1))) <= 31:
            out.add(f"{month}{day}")
