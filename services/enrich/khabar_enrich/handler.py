"""Turns article events into enriched events: tags, topic, story, related stories.

Events are handled in stream order within a batch, so articles that arrive
together can already relate to each other: each event sees the index exactly
as the events before it left it. A version guard makes a repeated or
out-of-order event harmless: an older version than the one already enriched
is skipped.

A batch costs few round trips to Redis: one read of the known versions, one
of the document frequencies (kept up to date locally as the batch indexes)
and of its articles' docs, then one sending every article's index commands
in order (its candidates read, then its own index write), whose replies the
handler works on while Redis runs the next ones (see `khabar_shared/pipeline.py`). The rest
of the batch's writes (docs with their story, copies, links) wait until its
end; until then each article sees them through the batch's view of Redis
(see `batch_view.py`). A refresh may read older articles' docs and copies the
view does not hold: one round trip, only then.

One live article gives one `article.enriched` event, plus an
`article.related_refreshed` event for each recent older article whose
related links it improves (see `fanout.py`). A withdrawal leaves the index
at once, so no later related list can point at it.

A batch stopped anywhere (a kill, a failed write) and redelivered leaves what
it leaves without the stop. Its writes come in three steps: each article's
index write as it goes, then its events appended, then the rest of its writes
with the versions it enriched, in one transaction. Redelivered before that
transaction, the batch first undoes its index writes (see `restore.lua`), so
it sees the index and makes the events as the first time; events already
appended are not appended again (see `publish.lua`). Redelivered after it,
every event of the batch is one whose version was enriched: skipped.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from khabar_enrich.batch_view import BatchView
from khabar_enrich.caches import ParsedCopies
from khabar_enrich.copies import RecentCopies, links_key
from khabar_enrich.fanout import Refreshed, Refresher
from khabar_enrich.index import PREFIX, Entering, IndexBatch, Leaving, RelatedIndex
from khabar_enrich.scoring import IndexedDoc, Match, diversify, published_at, raw_terms
from khabar_enrich.scripts import SCRIPTS
from khabar_enrich.settings import EnrichSettings
from khabar_enrich.stories import shingle_sketch
from khabar_enrich.tagging import TagResult, tag_article
from khabar_shared import failpoints
from khabar_shared.consumer import Delivery
from khabar_shared.events import (
    Article,
    ArticleEvent,
    EnrichedArticle,
    EnrichedEvent,
    EnrichedEventType,
    Entry,
    encode_event,
    event_json,
)
from khabar_shared.logging import get_logger, stale_entry
from khabar_shared.names import ENRICHED_STREAM, ENRICHED_TAG
from khabar_shared.pipeline import Command, Writes, flush, key_reader, streamed
from khabar_shared.redis_helpers import RedisClient
from khabar_shared.text import analyze

log = get_logger(__name__)

# Between each two writes of a batch (tests stop the handler here; see failpoints.py).
INDEXED = failpoints.point("enrich.indexed", "an article's index write done, the batch's not all")
PUBLISHED = failpoints.point("enrich.published", "events appended, the batch's other writes not")
WRITTEN = failpoints.point("enrich.written", "docs, copies, links, df and versions written")

# The newest version enriched of each article (written with the batch's other writes).
VERSIONS_KEY = f"{PREFIX}:versions"
# Which version of an article's events were appended; beside the stream, in its slot.
PUBLISHED_PREFIX = f"khabar:{ENRICHED_TAG}:enrich-published:"
PUBLISHED_TTL_S = 7 * 86_400  # outlives any redelivery of a batch
PUBLISH_SCRIPT = SCRIPTS["publish"]


def is_indexable(article: Article, now: datetime) -> bool:
    """Live and out of embargo: only such articles may appear in others' related links."""
    return article.is_live and (article.embargoed is None or article.embargoed <= now)


def story_of(article_id: str, matches: list[Match]) -> str:
    """The story of the best same-story match (its first telling's id), else a story of its own."""
    for match in matches:
        if match.same_story:
            return match.doc.story_id or match.doc.article_id
    return article_id


class IndexTerms(NamedTuple):
    strengths: dict[str, float]  # every term the article uses, un-weighted (see `raw_terms`)
    names: dict[str, str]  # display names of its entity and phrase terms


