"""API keys: `Authorization: Bearer KEY`, checked against hashed keys.

Keys are stored only as SHA-256 digests (in Redis, managed by the operator's
CLI), each with the name of the newsroom tool that holds it and a scope. The
name goes into events and logs; the key itself never does.
"""

import hashlib
import hmac
from typing import Literal

from pydantic import BaseModel

from khabar_shared.redis_helpers import RedisClient

API_KEYS_HASH = "khabar:ingest:api-keys"

Scope = Literal["write", "read"]


class ApiKey(BaseModel):
    name: str
    scope: Scope

    @property
    def can_write(self) -> bool:
        return self.scope == "write"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class KeyRing:
    """Finds the key a request presents; the bootstrap key lives only in memory."""

    def __init__(self, redis: RedisClient, bootstrap_key: str = "") -> None:
        self._redis = redis
        self._bootstrap_digest = digest(bootstrap_key) if bootstrap_key else ""

    async def lookup(self, token: str) -> ApiKey | None:
        token_digest = digest(token)
        if self._bootstrap_digest and hmac.compare_digest(token_digest, self._bootstrap_digest):
            return ApiKey(name="bootstrap", scope="write")
        stored = await self._redis.hget(API_KEYS_HASH, token_digest)
        return ApiKey.model_validate_json(stored) if stored else None


async def store_key(redis: RedisClient, key: str, name: str, scope: Scope) -> None:
    await redis.hset(API_KEYS_HASH, digest(key), ApiKey(name=name, scope=scope).model_dump_json())


async def revoke_key(redis: RedisClient, name: str) -> int:
    """Remove every key with this name; returns how many were removed."""
    removed = 0
    for key_digest, stored in (await redis.hgetall(API_KEYS_HASH)).items():
        if ApiKey.model_validate_json(stored).name == name:
            removed += await redis.hdel(API_KEYS_HASH, key_digest)
    return removed
