"""Refreshing older articles' related links when a better match arrives.

A new article is often the best link for the stories of the last few days.
For each recent older article that the new one would enter the inline
"see also" of (or whose list is not full yet), the older article's related
list is recomputed and re-sent as `article.related_refreshed`, at most
`refresh_fanout` of them per new article.

To re-send an older article, enrich needs its last enriched version: a
compressed copy of it is kept only for articles published within
`refresh_window_days` of the newest one seen, then dropped, so memory holds a
few days of news, not the archive.
"""

import zlib
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from redis.asyncio.client import Pipeline

from khabar_enrich.related import TOP_SHOWN, IndexedDoc, Match, RelatedIndex, diversify, published_at
from khabar_enrich.settings import EnrichSettings
from khabar_shared.events import EnrichedArticle, RelatedLink
from khabar_shared.redis_helpers import RedisClient

PREFIX = "khabar:{enrich}"
RECENT_KEY = f"{PREFIX}:recent"
COPY_TTL_S = 14 * 86_400  # a safety net: the window trims copies long before
TRIM_EVERY = 100  # saves between two trims of the window
CONSIDERED_PER_REFRESH = 3  # older matches looked at per refresh allowed


def copy_key(article_id: str) -> str:
    return f"{PREFIX}:copy:{article_id}"


def links_key(article_id: str) -> str:
    """The copy's related links alone: deciding whom to refresh reads only these."""
    return f"{PREFIX}:links:{article_id}"


class RecentCopies:
    """The last enriched version of recently published articles, compressed."""

    def __init__(self, redis: RedisClient, window_s: float) -> None:
        self._redis = redis
        self._window_s = window_s
        self._saves = 0

    def save(self, pipe: Pipeline, enriched: EnrichedArticle) -> None:
        """Queue the copy (and its links on their own) on `pipe`."""
        article_id = enriched.article.id
        pipe.set(copy_key(article_id), zlib.compress(enriched.model_dump_json().encode(), 1), ex=COPY_TTL_S)
        pipe.set(links_key(article_id), orjson.dumps([link.model_dump() for link in enriched.related]),
                 ex=COPY_TTL_S)
        pipe.zadd(RECENT_KEY, {article_id: published_at(enriched.article)})
        self._saves += 1

    async def trim(self, newest: float) -> None:
        """Now and then, drop the copies of articles published before the window."""
        if self._saves < TRIM_EVERY:
            return
        self._saves = 0
        stale = await self._redis.zrange(RECENT_KEY, newest - self._window_s, "-inf", desc=True, byscore=True)
        if stale:
            await self._drop([member.decode() for member in stale])

    async def load_many(self, ids: Sequence[str]) -> dict[str, EnrichedArticle]:
        if not ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for article_id in ids:
                pipe.get(copy_key(article_id))
            raws = await pipe.execute()
        return {
            article_id: EnrichedArticle.model_validate_json(zlib.decompress(raw))
            for article_id, raw in zip(ids, raws, strict=True) if raw
        }

    async def links_many(self, ids: Sequence[str]) -> dict[str, list[RelatedLink]]:
        if not ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for article_id in ids:
                pipe.get(links_key(article_id))
            raws = await pipe.execute()
        return {
            article_id: [RelatedLink.model_construct(**link) for link in orjson.loads(raw)]
            for article_id, raw in zip(ids, raws, strict=True) if raw
        }

    async def remove(self, article_id: str) -> None:
        await self._drop([article_id])

    async def _drop(self, ids: list[str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(*(copy_key(i) for i in ids), *(links_key(i) for i in ids))
            pipe.zrem(RECENT_KEY, *ids)
            await pipe.execute()


def enters(match: Match, current: list[RelatedLink], max_related: int) -> bool:
    """Would the new article change what an older one shows?"""
    if any(link.article_id == match.doc.article_id for link in current):
        return False
    if len(current) < max_related:
        return True
    return match.score > current[min(TOP_SHOWN, len(current)) - 1].score


class Refresher:
    def __init__(self, index: RelatedIndex, copies: RecentCopies, settings: EnrichSettings) -> None:
        self._index = index
        self._copies = copies
        self._settings = settings

    async def refresh(self, doc: IndexedDoc, matches: Sequence[Match]) -> list[EnrichedArticle]:
        """Older recent articles whose related links the new `doc` improves, with new links.

        Only reads: the caller saves the refreshed copies with the new article.
        """
        if self._settings.refresh_fanout == 0:
            return []
        since = doc.published - self._settings.refresh_window_days * 86_400
        older = [m for m in matches if since <= m.doc.published <= doc.published]
        older = older[: CONSIDERED_PER_REFRESH * self._settings.refresh_fanout]
        current = await self._copies.links_many([m.doc.article_id for m in older])
        chosen = [
            m for m in older
            if m.doc.article_id in current
            and enters(m, current[m.doc.article_id], self._settings.max_related)
        ][: self._settings.refresh_fanout]
        if not chosen:
            return []
        linked_ids = {link.article_id for m in chosen for link in current[m.doc.article_id]}
        linked = await self._index.get_many(sorted(linked_ids))
        copies = await self._copies.load_many([m.doc.article_id for m in chosen])
        refreshed = []
        for match in chosen:
            copy = copies.get(match.doc.article_id)
            if copy is None:
                continue
            new_match = Match(doc, match.score, match.same_story, match.reasons)
            links = self._relink(copy.related, linked, new_match)
            if links == copy.related:
                continue
            refreshed.append(copy.model_copy(update={"related": links, "enriched_at": datetime.now(UTC)}))
        return refreshed

    def _relink(self, current: list[RelatedLink], linked: dict[str, IndexedDoc],
                new_match: Match) -> list[RelatedLink]:
        """The older article's links with the new one among them; withdrawn ones drop out."""
        kept = [
            Match(linked[link.article_id], link.score, "same story" in link.reasons, link.reasons)
            for link in current if link.article_id in linked
        ]
        return [m.link() for m in diversify([*kept, new_match], self._settings.max_related)]
