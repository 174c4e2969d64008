"""The search nodes' registry and freshness: which nodes exist, how far behind the log each is.

Each search node's indexer registers its node (name -> its Meilisearch URL)
and notes after every batch up to which event it applied. Readers (search's
node pool), `khabar status` and an article's trace (ingest) read it here.
"""

import json
from datetime import UTC, datetime

from pydantic import BaseModel
from redis.exceptions import ResponseError

from khabar_shared.names import (
    ENRICHED_STREAM,
    SEARCH_NODES_APPLIED_KEY,
    SEARCH_NODES_KEY,
    search_group,
)
from khabar_shared.redis_helpers import RedisClient, read_entries


class GroupPosition(BaseModel):
    """Where a group stands on the enriched stream."""

    # Events not yet delivered to the group, counted up to a limit when Redis does not know.
    lag: int
    # Delivered and not acked yet.
    pending: int

    @property
    def behind(self) -> int:
        return self.lag + self.pending


class NodeFreshness(BaseModel):
    node: str
    group: str
    meili_url: str
    # None: the node's group is not on the stream yet.
    lag: int | None
    pending: int | None
    last_applied_at: datetime | None
    last_applied_event: str | None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def register(redis: RedisClient, node: str, meili_url: str) -> None:
    """Say where a node's Meilisearch answers (each start writes it again)."""
    await redis.hset(SEARCH_NODES_KEY, node, meili_url)


async def registered(redis: RedisClient) -> dict[str, str]:
    """Node name -> its Meilisearch URL, for every node that ever registered."""
    found = await redis.hgetall(SEARCH_NODES_KEY)
    return {_text(name): _text(url) for name, url in sorted(found.items())}


async def note_applied(redis: RedisClient, node: str, last_event: str) -> None:
    """When a node's index last took a batch, and up to which event."""
    stamp = {"event": last_event, "at": datetime.now(UTC).isoformat()}
    await redis.hset(SEARCH_NODES_APPLIED_KEY, node, json.dumps(stamp))


async def last_applied(redis: RedisClient) -> dict[str, dict[str, str]]:
    """Node name -> {"event", "at"} of its last applied batch."""
    found = await redis.hgetall(SEARCH_NODES_APPLIED_KEY)
    return {_text(name): json.loads(raw) for name, raw in found.items()}


def _id_parts(message_id: str) -> tuple[int, int]:
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


async def group_positions(
    redis: RedisClient, count_limit: int = 10_000
) -> dict[str, GroupPosition]:
    """Group -> its position on the enriched stream; {} when the stream is not there yet.

    Redis knows no lag once entries were deleted (compaction): then the
    undelivered entries are counted, up to `count_limit` + 1. Only then is
    the stream's last id asked for: XINFO STREAM answers with the stream's
    first and last entries, whole articles, and every search process asks
    for the positions every second (`node_pool`).
    """
    try:
        groups = await redis.xinfo_groups(ENRICHED_STREAM)
    except ResponseError:
        return {}
    last_id: str | None = None
    found = {}
    for group in groups:
        delivered = _text(group["last-delivered-id"])
        lag = group.get("lag")
        if lag is None and last_id is None:
            try:
                last_id = _text((await redis.xinfo_stream(ENRICHED_STREAM))["last-generated-id"])
            except ResponseError:  # the stream went away meanwhile
                return {}
        if lag is None and _id_parts(delivered) >= _id_parts(last_id or "0-0"):
            lag = 0
        elif lag is None:
            undelivered = f"({delivered}"
            lag = len(await read_entries(redis, ENRICHED_STREAM, undelivered, "+", count_limit + 1))
        found[_text(group["name"])] = GroupPosition(lag=int(lag), pending=int(group["pending"]))
    return found


async def freshness(redis: RedisClient) -> list[NodeFreshness]:
    """Every registered node: its lag, pending events and last applied batch."""
    nodes = await registered(redis)
    positions = await group_positions(redis)
    stamps = await last_applied(redis)
    rows = []
    for node, url in nodes.items():
        position = positions.get(search_group(node))
        stamp = stamps.get(node, {})
        rows.append(
            NodeFreshness(
                node=node,
                group=search_group(node),
                meili_url=url,
                lag=position.lag if position else None,
                pending=position.pending if position else None,
                last_applied_at=datetime.fromisoformat(stamp["at"]) if stamp else None,
                last_applied_event=stamp.get("event"),
            )
        )
    return rows


# A consumer of a node's group that read this recently belongs to an indexer
# still running: retiring its node under it would only see it register again.
RUNNING_WITHIN_MS = 30_000


class Retirement(BaseModel):
    """What retiring a node removed (each part is gone already on a second run)."""

    node: str
    unregistered: bool
    group_destroyed: bool
    keys_deleted: int


async def running_consumers(redis: RedisClient, node: str) -> list[str]:
    """Consumers of the node's group that read within `RUNNING_WITHIN_MS`: its live indexers."""
    try:
        consumers = await redis.xinfo_consumers(ENRICHED_STREAM, search_group(node))
    except ResponseError:  # no stream, or no such group
        return []
    return [_text(c["name"]) for c in consumers if int(c["idle"]) < RUNNING_WITHIN_MS]


async def has_group(redis: RedisClient, node: str) -> bool:
    try:
        groups = await redis.xinfo_groups(ENRICHED_STREAM)
    except ResponseError:
        return False
    return search_group(node) in {_text(group["name"]) for group in groups}


async def retire(redis: RedisClient, node: str, key_patterns: list[str]) -> Retirement:
    """Remove a node for good: its registration first (readers and `khabar status` stop
    naming it at once), then its consumer group (so `khabar trim` is no longer held back),
    then its keys (`key_patterns`: its version guard and its traces).

    Each step removes what is there and passes over what is gone, so a retirement
    interrupted between two steps is finished by running it again.
    """
    unregistered = bool(await redis.hdel(SEARCH_NODES_KEY, node))
    await redis.hdel(SEARCH_NODES_APPLIED_KEY, node)
    destroyed = False
    if await has_group(redis, node):
        destroyed = bool(await redis.xgroup_destroy(ENRICHED_STREAM, search_group(node)))
    deleted = 0
    for pattern in key_patterns:
        batch: list[bytes | str] = []
        async for key in redis.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) == 500:
                deleted += await _delete(redis, batch)
                batch = []
        deleted += await _delete(redis, batch)
    return Retirement(
        node=node, unregistered=unregistered, group_destroyed=destroyed, keys_deleted=deleted
    )


async def _delete(redis: RedisClient, keys: list[bytes | str]) -> int:
    # One key per command: in a cluster the keys of one pattern span slots.
    return sum([int(await redis.delete(key)) for key in keys])
