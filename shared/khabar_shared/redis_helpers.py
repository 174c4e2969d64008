"""Redis connections and the few stream chores every consumer needs.

`connect` gives a plain client, or a Redis Cluster client when
`KHABAR_REDIS_CLUSTER` is true; both speak the same commands. Every key that a
multi-key command or transaction touches carries its stream's hash tag (see
`names.py`), so each such command stays in one slot.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from khabar_shared.logging import get_logger
from khabar_shared.redis_connection import Connection

log = get_logger(__name__)

# What `connect` returns: one Redis, or a Redis Cluster client (`KHABAR_REDIS_CLUSTER`). Both
# speak the same commands; code that needs one of them (a pipeline's kind) asks which it has.
RedisClient = aioredis.Redis | RedisCluster


# A stream entry as a client that does not decode responses reads it.
StreamEntry = tuple[bytes, dict[bytes, bytes]]


async def read_entries(
    redis: RedisClient, stream: str, first: str = "-", last: str = "+", count: int | None = None
) -> list[StreamEntry]:
    """XRANGE, typed as it reads (redis-py types replies for clients that decode them too)."""
    return cast(list[StreamEntry], await redis.xrange(stream, min=first, max=last, count=count))


def cluster_enabled(cluster: bool | None) -> bool:
    if cluster is not None:
        return cluster
    from khabar_shared.settings import CommonSettings  # the setting's one reader

    return CommonSettings().redis_cluster


def connect(url: str, cluster: bool | None = None) -> RedisClient:
    """A client for `url`; the database number in the URL is honoured.

    `cluster=None` follows `KHABAR_REDIS_CLUSTER`: then `url` names any node of
    the cluster (database 0 only) and the client finds the others.
    """
    if cluster_enabled(cluster):
        return RedisCluster.from_url(url, decode_responses=False)
    # A unix:// or rediss:// URL keeps redis-py's connection of its kind.
    return aioredis.from_url(
        url, decode_responses=False, health_check_interval=30, connection_class=Connection
    )


async def ensure_group(redis: RedisClient, stream: str, group: str) -> None:
    """Create `group` reading `stream` from its very first event.

    Starting at 0, not `$`: a group created after events were written must
    still see them, because the log is the record.
    """
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
        log.info("consumer_group_created", stream=stream, group=group)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


async def wait_for_redis(redis: RedisClient, what: str, max_wait_s: float = 60.0) -> None:
    """Block until Redis answers, backing off; services start before their Redis."""
    delay, waited = 0.2, 0.0
    while True:
        try:
            await redis.ping()
            return
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            if waited >= max_wait_s:
                raise
            log.warning("redis_unavailable", redis=what, error=str(error), retry_in_s=delay)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Where one consumer group stands on one stream (read with three cheap commands)."""

    stream: str
    group: str
    length: int
    # Entries not yet delivered to the group (Redis 7 XINFO GROUPS "lag"; None if unknown).
    lag: int | None
    pending: int
    # Seconds since the oldest pending event was appended (0 when nothing is pending).
    oldest_pending_age_s: float
    dead_letters: int
    consumers: dict[str, int]  # consumer name → events it holds pending


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def id_time_s(message_id: bytes | str) -> float:
    """When an entry was appended, from its id (`<ms>-<seq>`)."""
    return int(_text(message_id).split("-", 1)[0]) / 1000


async def hold_lease(redis: RedisClient, key: str, holder: str, ttl_ms: int) -> bool:
    """Take the lease `key` for `holder`, or keep it when `holder` has it; False when another
    holder has it (until it stops renewing it for `ttl_ms`)."""
    if await redis.set(key, holder, nx=True, px=ttl_ms):
        return True
    if _text(await redis.get(key) or b"") != holder:
        return False
    await redis.pexpire(key, ttl_ms)
    return True


async def read_group_stats(redis: RedisClient, stream: str, group: str) -> GroupStats | None:
    """None when the stream or the group does not exist yet."""
    from khabar_shared.names import dead_letter_stream

    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:
        return None
    info = next((g for g in groups if _text(g["name"]) == group), None)
    if info is None:
        return None
    summary = await redis.xpending(stream, group)
    oldest = summary.get("min")
    age = max(0.0, time.time() - id_time_s(oldest)) if summary["pending"] and oldest else 0.0
    consumers = {
        _text(c["name"]): int(c["pending"]) for c in await redis.xinfo_consumers(stream, group)
    }
    lag = info.get("lag")
    return GroupStats(
        stream=stream,
        group=group,
        length=int(await redis.xlen(stream)),
        lag=None if lag is None else int(lag),
        pending=int(summary["pending"]),
        oldest_pending_age_s=age,
        dead_letters=int(await redis.xlen(dead_letter_stream(stream))),
        consumers=consumers,
    )
