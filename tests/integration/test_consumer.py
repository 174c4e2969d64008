"""StreamConsumer against a real Redis: claims, dead letters, replay, lease, drain, log context.

Each test runs a real FastStream broker in this process over its own stream
names on a Redis database of its own; handlers are small recorders so the
assertions are about the plumbing, with real corpus articles as payloads.
"""

import asyncio
import logging
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import structlog
from fast_depends import utils as fast_depends_utils
from faststream.redis import RedisBroker
from faststream.redis.parser import parsers as faststream_parsers

from khabar_dev.processes import ProcessGroup, free_port, run_redis, start_redis
from khabar_shared import metrics
from khabar_shared.broker import make_broker
from khabar_shared.consumer import Delivery, StreamConsumer
from khabar_shared.dead_letters import list_dead_letters, read_dead_letter, replay_dead_letter
from khabar_shared.events import Article, ArticleEvent, encode_event
from khabar_shared.names import applied_key, dead_letter_stream
from khabar_shared.outages import WAITING, DependencyUnavailable
from khabar_shared.redis_helpers import ensure_group
from khabar_shared.settings import CommonSettings
from khabar_shared.shutdown import stop_consumers
from tests.conftest import Servers
from tests.support import real_articles, until

DB = 13
GROUP = "testers"


def article_event(record: dict[str, Any], version: int = 1) -> ArticleEvent:
    article_id = f"t-{record['docno'].lower()}"
    article = Article(
        id=article_id,
        uri=f"urn:test:{article_id}",
        language="ar",
        headline=record["title"],
        body_html=f"<p>{record['text'][:400]}</p>",
        versioncreated=datetime.now(UTC),
    )
    return ArticleEvent(
        event_id=str(uuid.uuid4()),
        type="article.published",
        article_id=article_id,
        version=version,
        correlation_id=secrets.token_hex(8),
        accepted_at=datetime.now(UTC),
        submitted_by="tests",
        article=article,
    )


RECORDS = real_articles(30, min_words=40)
Handler = Callable[[list[Delivery[ArticleEvent]]], Awaitable[None]]


class Recorder:
    """A handler that records what it handled and can be told to fail for some articles."""

    def __init__(self, failing: set[str] | None = None, delay_s: float = 0.0) -> None:
        self.failing = failing or set()
        self.delay_s = delay_s
        self.handled: Counter[str] = Counter()
        self.contexts: list[dict[str, Any]] = []

    async def handle(self, deliveries: list[Delivery[ArticleEvent]]) -> None:
        self.contexts.append(dict(structlog.contextvars.get_contextvars()))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        for delivery in deliveries:
            if delivery.event.article_id in self.failing:
                raise RuntimeError(f"refusing {delivery.event.article_id}")
        for delivery in deliveries:
            self.handled[delivery.event.event_id] += 1


@pytest.fixture
async def redis(servers: Servers) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(servers.redis_url.rsplit("/", 1)[0] + f"/{DB}")
    yield client
    await client.aclose()


@pytest.fixture
def stream() -> str:
    return f"test:{{consumer-{secrets.token_hex(4)}}}:events"


def make_consumer(
    redis: aioredis.Redis, stream: str, handler: Handler, name: str, **overrides: Any
) -> StreamConsumer[ArticleEvent]:
    options: dict[str, Any] = {"claim_idle_ms": 300, "max_deliveries": 3, "batch_size": 10}
    settings = CommonSettings(consumer_name=name, **{**options, **overrides})
    return StreamConsumer(
        stream=stream,
        group=GROUP,
        event_model=ArticleEvent,
        handle=handler,
        redis=redis,
        settings=settings,
    )


async def running(url: str, *consumers: StreamConsumer[ArticleEvent]) -> RedisBroker:
    broker = RedisBroker(url)
    for consumer in consumers:
        await ensure_group(consumer.redis, consumer.stream, consumer.group)
        consumer.register(broker)
    await broker.start()
    return broker


