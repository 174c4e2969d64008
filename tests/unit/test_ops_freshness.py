"""`/metrics` reads each group's numbers from Redis at most once a second, however many scrapes."""

import asyncio

import pytest

from khabar_shared import ops_http
from khabar_shared.freshness import Freshness
from khabar_shared.health import group_check


def test_a_key_is_due_once_per_max_age() -> None:
    now = [100.0]
    fresh = Freshness(1.0, clock=lambda: now[0])
    assert fresh.due("a") and not fresh.due("a") and fresh.due("b")
    now[0] += 0.5
    assert not fresh.due("a")
    now[0] += 0.6
    assert fresh.due("a")


def test_a_flood_of_scrapes_reads_redis_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[tuple[str, str]] = []

    async def read_group_stats(redis: object, stream: str, group: str) -> None:
        reads.append((stream, group))

    async def hold_lease(*_: object) -> bool:
        return True

    monkeypatch.setattr(ops_http, "read_group_stats", read_group_stats)
    monkeypatch.setattr(ops_http, "hold_lease", hold_lease)
    checks = {"consumer_group": group_check(object(), "a-stream", "a-group")}  # type: ignore[arg-type]

    async def flood() -> None:
        await asyncio.gather(*(ops_http.refresh_stream_stats(checks) for _ in range(50)))

    asyncio.run(flood())
    assert reads == [("a-stream", "a-group")]
