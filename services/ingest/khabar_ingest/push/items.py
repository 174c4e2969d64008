"""Items pushed earlier that later items refer to by `guid`: media items and packages.

A Superdesk text item names its picture in `associations` (whole, or only
`{guid, type}` when the picture was pushed on its own first), and a package
names its members. Each pushed media item and package is kept under its guid
for `ttl_s` seconds so those references can be filled in.
"""

import orjson

from khabar_shared.redis_helpers import RedisClient

_PREFIX = "khabar:ingest:push-item:"


class PushedItems:
    def __init__(self, redis: RedisClient, ttl_s: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s

    async def keep(self, guid: str, item: dict[str, object]) -> None:
        await self._redis.set(_PREFIX + guid, orjson.dumps(item), ex=self._ttl_s)

    async def get(self, guid: str) -> dict[str, object] | None:
        raw = await self._redis.get(_PREFIX + guid)
        return orjson.loads(raw) if raw else None

    async def get_many(self, guids: list[str]) -> dict[str, dict[str, object]]:
        if not guids:
            return {}
        values = await self._redis.mget([_PREFIX + guid for guid in guids])
        return {guid: orjson.loads(raw) for guid, raw in zip(guids, values, strict=True) if raw}
