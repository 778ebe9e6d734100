"""A feed's entry filter: its ``include`` / ``exclude`` queries.

Here, in the query language, rather than with topic matching in the process half: the
poller applies it before storing, so the poll half needs the language but nothing of
what happens to stored articles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aggregator.query.nodes import Query, document_from_article

if TYPE_CHECKING:  # an annotation only (query.nodes says why)
    from aggregator.models import Article


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """A feed's ``include`` / ``exclude`` queries: which of its entries are stored.

    Applied before storing, so a dropped entry never reaches dedup, the clusters, the
    topics or the archive; the poll counts them (``PollSummary.filtered``).
    """

    include: Query | None = None
    exclude: Query | None = None

    def keeps(self, article: Article) -> bool:
        doc = document_from_article(article)
        if self.include is not None and self.include.evaluate(doc) is None:
            return False
        return self.exclude is None or self.exclude.evaluate(doc) is None
