"""What render keeps: the articles it renders from, and the fragments it rendered.

Two Redis roles, possibly two servers:
- the *log* Redis (never evicts) keeps each article's latest enriched version
  (or a tombstone), the listings (by section and overall, newest first), the
  dependency index (which fragments show which article, and back) and a change
  epoch;
- the *cache* Redis (may evict) keeps rendered fragments. A miss is not an
  error: the fragment is rendered again from the log Redis.

Writes of articles are optimistic transactions (WATCH the article, check the
stored version, MULTI/EXEC), so two render replicas applying two versions of
one article at once never leave the older one stored.
"""

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

from pydantic import BaseModel
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from khabar_shared.events import EnrichedArticle
from khabar_shared.redis_helpers import RedisClient

# One hash tag for every render key: the version-guarded transactions span the
# article, its listings, the epoch and the dependency index, so on a Redis
# Cluster they must share a slot.
PREFIX = "khabar:{render}"
LATEST_KEY = f"{PREFIX}:latest"
# Bumped in the same transaction as every article change: a render that saw it
# move while it read was reading a mix of old and new, and is not cached.
EPOCH_KEY = f"{PREFIX}:epoch"
MAX_WATCH_RETRIES = 50

T = TypeVar("T")


def article_key(article_id: str) -> str:
    return f"{PREFIX}:article:{article_id}"


def section_key(slug: str) -> str:
    return f"{PREFIX}:section:{slug}"


def shown_in_key(article_id: str) -> str:
    """Fragments that show an article (the index the updater reads)."""
    return f"{PREFIX}:shown-in:{article_id}"


def shows_key(fragment_name: str) -> str:
    """Articles a fragment showed when last rendered (to clean `shown-in` up)."""
    return f"{PREFIX}:shows:{fragment_name}"


def fragment_key(name: str) -> str:
    return f"{PREFIX}:fragment:{name}"


class StoredArticle(BaseModel):
    article_id: str
    version: int
    status: Literal["live", "withdrawn"]
    section: str = ""
    enriched: EnrichedArticle | None = None


class StoredFragment(BaseModel):
    name: str
    html: str
    etag: str
    shows: list[str]
    surrogate_keys: list[str] = []
    rendered_at: datetime


@dataclass(frozen=True)
class Applied:
    """What a write did: `applied` is False when a newer (or final) version was stored."""

    applied: bool
    previous: StoredArticle | None


SectionOf = Callable[[EnrichedArticle], str]


def published_ts(enriched: EnrichedArticle) -> float:
    article = enriched.article
    return (article.firstcreated or article.versioncreated).timestamp()


def supersedes(previous: StoredArticle | None, version: int) -> bool:
    """Whether writing `version` over `previous` moves the article forward.

    A newer version always does; the same version does when it is a refresh of
    a live one (new related links), never over that version's withdrawal.
    """
    if previous is None or version > previous.version:
        return True
    return version == previous.version and previous.status == "live"


