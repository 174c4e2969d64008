"""Reading a stream through a consumer group, with the guarantees we promise.

FastStream reads (XREADGROUP for new events, XAUTOCLAIM for events a dead
consumer left pending); this module adds what FastStream does not do:

- ack only after the handler returned, i.e. after its effect is durable;
- a dependency's outage (`outages.is_outage`: Redis or Meilisearch down, a
  5xx, a timeout) is not the events' fault: the consumer keeps the batch,
  waits with bounded backoff (readiness red, `khabar_waiting_for_dependency`
  1) and tries it again, for as long as the outage lasts; nothing is counted
  as a delivery and nothing is dead-lettered;
- a batch that fails by an event's own fault is split in halves until the
  bad event is alone, so one bad event never holds back the good ones beside
  it;
- an entry that cannot even be parsed, or that failed `max_deliveries` times,
  moves to the stream's dead-letter stream with its error, atomically with
  its ack (see `dead_letters.py` for the entry and its replay);
- while a batch is being handled its entries' idle time is kept fresh (XCLAIM
  JUSTID to ourselves), so a slow but live consumer, e.g. one waiting out a
  Meilisearch outage, is never mistaken for a dead one: only a consumer that
  stopped running loses its events to a claim, and only real attempts count
  as deliveries;
- every log line written while events are handled carries their event,
  article and correlation ids;
- a consumer whose process is gone (killed, scaled away, restarted under a new
  pid) would stay in its group forever, in `khabar status` and XINFO; once the
  claim path has taken its pending entries and it has been idle
  `FORGET_AFTER_CLAIM_PERIODS` claim idle times, `forget_dead_consumers` (run
  every claim idle time by `keep_forgetting_dead_consumers`) deletes it, in a
  script that never deletes a consumer still holding an entry;
- a handler in two steps (`start`, which sends the batch's work off and
  returns the rest) lets the reader go on to the next batch as soon as one
  is started, up to `pipeline_depth` batches in flight; each batch is still
  acked only after its own rest returned, and batches are started in the
  order they were read (the search indexer: the next batch is sent once
  Meilisearch is done with one, while that one is settled and acked);
- on shutdown, `drain` finishes the batches in flight and handles what this
  consumer still holds, so a SIGTERM leaves nothing it read behind
  (`shutdown.stop_consumers` runs it after `broker.stop()`).
"""

import asyncio
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Annotated, Any, Generic, cast

from faststream import AckPolicy
from faststream._internal.context import Context  # the class; `faststream.Context` makes one
from faststream.redis import RedisBroker, StreamSub
from faststream.redis import message as redis_message
from redis.commands.core import AsyncScript

from khabar_shared import metrics
from khabar_shared.broker import keep_reading
from khabar_shared.dead_letters import dead_letter_entry
from khabar_shared.events import EventT, MalformedEvent, decode_event
from khabar_shared.logging import bind_event_context, clear_event_context, get_logger
from khabar_shared.lua import ScriptRegistry
from khabar_shared.names import applied_key, dead_letter_stream
from khabar_shared.outages import WAITING, dependency_of, is_outage
from khabar_shared.pipeline import Command, send
from khabar_shared.redis_helpers import RedisClient
from khabar_shared.settings import CommonSettings

log = get_logger(__name__)

# Where a failed delivery's last error waits until the event succeeds or is dead-lettered.
ERRORS_SUFFIX = ":errors:"
CONTEXT_FIELDS = ("event_id", "article_id", "correlation_id")
# Claimed too often without a handler ever raising: its consumers died while handling it.
NO_ERROR_RECORDED = b"no error recorded: every consumer that took it stopped before finishing"
# ...but only this many times max_deliveries: a consumer killed mid-batch (a deploy, an OOM
# of its neighbour) is not the event's fault, and the events are retried one by one first.
NO_ERROR_FACTOR = 3
# A consumer idle this many claim idle times with nothing pending is gone: a live one reads
# (XREADGROUP, XAUTOCLAIM) at least every claim polling interval, which refreshes its idle time.
FORGET_AFTER_CLAIM_PERIODS = 10
FORGET_CONSUMERS = ScriptRegistry("khabar_shared")["forget_consumers"]
# Backoff of a drain whose reads meet a Redis outage (within the shutdown grace).
DRAIN_RETRY_FIRST_S = 0.05
DRAIN_RETRY_MAX_S = 1.0