def index_terms(article: Article, tagged: TagResult) -> IndexTerms:
    """The terms the index knows the article by."""
    language = article.base_language
    phrases = {}
    for phrase in tagged.keyphrases:
        words = analyze(phrase, language)
        if len(words) >= 2:
            phrases["p:" + "_".join(words)] = phrase
    return IndexTerms(
        *raw_terms(analyze(article.headline, language), tagged.terms, tagged.tags, phrases)
    )


@dataclass
class LiveStep:
    """A live article's part of a batch, decided before its index commands are sent."""

    event: ArticleEvent
    tagged: TagResult
    entry: Entering  # its part of the index's batch

    @property
    def doc(self) -> IndexedDoc:
        return self.entry.doc

    @property
    def indexable(self) -> bool:
        return self.entry.indexable


@dataclass
class WithdrawalStep:
    event: ArticleEvent
    leaving: Leaving  # its part of the index's batch


# A batch event's part: a live article's, or a withdrawal's.
Step = LiveStep | WithdrawalStep


Tagger = Callable[[Article], TagResult]
Action = Literal["skip", "withdraw", "live"]


class Enricher:
    def __init__(
        self,
        redis: RedisClient,
        index: RelatedIndex,
        settings: EnrichSettings,
        tagger: Tagger = tag_article,
    ) -> None:
        self._redis = redis
        self._tagger = tagger
        self._index = index
        self._settings = settings
        self._copies = self._new_copies()
        self._refresher = Refresher(index, self._copies.memory, settings)
        # Stream entries made while enriching (see `_enrich_live`), by event id, until published.
        self._entries: dict[str, Entry] = {}

    async def handle(self, deliveries: list[Delivery[ArticleEvent]]) -> None:
        """A batch: its index written, its events appended, then its other writes (the consumer
        acks after them)."""
        try:
            await self._enrich_batch([d.event for d in deliveries], publish=True)
            failpoints.check(WRITTEN)
        except BaseException:
            self._abandon_batch()
            raise

    def _abandon_batch(self) -> None:
        """After a batch that did not finish, what this process remembers may hold what the batch
        never wrote: it starts afresh, so the batch redelivered here does what it would do in a
        new process (see `restore.lua`; the index forgets its part itself, see
        `RelatedIndex.batch`)."""
        self._copies = self._new_copies()
        self._refresher = Refresher(self._index, self._copies.memory, self._settings)

    def _new_copies(self) -> RecentCopies:
        """Copies are kept for the refresh window and as long again as an article may arrive
        late (see `copies.py`)."""
        settings = self._settings
        window_days = settings.refresh_window_days + settings.late_arrival_days
        return RecentCopies(window_days * 86_400, ParsedCopies())

    async def enrich(self, event: ArticleEvent) -> list[EnrichedEvent]:
        """The enriched events for one article event (a batch of one; nothing is published)."""
        return await self.enrich_batch([event])

    async def enrich_batch(self, events: list[ArticleEvent]) -> list[EnrichedEvent]:
        """The enriched events of a batch, each event handled in order as if alone.

        The index and the copies are written when this returns; the events are not
        published (see `publish`).
        """
        try:
            return await self._enrich_batch(events, publish=False)
        except BaseException:
            self._abandon_batch()
            raise

    async def _enrich_batch(self, events: list[ArticleEvent], publish: bool) -> list[EnrichedEvent]:
        """The enriched events of a batch (appended when `publish`), and every write of the batch
        sent in one transaction as the index's batch ends (see `RelatedIndex.batch`)."""
        self._entries.clear()  # a batch enriched and never published leaves none behind
        self._copies.start_batch()
        plan = await self._plan(events)
        # Tagging needs no Redis: all of it first, so the batch's terms are known for one df read.
        tagged = {
            i: self._tagger(events[i].article) for i, action in enumerate(plan) if action == "live"
        }
        terms = {i: index_terms(events[i].article, t) for i, t in tagged.items()}
        writes = Writes()
        ids, strengths = [e.article_id for e in events], [t.strengths for t in terms.values()]
        async with self._index.batch(writes, ids, strengths) as batch:
            steps = self._steps(batch, events, plan, tagged, terms)
            outgoing = await self._enrich_steps(writes, batch, steps)
            for event in outgoing:
                if event.type != "article.related_refreshed":
                    writes.add("HSET", VERSIONS_KEY, event.article_id, event.version)
            if publish:
                await self.publish(outgoing)
                failpoints.check(PUBLISHED)
        return outgoing

    async def _enrich_steps(
        self, writes: Writes, batch: IndexBatch, steps: list[Step]
    ) -> list[EnrichedEvent]:
        """Each step's events, in order, its writes queued on `writes` (the index's, by the
        index's batch)."""
        outgoing: list[EnrichedEvent] = []
        async with (
            streamed(self._redis, [self._index_commands(step) for step in steps]) as replies,
            key_reader(self._redis) as reader,
        ):
            view = BatchView(reader, batch.before)
            for step in steps:
                if isinstance(step, LiveStep):
                    found, linking, _ = [await replies.next() for _ in range(3)]
                    outgoing.extend(await self._enrich_live(writes, view, step, found, linking))
                else:
                    linking, _ = await replies.next(), await replies.next()
                    outgoing.extend(await self._withdraw(writes, view, step, linking))
                failpoints.check(INDEXED)
        return outgoing

    def _steps(
        self,
        batch: IndexBatch,
        events: list[ArticleEvent],
        plan: list[Action],
        tagged: dict[int, TagResult],
        terms: dict[int, IndexTerms],
    ) -> list[Step]:
        """What each event will do to the index, decided in order: an article's document
        frequencies count the articles indexed before it (see `BatchFrequencies`)."""
        steps: list[Step] = []
        for i, (event, action) in enumerate(zip(events, plan, strict=True)):
            if action == "withdraw":
                steps.append(WithdrawalStep(event, batch.leave(event.article_id)))
            elif action == "live":
                steps.append(self._live_step(batch, event, tagged[i], terms[i]))
        return steps

    def _live_step(
        self, batch: IndexBatch, event: ArticleEvent, tagged: TagResult, terms: IndexTerms
    ) -> LiveStep:
        article = event.article
        doc = IndexedDoc(
            article_id=article.id,
            language=article.base_language,
            published=published_at(article),
            terms={},  # weighed as it enters the index
            sketch=shingle_sketch(tagged.terms),
            names=terms.names,
        )
        indexable = is_indexable(article, datetime.now(UTC))
        window = self._refresher.window(doc)
        entry = batch.enter(doc, terms.strengths, indexable, links_key(""), window)
        return LiveStep(event, tagged, entry)

    def _index_commands(self, step: Step) -> list[Command]:
        """An event's commands, in order: its index commands with the read of who links to it,
        which sees the index as it was before the event's own write."""
        if isinstance(step, LiveStep):
            return step.entry.commands(self._copies.linkers_read(step.doc.article_id))
        return step.leaving.commands(self._copies.linkers_read(step.event.article_id))

    async def _plan(self, events: list[ArticleEvent]) -> list[Action]:
        """What to do with each event: skip it (stale), withdraw its article, or enrich it."""
        known = await self.known_versions([e.article_id for e in events])
        plan: list[Action] = []
        skipped: list[dict[str, Any]] = []
        for event in events:
            newest = known.get(event.article_id)
            # An equal version: the batch that enriched it was redelivered after it finished.
            if newest is not None and newest >= event.version:
                skipped.append(stale_entry(event, newest))
                plan.append("skip")
                continue
            plan.append("live" if event.article.is_live else "withdraw")
            known[event.article_id] = max(newest or 0, event.version)
        if skipped:
            log.info("stale_events_skipped", count=len(skipped), skipped=skipped)
        return plan

    async def known_versions(self, article_ids: list[str]) -> dict[str, int]:
        """The newest version enriched so far of each article (absent: never)."""
        if not article_ids:
            return {}
        values = await self._redis.hmget(VERSIONS_KEY, article_ids)
        return {i: int(v) for i, v in zip(article_ids, values, strict=True) if v is not None}

    async def publish(self, outgoing: list[EnrichedEvent]) -> None:
        """Append the events, each article event's (its own and the refreshes it caused) only
        when not appended before (see `publish.lua`)."""
        if not outgoing:
            return
        items: dict[str, list[Any]] = {}  # by source event: article id, version, entries
        for event in outgoing:
            entry = self._entries.pop(event.event_id, None) or encode_event(event)
            item = items.setdefault(event.source_event_id, ["", 0, []])
            if event.type != "article.related_refreshed":
                item[:2] = event.article_id, event.version
            item[2].append([part for field in entry.items() for part in field])
        args: list[Any] = [PUBLISHED_PREFIX, PUBLISHED_TTL_S]
        for article_id, version, entries in items.values():
            args += [article_id, version, len(entries)]
            for parts in entries:
                args += [len(parts), *parts]
        writes = Writes()
        writes.add(*PUBLISH_SCRIPT.command([ENRICHED_STREAM], args))
        await flush(self._redis, writes)

    async def _withdraw(
        self, pipe: Writes, view: BatchView, step: WithdrawalStep, linking: list[Any]
    ) -> list[EnrichedEvent]:
        """A withdrawal's event, and the refreshes of the lists that linked to it (`linking`: its
        linkers read), which it leaves."""
        event = step.event
        step.leaving.gone(view)
        linkers = self._copies.linkers_of(view, event.article_id, linking)
        refreshed = await (
            await self._refresher.start(view, None, [], {}, linkers, event.article_id)
        )
        self._copies.save(pipe, view, None, b"", [r.enriched for r in refreshed])
        self._copies.remove(pipe, view, event.article_id)
        withdrawn = _event(event, "article.withdrawn", event.article_id, event.version, None)
        return [withdrawn, *(self._refresh_event(event, r) for r in refreshed)]

    async def _enrich_live(
        self, pipe: Writes, view: BatchView, step: LiveStep, found: list[Any], linking: list[Any]
    ) -> list[EnrichedEvent]:
        """A live article's events, from its candidates (`found`) and who links to it (`linking`:
        its linkers read); its writes queued on `pipe`."""
        event, doc, tagged = step.event, step.doc, step.tagged
        article = event.article
        # Not indexable, it is out of the index from now: the lists that link to it let it go.
        matches, links, reached = await step.entry.matches(found, view)
        doc.story_id = story_of(article.id, matches)
        linkers = self._copies.linkers_of(view, article.id, linking)
        members, member_links = (
            await self._refresher.members(
                view, doc, [*matches, *reached], self._copies.members_added(doc.story_id)
            )
            if step.indexable
            else ([], {})
        )
        # Those whose candidates it is without their being its own (see `candidates.lua`) are
        # looked at as the story's members are.
        members = [*reached, *members]
        member_links = {**links, **member_links}
        # The refresh's read travels while the article's own event is made.
        refreshing = await self._refresher.start(
            view,
            doc if step.indexable else None,
            matches if step.indexable else [],
            links,
            linkers,
            article.id,
            members,
            member_links,
        )
        enriched = EnrichedArticle(
            article=article,
            version=event.version,
            tags=tagged.tags,
            topic=tagged.topic,
            story_id=doc.story_id,
            related=[m.link() for m in diversify(matches, self._settings.max_related)],
            search_text=" ".join(tagged.terms),
            enriched_at=datetime.now(UTC),
        )
        outgoing = _event(event, "article.enriched", event.article_id, event.version, enriched)
        # Its stream entry is made now: the copy kept for refreshes is the same JSON.
        data = event_json(outgoing)
        self._entries[outgoing.event_id] = encode_event(outgoing, data)
        refreshed = await refreshing
        if step.indexable:
            step.entry.keep(view)
            self._copies.save(pipe, view, enriched, data, [r.enriched for r in refreshed])
            self._copies.trim(pipe, view, doc.published)
        else:
            self._copies.save(pipe, view, None, b"", [r.enriched for r in refreshed])
        log.info(
            "article_enriched",
            article_id=event.article_id,
            version=event.version,
            event_id=event.event_id,
            correlation_id=event.correlation_id,
            tags=len(enriched.tags),
            related=len(enriched.related),
            story_id=enriched.story_id,
            refreshed=[r.enriched.article.id for r in refreshed],
        )
        return [outgoing, *(self._refresh_event(event, r) for r in refreshed)]

    def _refresh_event(self, source: ArticleEvent, refreshed: Refreshed) -> EnrichedEvent:
        """A refreshed article's event, its stream entry made from its copy's JSON."""
        article = refreshed.enriched
        event = _event(
            source, "article.related_refreshed", article.article.id, article.version, article
        )
        self._entries[event.event_id] = encode_event(event, copied_from=refreshed.copy_json)
        return event


def _event(
    source: ArticleEvent,
    kind: EnrichedEventType,
    article_id: str,
    version: int,
    enriched: EnrichedArticle | None,
) -> EnrichedEvent:
    return EnrichedEvent(
        event_id=str(uuid.uuid4()),
        type=kind,
        article_id=article_id,
        version=version,
        correlation_id=source.correlation_id,
        source_event_id=source.event_id,
        enriched=enriched,
    )
