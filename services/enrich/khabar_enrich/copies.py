"""The copies kept in Redis for refreshes: their keys and writes.

To re-send an article (see `fanout.py`), enrich needs its last enriched
version: a compressed copy of it is kept only for articles published within
`refresh_window_days` plus `late_arrival_days` of the newest one seen, then
dropped, so memory holds a week or two of news, not the archive. Its related
links are kept on their own beside it: a refresh rewrites only those. What
this process parsed of them is its memory (`caches.ParsedCopies`).

Beside the links, the reverse index: per article, the set of articles whose
kept links point at it ("who links to me", `linkers_key`), written by the
same commands that write the links (in the batch's one transaction), so an
update or a withdrawal can refresh every list that links to it. And each
story's members by publication time (`story_key`, trimmed to the copies'
window), so a new telling reaches members beyond its candidates.
"""

import zlib
from collections.abc import Sequence
from typing import Any

import orjson

from khabar_enrich.batch_view import BatchView
from khabar_enrich.caches import Copy, ParsedCopies
from khabar_enrich.index import PREFIX
from khabar_enrich.scoring import published_at
from khabar_enrich.scripts import SCRIPTS
from khabar_shared.events import EnrichedArticle, RelatedLink
from khabar_shared.pipeline import Command, Writes

RECENT_KEY = f"{PREFIX}:recent"
COPY_TTL_S = 14 * 86_400  # a safety net: the window trims copies long before
TRIM_EVERY = 100  # saves between two trims of the window


def copy_key(article_id: str) -> str:
    # "copy2": a copy is the article's `article.enriched` event ("copy" held the bare article).
    return f"{PREFIX}:copy2:{article_id}"


def links_key(article_id: str) -> str:
    """The copy's related links alone: deciding whom to refresh reads only these."""
    return f"{PREFIX}:links:{article_id}"


def linkers_key(article_id: str) -> str:
    """Who links to the article: the ids of the articles whose kept links point at it (a set)."""
    return f"{PREFIX}:linkers:{article_id}"


def story_key(story_id: str) -> str:
    """A story's members: their ids, scored by publication time (a sorted set)."""
    return f"{PREFIX}:story:{story_id}"


TRIM_SCRIPT = SCRIPTS["trim_copies"]
SAVE_SCRIPT = SCRIPTS["save_copies"]
DROP_SCRIPT = SCRIPTS["drop_copy"]
LINKERS_SCRIPT = SCRIPTS["linkers"]


