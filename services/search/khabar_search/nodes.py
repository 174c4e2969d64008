"""Search nodes: one Meilisearch node each, fed from the log by its own indexer.

Meilisearch's own replication is an Enterprise feature; the log makes it
ours: every node's indexer reads the whole enriched stream in a consumer group
named after the node (`names.search_group`), so each node holds the whole
index, and a node added later replays the log from its start and catches up.

Each node also has its own version guard (`khabar:{search-<node>}:…`): the
guard remembers which version *this* node's index was given, and a node that
is behind must still apply versions another node has already applied. Node
"1" keeps the keys a single node always had, so a deployment that grows to
more nodes migrates nothing.

The registry in Redis (`names.SEARCH_NODES_KEY`) says which nodes exist and
where their Meilisearch answers; readers (`node_pool.py`), `khabar status`
and an article's trace read it.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from khabar_shared.names import (
    FIRST_SEARCH_NODE,
    SEARCH_NODES_APPLIED_KEY,
    SEARCH_NODES_KEY,
    search_group,
)
from khabar_shared.redis_helpers import RedisClient

NODE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"


@dataclass(frozen=True)
class SearchNode:
    """A node's name and the names of everything its indexer keeps in Redis."""

    name: str = FIRST_SEARCH_NODE

    @property
    def group(self) -> str:
        return search_group(self.name)

    @property
    def tag(self) -> str:
        # One hash slot per node: the claim script stays single-slot in a Redis Cluster.
        return "{search}" if self.name == FIRST_SEARCH_NODE else f"{{search-{self.name}}}"

    @property
    def versions_key(self) -> str:
        return f"khabar:{self.tag}:versions"

    def latest_key(self, article_id: str) -> str:
        return f"khabar:{self.tag}:latest:{article_id}"


FIRST_NODE = SearchNode()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def register(redis: RedisClient, node: SearchNode, meili_url: str) -> None:
    """Say where this node's Meilisearch answers (each start writes it again)."""
    await redis.hset(SEARCH_NODES_KEY, node.name, meili_url)


async def registered(redis: RedisClient) -> dict[str, str]:
    """Node name -> its Meilisearch URL, for every node that ever registered."""
    found = await redis.hgetall(SEARCH_NODES_KEY)
    return {_text(name): _text(url) for name, url in sorted(found.items())}


async def note_applied(redis: RedisClient, node: SearchNode, last_event: str) -> None:
    """When this node's index last took a batch, and up to which event (freshness)."""
    stamp = {"event": last_event, "at": datetime.now(UTC).isoformat()}
    await redis.hset(SEARCH_NODES_APPLIED_KEY, node.name, json.dumps(stamp))


async def last_applied(redis: RedisClient) -> dict[str, dict[str, str]]:
    """Node name -> {"event", "at"} of its last applied batch."""
    found = await redis.hgetall(SEARCH_NODES_APPLIED_KEY)
    return {_text(name): json.loads(raw) for name, raw in found.items()}
