"""Turns article events into enriched events: tags, topic, story, related stories.

Events are handled in stream order within a batch, so articles that arrive
together can already relate to each other. A version guard makes a repeated
or out-of-order event harmless: an older version than the one already
enriched is skipped.

One live article gives one `article.enriched` event, plus an
`article.related_refreshed` event for each recent older article whose
related links it improves (see `fanout.py`). A withdrawal leaves the index
at once, so no later related list can point at it.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from khabar_enrich.fanout import RecentCopies, Refresher
from khabar_enrich.related import IndexedDoc, Match, RelatedIndex, diversify, published_at, raw_terms, weigh
from khabar_enrich.settings import EnrichSettings
from khabar_enrich.stories import shingle_sketch
from khabar_enrich.tagging import TagResult, tag_article
from khabar_shared.consumer import Delivery
from khabar_shared.events import (
    Article,
    ArticleEvent,
    EnrichedArticle,
    EnrichedEvent,
    EnrichedEventType,
    encode_event,
)
from khabar_shared.logging import get_logger
from khabar_shared.names import ENRICHED_STREAM
from khabar_shared.redis_helpers import RedisClient
from khabar_shared.text import analyze

log = get_logger(__name__)


def version_key(article_id: str) -> str:
    return f"khabar:enrich:version:{article_id}"


def is_indexable(article: Article, now: datetime) -> bool:
    """Live and out of embargo: only such articles may appear in others' related links."""
    return article.is_live and (article.embargoed is None or article.embargoed <= now)


def story_of(article_id: str, matches: list[Match]) -> str:
    """The story of the best same-story match (its first telling's id), else a story of its own."""
    for match in matches:
        if match.same_story:
            return match.doc.story_id or match.doc.article_id
    return article_id


Tagger = Callable[[Article], TagResult]


class Enricher:
    def __init__(self, redis: RedisClient, index: RelatedIndex, settings: EnrichSettings,
                 tagger: Tagger = tag_article) -> None:
        self._redis = redis
        self._tagger = tagger
        self._index = index
        self._settings = settings
        self._copies = RecentCopies(redis, settings.refresh_window_days * 86_400)
        self._refresher = Refresher(index, self._copies, settings)

    async def handle(self, deliveries: list[Delivery[ArticleEvent]]) -> None:
        """A batch: one read of the known versions, each event in order, one write of the results."""
        known = await self.known_versions([d.event.article_id for d in deliveries])
        outgoing: list[EnrichedEvent] = []
        for delivery in deliveries:
            event = delivery.event
            outgoing.extend(await self.enrich(event, known.get(event.article_id)))
            known[event.article_id] = max(known.get(event.article_id, 0), event.version)
        await self.publish(outgoing)

    async def known_versions(self, article_ids: list[str]) -> dict[str, int]:
        """The newest version enriched so far of each article (absent: never)."""
        if not article_ids:
            return {}
        values = await self._redis.mget([version_key(i) for i in article_ids])
        return {i: int(v) for i, v in zip(article_ids, values, strict=True) if v is not None}

    async def publish(self, outgoing: list[EnrichedEvent]) -> None:
        """Append the events and remember which version of each article was enriched."""
        if not outgoing:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in outgoing:
                pipe.xadd(ENRICHED_STREAM, encode_event(event))
            for event in outgoing:
                if event.type != "article.related_refreshed":
                    pipe.set(version_key(event.article_id), event.version)
            await pipe.execute()

    async def enrich(self, event: ArticleEvent, known: int | None = None) -> list[EnrichedEvent]:
        """The enriched events for one article event; `known`: its newest enriched version, if read already."""
        if known is None:
            known = (await self.known_versions([event.article_id])).get(event.article_id)
        if known is not None and known > event.version:
            log.info("stale_event_skipped", article_id=event.article_id,
                     version=event.version, known_version=known)
            return []
        if not event.article.is_live:
            await self._index.remove(event.article_id)
            await self._copies.remove(event.article_id)
            return [_event(event, "article.withdrawn", event.article_id, event.version, None)]
        enriched, refreshed = await self._enrich_live(event)
        log.info("article_enriched", article_id=event.article_id, version=event.version,
                 event_id=event.event_id, correlation_id=event.correlation_id,
                 tags=len(enriched.tags), related=len(enriched.related), story_id=enriched.story_id,
                 refreshed=[r.article.id for r in refreshed])
        return [
            _event(event, "article.enriched", event.article_id, event.version, enriched),
            *(_event(event, "article.related_refreshed", r.article.id, r.version, r) for r in refreshed),
        ]

    async def _enrich_live(self, event: ArticleEvent) -> tuple[EnrichedArticle, list[EnrichedArticle]]:
        article = event.article
        tagged = self._tagger(article)
        doc, all_terms = await self._index_doc(article, tagged)
        matches = await self._index.candidates(doc)
        doc.story_id = story_of(article.id, matches)
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
        if not is_indexable(article, datetime.now(UTC)):
            await self._index.remove(article.id)
            return enriched, []
        refreshed = await self._refresher.refresh(doc, matches)
        async with self._redis.pipeline(transaction=False) as pipe:
            await self._index.add(pipe, doc, all_terms)
            for copy in (enriched, *refreshed):
                self._copies.save(pipe, copy)
            await pipe.execute()
        await self._copies.trim(doc.published)
        return enriched, refreshed

    async def _index_doc(self, article: Article, tagged: TagResult) -> tuple[IndexedDoc, list[str]]:
        """The article as the index sees it, and every term it uses (for the df counters)."""
        language = article.base_language
        phrases = {}
        for phrase in tagged.keyphrases:
            words = analyze(phrase, language)
            if len(words) >= 2:
                phrases["p:" + "_".join(words)] = phrase
        strengths, names = raw_terms(analyze(article.headline, language), tagged.terms,
                                     tagged.tags, phrases)
        idf = await self._index.idf(list(strengths))
        doc = IndexedDoc(
            article_id=article.id,
            language=language,
            published=published_at(article),
            terms=weigh(strengths, idf),
            sketch=shingle_sketch(tagged.terms),
            names=names,
        )
        return doc, list(strengths)


def _event(source: ArticleEvent, kind: EnrichedEventType, article_id: str, version: int,
           enriched: EnrichedArticle | None) -> EnrichedEvent:
    return EnrichedEvent(
        event_id=str(uuid.uuid4()),
        type=kind,
        article_id=article_id,
        version=version,
        correlation_id=source.correlation_id,
        source_event_id=source.event_id,
        enriched=enriched,
    )
