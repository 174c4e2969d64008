"""Rebuilding the index from the log, without downtime.

The enriched stream is the record: replaying it and keeping the newest
version of every article, minus the withdrawn ones, gives exactly what the
index should hold. `rebuild` writes that into a new index while readers keep
searching the live one, then swaps the two atomically (`swap-indexes`) and
drops the old. The live index keeps its uid, so readers and the consumer
never change address.

Events that arrive during the rebuild are not lost:

1. the replay stops at the stream's last id when it began (the mark); it
   reads the log twice, first to find each article's newest event, then to
   index only those, so memory holds ids, not documents;
2. before the swap, what came after the mark is applied to the new index;
3. after the swap, what came after that second mark is applied to the live
   index again, because the consumer may have put it in the old index in the
   moment between. Each of those changes is applied only if it is not older
   than the version guard's claim, so a newer version that the consumer
   applied meanwhile is never overwritten.
"""

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from khabar_search.documents import to_document
from khabar_search.meili import MeiliWriter
from khabar_search.nodes import FIRST_NODE, SearchNode
from khabar_search.synonyms import load_synonyms
from khabar_shared.events import EnrichedEvent, MalformedEvent, decode_event
from khabar_shared.logging import get_logger
from khabar_shared.redis_helpers import RedisClient, StreamEntry, read_entries

log = get_logger(__name__)

READ_PAGE = 500
Progress = Callable[[str, int, int | None], None]


def _quiet(stage: str, done: int, total: int | None) -> None:
    return None


@dataclass
class Replay:
    """The newest state of every article seen in a stretch of the log."""

    versions: dict[str, int] = field(default_factory=dict)
    documents: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    last_id: str = "0-0"
    events: int = 0

    def take(self, event: EnrichedEvent) -> None:
        if event.version < self.versions.get(event.article_id, 0):
            return
        self.versions[event.article_id] = event.version
        live = event.type != "article.withdrawn" and event.enriched is not None
        self.documents[event.article_id] = (
            to_document(event.enriched).model_dump() if live and event.enriched else None
        )


async def stream_end(redis: RedisClient, stream: str) -> str:
    last = cast(list[StreamEntry], await redis.xrevrange(stream, count=1))
    return _text(last[0][0]) if last else "0-0"


async def replay(redis: RedisClient, stream: str, after: str, until: str) -> Replay:
    """Read (after, until] of the stream and keep the newest version per article (catch-ups)."""
    found = Replay(last_id=after)
    if until == after:
        return found
    async for message_id, event in _entries(redis, stream, after, until):
        found.take(event)
        found.events += 1
        found.last_id = message_id
    return found


async def _guarded(
    redis: RedisClient, changes: Replay, node: SearchNode
) -> tuple[list[dict[str, Any]], list[str]]:
    """The changes not older than what the node's live consumer already claimed."""
    ids = list(changes.documents)
    if not ids:
        return [], []
    claimed = await redis.hmget(node.versions_key, ids)
    upserts, deletes = [], []
    for article_id, now in zip(ids, claimed, strict=True):
        if now is not None and int(now) > changes.versions[article_id]:
            continue
        doc = changes.documents[article_id]
        if doc is None:
            deletes.append(article_id)
        else:
            upserts.append(doc)
    return upserts, deletes


@dataclass
class RebuildReport:
    index: str
    documents: int
    events: int
    caught_up: int
    seconds: float


async def newest_entries(
    redis: RedisClient, stream: str, until: str, progress: Progress = _quiet
) -> tuple[set[str], int]:
    """First pass, light on memory: the stream id of every live article's newest event."""
    newest: dict[str, tuple[int, str, bool]] = {}
    events = 0
    async for message_id, event in _entries(redis, stream, "0-0", until):
        events += 1
        known = newest.get(event.article_id)
        if known is None or event.version >= known[0]:
            live = event.type != "article.withdrawn" and event.enriched is not None
            newest[event.article_id] = (event.version, message_id, live)
        if events % READ_PAGE == 0:
            progress("read", events, None)
    return {message_id for _, message_id, live in newest.values() if live}, events


async def load_newest(
    redis: RedisClient,
    stream: str,
    until: str,
    wanted: set[str],
    target: MeiliWriter,
    batch_size: int,
    progress: Progress = _quiet,
) -> int:
    """Second pass: the newest live versions into `target`, one task per batch."""
    batch: list[dict[str, Any]] = []
    done = 0
    async for message_id, event in _entries(redis, stream, "0-0", until):
        if message_id in wanted and event.enriched is not None:
            batch.append(to_document(event.enriched).model_dump())
        if len(batch) >= batch_size:
            await target.apply(batch, [])
            done += len(batch)
            batch = []
            progress("index", done, len(wanted))
    if batch:
        await target.apply(batch, [])
        done += len(batch)
        progress("index", done, len(wanted))
    return done


async def _entries(
    redis: RedisClient, stream: str, after: str, until: str
) -> AsyncIterator[tuple[str, EnrichedEvent]]:
    start = f"({after}" if after != "0-0" else "-"
    while True:
        page = await read_entries(redis, stream, start, until, READ_PAGE)
        for message_id, fields in page:
            try:
                yield _text(message_id), decode_event(EnrichedEvent, fields)
            except MalformedEvent:
                log.warning("rebuild_skipped_malformed", message_id=_text(message_id))
        if not page or _text(page[-1][0]) == until:
            return
        start = f"({_text(page[-1][0])}"


async def rebuild(
    redis: RedisClient,
    live: MeiliWriter,
    stream: str,
    batch_size: int = 1000,
    progress: Progress = _quiet,
    node: SearchNode = FIRST_NODE,
) -> RebuildReport:
    """Rebuild `live` (the index of search node `node`) from the log and swap it in."""
    started = time.monotonic()
    fresh = live.for_index(f"{live.index_uid}_rebuild_{int(time.time())}")
    await live.ensure_index(load_synonyms())  # the swap needs both to exist
    await fresh.ensure_index(load_synonyms())

    mark = await stream_end(redis, stream)
    wanted, events = await newest_entries(redis, stream, mark, progress)
    documents = await load_newest(redis, stream, mark, wanted, fresh, batch_size, progress)

    before_swap = await replay(redis, stream, mark, await stream_end(redis, stream))
    await fresh.apply(*await _guarded(redis, before_swap, node))
    await live.swap_with(fresh.index_uid)
    after_swap = await replay(redis, stream, before_swap.last_id, await stream_end(redis, stream))
    await live.apply(*await _guarded(redis, after_swap, node))
    await fresh.delete_index()  # the old index, under the rebuild's name since the swap

    report = RebuildReport(
        live.index_uid,
        documents,
        events,
        before_swap.events + after_swap.events,
        time.monotonic() - started,
    )
    log.info(
        "search_index_rebuilt",
        index=report.index,
        documents=report.documents,
        events=report.events,
        caught_up=report.caught_up,
        seconds=round(report.seconds, 1),
    )
    return report


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
