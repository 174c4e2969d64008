"""The Redis outage probe on a Redis Cluster asks every primary, not only the URL's node.

`KHABAR_REDIS_URL` names one node of a cluster; a consumer's stream may live on
any other. With one primary away (killed, no replica to take over), the reads
fail (CLUSTERDOWN, refused connections) while the URL's node answers PING: a
probe that asks only that node says "reachable again" at once, and every failed
read after begins a new outage (a warning and an all-clear each second).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from khabar_dev.processes import ProcessGroup
from khabar_shared.broker import redis_answers
from tests.integration.test_ops_cluster import start_cluster

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[ProcessGroup, list[int]]]:
    group = ProcessGroup()
    try:
        yield group, start_cluster(group, tmp_path)
    finally:
        group.stop_all()


async def test_the_probe_waits_for_every_primary(cluster: tuple[ProcessGroup, list[int]]) -> None:
    group, ports = cluster
    url = f"redis://127.0.0.1:{ports[0]}/0"
    assert await redis_answers(url, cluster=True)

    (away,) = [p for p in group.processes if p.name == f"redis-{ports[1]}"]
    away.kill()

    assert not await redis_answers(url, cluster=True)
    assert await redis_answers(url, cluster=False)  # the URL's node alone still answers