async def publish(redis: aioredis.Redis, stream: str, events: list[ArticleEvent]) -> list[str]:
    return [(await redis.xadd(stream, encode_event(e))).decode() for e in events]  # type: ignore[arg-type]


async def pending_count(redis: aioredis.Redis, stream: str) -> int:
    return int((await redis.xpending(stream, GROUP))["pending"])


def url_of(redis: aioredis.Redis) -> str:
    kwargs = redis.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"


async def test_poison_event_is_dead_lettered_after_max_deliveries_and_never_blocks_others(
    redis: aioredis.Redis, stream: str
) -> None:
    events = [article_event(record) for record in RECORDS[:12]]
    poison = events[3]
    recorder = Recorder(failing={poison.article_id})
    consumer = make_consumer(redis, stream, recorder.handle, "c1")
    before = metrics.DEAD_LETTERS.labels(
        stream=stream, group=GROUP, reason="max_deliveries"
    )._value.get()
    broker = await running(url_of(redis), consumer)
    try:
        ids = await publish(redis, stream, events)
        good = {e.event_id for e in events if e is not poison}
        await until(lambda: asyncio.sleep(0, set(recorder.handled) == good))
        dead = await until(lambda: list_dead_letters(redis, dead_letter_stream(stream)))
        await until(lambda: _is_zero(pending_count(redis, stream)))
    finally:
        await broker.stop()
    assert len(dead) == 1
    letter = dead[0]
    assert (
        letter.source_id == ids[3] and letter.group == GROUP and letter.reason == "max_deliveries"
    )
    assert letter.deliveries == consumer.settings.max_deliveries + 1
    assert f"refusing {poison.article_id}" in letter.error
    assert letter.original["event_id"] == poison.event_id
    assert ArticleEvent.model_validate_json(letter.original["data"]) == poison
    assert all(count == 1 for count in recorder.handled.values())
    after = metrics.DEAD_LETTERS.labels(
        stream=stream, group=GROUP, reason="max_deliveries"
    )._value.get()
    assert after == before + 1
    assert not await redis.hlen(consumer.errors_key)

    # Fixed consumer, replayed letter: handled once, dead-letter stream empty again.
    recorder.failing.clear()
    broker = await running(url_of(redis), consumer)
    try:
        new_id = await replay_dead_letter(redis, dead_letter_stream(stream), letter.entry_id)
        assert new_id > ids[-1]
        await until(lambda: asyncio.sleep(0, recorder.handled[poison.event_id] == 1))
        await until(lambda: _is_zero(pending_count(redis, stream)))
    finally:
        await broker.stop()
    assert await redis.xlen(dead_letter_stream(stream)) == 0


async def _is_zero(value: Awaitable[int]) -> bool:
    return await value == 0


async def test_malformed_entry_goes_to_dead_letters_at_once(
    redis: aioredis.Redis, stream: str
) -> None:
    recorder = Recorder()
    consumer = make_consumer(redis, stream, recorder.handle, "c1")
    broker = await running(url_of(redis), consumer)
    events = [article_event(record) for record in RECORDS[:3]]
    try:
        await publish(redis, stream, events[:1])
        bad_id = (
            await redis.xadd(stream, {"type": "article.published", "data": "{not json"})
        ).decode()
        await redis.xadd(stream, {"type": "article.published"})  # no data at all
        await publish(redis, stream, events[1:])
        await until(lambda: asyncio.sleep(0, len(recorder.handled) == 3))
        dead = await until(
            lambda: _at_least(list_dead_letters(redis, dead_letter_stream(stream)), 2)
        )
        await until(lambda: _is_zero(pending_count(redis, stream)))
    finally:
        await broker.stop()
    assert [d.reason for d in dead] == ["malformed", "malformed"]
    assert dead[0].source_id == bad_id and "invalid ArticleEvent" in dead[0].error
    assert dead[0].original == {"type": "article.published", "data": "{not json"}
    assert "no 'data' field" in dead[1].error
    shown = await read_dead_letter(redis, dead_letter_stream(stream), dead[0].entry_id)
    assert shown == dead[0]