class ArticleStore:
    """Articles as render last applied them, with listings and dependencies."""

    def __init__(self, redis: RedisClient, section_of: SectionOf) -> None:
        self._redis = redis
        self.section_of = section_of

    async def get(self, article_id: str) -> StoredArticle | None:
        raw = await self._redis.get(article_key(article_id))
        return StoredArticle.model_validate_json(raw) if raw else None

    async def epoch(self) -> int:
        return int(await self._redis.get(EPOCH_KEY) or 0)

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

    async def put_live(self, enriched: EnrichedArticle) -> Applied:
        """Store a live version and list it in its section, unless a newer one is stored."""
        article_id = enriched.article.id
        stored = StoredArticle(article_id=article_id, version=enriched.version, status="live",
                               section=self.section_of(enriched), enriched=enriched)
        score = published_ts(enriched)

        def write(pipe: Pipeline, previous: StoredArticle | None) -> None:
            if previous and previous.section and previous.section != stored.section:
                pipe.zrem(section_key(previous.section), article_id)
            pipe.set(article_key(article_id), stored.model_dump_json())
            pipe.zadd(section_key(stored.section), {article_id: score})
            pipe.zadd(LATEST_KEY, {article_id: score})

        return await self._put(article_id, enriched.version, write)

    async def put_withdrawn(self, article_id: str, version: int) -> Applied:
        """Replace the article by a tombstone and take it out of every listing."""
        tombstone = StoredArticle(article_id=article_id, version=version, status="withdrawn")

        def write(pipe: Pipeline, previous: StoredArticle | None) -> None:
            if previous and previous.section:
                pipe.zrem(section_key(previous.section), article_id)
            pipe.zrem(LATEST_KEY, article_id)
            pipe.set(article_key(article_id), tombstone.model_dump_json())

        return await self._put(article_id, version, write)

    async def _put(self, article_id: str, version: int,
                   write: Callable[[Pipeline, StoredArticle | None], None]) -> Applied:
        key = article_key(article_id)

        async def attempt(pipe: Pipeline) -> Applied:
            raw = await pipe.get(key)
            previous = StoredArticle.model_validate_json(raw) if raw else None
            if not supersedes(previous, version):
                await pipe.reset()
                return Applied(False, previous)
            pipe.multi()
            write(pipe, previous)
            pipe.incr(EPOCH_KEY)
            await pipe.execute()
            return Applied(True, previous)

        return await watched(self._redis, [key], attempt)

    async def section_page(self, slug: str, page: int, size: int) -> tuple[list[str], int]:
        start = (page - 1) * size
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(section_key(slug), start, start + size - 1)
            pipe.zcard(section_key(slug))
            ids, total = await pipe.execute()
        return [i.decode() for i in ids], int(total)

    async def section_size(self, slug: str) -> int:
        return int(await self._redis.zcard(section_key(slug)))

    async def record_shows(self, fragment_name: str, shows: list[str]) -> None:
        """Point every shown article at this fragment, and forget the ones it no longer shows."""
        forward = shows_key(fragment_name)
        now = set(shows)

        async def attempt(pipe: Pipeline) -> None:
            before = {member.decode() for member in await pipe.smembers(forward)}
            if before == now:
                await pipe.reset()
                return
            pipe.multi()
            for article_id in before - now:
                pipe.srem(shown_in_key(article_id), fragment_name)
            for article_id in now - before:
                pipe.sadd(shown_in_key(article_id), fragment_name)
            pipe.delete(forward)
            if now:
                pipe.sadd(forward, *now)
            await pipe.execute()

        await watched(self._redis, [forward], attempt)

    async def dependents(self, article_id: str) -> set[str]:
        """Names of every fragment that showed this article when it was last rendered."""
        return {m.decode() for m in await self._redis.smembers(shown_in_key(article_id))}


async def watched(redis: RedisClient, keys: list[str],
                  attempt: Callable[[Pipeline], Awaitable[T]]) -> T:
    """Run `attempt` in an optimistic transaction on `keys`, again if another writer won."""
    for _ in range(MAX_WATCH_RETRIES):
        async with redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(*keys)
                return await attempt(pipe)
            except WatchError:
                continue
    raise RuntimeError(f"too much contention on {keys}")


class FragmentCache:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    async def get(self, name: str) -> StoredFragment | None:
        raw = await self._redis.get(fragment_key(name))
        return StoredFragment.model_validate_json(raw) if raw else None

    async def put(self, fragment: StoredFragment) -> None:
        await self._redis.set(fragment_key(fragment.name), fragment.model_dump_json())

    async def purge(self, names: set[str]) -> None:
        if names:
            await self._redis.delete(*[fragment_key(name) for name in names])


def make_fragment(name: str, html: str, shows: list[str], surrogate_keys: list[str]) -> StoredFragment:
    return StoredFragment(name=name, html=html, etag=etag_of(html), shows=shows,
                          surrogate_keys=surrogate_keys, rendered_at=datetime.now(UTC))


def etag_of(html: str) -> str:
    return '"' + hashlib.sha256(html.encode()).hexdigest()[:20] + '"'
