"""Reading a stream through a consumer group, with the guarantees we promise.

FastStream reads (XREADGROUP for new events, XAUTOCLAIM for events a dead
consumer left pending); this module adds what FastStream does not do:

- ack only after the handler returned, i.e. after its effect is durable;
- a batch that fails is retried event by event, so one bad event never holds
  back the good ones beside it;
- an entry that cannot even be parsed, or that failed `max_deliveries` times,
  moves to the stream's dead-letter stream with its error, atomically with
  its ack.
"""

import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic

from faststream import AckPolicy
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage

from khabar_shared import metrics
from khabar_shared.events import EventT, MalformedEvent, decode_event
from khabar_shared.logging import bind_event_context, clear_event_context, get_logger
from khabar_shared.names import applied_key, dead_letter_stream
from khabar_shared.redis_helpers import RedisClient
from khabar_shared.settings import CommonSettings

log = get_logger(__name__)

# Where a failed delivery's last error waits until the event succeeds or is dead-lettered.
ERRORS_SUFFIX = ":errors:"


@dataclass(frozen=True, slots=True)
class Delivery(Generic[EventT]):
    message_id: str
    event: EventT


BatchHandler = Callable[[list[Delivery[EventT]]], Awaitable[None]]
RawEntry = tuple[str, dict[bytes, bytes]]
# How long "when was version N applied" stays readable for `/trace`.
TRACE_TTL_S = 30 * 24 * 3600