async def _at_least(found: Awaitable[list[Any]], count: int) -> list[Any] | None:
    items = await found
    return items if len(items) >= count else None


async def test_events_of_a_vanished_consumer_are_claimed_and_handled(
    redis: aioredis.Redis, stream: str
) -> None:
    await ensure_group(redis, stream, GROUP)
    events = [article_event(record) for record in RECORDS[:6]]
    await publish(redis, stream, events)
    # A consumer reads everything and dies without acking.
    await redis.xreadgroup(GROUP, "ghost", {stream: ">"}, count=100)
    assert await pending_count(redis, stream) == 6
    recorder = Recorder()
    broker = await running(url_of(redis), make_consumer(redis, stream, recorder.handle, "heir"))
    try:
        await until(lambda: asyncio.sleep(0, len(recorder.handled) == 6))
        await until(lambda: _is_zero(pending_count(redis, stream)))
    finally:
        await broker.stop()
    assert set(recorder.handled) == {e.event_id for e in events}


async def test_slow_live_consumer_keeps_its_events(redis: aioredis.Redis, stream: str) -> None:
    """A handler slower than claim_idle_ms is not robbed by another replica's claims.

    The claim idle time leaves room for the event loop to stall on a loaded machine
    (a stall longer than claim_idle_ms - claim_idle_ms / 3 would let a claim in: CI saw
    one at 300 ms); the handler still takes twice as long as the claim idle time.
    """
    slow_a, slow_b = Recorder(delay_s=2.0), Recorder(delay_s=2.0)
    a = make_consumer(redis, stream, slow_a.handle, "a", claim_idle_ms=1_000)
    b = make_consumer(redis, stream, slow_b.handle, "b", claim_idle_ms=1_000)
    broker = await running(url_of(redis), a, b)
    events = [article_event(record) for record in RECORDS[:8]]
    try:
        await publish(redis, stream, events)
        # Wait for every event handled by either; a robbed event shows below as handled twice.
        await until(lambda: asyncio.sleep(0, len(set(slow_a.handled) | set(slow_b.handled)) == 8))
        await until(lambda: _is_zero(pending_count(redis, stream)))
    finally:
        await broker.stop()
    handled = slow_a.handled + slow_b.handled
    assert set(handled) == {e.event_id for e in events}
    assert all(count == 1 for count in handled.values()), handled


async def test_every_log_line_of_handling_carries_the_event_ids(
    redis: aioredis.Redis, stream: str
) -> None:
    recorder = Recorder()
    consumer = make_consumer(redis, stream, recorder.handle, "c1", batch_size=1)
    broker = await running(url_of(redis), consumer)
    event = article_event(RECORDS[0])
    try:
        await publish(redis, stream, [event])
        await until(lambda: asyncio.sleep(0, len(recorder.handled) == 1))
    finally:
        await broker.stop()
    assert recorder.contexts[0]["event_id"] == event.event_id
    assert recorder.contexts[0]["article_id"] == event.article_id
    assert recorder.contexts[0]["correlation_id"] == event.correlation_id
    assert "event_id" not in structlog.contextvars.get_contextvars()


async def test_drain_handles_what_the_consumer_read_but_did_not_handle(
    redis: aioredis.Redis, stream: str
) -> None:
    recorder = Recorder()
    consumer = make_consumer(redis, stream, recorder.handle, "leaving")
    await ensure_group(redis, stream, GROUP)
    events = [article_event(record) for record in RECORDS[:15]]
    await publish(redis, stream, events)
    # What FastStream does when it stops mid-read: entries delivered to us, never handled.
    await redis.xreadgroup(GROUP, "leaving", {stream: ">"}, count=100)
    broker = RedisBroker(url_of(redis))
    handled = await consumer.drain(timeout_s=10)
    await stop_consumers(broker, [consumer], grace_s=5)
    assert handled == 15
    assert set(recorder.handled) == {e.event_id for e in events}
    assert await pending_count(redis, stream) == 0


