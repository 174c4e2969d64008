"""Readiness checks shared by every service's `/readyz`.

Each check returns None when fine, or a short reason; the HTTP layer of each
service turns the result into 200 or 503.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class GroupCheck:
    """Ready when the consumer group exists; `/metrics` also reports the group's lag."""

    redis: RedisClient
    stream: str
    group: str

    async def __call__(self) -> str | None:
        try:
            groups = await self.redis.xinfo_groups(self.stream)
        except (RedisError, OSError) as error:
            return f"stream {self.stream} unreadable: {error}"
        names = {g["name"].decode() if isinstance(g["name"], bytes) else g["name"] for g in groups}
        return (
            None if self.group in names else f"consumer group {self.group} missing on {self.stream}"
        )


def group_check(redis: RedisClient, stream: str, group: str) -> Check:
    return GroupCheck(redis, stream, group)


async def run_checks(checks: dict[str, Check]) -> dict[str, str]:
    """Every check at once; the answer maps each check to 'ok' or its reason."""
    results = await asyncio.gather(*(check() for check in checks.values()))
    return {name: result or "ok" for name, result in zip(checks, results, strict=True)}
