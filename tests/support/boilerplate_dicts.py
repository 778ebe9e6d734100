"""The boilerplate learner as it was before its tables were packed (issue 17).

``aggregator/process/dedup.py``'s ``Boilerplate`` keeps its candidate counts in packed
tables; this is the learner of dicts and tuples it replaced, kept as the reference
that ``tests/test_dedup_boilerplate_packed.py`` holds the packed one to.
"""

from __future__ import annotations

import sys
from collections import deque

import numpy as np
import numpy.typing as npt

from aggregator.process.dedup import BoilerplateSettings

_NOTHING: frozenset[int] = frozenset()
_Lookup = frozenset[int] | set[int] | dict[int, int]


class _Outlet:
    """One outlet's recent items and the shingles learned as its own boilerplate."""

    __slots__ = ("active", "items", "learned")

    def __init__(self, items: int) -> None:
        # (story, sorted distinct observed hashes) of the outlet's last items
        self.items: deque[tuple[int, npt.NDArray[np.uint64]]] = deque(maxlen=items)
        self.learned: dict[int, int] = {}  # hash → serial of the last sighting
        self.active = 0


class Boilerplate:
    """Which shingles recur across different stories: online, bounded, deterministic.

    ``observe`` is called once per added article with its observed hashes and its
    story (the first-seen original it copies, else itself). Copies of one story never
    raise a count, so syndicated text is not mistaken for boilerplate; text shared by
    ``min_stories`` different stories is. ``lookup`` answers for an outlet.
    """

    def __init__(self, settings: BoilerplateSettings | None = None) -> None:
        self.settings = settings or BoilerplateSettings()
        self._serial = 0
        # hash → (stories seen, last story, the story before): candidates only
        self._new: dict[int, tuple[int, int, int]] = {}
        self._old: dict[int, tuple[int, int, int]] = {}
        self.learned: dict[int, int] = {}  # across outlets: hash → last sighting
        self._outlets: dict[str, _Outlet] = {}

    def stats(self) -> dict[str, int]:
        return {
            "candidates": len(self._new) + len(self._old),
            "learned": len(self.learned),
            "outlets": len(self._outlets),
            "outlet_learned": sum(len(o.learned) for o in self._outlets.values()),
        }

    def nbytes(self) -> int:
        """Bytes held (``sys.getsizeof``, each object once): the candidates' tables,
        the learned shingles, the outlets' recent items and learned shingles."""
        total = 0
        for table in (self._new, self._old):
            total += sys.getsizeof(table) + sum(sys.getsizeof(h) for h in table)
            seen: set[int] = set()
            for rec in table.values():
                if id(rec) not in seen:
                    seen.add(id(rec))
                    total += sys.getsizeof(rec) + sum(sys.getsizeof(x) for x in rec[1:])
        total += _dict_bytes(self.learned) + sys.getsizeof(self._outlets)
        for name, o in self._outlets.items():
            total += sys.getsizeof(name) + sys.getsizeof(o) + _dict_bytes(o.learned)
            total += sys.getsizeof(o.items) + sum(
                sys.getsizeof(it) + sys.getsizeof(it[0]) + sys.getsizeof(it[1]) for it in o.items
            )
        return total

    def outlet(self, feed: str) -> _Lookup:
        """The shingles learned as ``feed``'s own boilerplate (empty when none)."""
        o = self._outlets.get(feed)
        return o.learned if o is not None and o.learned else _NOTHING

    def mask(self, values: npt.NDArray[np.uint64], feed: str) -> npt.NDArray[np.bool_]:
        """What ``DedupIndex`` asks of its learner since ``Boilerplate.mask``: here by
        its definition, one membership test a value (the packed learner's is searched)."""
        own = self.outlet(feed)
        return np.array([h in self.learned or h in own for h in values.tolist()], dtype=np.bool_)

    def observe(self, feed: str, hashes: npt.NDArray[np.uint64], story: int) -> None:
        """Count ``hashes`` (sorted, distinct) of one article of ``story`` from ``feed``."""
        s = self.settings
        if not s.learn:
            return
        self._serial += 1
        serial = self._serial
        if serial % s.horizon == 0:
            # what was not seen again for a generation is dropped: bounded memory
            self._old, self._new = self._new, {}
        learned, new, old = self.learned, self._new, self._old
        need = s.min_stories
        for h in hashes.tolist():
            if h in learned:
                learned[h] = serial
                continue
            rec = new.get(h)
            if rec is None:
                rec = old.pop(h, None)
                if rec is None:
                    new[h] = (1, story, -1)
                    continue
            count, last, before = rec
            if story in (last, before):
                new[h] = rec
                continue
            if count + 1 >= need:
                learned[h] = serial
                new.pop(h, None)
            else:
                new[h] = (count + 1, story, last)
        if len(learned) > s.max_learned * 11 // 10:
            _keep_newest(learned, s.max_learned)
        self._observe_outlet(feed, hashes, story, serial)

    def _observe_outlet(
        self, feed: str, hashes: npt.NDArray[np.uint64], story: int, serial: int
    ) -> None:
        s = self.settings
        o = self._outlets.get(feed)
        if o is None:
            o = self._outlets[feed] = _Outlet(s.outlet_items)
            if len(self._outlets) > s.max_outlets * 11 // 10:
                for name in sorted(self._outlets, key=lambda f: self._outlets[f].active)[
                    : len(self._outlets) - s.max_outlets
                ]:
                    del self._outlets[name]
        o.active = serial
        if len(hashes):
            stories = {story}
            others = []
            for other, items in reversed(o.items):
                if other in stories:
                    continue  # a copy of a story already counted counts once
                stories.add(other)
                others.append(items)
            if len(stories) >= s.outlet_min_items:
                # one sorted pool of the other stories' hashes (each distinct within
                # its item): how many items hold a hash is the width of its run
                pool = np.sort(np.concatenate(others))
                counts = 1 + (
                    pool.searchsorted(hashes, "right") - pool.searchsorted(hashes, "left")
                )
                for h in hashes[counts >= s.outlet_min_items].tolist():
                    o.learned[h] = serial
                if len(o.learned) > s.max_outlet_learned * 11 // 10:
                    _keep_newest(o.learned, s.max_outlet_learned)
        o.items.append((story, hashes))


def _dict_bytes(table: dict[int, int]) -> int:
    return sys.getsizeof(table) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in table.items())


def _keep_newest(table: dict[int, int], keep: int) -> None:
    """Drop the least recently seen entries of ``table`` down to ``keep``."""
    for h, _ in sorted(table.items(), key=lambda kv: kv[1])[: len(table) - keep]:
        del table[h]
