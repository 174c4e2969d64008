"""Readiness checks shared by every service's `/readyz`.

Each check returns None when fine, or a short reason; the HTTP layer of each
service turns the result into 200 or 503.
"""

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from redis.exceptions import RedisError

from khabar_shared.redis_helpers import RedisClient

Check = Callable[[], Awaitable[str | None]]


def redis_check(redis: RedisClient) -> Check:
    async def check() -> str | None:
        try:
            await redis.ping()
        except (RedisError, OSError) as error:
            return f"redis unreachable: {error}"
        return None

    return check


def group_check(redis: RedisClient, stream: str, group: str) -> Check:
    async def check() -> str | None:
        try:
            groups = await redis.xinfo_groups(stream)
        except (RedisError, OSError) as error:
            return f"stream {stream} unreadable: {error}"
        names = {g["name"].decode() if isinstance(g["name"], bytes) else g["name"] for g in groups}
        return None if group in names else f"consumer group {group} missing on {stream}"

    return check


def meili_check(meili_url: str) -> Check:
    async def check() -> str | None:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                response = await client.get(f"{meili_url}/health")
        except httpx.HTTPError as error:
            return f"meilisearch unreachable: {error}"
        return None if response.status_code == 200 else f"meilisearch health {response.status_code}"

    return check


async def run_checks(checks: dict[str, Check]) -> dict[str, str]:
    """Every check at once; the answer maps each check to 'ok' or its reason."""
    results = await asyncio.gather(*(check() for check in checks.values()))
    return {name: result or "ok" for name, result in zip(checks, results, strict=True)}