async def test_stop_consumers_is_bounded_by_the_grace_and_acks_nothing_unfinished(
    redis: aioredis.Redis, stream: str
) -> None:
    """A handler stuck (say, on a Meilisearch outage) cannot hold shutdown past the grace."""
    stuck = Recorder(delay_s=3600)
    consumer = make_consumer(redis, stream, stuck.handle, "stuck", claim_idle_ms=60_000)
    broker = await running(url_of(redis), consumer)
    await publish(redis, stream, [article_event(record) for record in RECORDS[:4]])
    await until(lambda: asyncio.sleep(0, bool(stuck.contexts)))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stop_consumers(broker, [consumer], grace_s=1.0)
    assert loop.time() - started < 1.0 + 0.5
    assert not stuck.handled
    held = stuck.contexts[0]["event_id"]
    assert await pending_count(redis, stream) == (len(held) if isinstance(held, list) else 1)
    for task in list(consumer._in_flight):
        task.cancel()


async def test_the_trace_keeps_when_a_version_was_first_applied(
    redis: aioredis.Redis, stream: str
) -> None:
    first = article_event(RECORDS[0])
    again = first.model_copy(update={"event_id": str(uuid.uuid4())})  # e.g. a refresh, same version
    recorder = Recorder()
    consumer = make_consumer(redis, stream, recorder.handle, "c1")
    broker = await running(url_of(redis), consumer)
    trace_key = applied_key(GROUP, first.article_id)
    try:
        await publish(redis, stream, [first])
        applied_at = await until(lambda: redis.hget(trace_key, "1"))
        await publish(redis, stream, [again])

        async def again_acked() -> bool:
            return recorder.handled[again.event_id] > 0 and await pending_count(redis, stream) == 0

        await until(again_acked)
    finally:
        await broker.stop()
    assert await redis.hget(trace_key, "1") == applied_at


async def test_the_trace_of_an_article_corrected_all_day_stays_small(
    redis: aioredis.Redis, stream: str
) -> None:
    """Only the newest versions' times are kept (the trace shows those): an article's record in
    the log's Redis does not grow with every correction."""
    versions = [article_event(RECORDS[1], version) for version in range(1, 41)]
    recorder = Recorder()
    consumer = make_consumer(redis, stream, recorder.handle, "c1")
    broker = await running(url_of(redis), consumer)
    trace_key = applied_key(GROUP, versions[0].article_id)
    try:
        await publish(redis, stream, versions)
        await until(lambda: redis.hget(trace_key, "40"))
    finally:
        await broker.stop()
    kept = sorted(int(v) for v in await redis.hkeys(trace_key))
    assert kept == list(range(31, 41))


