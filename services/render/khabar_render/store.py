"""What render keeps: the articles it renders from, and the fragments it rendered.

Two Redis roles, possibly two servers:
- the *log* Redis (never evicts) keeps each article's latest enriched version,
  the listings (by section and overall, newest first) and the dependency
  index (which fragments show which article);
- the *cache* Redis (may evict) keeps rendered fragments. A miss is not an
  error: the fragment is rendered again from the log Redis.
"""

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from khabar_shared.events import EnrichedArticle
from khabar_shared.redis_helpers import RedisClient

PREFIX = "khabar:render"
LATEST_KEY = f"{PREFIX}:latest"


def article_key(article_id: str) -> str:
    return f"{PREFIX}:article:{article_id}"


def section_key(slug: str) -> str:
    return f"{PREFIX}:section:{slug}"


def shown_in_key(article_id: str) -> str:
    return f"{PREFIX}:shown-in:{article_id}"


def fragment_key(name: str) -> str:
    return f"{PREFIX}:fragment:{name}"


class StoredArticle(BaseModel):
    article_id: str
    version: int
    status: Literal["live", "withdrawn"]
    enriched: EnrichedArticle | None = None


class StoredFragment(BaseModel):
    name: str
    html: str
    etag: str
    shows: list[str]
    rendered_at: datetime


SectionResolver = Callable[[str], str]


def published_ts(enriched: EnrichedArticle) -> float:
    article = enriched.article
    return (article.firstcreated or article.versioncreated).timestamp()


class ArticleStore:
    """Articles as render last applied them, with listings and dependencies."""

    def __init__(self, redis: RedisClient, canonical_section: SectionResolver) -> None:
        self._redis = redis
        self._canonical_section = canonical_section

    def section_of(self, enriched: EnrichedArticle) -> str:
        """The site section an article is listed in: the newsroom's, else enrich's topic."""
        return self._canonical_section(enriched.article.category or enriched.topic or "news")

    async def get(self, article_id: str) -> StoredArticle | None:
        raw = await self._redis.get(article_key(article_id))
        return StoredArticle.model_validate_json(raw) if raw else None

    async def live_many(self, article_ids: list[str]) -> dict[str, EnrichedArticle]:
        """The live articles among `article_ids`; withdrawn and unknown ones are left out."""
        if not article_ids:
            return {}
        raws = await self._redis.mget([article_key(i) for i in article_ids])
        found: dict[str, EnrichedArticle] = {}
        for raw in raws:
            if raw:
                stored = StoredArticle.model_validate_json(raw)
                if stored.status == "live" and stored.enriched:
                    found[stored.article_id] = stored.enriched
        return found

    async def put_live(self, enriched: EnrichedArticle) -> StoredArticle | None:
        """Store a live version unless a newer one is stored; returns what it replaced."""
        previous = await self.get(enriched.article.id)
        if previous and previous.version > enriched.version:
            return previous
        stored = StoredArticle(article_id=enriched.article.id, version=enriched.version,
                               status="live", enriched=enriched)
        async with self._redis.pipeline(transaction=True) as pipe:
            if previous and previous.enriched:
                pipe.zrem(section_key(self.section_of(previous.enriched)), enriched.article.id)
            pipe.set(article_key(enriched.article.id), stored.model_dump_json())
            score = published_ts(enriched)
            pipe.zadd(section_key(self.section_of(enriched)), {enriched.article.id: score})
            pipe.zadd(LATEST_KEY, {enriched.article.id: score})
            await pipe.execute()
        return previous

    async def put_withdrawn(self, article_id: str, version: int) -> StoredArticle | None:
        previous = await self.get(article_id)
        if previous and previous.version > version:
            return previous
        tombstone = StoredArticle(article_id=article_id, version=version, status="withdrawn")
        async with self._redis.pipeline(transaction=True) as pipe:
            if previous and previous.enriched:
                pipe.zrem(section_key(self.section_of(previous.enriched)), article_id)
            pipe.zrem(LATEST_KEY, article_id)
            pipe.set(article_key(article_id), tombstone.model_dump_json())
            await pipe.execute()
        return previous

    async def section_page(self, slug: str, page: int, size: int) -> tuple[list[str], int]:
        start = (page - 1) * size
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(section_key(slug), start, start + size - 1)
            pipe.zcard(section_key(slug))
            ids, total = await pipe.execute()
        return [i.decode() for i in ids], int(total)

    async def record_shows(self, fragment_name: str, shows: list[str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for article_id in set(shows):
                pipe.sadd(shown_in_key(article_id), fragment_name)
            await pipe.execute()

    async def dependents(self, article_id: str) -> set[str]:
        """Names of every fragment that showed this article when it was rendered."""
        return {m.decode() for m in await self._redis.smembers(shown_in_key(article_id))}


class FragmentCache:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    async def get(self, name: str) -> StoredFragment | None:
        raw = await self._redis.get(fragment_key(name))
        return StoredFragment.model_validate_json(raw) if raw else None

    async def put(self, name: str, html: str, shows: list[str]) -> StoredFragment:
        fragment = StoredFragment(
            name=name, html=html, etag=etag_of(html), shows=shows,
            rendered_at=datetime.now(UTC),
        )
        await self._redis.set(fragment_key(name), fragment.model_dump_json())
        return fragment

    async def purge(self, names: set[str]) -> None:
        if names:
            await self._redis.delete(*[fragment_key(name) for name in names])


def etag_of(html: str) -> str:
    return '"' + hashlib.sha256(html.encode()).hexdigest()[:20] + '"'
