"""Keeps the index equal to the latest enriched version of every live article.

Many events become one Meilisearch task; events are acked only after the task
succeeded (the consumer acks when `handle` returns). A version guard in Redis
makes duplicates and out-of-order events harmless: a version older than the
one already claimed never overwrites it, and a withdrawal is never undone by
an older update.

Two replicas can still race past the guard: A claims v2, B claims v3, B's
task runs first and A's v2 lands on top. So each claim also records where the
claimed event is on the enriched stream (none for a withdrawal), and after
its task succeeded a replica re-reads the guard: if a newer version was
claimed meanwhile, it reads that event back and re-applies it. Meilisearch
runs one index's tasks in the order they were enqueued, so whoever applied a
stale version enqueues the newest one after it, and the newest always lands
last. The stream is the copy: the guard holds no document (no cache in the
log's Redis), and trimming keeps every live article's latest event.

A batch is handled in two steps (`start`, then the `finish` it returns). With
`KHABAR_INDEX_PIPELINE_DEPTH` above 1 (it is 1 by default: one batch at a
time), the consumer reads and sends the next batch once `start` returned
(`StreamConsumer.start`), while this one's `finish` runs; each batch is still
acked only after its own `finish`. Without `send_ahead`, `start` returns once the
batch's tasks are done, so the next batch is sent as soon as Meilisearch is
free, without waiting for this one's re-read of the guard, alias records and
ack, and it holds what arrived meanwhile: as many Meilisearch tasks as
before, each as big. With `send_ahead`, `start` returns as soon as the tasks
are sent, so the next batch is sent while this one indexes; an article then
never waits for our own round trips between two tasks, but batches are
smaller (each holds what arrived since the last was sent): more tasks, and
more CPU per article in search and Meilisearch (on a busy machine that
costs more latency than it saves). Nothing else changes for the guard: a
batch in flight is to it what another replica's is, and `settle` covers both.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

from khabar_search.alias_store import AliasStore
from khabar_search.aliases import Alias, mine
from khabar_search.documents import to_document
from khabar_search.meili import MeiliWriter, is_unavailable
from khabar_search.nodes import FIRST_NODE, SearchNode
from khabar_shared import failpoints
from khabar_shared.consumer import Delivery
from khabar_shared.events import EnrichedEvent, MalformedEvent, decode_event, newest_per_article
from khabar_shared.logging import get_logger
from khabar_shared.lua import ScriptRegistry
from khabar_shared.names import ENRICHED_STREAM, FIRST_SEARCH_NODE
from khabar_shared.outages import DependencyUnavailable
from khabar_shared.redis_helpers import RedisClient
from khabar_shared.search_nodes import registered

log = get_logger(__name__)

# Between each two writes of a batch (tests stop the handler here; see failpoints.py).
CLAIMED = failpoints.point("search.claimed", "version guard and copies written, index not")
ENQUEUED = failpoints.point("search.enqueued", "index tasks sent, not known to have succeeded")
APPLIED = failpoints.point("search.applied", "index written, newer claims not re-read")
SETTLED = failpoints.point("search.settled", "index current, aliases not recorded")
ALIASES_RECORDED = failpoints.point(
    "search.aliases_recorded", "everything written, events not acked"
)

# Node 1's version guard. It and the node's entries (`nodes.SearchNode`) share the `{search}`
# hash slot, so the claim script is a single-slot operation in a Redis Cluster too. Every node
# has its own, since each node's index is given every version.
VERSIONS_KEY = FIRST_NODE.versions_key
MAX_REAPPLY_ROUNDS = 5

SCRIPTS = ScriptRegistry("khabar_search")
Finish = Callable[[], Awaitable[None]]
T = TypeVar("T")
CLAIM_VERSIONS = SCRIPTS["claim_versions"]


REFRESH: Final = "article.related_refreshed"


def decode_for_index(
    model: type[EnrichedEvent], fields: Mapping[Any, bytes | str]
) -> EnrichedEvent:
    """The consumer's reading of an entry: a refresh of related links from its routing fields.

    A refresh changes nothing readers search (`Indexer.start` skips it), yet it
    carries its whole article: at a steady trickle most entries search reads are
    refreshes, and validating their JSON was most of the per-event work. Its type,
    ids and version, all the consumer needs to ack it and note it applied, are
    routing fields of its entry.
    """
    routing = {(k.decode() if isinstance(k, bytes) else k): v for k, v in fields.items()}
    if _text(routing.get("type")) != REFRESH:
        return decode_event(model, fields)
    try:
        return model.model_construct(
            event_id=_text(routing["event_id"]),
            type=REFRESH,
            article_id=_text(routing["article_id"]),
            version=int(routing["version"]),
            correlation_id=_text(routing["correlation_id"]),
            source_event_id="",
            enriched=None,
        )
    except (KeyError, ValueError) as error:
        raise MalformedEvent(f"refresh entry without its routing fields: {error!r}") from error


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""


@dataclass(frozen=True)
class Change:
    """What one article's latest event asks of the index: a document, or a deletion."""

    article_id: str
    version: int
    document: dict[str, Any] | None
    entry_id: str = ""  # the event's on the enriched stream

    @classmethod
    def of(cls, event: EnrichedEvent, entry_id: str = "") -> "Change":
        live = event.type != "article.withdrawn" and event.enriched is not None
        document = to_document(event.enriched).model_dump() if live and event.enriched else None
        return cls(event.article_id, event.version, document, entry_id)


