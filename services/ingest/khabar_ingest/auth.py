"""API keys: `Authorization: Bearer KEY`, checked against hashed keys.

Keys are stored only as SHA-256 digests (in a Redis hash, managed with
`khabar keys`), each with the name of the newsroom tool that holds it and a
scope (`write` may post and withdraw, `read` may only look). The name goes
into events and logs; the key itself never does. A plain SHA-256 is enough
because keys are 256-bit random tokens, not passwords a person chose.
"""

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from khabar_shared.redis_helpers import RedisClient

API_KEYS_HASH = "khabar:ingest:api-keys"
BOOTSTRAP_KEY_NAME = "bootstrap"

Scope = Literal["write", "read"]


class ApiKey(BaseModel):
    name: str
    scope: Scope
    created_at: datetime | None = None
    # Times this key sends without a UTC offset are read in this zone (else the site's).
    time_zone: str | None = None

    @property
    def can_write(self) -> bool:
        return self.scope == "write"


class KeyNameTaken(ValueError):
    pass


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random key (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class KeyRing:
    """Finds the key a request presents; the bootstrap key lives only in memory.

    Known keys are remembered (by digest) for `cache_s` seconds, which spares a
    Redis round trip per request; a revoked key therefore stops working within
    `cache_s` (0 turns the memory off). Unknown keys are never remembered.
    """

    def __init__(self, redis: RedisClient, bootstrap_key: str = "", cache_s: float = 0) -> None:
        self._redis = redis
        self._bootstrap_digest = digest(bootstrap_key) if bootstrap_key else ""
        self._cache_s = cache_s
        self._known: dict[str, tuple[float, ApiKey]] = {}

    async def lookup(self, token: str) -> ApiKey | None:
        token_digest = digest(token)
        if self._bootstrap_digest and hmac.compare_digest(token_digest, self._bootstrap_digest):
            return ApiKey(name=BOOTSTRAP_KEY_NAME, scope="write")
        remembered = self._known.get(token_digest)
        if remembered and remembered[0] > time.monotonic():
            return remembered[1]
        stored = await self._redis.hget(API_KEYS_HASH, token_digest)
        if not stored:
            self._known.pop(token_digest, None)
            return None
        key = ApiKey.model_validate_json(stored)
        if self._cache_s > 0:
            self._known[token_digest] = (time.monotonic() + self._cache_s, key)
        return key


async def list_keys(redis: RedisClient) -> list[ApiKey]:
    stored = await redis.hvals(API_KEYS_HASH)
    return sorted((ApiKey.model_validate_json(raw) for raw in stored), key=lambda k: k.name)


async def store_key(
    redis: RedisClient, key: str, name: str, scope: Scope, time_zone: str | None = None
) -> ApiKey:
    """Remember `key` (hashed) under `name`; names are unique, so revoking is by name."""
    if name == BOOTSTRAP_KEY_NAME or any(k.name == name for k in await list_keys(redis)):
        raise KeyNameTaken(f"a key named {name!r} exists; revoke it first")
    record = ApiKey(name=name, scope=scope, created_at=datetime.now(UTC), time_zone=time_zone)
    await redis.hset(API_KEYS_HASH, digest(key), record.model_dump_json())
    return record


async def create_key(
    redis: RedisClient, name: str, scope: Scope, time_zone: str | None = None
) -> tuple[str, ApiKey]:
    """A new key for `name`: the key (shown once, never stored) and its record."""
    key = new_key()
    return key, await store_key(redis, key, name, scope, time_zone)


async def revoke_key(redis: RedisClient, name: str) -> int:
    """Remove every key with this name; returns how many were removed."""
    removed = 0
    for key_digest, stored in (await redis.hgetall(API_KEYS_HASH)).items():
        if ApiKey.model_validate_json(stored).name == name:
            removed += await redis.hdel(API_KEYS_HASH, key_digest)
    return removed


class KeyName(BaseModel):
    """A key name as the CLI takes it."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