@dataclass
class StreamConsumer(Generic[EventT]):
    """One consumer group's reader of one stream, for one handler."""

    stream: str
    group: str
    event_model: type[EventT]
    handle: BatchHandler[EventT]
    redis: RedisClient
    settings: CommonSettings

    @property
    def errors_key(self) -> str:
        return f"{self.stream}{ERRORS_SUFFIX}{self.group}"

    def register(self, broker: RedisBroker) -> None:
        """Subscribe to new events and to events abandoned by dead consumers."""
        common: dict[str, Any] = {
            "group": self.group,
            "consumer": self.settings.consumer_name,
            "batch": True,
            "max_records": self.settings.batch_size,
        }

        async def on_new(body: list[Any], msg: RedisBatchStreamMessage) -> None:
            await self.process(raw_entries(msg))

        async def on_claimed(body: list[Any], msg: RedisBatchStreamMessage) -> None:
            await self.process_claimed(raw_entries(msg))

        broker.subscriber(
            stream=StreamSub(self.stream, **common),
            ack_policy=AckPolicy.MANUAL,
            title=f"{self.stream}:{self.group}:new",
        )(on_new)
        broker.subscriber(
            stream=StreamSub(self.stream, min_idle_time=self.settings.claim_idle_ms, **common),
            ack_policy=AckPolicy.MANUAL,
            title=f"{self.stream}:{self.group}:claimed",
        )(on_claimed)

    async def process_claimed(self, entries: list[RawEntry]) -> None:
        """Entries taken over from another consumer: dead-letter the hopeless ones first."""
        if not entries:
            return
        counts = await self._delivery_counts([message_id for message_id, _ in entries])
        retry: list[RawEntry] = []
        for message_id, fields in entries:
            deliveries = counts.get(message_id, 1)
            if deliveries > self.settings.max_deliveries:
                error = await self.redis.hget(self.errors_key, message_id)
                await self.dead_letter(
                    message_id, fields, (error or b"unknown error").decode(), deliveries,
                    reason="max_deliveries",
                )
            else:
                retry.append((message_id, fields))
        log.info("pending_events_claimed", stream=self.stream, group=self.group, count=len(entries))
        await self.process(retry)

    async def process(self, entries: list[RawEntry]) -> None:
        if not entries:
            return
        deliveries: list[Delivery[EventT]] = []
        for message_id, fields in entries:
            try:
                deliveries.append(Delivery(message_id, decode_event(self.event_model, fields)))
            except MalformedEvent as error:
                await self.dead_letter(message_id, fields, str(error), 1, reason="malformed")
        if not deliveries:
            return
        labels = {"stream": self.stream, "group": self.group}
        metrics.BATCH_SIZE.labels(**labels).observe(len(deliveries))
        started = time.perf_counter()
        try:
            await self.handle(deliveries)
        except Exception:
            if len(deliveries) == 1:
                await self._record_failure(deliveries[0])
                return
            log.warning("batch_failed_retrying_one_by_one", size=len(deliveries), **labels)
            for delivery in deliveries:
                await self._process_one(delivery)
            return
        await self._ack(deliveries)
        metrics.HANDLE_SECONDS.labels(**labels).observe(time.perf_counter() - started)
        metrics.EVENTS_HANDLED.labels(**labels).inc(len(deliveries))

    async def _process_one(self, delivery: Delivery[EventT]) -> None:
        try:
            await self.handle([delivery])
        except Exception:
            await self._record_failure(delivery)
            return
        await self._ack([delivery])
        metrics.EVENTS_HANDLED.labels(stream=self.stream, group=self.group).inc()

    async def _record_failure(self, delivery: Delivery[EventT]) -> None:
        """Leave the event pending (it will be claimed and retried) and keep its error."""
        error = traceback.format_exc(limit=5)
        event = delivery.event
        bind_event_context(
            {"event_id": event.event_id, "article_id": event.article_id,
             "correlation_id": event.correlation_id}
        )
        log.error("event_failed", stream=self.stream, group=self.group,
                  message_id=delivery.message_id, error=error.strip().splitlines()[-1])
        clear_event_context("event_id", "article_id", "correlation_id")
        metrics.EVENTS_FAILED.labels(stream=self.stream, group=self.group).inc()
        await self.redis.hset(self.errors_key, delivery.message_id, error)

    async def _ack(self, deliveries: list[Delivery[EventT]]) -> None:
        """Ack, forget past errors, and note when each version was applied (for tracing)."""
        message_ids = [d.message_id for d in deliveries]
        applied_at = datetime.now(UTC).isoformat()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(self.stream, self.group, *message_ids)
            pipe.hdel(self.errors_key, *message_ids)
            for delivery in deliveries:
                key = applied_key(self.group, delivery.event.article_id)
                pipe.hset(key, str(delivery.event.version), applied_at)
                pipe.expire(key, TRACE_TTL_S)
            await pipe.execute()

    async def _delivery_counts(self, message_ids: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message_id in message_ids:
            pending = await self.redis.xpending_range(
                self.stream, self.group, min=message_id, max=message_id, count=1
            )
            if pending:
                counts[message_id] = int(pending[0]["times_delivered"])
        return counts

    async def dead_letter(
        self, message_id: str, fields: dict[bytes, bytes], error: str, deliveries: int, reason: str
    ) -> None:
        """Move one entry to dead letters and ack it, in one transaction."""
        entry: dict[bytes | str, bytes | str] = {
            "source_stream": self.stream,
            "source_id": message_id,
            "group": self.group,
            "reason": reason,
            "error": error[-4000:],
            "deliveries": str(deliveries),
            "dead_at": datetime.now(UTC).isoformat(),
        }
        entry.update({b"original." + key: value for key, value in fields.items()})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(dead_letter_stream(self.stream), entry)
            pipe.xack(self.stream, self.group, message_id)
            pipe.hdel(self.errors_key, message_id)
            await pipe.execute()
        metrics.DEAD_LETTERS.labels(stream=self.stream, group=self.group, reason=reason).inc()
        log.error("event_dead_lettered", stream=self.stream, group=self.group,
                  message_id=message_id, reason=reason, deliveries=deliveries)


def raw_entries(msg: Any) -> list[RawEntry]:
    """The (id, fields) pairs of a FastStream batch, exactly as Redis returned them."""
    raw = msg.raw_message
    ids = [i.decode() if isinstance(i, bytes) else i for i in raw["message_ids"]]
    return list(zip(ids, raw["data"], strict=True))