def split(changes: list[Change]) -> tuple[list[dict[str, Any]], list[str]]:
    upserts = [c.document for c in changes if c.document is not None]
    deletes = [c.article_id for c in changes if c.document is None]
    return upserts, deletes


def aliases_of(change: Change) -> list[Alias]:
    """The aliases an article's indexed version glosses; none for a withdrawal."""
    if change.document is None:
        return []
    document = change.document
    return mine(f"{document['headline']}\n{document['lead']}\n{document['body']}")


def miner(nodes: Mapping[str, str]) -> str:
    """The node that mines aliases: node 1, or once it is retired, the first registered."""
    if not nodes or FIRST_SEARCH_NODE in nodes:
        return FIRST_SEARCH_NODE
    return min(nodes)


class Indexer:
    def __init__(
        self,
        redis: RedisClient,
        writer: MeiliWriter,
        retry_max_s: float,
        aliases: AliasStore | None = None,
        node: SearchNode = FIRST_NODE,
        stream: str = ENRICHED_STREAM,
        send_ahead: bool = False,
    ) -> None:
        self._redis = redis
        self._node = node
        self._stream = stream  # where the events come from (and are read back, see `settle`)
        self._writer = writer
        self._retry_max_s = retry_max_s
        self._aliases = aliases
        self._send_ahead = send_ahead
        self._claim = CLAIM_VERSIONS.register(redis)

    async def handle(self, deliveries: list[Delivery[EnrichedEvent]]) -> None:
        """The whole batch at once: sent, indexed, settled."""
        finish = await self.start(deliveries)
        await finish()

    async def start(self, deliveries: list[Delivery[EnrichedEvent]]) -> Finish:
        """Claim the batch's versions, send their changes and (unless sending ahead)
        wait for their tasks; returns the rest of the work.

        The returned `finish` (waits for the tasks if sending ahead, then)
        settles and records aliases as `handle` does; the batch may be acked
        once it returned.
        """
        # A refresh of related links changes nothing readers search; it follows
        # the same version's enriched event on the stream, so skipping it loses nothing.
        latest = newest_per_article(d.event for d in deliveries if d.event.type != REFRESH)
        entries = {d.event.event_id: d.message_id for d in deliveries}
        changes = [Change.of(event, entries[event.event_id]) for event in latest.values()]
        passed = await self.claim(changes)
        failpoints.check(CLAIMED)
        applied = [c for c in changes if c.article_id in passed]
        tasks = await self._retrying(lambda: self._writer.enqueue(*split(applied)))
        failpoints.check(ENQUEUED)
        if not self._send_ahead:
            await self._wait(applied, tasks)

        async def finish() -> None:
            if self._send_ahead:
                await self._wait(applied, tasks)
            await self._finish(deliveries, changes, applied)

        return finish

    async def _wait(self, applied: list[Change], tasks: list[int]) -> None:
        try:
            await self._writer.wait_all(tasks)
        except Exception as error:
            if not is_unavailable(error):
                raise
            # Meilisearch went away meanwhile: whether the tasks ran is unknown, so
            # send the changes again (an equal version is applied again harmlessly).
            log.warning("meili_unavailable_while_waiting", error=str(error))
            await self.apply(applied)
        failpoints.check(APPLIED)

    async def _finish(
        self,
        deliveries: list[Delivery[EnrichedEvent]],
        changes: list[Change],
        applied: list[Change],
    ) -> None:
        upserts, deletes = split(applied)
        log.info(
            "search_batch_applied",
            upserts=len(upserts),
            deletes=len(deletes),
            skipped=len(changes) - len(applied),
            events=len(deliveries),
        )
        settled = await self.settle(applied)
        failpoints.check(SETTLED)
        if self._aliases is not None:
            # After the index: a crash before this is repaired by redelivery,
            # which re-applies the documents and records the same aliases.
            await self._aliases.record(
                {c.article_id: (c.version, aliases_of(c)) for c in await self._unmined(settled)}
            )
            failpoints.check(ALIASES_RECORDED)

    async def _unmined(self, settled: list[Change]) -> list[Change]:
        """The changes whose aliases this node mines: none unless it is the miner, and
        of those, the versions whose aliases are not recorded yet.

        Every node indexes every article and the alias record is shared: mining
        an article's text is most of a node's CPU per article, and a version's
        text (so its aliases) never changes. One node mines (`miner`); it reads
        the whole log like every node, so a miner that was down mines what it
        missed as it catches up. A redelivered batch whose aliases were recorded
        is not mined again; one that stopped before recording is.
        """
        assert self._aliases is not None
        if not settled or miner(await registered(self._redis)) != self._node.name:
            return []
        recorded = await self._aliases.recorded_versions([c.article_id for c in settled])
        return [c for c in settled if recorded.get(c.article_id, 0) < c.version]

    async def claim(self, changes: list[Change]) -> set[str]:
        """Pass the version guard; returns the ids whose change may be applied."""
        if not changes:
            return set()
        args: list[str | int] = []
        for change in changes:
            entry = change.entry_id if change.document is not None else ""
            args += [change.article_id, change.version, entry]
        passed = await self._claim(
            keys=[self._node.versions_key, self._node.entries_key], args=args
        )
        return {item.decode() if isinstance(item, bytes) else item for item in passed}

    async def settle(self, applied: list[Change]) -> list[Change]:
        """Re-apply the newest version wherever one was claimed during our task.

        Returns the changes the index holds now: `applied`, each overtaken one
        replaced by the newer version re-applied.
        """
        final = {change.article_id: change for change in applied}
        for _ in range(MAX_REAPPLY_ROUNDS):
            newer = await self._overtaken(applied)
            if not newer:
                return list(final.values())
            log.info(
                "search_reapplied_newer",
                article_ids=[c.article_id for c in newer],
                versions=[c.version for c in newer],
            )
            await self.apply(newer)
            final.update((change.article_id, change) for change in newer)
            applied = newer
        log.warning("search_settle_gave_up", article_ids=[c.article_id for c in applied])
        return list(final.values())

    async def _overtaken(self, applied: list[Change]) -> list[Change]:
        if not applied:
            return []
        ids = [c.article_id for c in applied]
        claimed = await self._redis.hmget(self._node.versions_key, ids)
        stale = [
            c.article_id
            for c, now in zip(applied, claimed, strict=True)
            if now is not None and int(now) > c.version
        ]
        if not stale:
            return []
        versions = dict(zip(ids, claimed, strict=True))
        entries = await self._redis.hmget(self._node.entries_key, stale)
        newer = []
        for article_id, raw_entry in zip(stale, entries, strict=True):
            if not raw_entry:  # a withdrawal: nothing to read back
                newer.append(Change(article_id, int(versions[article_id] or 0), None))
                continue
            entry = raw_entry.decode() if isinstance(raw_entry, bytes) else raw_entry
            event = await self._read_back(entry)
            if event is None or event.article_id != article_id:
                # Trimmed: only once a newer event of the article follows, which is applied in turn.
                log.warning("search_claimed_event_gone", article_id=article_id, entry=entry)
                continue
            newer.append(Change.of(event, entry))
        return newer

    async def _read_back(self, entry_id: str) -> EnrichedEvent | None:
        found = await self._redis.xrange(self._stream, entry_id, entry_id)
        if not found:
            return None
        return decode_event(EnrichedEvent, cast(dict[bytes, bytes], found[0][1]))

    async def apply(self, changes: list[Change]) -> None:
        """Meilisearch down: wait and retry with backoff; the events stay unacked meanwhile.

        An outage is not the events' fault, so by default (`retry_max_s == 0`)
        this waits for as long as it takes instead of failing the batch, which
        would count deliveries towards the dead-letter stream.
        """
        upserts, deletes = split(changes)
        if not upserts and not deletes:
            return
        await self._retrying(lambda: self._writer.apply(upserts, deletes))

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt` until it goes through, waiting out Meilisearch's outages (see `apply`)."""
        delay, waited = 0.2, 0.0
        while True:
            try:
                return await attempt()
            except Exception as error:
                if not is_unavailable(error):
                    raise
                if self._retry_max_s and waited >= self._retry_max_s:
                    # Still the outage, not the events: the consumer waits on (never dead-letters).
                    raise DependencyUnavailable("meilisearch", str(error)) from error
                log.warning("meili_unavailable", error=str(error), retry_in_s=delay)
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, 5.0)
