"""Consumers against a Redis that restarts and loads its data again (LOADING).

A real Redis, its loading slowed by its `key-load-delay` setting so that it
answers LOADING for a few seconds: reloaded in place (`DEBUG RELOAD`: a blocked
read is cut short, every command answers LOADING meanwhile), or shut down and
started again on the same file (the pool's connections are closed under it).
The consumers ride it out: their read loops keep running (never die to be
restarted by FastStream's supervisor), a SIGTERM then still handles what the
consumer held, and nothing is lost.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from khabar_dev.processes import ManagedProcess, ProcessGroup, free_port
from khabar_shared.broker import make_broker
from khabar_shared.consumer import Delivery, StreamConsumer
from khabar_shared.events import ArticleEvent, encode_event
from khabar_shared.redis_helpers import connect, ensure_group, wait_for_redis
from khabar_shared.settings import CommonSettings
from khabar_shared.shutdown import stop_consumers
from tests.faults.harness import article_event, corpus_articles
from tests.support import until

STREAM, GROUP = "loading:events", "loading:group"
# Keys that make a load last seconds at the delay below (microseconds a key).
FILLER_KEYS = 15_000
KEY_LOAD_DELAY_US = 200


@dataclass
class SlowLoadingRedis:
    """A Redis whose every (re)load of its data answers LOADING for a few seconds."""

    data: Path
    port: int = field(default_factory=free_port)
    group: ProcessGroup = field(default_factory=ProcessGroup)
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = self.group.start(
            "redis",
            [
                "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data)),
                *("--save", "", "--appendonly", "no", "--enable-debug-command", "local"),
                *("--key-load-delay", str(KEY_LOAD_DELAY_US)),
                # Answer clients (LOADING) while loading, not only once done.
                *("--loading-process-events-interval-bytes", "1024"),
            ],
        )

    def client(self) -> aioredis.Redis:
        # A reload blocks its caller for as long as the load lasts.
        return aioredis.from_url(self.url, socket_timeout=60)

    async def restart(self) -> None:
        """Shut down saving its data, and start again on the same file (not waited for)."""
        admin = self.client()
        await admin.shutdown(save=True)
        await admin.aclose()
        assert self.process is not None
        await asyncio.to_thread(self.process.process.wait, 30)
        self.start()


@pytest.fixture
def slow_redis(tmp_path: Path) -> Iterator[SlowLoadingRedis]:
    server = SlowLoadingRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.group.stop_all()


@dataclass
class Reader:
    consumer: StreamConsumer[ArticleEvent]
    broker: object
    handled: list[str]


@pytest.fixture
async def reader(
    slow_redis: SlowLoadingRedis, request: pytest.FixtureRequest
) -> AsyncIterator[Reader]:
    admin = slow_redis.client()
    await wait_for_redis(admin, "log", max_wait_s=20)
    await admin.execute_command("DEBUG", "POPULATE", FILLER_KEYS)
    log_redis = connect(slow_redis.url)
    await ensure_group(log_redis, STREAM, GROUP)
    handled: list[str] = []

    async def handle(deliveries: list[Delivery[ArticleEvent]]) -> None:
        handled.extend(d.event.event_id for d in deliveries)

    # `claim_idle_ms` (a test's param): how often the claim reader asks (a third of it).
    claim_idle_ms = getattr(request, "param", 600_000)
    settings = CommonSettings(consumer_name="loading-1", claim_idle_ms=claim_idle_ms)
    consumer = StreamConsumer(STREAM, GROUP, ArticleEvent, handle, log_redis, settings)
    broker = make_broker(slow_redis.url, "loading-test")
    consumer.register(broker)
    yield Reader(consumer, broker, handled)
    await broker.stop()  # type: ignore[attr-defined]
    await log_redis.aclose()
    await admin.aclose()


def events(count: int, offset: int = 0) -> list[ArticleEvent]:
    return [article_event(a) for a in corpus_articles(offset + count)[offset:]]


async def handled_all(reader: Reader, count: int) -> None:
    async def done() -> bool:
        return len(reader.handled) >= count

    await until(done, timeout_s=60)


@pytest.mark.parametrize("reader", [2_000], indirect=True)  # the claim reader asks during the load
async def test_the_read_loops_keep_running_through_a_reload(
    slow_redis: SlowLoadingRedis, reader: Reader
) -> None:
    admin = slow_redis.client()
    before, after = events(3), events(3, offset=3)
    await reader.broker.start()  # type: ignore[attr-defined]
    for event in before:
        await admin.xadd(STREAM, encode_event(event))  # type: ignore[arg-type]
    await handled_all(reader, 3)

    await admin.execute_command("DEBUG", "RELOAD")  # LOADING for a few seconds meanwhile
    for event in after:
        await admin.xadd(STREAM, encode_event(event))  # type: ignore[arg-type]
    await handled_all(reader, 6)

    assert sorted(reader.handled) == sorted(e.event_id for e in [*before, *after])
    # One read loop each all along: none died of the reload (FastStream's supervisor
    # would have started a new task for each death).
    for subscriber in reader.broker.subscribers:  # type: ignore[attr-defined]
        assert len(subscriber.tasks) == 1
        assert not subscriber.tasks[0].done()
    assert (await admin.xpending(STREAM, GROUP))["pending"] == 0
    await admin.aclose()


async def test_a_sigterm_just_after_a_restart_handles_what_the_consumer_held(
    slow_redis: SlowLoadingRedis, reader: Reader
) -> None:
    """Entries read but not handled (FastStream drops a batch read as it stops) are
    pending on this consumer; Redis restarts, and the SIGTERM comes while it loads.
    (Claims far off: what the consumer holds stays its own.)"""
    admin = slow_redis.client()
    held = events(4)
    for event in held:
        await admin.xadd(STREAM, encode_event(event))  # type: ignore[arg-type]
    await admin.xreadgroup(GROUP, reader.consumer.consumer_name, {STREAM: ">"}, count=10)
    await reader.broker.start()  # type: ignore[attr-defined]
    await reader.consumer.redis.ping()  # the pool holds a connection to the old server
    await admin.aclose()

    await slow_redis.restart()
    await stop_consumers(reader.broker, [reader.consumer], grace_s=30)  # type: ignore[arg-type]

    assert sorted(reader.handled) == sorted(e.event_id for e in held)
    admin = slow_redis.client()
    assert (await admin.xpending(STREAM, GROUP))["pending"] == 0
    await admin.aclose()