@dataclass(frozen=True, slots=True)
class Delivery(Generic[EventT]):
    message_id: str
    event: EventT


BatchHandler = Callable[[list[Delivery[EventT]]], Awaitable[None]]
Decoder = Callable[[type[EventT], Mapping[Any, bytes | str]], EventT]
# A handler's first step: returns the rest of the batch's work, awaited before the ack.
StartHandler = Callable[[list[Delivery[EventT]]], Awaitable[Callable[[], Awaitable[None]]]]
# Set by a pipelined batch's task: the reader waits on it, not on the whole batch.
_STARTED: ContextVar[asyncio.Event | None] = ContextVar("batch_started", default=None)
RawEntry = tuple[str, dict[bytes, bytes]]
PendingEntry = tuple[bytes, dict[bytes, bytes] | None]  # a deleted entry comes back without fields
# How long "when was version N applied" stays readable for `/trace`, and for how many of an
# article's newest versions (the trace shows its last ten): an article corrected all day must not
# grow its record in the log's Redis with every correction.
TRACE_TTL_S = 30 * 24 * 3600
TRACE_VERSIONS = 10


def event_context(deliveries: list[Delivery[Any]]) -> dict[str, Any]:
    """The ids to log with: one event's values, or each field's list for a batch."""
    events = [d.event for d in deliveries]
    if len(events) == 1:
        return {name: getattr(events[0], name) for name in CONTEXT_FIELDS}
    return {name: [getattr(event, name) for event in events] for name in CONTEXT_FIELDS}


@asynccontextmanager
async def logging_context(deliveries: list[Delivery[Any]]) -> AsyncIterator[None]:
    bind_event_context(event_context(deliveries))
    try:
        yield
    finally:
        clear_event_context(*CONTEXT_FIELDS)