class Outage(Recorder):
    """A handler whose dependency refuses the first `refusals` calls, then answers."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self.calls = 0

    async def handle(self, deliveries: list[Delivery[ArticleEvent]]) -> None:
        self.calls += 1
        if self.calls <= self.refusals:
            raise DependencyUnavailable("cache redis", "connection refused")
        await super().handle(deliveries)


async def test_an_outage_is_waited_out_never_counted_and_never_dead_lettered(
    redis: aioredis.Redis, stream: str
) -> None:
    """Refused many times longer than deliveries x claim idle: no delivery counted, nothing dead."""
    events = [article_event(record) for record in RECORDS[:5]]
    handler = Outage(refusals=12)
    consumer = make_consumer(
        redis,
        stream,
        handler.handle,
        "c1",
        max_deliveries=1,
        outage_backoff_min_s=0.1,
        outage_backoff_max_s=0.2,
    )
    broker = await running(url_of(redis), consumer)
    try:
        await publish(redis, stream, events)
        reason = await until(WAITING.check)
        assert "cache redis" in reason and stream in reason  # readiness red, and why
        await until(lambda: asyncio.sleep(0, len(handler.handled) == len(events)))
        await until(lambda: _is_zero(pending_count(redis, stream)))
    finally:
        await broker.stop()
    assert await WAITING.check() is None
    assert await redis.xlen(dead_letter_stream(stream)) == 0
    assert handler.calls > 12 and all(n == 1 for n in handler.handled.values())
    assert (
        metrics.OUTAGE_RETRIES.labels(
            stream=stream, group=GROUP, dependency="cache redis"
        )._value.get()
        == 12
    )


async def test_a_failing_batch_is_split_until_the_bad_event_is_alone(
    redis: aioredis.Redis, stream: str
) -> None:
    events = [article_event(record) for record in RECORDS[:16]]
    recorder = Recorder(failing={events[11].article_id})
    batches: list[int] = []

    async def handle(deliveries: list[Delivery[ArticleEvent]]) -> None:
        batches.append(len(deliveries))
        await recorder.handle(deliveries)

    consumer = make_consumer(redis, stream, handle, "c1", batch_size=16, max_deliveries=1)
    await publish(redis, stream, events)
    await ensure_group(redis, stream, GROUP)
    reply = await redis.xreadgroup(GROUP, "c1", {stream: ">"}, count=16)
    await consumer.process([(i.decode(), f) for i, f in reply[0][1]])
    assert len(recorder.handled) == 15 and events[11].event_id not in recorder.handled
    # Halves, not one by one: the good 8, the bad 8's halves, and so on down to the one.
    assert batches == [16, 8, 8, 4, 2, 2, 1, 1, 4]
    assert await pending_count(redis, stream) == 1


async def xreadgroup_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_xreadgroup", {}).get("calls", 0))


async def test_an_idle_consumer_waits_in_redis_instead_of_asking_again_and_again(
    tmp_path: Path, stream: str
) -> None:
    """Each ask for new events is a Python round trip; idle, one ask waits for events
    (FastStream's default asked ten times a second), and an event still ends the wait."""
    group = ProcessGroup()
    try:
        # A Redis of its own: its command counts are this consumer's alone.
        url = start_redis(group, tmp_path / "redis", free_port())
        client = aioredis.from_url(url)
        recorder = Recorder()
        consumer = make_consumer(client, stream, recorder.handle, "idle", claim_idle_ms=60_000)
        broker = await running(url, consumer)
        try:
            await until(lambda: xreadgroup_calls(client))  # reading
            before = await xreadgroup_calls(client)
            await asyncio.sleep(3.0)
            idle_asks = await xreadgroup_calls(client) - before
            await publish(client, stream, [article_event(RECORDS[0])])
            await until(lambda: asyncio.sleep(0, result=sum(recorder.handled.values())))
        finally:
            await stop_consumers(broker, [consumer], 5.0)
            await client.aclose()
    finally:
        group.stop_all()
    assert idle_asks <= 6, idle_asks


async def test_reading_does_not_copy_the_subscription_each_time(
    redis: aioredis.Redis, stream: str, servers: Servers
) -> None:
    """FastStream asks for the subscription at every read; without a prefix it is the same."""
    recorder = Recorder()
    consumer = make_consumer(redis, stream, recorder.handle, "uncopied")
    url = servers.redis_url.rsplit("/", 1)[0] + f"/{DB}"
    broker = await running(url, consumer)
    try:
        await publish(redis, stream, [article_event(RECORDS[1])])
        await until(lambda: asyncio.sleep(0, result=sum(recorder.handled.values())))
        subscribers = list(broker.subscribers)
        assert len(subscribers) == 2
        for subscriber in subscribers:
            seen = subscriber.stream_sub  # type: ignore[attr-defined]
            assert seen is subscriber.stream_sub and seen.name == stream  # type: ignore[attr-defined]
    finally:
        await stop_consumers(broker, [consumer], 5.0)


async def test_a_batch_reaches_the_handler_without_faststream_making_json_of_it(
    redis: aioredis.Redis, stream: str, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastStream's batch parser dumps every entry (the articles' bodies too) to one JSON
    document for its decoder to load back; the handlers read the raw entries instead."""

    def no_json(data: Any) -> bytes:
        raise AssertionError("FastStream made JSON of a batch")

    monkeypatch.setattr(faststream_parsers, "dump_json", no_json)
    await two_handled_and_acked(redis, stream, servers, "raw", RECORDS[2:4])


async def test_a_batch_reaches_the_handler_without_a_worker_thread(
    redis: aioredis.Redis, stream: str, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastStream hands the handler its batch (a context parameter) through fast-depends, which
    ran the look-up in a worker thread for every batch (fails on main: one thread hop a batch)."""
    threaded: list[str] = []
    original = fast_depends_utils.run_in_threadpool

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        threaded.append(repr(func))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(fast_depends_utils, "run_in_threadpool", counted)
    await two_handled_and_acked(redis, stream, servers, "in-loop", RECORDS[4:6])
    assert threaded == []


async def two_handled_and_acked(
    redis: aioredis.Redis, stream: str, servers: Servers, name: str, records: Sequence[Any]
) -> None:
    """A running consumer `name` handles one event of each record, then acks them all."""
    recorder = Recorder()
    consumer = make_consumer(redis, stream, recorder.handle, name)
    url = servers.redis_url.rsplit("/", 1)[0] + f"/{DB}"
    broker = await running(url, consumer)
    try:
        events = [article_event(record) for record in records]
        await publish(redis, stream, events)
        await until(lambda: asyncio.sleep(0, result=sum(recorder.handled.values()) == len(events)))
        assert set(recorder.handled) == {e.event_id for e in events}
        await until(lambda: _is_zero(pending_count(redis, stream)))
    finally:
        await stop_consumers(broker, [consumer], 5.0)


async def group_consumers(redis: aioredis.Redis, stream: str) -> dict[str, dict[str, Any]]:
    found = await redis.xinfo_consumers(stream, GROUP)
    return {c["name"].decode(): c for c in found}


async def all_idle_since(redis: aioredis.Redis, stream: str, names: set[str], ms: int) -> bool:
    consumers = await group_consumers(redis, stream)
    return all(consumers[name]["idle"] >= ms for name in names)


async def test_a_dead_consumer_is_forgotten_only_once_it_holds_nothing(
    redis: aioredis.Redis, stream: str
) -> None:
    """Killed processes' consumers stay in the group forever unless forgotten; one that still
    holds entries must stay until they are claimed (deleting it would drop them unhandled)."""
    await ensure_group(redis, stream, GROUP)
    ids = await publish(redis, stream, [article_event(record) for record in RECORDS[:4]])
    await redis.xreadgroup(GROUP, "ghost-done", {stream: ">"}, count=2)
    await redis.xack(stream, GROUP, *ids[:2])
    await redis.xreadgroup(GROUP, "ghost-holding", {stream: ">"}, count=2)
    keeper = make_consumer(redis, stream, Recorder().handle, "keeper", claim_idle_ms=100)
    await until(
        lambda: all_idle_since(
            redis, stream, {"ghost-done", "ghost-holding"}, keeper.forget_idle_ms
        )
    )
    with structlog.testing.capture_logs() as logs:
        assert await keeper.forget_dead_consumers() == ["ghost-done"]
    assert set(await group_consumers(redis, stream)) == {"ghost-holding"}
    assert await pending_count(redis, stream) == 2
    forgotten = [e for e in logs if e["event"] == "dead_consumer_forgotten"]
    assert [(e["consumer"], e["group"], e["stream"]) for e in forgotten] == [
        ("ghost-done", GROUP, stream)
    ]
    assert forgotten[0]["idle_ms"] >= keeper.forget_idle_ms

    # The claim path takes what the ghost held; handled and acked, the ghost holds nothing.
    _, claimed, _ = await redis.xautoclaim(stream, GROUP, "keeper", 100, "0-0")
    assert len(claimed) == 2
    await redis.xack(stream, GROUP, *(message_id for message_id, _ in claimed))
    assert await keeper.forget_dead_consumers(idle_ms=0) == ["ghost-holding"]
    assert set(await group_consumers(redis, stream)) == {"keeper"}  # never itself


async def test_a_running_consumer_claims_then_forgets_a_killed_ones(
    redis: aioredis.Redis, stream: str
) -> None:
    await ensure_group(redis, stream, GROUP)
    events = [article_event(record) for record in RECORDS[:3]]
    await publish(redis, stream, events)
    await redis.xreadgroup(GROUP, "killed", {stream: ">"}, count=100)
    recorder = Recorder()
    heir = make_consumer(redis, stream, recorder.handle, "heir", claim_idle_ms=100)
    broker = await running(url_of(redis), heir)
    forgetting = asyncio.create_task(heir.keep_forgetting_dead_consumers())
    try:
        await until(lambda: asyncio.sleep(0, set(recorder.handled) == {e.event_id for e in events}))
        await until(lambda: _only_heir(redis, stream))
    finally:
        forgetting.cancel()
        await broker.stop()
    assert all(count == 1 for count in recorder.handled.values())


async def _only_heir(redis: aioredis.Redis, stream: str) -> bool:
    return set(await group_consumers(redis, stream)) == {"heir"}


async def test_a_redis_outage_logs_one_warning_and_one_recovery_not_a_flood_of_errors(
    tmp_path: Path, stream: str, caplog: pytest.LogCaptureFixture
) -> None:
    """FastStream's read loops logged "Message fetch error" at error level, with a traceback,
    at every retry of every subscriber while Redis was down; an outage is expected and
    waited out: one warning when it begins, one event when Redis answers again."""
    group = ProcessGroup()
    port = free_port()
    try:
        server = run_redis(group, tmp_path / "redis", port)
        url = f"redis://127.0.0.1:{port}/0"
        client = aioredis.from_url(url)
        consumer = make_consumer(client, stream, Recorder().handle, "outage")
        await ensure_group(client, stream, GROUP)
        broker = make_broker(url, "outage-test")
        consumer.register(broker)
        await broker.start()
        try:
            with structlog.testing.capture_logs() as logs:
                server.stop()
                await until(lambda: asyncio.sleep(0, _events(logs, "redis_unreachable")))
                # Both subscribers' loops fail again (each retries on its own) before Redis is
                # back: still the one warning.
                await until(lambda: asyncio.sleep(0, _failed_reads(broker) >= 4), 30.0)
                run_redis(group, tmp_path / "redis", port)
                await until(lambda: asyncio.sleep(0, _events(logs, "redis_reachable_again")), 30.0)
        finally:
            await broker.stop()
            await client.aclose()
    finally:
        group.stop_all()
    (down,) = _events(logs, "redis_unreachable")
    assert down["log_level"] == "warning" and down["service"] == "outage-test", down
    assert down["error"] and down["error_type"], down
    (back,) = _events(logs, "redis_reachable_again")
    assert back["failed_reads"] >= 4 and back["down_s"] > 0, back
    fetch_errors = [r for r in caplog.records if r.getMessage() == "Message fetch error"]
    assert fetch_errors == [], [r.levelname for r in fetch_errors]


def _events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


def _failed_reads(broker: RedisBroker) -> int:
    from khabar_shared.broker import RedisOutageLog

    logger = logging.getLogger("khabar.outage-test.faststream")
    (outage_log,) = [f for f in logger.filters if isinstance(f, RedisOutageLog)]
    return outage_log.failed_reads


async def test_forgetting_registers_its_script_once(
    redis: aioredis.Redis, stream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every round (each claim idle time, in every consumer) registered the script anew."""
    await ensure_group(redis, stream, GROUP)
    registered: list[Any] = []
    real = redis.register_script

    def counted(script: Any) -> Any:
        registered.append(script)
        return real(script)

    monkeypatch.setattr(redis, "register_script", counted)
    keeper = make_consumer(redis, stream, Recorder().handle, "keeper")
    for _ in range(3):
        assert await keeper.forget_dead_consumers(idle_ms=0) == []
    assert len(registered) == 1
