"""Rebuilding the index from the log, without downtime.

The enriched stream is the record: replaying it and keeping the newest
version of every article, minus the withdrawn ones, gives exactly what the
index should hold. `rebuild` writes that into a new index while readers keep
searching the live one, then swaps the two atomically (`swap-indexes`) and
drops the old. The live index keeps its uid, so readers and the consumer
never change address.

Events that arrive during the rebuild are not lost:

1. the replay stops at the stream's last id when it began (the mark);
2. before the swap, what came after the mark is applied to the new index;
3. after the swap, what came after that second mark is applied to the live
   index again, because the consumer may have put it in the old index in the
   moment between. Each of those changes is applied only if it is not older
   than the version guard's claim, so a newer version that the consumer
   applied meanwhile is never overwritten.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from khabar_search.documents import to_document
from khabar_search.indexer import VERSIONS_KEY
from khabar_search.meili import MeiliWriter
from khabar_search.synonyms import load_synonyms
from khabar_shared.events import EnrichedEvent, MalformedEvent, decode_event
from khabar_shared.logging import get_logger
from khabar_shared.redis_helpers import RedisClient

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
            to_document(event.enriched).model_dump() if live and event.enriched else None)

    @property
    def live(self) -> list[dict[str, Any]]:
        return [doc for doc in self.documents.values() if doc is not None]


async def stream_end(redis: RedisClient, stream: str) -> str:
    last = await redis.xrevrange(stream, count=1)
    return _text(last[0][0]) if last else "0-0"


async def replay(redis: RedisClient, stream: str, after: str, until: str,
                 progress: Progress = _quiet) -> Replay:
    """Read (after, until] of the stream and keep the newest version per article."""
    found = Replay(last_id=after)
    start = f"({after}" if after != "0-0" else "-"
    while True:
        page = await redis.xrange(stream, min=start, max=until, count=READ_PAGE)
        for message_id, fields in page:
            try:
                found.take(decode_event(EnrichedEvent, fields))
            except MalformedEvent:
                log.warning("rebuild_skipped_malformed", message_id=_text(message_id))
            found.events += 1
        if not page:
            return found
        found.last_id = _text(page[-1][0])
        start = f"({found.last_id}"
        progress("read", found.events, None)
        if found.last_id == until:
            return found


async def _guarded(redis: RedisClient, changes: Replay) -> tuple[list[dict[str, Any]], list[str]]:
    """The changes not older than what the live consumer already claimed."""
    ids = list(changes.documents)
    if not ids:
        return [], []
    claimed = await redis.hmget(VERSIONS_KEY, ids)
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


async def rebuild(redis: RedisClient, live: MeiliWriter, stream: str, batch_size: int = 1000,
                  progress: Progress = _quiet) -> RebuildReport:
    started = time.monotonic()
    fresh = live.for_index(f"{live.index_uid}_rebuild_{int(time.time())}")
    await live.ensure_index(load_synonyms())  # the swap needs both to exist
    await fresh.ensure_index(load_synonyms())

    mark = await stream_end(redis, stream)
    state = await replay(redis, stream, "0-0", mark, progress)
    documents = state.live
    for start in range(0, len(documents), batch_size):
        await fresh.apply(documents[start:start + batch_size], [])
        progress("index", min(start + batch_size, len(documents)), len(documents))

    before_swap = await replay(redis, stream, mark, await stream_end(redis, stream))
    await fresh.apply(*await _guarded(redis, before_swap))
    await live.swap_with(fresh.index_uid)
    after_swap = await replay(redis, stream, before_swap.last_id, await stream_end(redis, stream))
    await live.apply(*await _guarded(redis, after_swap))
    await fresh.delete_index()  # the old index, under the rebuild's name since the swap

    report = RebuildReport(live.index_uid, len(documents), state.events,
                           before_swap.events + after_swap.events, time.monotonic() - started)
    log.info("search_index_rebuilt", index=report.index, documents=report.documents,
             events=report.events, caught_up=report.caught_up, seconds=round(report.seconds, 1))
    return report


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