@dataclass
class StreamConsumer(Generic[EventT]):
    """One consumer group's reader of one stream, for one handler."""

    stream: str
    group: str
    event_model: type[EventT]
    handle: BatchHandler[EventT]
    redis: RedisClient
    settings: CommonSettings
    # Optional: `handle` in two steps (see the module's docstring); used instead of
    # `handle` when given. New events are then read while up to `pipeline_depth`
    # batches are in flight.
    start: StartHandler[EventT] | None = None
    pipeline_depth: int = 1
    # How an entry becomes its event (`decode_event` by default): a consumer that ignores
    # some kinds of event may build those from the entry's routing fields, unread.
    decode: Decoder[EventT] = decode_event
    _in_flight: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _slots: asyncio.Semaphore | None = field(default=None, init=False, repr=False)
    _forget_script: AsyncScript | None = field(default=None, init=False, repr=False)

    @property
    def errors_key(self) -> str:
        return f"{self.stream}{ERRORS_SUFFIX}{self.group}"

    @property
    def consumer_name(self) -> str:
        return self.settings.consumer_name

    def register(self, broker: RedisBroker) -> None:
        """Subscribe to new events and to events abandoned by dead consumers."""
        common: dict[str, Any] = {
            "group": self.group,
            "consumer": self.consumer_name,
            "batch": True,
            "max_records": self.settings.batch_size,
        }

        async def on_new(body: list[Any], msg: BatchMessage) -> None:
            if self.start is not None and self.pipeline_depth > 1:
                await self._pipelined(raw_entries(msg))
            else:
                await self._in_own_task(self.process(raw_entries(msg)))

        async def on_claimed(body: list[Any], msg: BatchMessage) -> None:
            await self._in_own_task(self.process_claimed(raw_entries(msg)))

        new = broker.subscriber(
            stream=UncopiedStreamSub(self.stream, polling_interval=NEW_EVENTS_BLOCK_MS, **common),
            ack_policy=AckPolicy.MANUAL,
            parser=entries_as_read,
            decoder=not_decoded,
            title=f"{self.stream}:{self.group}:new",
        )
        new(on_new)
        claimed = broker.subscriber(
            stream=UncopiedStreamSub(
                self.stream,
                min_idle_time=self.settings.claim_idle_ms,
                polling_interval=claim_polling_ms(self.settings.claim_idle_ms),
                **common,
            ),
            ack_policy=AckPolicy.MANUAL,
            parser=entries_as_read,
            decoder=not_decoded,
            title=f"{self.stream}:{self.group}:claimed",
        )
        claimed(on_claimed)
        for subscriber in (new, claimed):
            keep_reading(subscriber)

    @property
    def forget_idle_ms(self) -> int:
        return self.settings.claim_idle_ms * FORGET_AFTER_CLAIM_PERIODS

    async def forget_dead_consumers(self, idle_ms: int | None = None) -> list[str]:
        """Delete the group's consumers idle `idle_ms` (default `forget_idle_ms`) that hold no
        pending entry; never this one. A dead consumer's pending entries are first taken by the
        claim subscriber (XAUTOCLAIM after `claim_idle_ms`), so it is forgotten on a later round.
        """
        bound = self.forget_idle_ms if idle_ms is None else idle_ms
        if self._forget_script is None:  # once: registering hashes the script's source
            self._forget_script = FORGET_CONSUMERS.register(self.redis)
        reply = cast(
            list[bytes],
            await self._forget_script(
                keys=[self.stream], args=[self.group, bound, self.consumer_name]
            ),
        )
        forgotten = [_text(name) or "" for name in reply[0::2]]
        for name, idle in zip(forgotten, reply[1::2], strict=True):
            log.info(
                "dead_consumer_forgotten",
                stream=self.stream,
                group=self.group,
                consumer=name,
                idle_ms=int(idle),
                bound_ms=bound,
                by=self.consumer_name,
            )
        return forgotten

    async def keep_forgetting_dead_consumers(self) -> None:
        """Forever, every claim idle time: `forget_dead_consumers` (run as a task; cancel it)."""
        while True:
            await asyncio.sleep(self.settings.claim_idle_ms / 1000)
            try:
                await self.forget_dead_consumers()
            except Exception as error:  # noqa: BLE001 (the next round tries again; nothing is lost)
                log.warning("forget_dead_consumers_failed", stream=self.stream, error=str(error))

    async def _in_own_task(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in a task FastStream cannot cancel, and that `drain` can await.

        FastStream cancels its read loop when its graceful timeout ends; a batch
        cut off between its effect and its ack would be handled again by
        another consumer. Shielded, the batch finishes and acks (or `drain`'s
        own deadline decides).
        """
        task = asyncio.create_task(work)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        await asyncio.shield(task)

    async def _pipelined(self, entries: list[RawEntry]) -> None:
        """Like `_in_own_task`, but return once the batch is started (or over), so the
        reader reads the next while this one finishes; at most `pipeline_depth` in flight.

        A batch whose start fails (an outage, its own fault) is retried or split
        before the reader goes on, as without pipelining.
        """
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.pipeline_depth)
        slots = self._slots
        await slots.acquire()
        started = asyncio.Event()

        async def work() -> None:
            _STARTED.set(started)
            try:
                await self.process(entries)
            finally:
                started.set()
                slots.release()

        task = asyncio.create_task(work())
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        await started.wait()

    async def process_claimed(self, entries: list[RawEntry]) -> None:
        """Entries taken over from another consumer: dead-letter the hopeless ones first."""
        if not entries:
            return
        counts = await self._delivery_counts([message_id for message_id, _ in entries])
        retry: list[RawEntry] = []
        alone: list[RawEntry] = []
        for message_id, fields in entries:
            deliveries = counts.get(message_id, 1)
            if deliveries <= self.settings.max_deliveries:
                retry.append((message_id, fields))
                continue
            error = cast(bytes | None, await self.redis.hget(self.errors_key, message_id))
            if error is None and deliveries <= self.settings.max_deliveries * NO_ERROR_FACTOR:
                alone.append((message_id, fields))  # its consumers died: not its fault yet
                continue
            await self.dead_letter(
                message_id,
                fields,
                (error or NO_ERROR_RECORDED).decode(),
                deliveries,
                reason="max_deliveries",
            )
        log.info(
            "pending_events_claimed",
            stream=self.stream,
            group=self.group,
            count=len(entries),
            deliveries=[counts.get(m, 1) for m, _ in entries],
        )
        await self.process(retry)
        for entry in alone:
            await self.process([entry])

    async def process(self, entries: list[RawEntry]) -> None:
        if not entries:
            return
        deliveries: list[Delivery[EventT]] = []
        for message_id, fields in entries:
            try:
                deliveries.append(Delivery(message_id, self.decode(self.event_model, fields)))
            except MalformedEvent as error:
                await self.dead_letter(message_id, fields, str(error), 1, reason="malformed")
        if not deliveries:
            return
        labels = {"stream": self.stream, "group": self.group}
        metrics.BATCH_SIZE.labels(**labels).observe(len(deliveries))
        started = time.perf_counter()
        if await self._handle_or_split(deliveries):
            metrics.HANDLE_SECONDS.labels(**labels).observe(time.perf_counter() - started)

    async def _handle_or_split(self, deliveries: list[Delivery[EventT]]) -> bool:
        """Handle and ack a batch; True when it went through whole.

        An event's own failure splits the batch in halves, again and again,
        until the bad event is alone: it alone is left pending with its error.
        """
        try:
            await self._handle(deliveries)
        except Exception:  # noqa: BLE001 (any handler failure is retried alone, then dead-lettered)
            if len(deliveries) == 1:
                await self._record_failure(deliveries[0])
                return False
            log.warning(
                "batch_failed_splitting", size=len(deliveries), stream=self.stream, group=self.group
            )
            half = len(deliveries) // 2
            await self._handle_or_split(deliveries[:half])
            await self._handle_or_split(deliveries[half:])
            return False
        await self._ack(deliveries)
        metrics.EVENTS_HANDLED.labels(stream=self.stream, group=self.group).inc(len(deliveries))
        return True

    async def _handle(self, deliveries: list[Delivery[EventT]]) -> None:
        """The handler, with the events' ids in every log line and their claim kept fresh.

        Through any outage of a dependency: the same batch is tried again after
        a backoff (bounded by `outage_backoff_max_s`) until it goes through or
        fails by its own fault. The claim is kept fresh all along, so no other
        consumer takes the events and no delivery is counted.
        """
        delay = self.settings.outage_backoff_min_s
        waiting = False
        async with logging_context(deliveries), self._keep_claimed(deliveries):
            try:
                while True:
                    try:
                        await self._run(deliveries)
                        return
                    except Exception as error:
                        if not is_outage(error):
                            raise
                        waiting = True
                        await self._wait_out(error, delay)
                        delay = min(delay * 2, self.settings.outage_backoff_max_s)
            finally:
                if waiting:
                    self._outage_over()

    async def _run(self, deliveries: list[Delivery[EventT]]) -> None:
        if self.start is None:
            await self.handle(deliveries)
            return
        # Only a batch's first start lets the reader go on: one retried or split
        # after its start failed runs whole first, so batches start in order.
        started = _STARTED.get()
        _STARTED.set(None)
        finish = await self.start(deliveries)
        if started is not None:
            started.set()  # the reader may go on; this batch's ack still waits for `finish`
        await finish()

    async def _wait_out(self, error: Exception, delay_s: float) -> None:
        dependency = dependency_of(error)
        WAITING.start(self.waiting_name, f"{dependency}: {error}"[:300])
        metrics.WAITING_FOR_DEPENDENCY.labels(stream=self.stream, group=self.group).set(1)
        metrics.OUTAGE_RETRIES.labels(
            stream=self.stream, group=self.group, dependency=dependency
        ).inc()
        log.warning(
            "dependency_unavailable_waiting",
            stream=self.stream,
            group=self.group,
            dependency=dependency,
            error=str(error)[:300],
            retry_in_s=delay_s,
        )
        await asyncio.sleep(delay_s)

    def _outage_over(self) -> None:
        WAITING.stop(self.waiting_name)
        metrics.WAITING_FOR_DEPENDENCY.labels(stream=self.stream, group=self.group).set(0)
        log.info("dependency_back", stream=self.stream, group=self.group)

    @property
    def waiting_name(self) -> str:
        return f"{self.stream}/{self.group}"

    @asynccontextmanager
    async def _keep_claimed(self, deliveries: list[Delivery[EventT]]) -> AsyncIterator[None]:
        """While the handler runs, reset the entries' idle time so nobody claims them.

        XCLAIM with JUSTID does not count a delivery; a third of the claim idle
        time between refreshes leaves room for a slow Redis round trip. The
        refresher is stopped by an event, never cancelled: a cancellation that
        lands inside a redis-py command can be swallowed (seen on Python 3.11),
        and the refresher would then hold the entries forever.
        """
        message_ids: list[Any] = [d.message_id for d in deliveries]
        interval_s = self.settings.claim_idle_ms / 3000
        done = asyncio.Event()

        async def refresh() -> None:
            while True:
                with suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), interval_s)
                if done.is_set():
                    return
                try:
                    await self.redis.xclaim(
                        self.stream, self.group, self.consumer_name, 0, message_ids, justid=True
                    )
                except Exception as error:  # noqa: BLE001 (the next round retries; the claim is a lease)
                    log.warning("claim_refresh_failed", stream=self.stream, error=str(error))

        refresher = asyncio.create_task(refresh())
        try:
            yield
        finally:
            done.set()
            # Let a refresh in flight finish; never wait on it for long, never cancel it.
            await asyncio.wait({refresher}, timeout=5.0)

    async def _record_failure(self, delivery: Delivery[EventT]) -> None:
        """Leave the event pending (it will be claimed and retried) and keep its error."""
        error = traceback.format_exc(limit=5)
        async with logging_context([delivery]):
            log.error(
                "event_failed",
                stream=self.stream,
                group=self.group,
                message_id=delivery.message_id,
                error=error.strip().splitlines()[-1],
            )
        metrics.EVENTS_FAILED.labels(stream=self.stream, group=self.group).inc()
        await self.redis.hset(self.errors_key, delivery.message_id, error)

    async def _ack(self, deliveries: list[Delivery[EventT]]) -> None:
        """Ack, forget past errors, and note when each version was applied (for tracing)."""
        message_ids: list[str] = [d.message_id for d in deliveries]
        applied_at = datetime.now(UTC).isoformat()
        commands: list[Command] = [
            ("XACK", self.stream, self.group, *message_ids),
            ("HDEL", self.errors_key, *message_ids),
        ]
        for delivery in deliveries:
            key = applied_key(self.group, delivery.event.article_id)
            version = delivery.event.version
            # The first time counts: a later refresh of the same version must not move it.
            commands.append(("HSETNX", key, str(version), applied_at))
            # Versions count up by one: the one that falls out of the newest ten goes.
            commands.append(("HDEL", key, str(version - TRACE_VERSIONS)))
            commands.append(("EXPIRE", key, TRACE_TTL_S))
        await send(self.redis, commands)

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
        entry: dict[bytes, bytes] = dead_letter_entry(
            self.stream, message_id, self.group, reason, error, deliveries, fields
        )
        commands: list[Command] = [
            ("XADD", dead_letter_stream(self.stream), "*", *chain.from_iterable(entry.items())),
            ("XACK", self.stream, self.group, message_id),
            ("HDEL", self.errors_key, message_id),
        ]
        await send(self.redis, commands, transaction=True)
        metrics.DEAD_LETTERS.labels(stream=self.stream, group=self.group, reason=reason).inc()
        log.error(
            "event_dead_lettered",
            stream=self.stream,
            group=self.group,
            message_id=message_id,
            reason=reason,
            deliveries=deliveries,
            event_id=_text(fields.get(b"event_id")),
            article_id=_text(fields.get(b"article_id")),
            correlation_id=_text(fields.get(b"correlation_id")),
        )

    async def drain(self, timeout_s: float) -> int:
        """On shutdown, after the broker stopped reading: finish what this consumer holds.

        Waits for the batches in flight, then handles (and acks) the entries
        still pending on this consumer: those read just as the broker stopped,
        which FastStream drops unhandled. Returns how many entries it handled;
        whatever is left when `timeout_s` runs out stays pending and is claimed
        by another consumer after `claim_idle_ms`.
        """
        deadline = asyncio.get_running_loop().time() + timeout_s
        handled = 0
        try:
            async with asyncio.timeout_at(deadline):
                if self._in_flight:
                    await asyncio.wait(set(self._in_flight))
                handled = await self._handle_own_pending()
        except TimeoutError:
            log.warning(
                "drain_timed_out",
                stream=self.stream,
                group=self.group,
                handled=handled,
                in_flight=len(self._in_flight),
            )
        log.info("consumer_drained", stream=self.stream, group=self.group, handled=handled)
        return handled

    async def _handle_own_pending(self) -> int:
        """Handle what is still pending on this consumer; read again after an outage.

        A SIGTERM soon after Redis restarted finds the pool's connections closed
        by the old server, or the new one still loading its data (LOADING). The
        entries are still pending here, so they are waited for (until the
        caller's deadline), with backoff and one warning, not given up on.
        """
        handled = 0
        delay_s = DRAIN_RETRY_FIRST_S
        warned = False
        while True:
            try:
                async for entries in self._own_pending():
                    await self.process(entries)
                    handled += len(entries)
                return handled
            except Exception as error:
                if not is_outage(error):
                    raise
                if not warned:
                    warned = True
                    log.warning(
                        "drain_waiting_for_redis",
                        stream=self.stream,
                        group=self.group,
                        error=str(error)[:300],
                        error_type=type(error).__name__,
                    )
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, DRAIN_RETRY_MAX_S)

    async def _own_pending(self) -> AsyncIterator[list[RawEntry]]:
        """This consumer's pending entries, oldest first, each read once (XREADGROUP from an id)."""
        after = "0"
        while True:
            reply = cast(
                list[tuple[bytes, list[PendingEntry]]],
                await self.redis.xreadgroup(
                    self.group,
                    self.consumer_name,
                    {self.stream: after},
                    count=self.settings.batch_size,
                ),
            )
            entries = [(i.decode("utf-8", "replace"), f) for i, f in reply[0][1]] if reply else []
            if not entries:
                return
            after = entries[-1][0]
            yield [(i, f) for i, f in entries if f]  # a deleted entry comes back without fields


def _text(value: bytes | str | None) -> str | None:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class UncopiedStreamSub(StreamSub):
    """FastStream deep-copies a subscription on every read to add the broker's prefix to
    the stream's name; our brokers have none, so the copy equals the original (a deepcopy
    of its options per XREADGROUP and XAUTOCLAIM, per batch, in every consumer)."""

    def add_prefix(self, prefix: str) -> "UncopiedStreamSub":
        return self if not prefix else super().add_prefix(prefix)


# How long one XREADGROUP waits in Redis for new events. Redis answers as soon as
# an event arrives, so a longer wait delays nothing; FastStream's default (100 ms)
# had every idle consumer ask ten times a second, each ask a Python round trip
# (with two search nodes, render and enrich: a visible share of their CPU at a
# steady trickle of articles). It also bounds how long a stop waits for the read.
NEW_EVENTS_BLOCK_MS = 2_000


def claim_polling_ms(claim_idle_ms: int) -> int:
    """How often to look for entries a dead consumer left: an entry waits `claim_idle_ms` before
    it may be claimed at all, so a tenth of that more is soon enough. (FastStream's default had a
    live consumer asking Redis ten times a second, and each look at a batch still being handled
    is a run of XAUTOCLAIM calls: a visible share of enrich's time.)"""
    return max(100, claim_idle_ms // 10)


class LoopContext(Context):
    """FastStream's `Context` field, looked up in the event loop.

    FastStream resolves a handler's context parameters through fast-depends, which
    runs a field's `use` in a worker thread unless it is a coroutine function;
    `Context.use` is a plain function, so every batch a consumer read went through
    a thread and back (a hand-off and two wake-ups for a dictionary look-up, on
    every batch of every consumer: enrich's batches hold one event at a steady rate).
    """

    async def use(self, /, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return super().use(**kwargs)


# The batch as read, resolved as `faststream.redis.annotations.RedisBatchStreamMessage`.
BatchMessage = Annotated[redis_message.RedisBatchStreamMessage, LoopContext("message")]


async def entries_as_read(message: Mapping[str, Any]) -> redis_message.RedisBatchStreamMessage:
    """A batch as FastStream hands it to a handler, its entries left as Redis returned them.

    FastStream's own parser turns a batch's entries into one JSON document (every field, the
    articles' bodies too, made JSON-safe and dumped), which its decoder loads back for the
    handler's `body`: work for nothing, as the handlers read the raw entries (`raw_entries`)
    and decode each event themselves. Acks are ours (`AckPolicy.MANUAL`, `_ack`), so the
    message needs no consumer of FastStream's.
    """
    return redis_message.RedisBatchStreamMessage(
        raw_message=message, body=b"", consumer=redis_message.FAKE_CONSUMER, group=None
    )


async def not_decoded(message: Any) -> list[Any]:
    """The `body` handlers get: nothing (see `entries_as_read`)."""
    return []


def raw_entries(msg: Any) -> list[RawEntry]:
    """The (id, fields) pairs of a FastStream batch, exactly as Redis returned them."""
    raw = msg.raw_message
    ids = [i.decode() if isinstance(i, bytes) else i for i in raw["message_ids"]]
    return list(zip(ids, raw["data"], strict=True))