class RecentCopies:
    """The last enriched version of recently published articles: its `article.enriched` event,
    compressed; with the reverse index of their links and their stories' members.

    Writes are queued on the caller's batch writes (see `khabar_shared.pipeline.Writes`); what
    is written is also remembered, parsed, in `memory`.
    """

    def __init__(self, window_s: float, memory: ParsedCopies) -> None:
        self._window_s = window_s
        self._saves = 0
        self.memory = memory
        # The links the batch added, by the article they point at: who links to it since the
        # batch began (with the linker's publication time). Redis gets them with the batch's
        # other writes; until then the batch's later articles see them here.
        self._linked: dict[str, dict[str, float]] = {}
        # Likewise the members the batch added to each story, by story.
        self._members: dict[str, dict[str, float]] = {}

    def start_batch(self) -> None:
        self._linked.clear()
        self._members.clear()

    def members_added(self, story_id: str) -> dict[str, float]:
        """The members the batch added to the story since it began (by id, their publication
        time): Redis has not seen them yet."""
        return self._members.get(story_id, {})

    def save(
        self,
        pipe: Writes,
        view: BatchView,
        enriched: EnrichedArticle | None,
        event_json: bytes,
        refreshed: Sequence[EnrichedArticle] = (),
    ) -> None:
        """Queue, as one command on `pipe`, the copy of a newly enriched version (`event_json`, its
        `article.enriched` event as sent: made once for both; none for a withdrawal) with its links
        on their own and its place in its story, and the new links of the articles it `refreshed`;
        the reverse index follows (see `save_copies.lua`).

        The links at `links_key` are the current ones; the copy's own may be
        older (see `Refresher.refresh`), so a refresh does not serialize and
        compress the whole article again.
        """
        args: list[str | bytes | float] = []
        saved: list[tuple[EnrichedArticle, bytes]] = [(r, b"") for r in refreshed]
        if enriched is not None:
            kept = zlib.compress(event_json, 1)
            self.memory.remember(kept, Copy(enriched, event_json))
            saved.insert(0, (enriched, kept))
        if not saved:
            return
        for article, copy in saved:
            # A link's fields are plain values: its __dict__ is its model_dump, without pydantic's
            # cost per call (a couple of dozen links per save).
            links = orjson.dumps([vars(link) for link in article.related])
            self.memory.remember_links(links, article.related)
            published = published_at(article.article)
            article_id = article.article.id
            targets = [link.article_id for link in article.related]
            story = article.story_id if copy else ""
            args += [article_id, published, links, copy, "\n".join(targets), story]
            view.write(links_key(article_id), links, published)
            if copy:
                view.write(copy_key(article_id), copy, published)
                self._members.setdefault(story, {})[article_id] = published
            for target in targets:
                self._linked.setdefault(target, {})[article_id] = published
        pipe.add(
            *SAVE_SCRIPT.command(
                [RECENT_KEY],
                [
                    COPY_TTL_S,
                    copy_key(""),
                    links_key(""),
                    linkers_key(""),
                    story_key(""),
                    self._window_s,
                    *args,
                ],
            )
        )
        self._saves += len(saved)

    def trim(self, pipe: Writes, view: BatchView, newest: float) -> None:
        """Now and then, queue dropping the copies of articles published before the window."""
        if self._saves < TRIM_EVERY:
            return
        self._saves = 0
        pipe.add(
            *TRIM_SCRIPT.command(
                [RECENT_KEY],
                [newest - self._window_s, copy_key(""), links_key(""), linkers_key("")],
            )
        )
        view.trim(newest - self._window_s)

    def remove(self, pipe: Writes, view: BatchView, article_id: str) -> None:
        pipe.add(
            *DROP_SCRIPT.command(
                [RECENT_KEY], [article_id, copy_key(""), links_key(""), linkers_key("")]
            )
        )
        view.write(copy_key(article_id), None)
        view.write(links_key(article_id), None)

    @staticmethod
    def linkers_read(article_id: str) -> Command:
        """Read who links to the article, with their links (see `linkers.lua`)."""
        return LINKERS_SCRIPT.command([linkers_key(article_id), RECENT_KEY], [links_key("")])

    def linkers_of(
        self, view: BatchView, article_id: str, found: list[Any]
    ) -> dict[str, tuple[float, list[RelatedLink]]]:
        """The articles whose links point at `article_id` as the batch sees them, by id: their
        publication time and links. `found`: the reply of its `linkers_read`, made before the
        batch's writes; the links the batch added or changed since are the view's."""
        published: dict[str, float | None] = {}
        raws: dict[str, bytes | None] = {}
        for linker, when, raw in zip(*[iter(found)] * 3, strict=True):
            published[linker.decode()] = None if when is None else float(when)
            raws[linker.decode()] = raw
        published.update(self._linked.get(article_id, {}))
        linkers: dict[str, tuple[float, list[RelatedLink]]] = {}
        for linker in sorted(published):
            when = published[linker]
            if linker == article_id or when is None:  # no copy kept: it cannot be re-sent
                continue
            known, raw = view.seen(links_key(linker), when)
            if not known:
                raw = raws.get(linker)
            if raw is None:
                continue
            links = self.memory.links_of(raw)
            if any(link.article_id == article_id for link in links):
                linkers[linker] = (when, links)
        return linkers
