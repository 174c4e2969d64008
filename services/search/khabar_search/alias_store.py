"""Learned aliases in Redis: what each article glossed, what operators removed.

One hash maps an article id to the aliases its latest indexed version
gives (`aliases.mine`), so recording is idempotent (a redelivered event
writes the same entry) and an update or a withdrawal takes back what the
article no longer says. Recording is guarded by the article's version, as
the index is: a slow replica's older batch never brings back old aliases. An alias's count is the number of articles that
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
from khabar_shared.lua import ScriptRegistry
from khabar_shared.pipeline import send
from khabar_shared.redis_helpers import RedisClient

RECORD_ALIASES = ScriptRegistry("khabar_search")["record_aliases"]

# One hash slot (`{search}`): the recording transaction is single-slot in a Redis Cluster too.
BY_ARTICLE_KEY = "khabar:{search}:aliases:by-article"
BLOCKED_KEY = "khabar:{search}:aliases:blocked"
VERSION_KEY = "khabar:{search}:aliases:version"
# Article id -> the version whose aliases are recorded (so a late older one changes nothing).
VERSIONS_KEY = "khabar:{search}:aliases:article-versions"
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
        self._record = RECORD_ALIASES.register(redis)

    async def record(self, found: Mapping[str, tuple[int, list[Alias]]]) -> None:
        """Each article's aliases at its indexed version, replacing what an earlier one gave.

        `found` maps an article id to (version, aliases); a withdrawal gives none.
        A version older than the one recorded changes nothing.
        """
        if not found:
            return
        args: list[str | int] = []
        for article_id, (version, aliases) in found.items():
            keys = sorted(alias.key for alias in aliases)
            args += [article_id, version, json.dumps(keys, ensure_ascii=False) if keys else ""]
        await self._record(keys=[BY_ARTICLE_KEY, VERSIONS_KEY, VERSION_KEY], args=args)

    async def recorded_versions(self, article_ids: list[str]) -> dict[str, int]:
        """Article id -> the version whose aliases are recorded, for those recorded at all."""
        if not article_ids:
            return {}
        found = await self._redis.hmget(VERSIONS_KEY, article_ids)
        return {a: int(v) for a, v in zip(article_ids, found, strict=True) if v is not None}

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
        await send(
            self._redis, [("SADD", BLOCKED_KEY, alias.key), ("INCR", VERSION_KEY)], transaction=True
        )
