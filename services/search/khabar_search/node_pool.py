"""Which search nodes readers' queries go to: those that answer and keep up with the log.

Every `check_s` the pool reads the node registry (so a node added later is
found), each node's group on the enriched stream (how far behind its index
is: events not yet delivered plus events delivered and not yet acked) and
each node's Meilisearch `/health`. A node is ready when it answers and is at
most `max_lag` events behind; queries take the ready nodes in turn.

A query that fails on a node marks it down at once and is asked again of the
next node, so a node that dies under load costs readers time, not an error.
It comes back when a later check finds it answering and caught up. When no
node is ready (a burst every indexer is still working through, say) the
nodes that answer serve anyway: a slightly stale answer beats none.
"""

import asyncio
import itertools
from dataclasses import dataclass

import aiohttp

from khabar_shared.logging import get_logger
from khabar_shared.names import search_group
from khabar_shared.redis_helpers import RedisClient
from khabar_shared.search_nodes import group_positions, registered

log = get_logger(__name__)

HEALTH_TIMEOUT_S = 1.0


@dataclass
class NodeState:
    name: str
    url: str
    healthy: bool = True
    # Events the node's index has not taken yet; None when its group is not there yet.
    behind: int | None = 0
    ready: bool = True

    def as_dict(self) -> dict[str, object]:
        return {
            "node": self.name,
            "url": self.url,
            "healthy": self.healthy,
            "behind": self.behind,
            "ready": self.ready,
        }


class NodePool:
    def __init__(
        self,
        redis: RedisClient,
        own_name: str,
        own_url: str,
        max_lag: int = 100,
        check_s: float = 1.0,
    ) -> None:
        self._redis = redis
        self._own = NodeState(own_name, own_url.rstrip("/"))
        self._nodes: dict[str, NodeState] = {own_name: self._own}
        self._max_lag = max_lag
        self._check_s = check_s
        self._turn = itertools.count()
        self._session: aiohttp.ClientSession | None = None

    @property
    def nodes(self) -> list[NodeState]:
        return list(self._nodes.values())

    def choices(self) -> list[str]:
        """Node URLs to try for one query, in order: the ready nodes in turn, else any answering."""
        ready = [node for node in self._nodes.values() if node.ready]
        candidates = ready or [node for node in self._nodes.values() if node.healthy]
        if not candidates:
            return [self._own.url]
        start = next(self._turn) % len(candidates)
        return [node.url for node in candidates[start:] + candidates[:start]]

    async def serving(self) -> str | None:
        """`/readyz`'s check: readers are served while any node answers, this process's own or
        not, as `choices` serves them: a node behind still answers when none is caught up (a
        backlog after an outage makes results late, not absent; the body says how far behind)."""
        if any(node.healthy for node in self._nodes.values()):
            return None
        return (
            "no search node answers (" + ", ".join(node.name for node in self._nodes.values()) + ")"
        )

    def failed(self, url: str) -> None:
        """A query failed there: no more queries until a check finds it answering."""
        for node in self._nodes.values():
            if node.url == url and node.healthy:
                node.healthy = node.ready = False
                log.warning("search_node_taken_out", node=node.name, url=url, reason="query failed")

    async def check(self) -> None:
        """Read the registry, each node's lag and health; decide which nodes are ready."""
        found = await registered(self._redis)
        found.setdefault(self._own.name, self._own.url)
        positions = await group_positions(self._redis, self._max_lag)
        states = {
            name: self._nodes.get(name) or NodeState(name, url.rstrip("/"))
            for name, url in found.items()
        }
        health = await asyncio.gather(*(self._answers(state.url) for state in states.values()))
        for state, healthy in zip(states.values(), health, strict=True):
            position = positions.get(search_group(state.name))
            # No stream yet: nothing to be behind on. No group yet: not ready.
            behind = position.behind if position else (None if positions else 0)
            self._judge(state, healthy, behind)
        self._nodes = states

    def _judge(self, state: NodeState, healthy: bool, behind: int | None) -> None:
        ready = healthy and behind is not None and behind <= self._max_lag
        if ready != state.ready:
            event = "search_node_joined" if ready else "search_node_taken_out"
            log.info(event, node=state.name, url=state.url, healthy=healthy, behind=behind)
        state.healthy, state.behind, state.ready = healthy, behind, ready

    async def _answers(self, url: str) -> bool:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=HEALTH_TIMEOUT_S)
            self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            async with self._session.get(f"{url}/health") as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception as error:  # noqa: BLE001 (Redis away: keep the last view, try again)
                log.warning("search_nodes_check_failed", error=str(error))
            await asyncio.sleep(self._check_s)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
