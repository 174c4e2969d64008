"""The copies kept in Redis for refreshes: their keys and writes.

To re-send an article (see `fanout.py`), enrich needs its last enriched
version: a compressed copy of it is kept only for articles published within
`refresh_window_days` plus `late_arrival_days` of the newest one seen, then
dropped, so memory holds a week or two of news, not the archive. Its related
links are kept on their own beside it: a refresh rewrites only those. What
this process parsed of them is its memory (`caches.ParsedCopies`).
"""

import zlib
from collections.abc import Sequence

import orjson

from khabar_enrich.batch_view import BatchView
from khabar_enrich.caches import Copy, ParsedCopies
from khabar_enrich.index import PREFIX
from khabar_enrich.scoring import published_at
from khabar_enrich.scripts import SCRIPTS
from khabar_shared.events import EnrichedArticle
from khabar_shared.pipeline import Writes

RECENT_KEY = f"{PREFIX}:recent"
COPY_TTL_S = 14 * 86_400  # a safety net: the window trims copies long before
TRIM_EVERY = 100  # saves between two trims of the window


def copy_key(article_id: str) -> str:
    # "copy2": a copy is the article's `article.enriched` event ("copy" held the bare article).
    return f"{PREFIX}:copy2:{article_id}"


def links_key(article_id: str) -> str:
    """The copy's related links alone: deciding whom to refresh reads only these."""
    return f"{PREFIX}:links:{article_id}"


TRIM_SCRIPT = SCRIPTS["trim_copies"]
SAVE_SCRIPT = SCRIPTS["save_copies"]


class RecentCopies:
    """The last enriched version of recently published articles: its `article.enriched` event,
    compressed.

    Writes are queued on the caller's batch writes (see `khabar_shared.pipeline.Writes`); what
    is written is also remembered, parsed, in `memory`.
    """

    def __init__(self, window_s: float, memory: ParsedCopies) -> None:
        self._window_s = window_s
        self._saves = 0
        self.memory = memory

    def save(
        self,
        pipe: Writes,
        view: BatchView,
        enriched: EnrichedArticle,
        event_json: bytes,
        refreshed: Sequence[EnrichedArticle] = (),
    ) -> None:
        """Queue, as one command on `pipe`, the copy of a newly enriched version (`event_json`, its
        `article.enriched` event as sent: made once for both) with its links on their own, and the
        new links of the articles it `refreshed`.

        The links at `links_key` are the current ones; the copy's own may be
        older (see `Refresher.refresh`), so a refresh does not serialize and
        compress the whole article again.
        """
        args: list[str | bytes | float] = []
        kept = zlib.compress(event_json, 1)
        self.memory.remember(kept, Copy(enriched, event_json))
        for article, copy in ((enriched, kept), *((r, b"") for r in refreshed)):
            # A link's fields are plain values: its __dict__ is its model_dump, without pydantic's
            # cost per call (a couple of dozen links per save).
            links = orjson.dumps([vars(link) for link in article.related])
            self.memory.remember_links(links, article.related)
            published = published_at(article.article)
            args += [article.article.id, published, links, copy]
            view.write(links_key(article.article.id), links, published)
            if copy:
                view.write(copy_key(article.article.id), copy, published)
        pipe.add(
            *SAVE_SCRIPT.command([RECENT_KEY], [COPY_TTL_S, copy_key(""), links_key(""), *args])
        )
        self._saves += 1 + len(refreshed)

    def trim(self, pipe: Writes, view: BatchView, newest: float) -> None:
        """Now and then, queue dropping the copies of articles published before the window."""
        if self._saves < TRIM_EVERY:
            return
        self._saves = 0
        pipe.add(
            *TRIM_SCRIPT.command(
                [RECENT_KEY], [newest - self._window_s, copy_key(""), links_key("")]
            )
        )
        view.trim(newest - self._window_s)

    def remove(self, pipe: Writes, view: BatchView, article_id: str) -> None:
        pipe.add("DEL", copy_key(article_id), links_key(article_id))
        pipe.add("ZREM", RECENT_KEY, article_id)
        view.write(copy_key(article_id), None)
        view.write(links_key(article_id), None)
