"""The search node pool's readiness, as `/readyz` reports it: the nodes readers can be served by."""

import asyncio

from redis.asyncio import Redis

from khabar_search.node_pool import NodePool, NodeState


def pool_of(*states: tuple[str, bool, int | None]) -> NodePool:
    pool = NodePool(Redis.from_url("redis://127.0.0.1:1/0"), "1", "http://node-1")  # never reached
    pool._nodes = {}
    for name, healthy, behind in states:
        state = NodeState(name, f"http://node-{name}")
        pool._judge(state, healthy, behind)
        pool._nodes[name] = state
    return pool


def test_a_lone_node_behind_after_an_outage_still_serves_readers() -> None:
    """A backlog makes results late, not absent: readers are served by it (see `choices`)."""
    pool = pool_of(("1", True, 5000))
    assert pool.choices() == ["http://node-1"]
    assert asyncio.run(pool.serving()) is None


def test_readers_are_served_while_any_node_answers_and_not_when_none_does() -> None:
    assert asyncio.run(pool_of(("1", False, 0), ("2", True, 0)).serving()) is None
    down = asyncio.run(pool_of(("1", False, 0), ("2", False, None)).serving())
    assert down is not None and "1" in down and "2" in down
