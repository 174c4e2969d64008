"""How far behind each search node is, read the way every search process reads it each second."""

from pathlib import Path

import redis.asyncio as aioredis

from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_shared.names import ENRICHED_STREAM, search_group
from khabar_shared.search_nodes import group_positions


async def stream_reads(client: aioredis.Redis) -> int:
    """XINFO STREAM calls so far: each answers with the stream's first and last entries."""
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_xinfo|stream", {}).get("calls", 0))


async def test_positions_read_no_entry_while_redis_knows_every_lag(tmp_path: Path) -> None:
    """Nodes' lags come from the groups alone; the stream's last id (XINFO STREAM, with
    two whole articles in its answer) only once an entry was deleted and Redis knows no lag.
    On main every check asked XINFO STREAM."""
    group = ProcessGroup()
    try:
        # A Redis of its own: its command counts are this test's alone.
        client = aioredis.from_url(start_redis(group, tmp_path / "redis", free_port()))
        ids = [await client.xadd(ENRICHED_STREAM, {"body": "x" * 1000}) for _ in range(5)]
        await client.xgroup_create(ENRICHED_STREAM, search_group("1"), id="0")
        await client.xgroup_create(ENRICHED_STREAM, search_group("2"), id="0")
        await client.xreadgroup(search_group("1"), "c", {ENRICHED_STREAM: ">"}, count=2)
        await client.xreadgroup(search_group("2"), "c", {ENRICHED_STREAM: ">"})

        before = await stream_reads(client)
        positions = await group_positions(client)
        assert (positions[search_group("1")].lag, positions[search_group("1")].pending) == (3, 2)
        assert (positions[search_group("2")].lag, positions[search_group("2")].pending) == (0, 5)
        assert await stream_reads(client) == before

        # A deleted entry past node 1's position: Redis knows no lag, the entries are counted.
        await client.xdel(ENRICHED_STREAM, ids[3])
        positions = await group_positions(client)
        assert positions[search_group("1")].lag == 2
        assert positions[search_group("2")].lag == 0
        await client.aclose()
    finally:
        group.stop_all()
