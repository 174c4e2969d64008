"""Learned aliases in Redis: what each article glossed, what operators removed.

One hash maps an article id to the aliases its latest indexed version
gives (`aliases.mine`), so recording is idempotent (a redelivered event
writes the same entry) and an update or a withdrawal takes back what the
article no longer says. An alias's count is the number of articles that
give it, its sources those articles. Operators remove a bad alias with
`khabar aliases remove`: it joins a blocked set and never comes back.

Every change bumps a version number; each search process polls it and
refreshes its synonyms only when it moved (`app.py`).
"""

import json
from collections import defaultdict
from collections.abc import Mapping

from pydantic import BaseModel

from khabar_search.aliases import Alias
from khabar_shared.redis_helpers import RedisClient

# One hash slot (`{search}`): the recording transaction is single-slot in a Redis Cluster too.
BY_ARTICLE_KEY = "khabar:{search}:aliases:by-article"
BLOCKED_KEY = "khabar:{search}:aliases:blocked"
VERSION_KEY = "khabar:{search}:aliases:version"
MAX_SOURCES_SHOWN = 5


class LearnedAlias(BaseModel):
    latin: str
    arabic: str
    count: int
    sources: list[str]


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class AliasStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    async def record(self, found: Mapping[str, list[Alias]]) -> None:
        """Each article's aliases, replacing what its earlier version gave."""
        if not found:
            return
        ids = list(found)
        before = await self._redis.hmget(BY_ARTICLE_KEY, ids)
        pipe = self._redis.pipeline(transaction=True)
        changed = False
        for article_id, old in zip(ids, before, strict=True):
            new = sorted(alias.key for alias in found[article_id])
            if new == (json.loads(old) if old else []):
                continue
            changed = True
            if new:
                pipe.hset(BY_ARTICLE_KEY, article_id, json.dumps(new, ensure_ascii=False))
            else:
                pipe.hdel(BY_ARTICLE_KEY, article_id)
        if changed:
            pipe.incr(VERSION_KEY)
            await pipe.execute()

    async def version(self) -> int:
        return int(await self._redis.get(VERSION_KEY) or 0)

    async def learned(self, include_blocked: bool = False) -> list[LearnedAlias]:
        """Every alias with its count and first sources, the most attested first."""
        sources: dict[str, list[str]] = defaultdict(list)
        for article_id, raw in (await self._redis.hgetall(BY_ARTICLE_KEY)).items():
            for key in json.loads(raw):
                sources[key].append(_decode(article_id))
        blocked = {_decode(key) for key in await self._redis.smembers(BLOCKED_KEY)}
        found = [
            LearnedAlias(
                **Alias.from_key(key).model_dump(),
                count=len(ids),
                sources=sorted(ids)[:MAX_SOURCES_SHOWN],
            )
            for key, ids in sources.items()
            if include_blocked or key not in blocked
        ]
        return sorted(found, key=lambda alias: (-alias.count, alias.latin, alias.arabic))

    async def remove(self, alias: Alias) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.sadd(BLOCKED_KEY, alias.key)
        pipe.incr(VERSION_KEY)
        await pipe.execute()
