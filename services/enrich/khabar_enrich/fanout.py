"""Refreshing other articles' related links when a better match arrives.

A new article is often the best link for the stories published within a few
days of it, before or after: news does not arrive in the order it was
published (time zones, late agencies, embargoes, back-filled archives), and
the lists must depend on which articles there are, not on the order they
came in. For each article published within `refresh_window_days` of the new
(or changed) one whose inline "see also" it would enter (or whose list is
not full yet, or which shows it at a score its new text changed), that
article's related list is recomputed and re-sent as
`article.related_refreshed`, at most `refresh_fanout` of them per new
article. A copy of the new article's own text is never refreshed with it.
"""

from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import NamedTuple

from khabar_enrich.batch_view import BatchView
from khabar_enrich.caches import ParsedCopies
from khabar_enrich.copies import copy_key
from khabar_enrich.index import NEVER, RelatedIndex, doc_key
from khabar_enrich.scoring import TOP_SHOWN, IndexedDoc, Match, diversify
from khabar_enrich.settings import EnrichSettings
from khabar_shared.events import EnrichedArticle, RelatedLink

CONSIDERED_PER_REFRESH = 3  # matches looked at per refresh allowed
# A link's score moves a little when the same text is enriched again (document frequencies
# change as the archive grows): only a larger move is a changed text worth a refresh.
SCORE_MOVED = 0.02
_ARTICLE_ID = attrgetter("article_id")


class Refreshed(NamedTuple):
    """An older article with its new links, and the JSON its copy was kept as (see
    `events.encode_event`'s `copied_from`)."""

    enriched: EnrichedArticle
    copy_json: bytes


def enters(article_id: str, score: float, current: Sequence[RelatedLink], max_related: int) -> bool:
    """Would the new (or changed) article `article_id`, scoring `score` against another one,
    change what that one shows (its `current` links)?"""
    ids = list(map(_ARTICLE_ID, current))  # compared in C, no generator
    if article_id in ids:
        return abs(current[ids.index(article_id)].score - round(score, 4)) > SCORE_MOVED
    if len(current) < max_related:
        return True
    return score > current[min(TOP_SHOWN, len(current)) - 1].score


class Refresher:
    def __init__(self, index: RelatedIndex, copies: ParsedCopies, settings: EnrichSettings) -> None:
        self._index = index
        self._copies = copies
        self._settings = settings

    def window(self, doc: IndexedDoc) -> float:
        """Candidates published since then may be refreshed: the index attaches their links.
        (It reads none published more than the window after `doc`, see `RelatedIndex`.)"""
        if self._settings.refresh_fanout == 0:
            return NEVER
        return doc.published - self._settings.refresh_window_days * 86_400

    async def start(
        self, view: BatchView, doc: IndexedDoc, matches: Sequence[Match], links: Mapping[str, bytes]
    ) -> Awaitable[list[Refreshed]]:
        """Start finding the articles within the window whose related links the new `doc`
        changes; await the result for them, with their new links.

        `links`: the current links of the matches published within `window`, as
        read with the candidates. Only reads (as the batch sees Redis, one round
        trip at most, and only when some article is to be refreshed), the read
        already on its way when this returns: the caller may work while it
        travels. The caller saves the refreshed copies with the new article.
        """
        chosen, current = self._choose(doc, matches, links)
        if not chosen:
            return _ready([])
        linked_ids = sorted({link.article_id for m in chosen for link in current[m.doc.article_id]})
        chosen_ids = [m.doc.article_id for m in chosen]
        # One MGET: a command per key costs the client more than the reads cost Redis.
        keys = [*map(doc_key, linked_ids), *map(copy_key, chosen_ids)]
        published = [*(None for _ in linked_ids), *(m.doc.published for m in chosen)]
        read = await view.start_read(keys, published)
        return self._refreshed(doc, chosen, links, linked_ids, read)

    def _choose(
        self, doc: IndexedDoc, matches: Sequence[Match], links: Mapping[str, bytes]
    ) -> tuple[list[Match], dict[str, list[RelatedLink]]]:
        """The matches within the window, published before or after `doc`, whose shown links
        `doc` would change, and the links they have."""
        since = self.window(doc)
        until = doc.published + self._settings.refresh_window_days * 86_400
        near = [m for m in matches if since <= m.doc.published <= until and not m.copy]
        near = near[: CONSIDERED_PER_REFRESH * self._settings.refresh_fanout]
        current: dict[str, list[RelatedLink]] = {}
        chosen: list[Match] = []
        for match in near:  # in order, parsing links only until the fanout is reached
            if len(chosen) == self._settings.refresh_fanout:
                break
            raw = links.get(match.doc.article_id)
            if raw is None:
                continue
            current[match.doc.article_id] = self._copies.links_of(raw)
            if enters(
                doc.article_id,
                match.score,
                current[match.doc.article_id],
                self._settings.max_related,
            ):
                chosen.append(match)
        return chosen, current

    async def _refreshed(
        self,
        doc: IndexedDoc,
        chosen: list[Match],
        links: Mapping[str, bytes],
        linked_ids: list[str],
        read: Awaitable[list[bytes | None]],
    ) -> list[Refreshed]:
        values = await read
        linked = self._index.docs_from(linked_ids, values[: len(linked_ids)])
        copies = self._copies.copies_from(
            [m.doc.article_id for m in chosen], values[len(linked_ids) :]
        )
        refreshed = []
        for match in chosen:
            copy = copies.get(match.doc.article_id)
            if copy is None:
                continue
            new_match = Match(doc, match.score, match.same_story, match.reasons)
            related = self._copies.links_of(
                links[match.doc.article_id]
            )  # newer than the copy's own
            links_now = self._relink(related, linked, new_match)
            if links_now == related:
                continue
            article = copy.enriched.model_copy(
                update={"related": links_now, "enriched_at": datetime.now(UTC)}
            )
            refreshed.append(Refreshed(article, copy.event_json))
        return refreshed

    def _relink(
        self, current: list[RelatedLink], linked: dict[str, IndexedDoc], new_match: Match
    ) -> list[RelatedLink]:
        """The article's links with the new one among them (its old link replaced); withdrawn ones
        drop out."""
        new_id = new_match.doc.article_id
        kept = [
            Match.of_link(linked[link.article_id], link)
            for link in current
            if link.article_id in linked and link.article_id != new_id
        ]
        return [m.link() for m in diversify([*kept, new_match], self._settings.max_related)]


async def _ready(value: list[Refreshed]) -> list[Refreshed]:
    return value
