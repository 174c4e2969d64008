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
from datetime import UTC, datetime

from khabar_enrich.fanout import RecentCopies, Refresher
from khabar_enrich.related import IndexedDoc, Match, RelatedIndex, diversify, raw_terms, weigh
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


def published_at(article: Article) -> float:
    return (article.firstcreated or article.versioncreated).timestamp()


def is_indexable(article: Article, now: datetime) -> bool:
    """Live and out of embargo: only such articles may appear in others' related links."""
    return article.is_live and (article.embargoed is None or article.embargoed <= now)


def story_of(article_id: str, matches: list[Match]) -> str:
    """The story of the best same-story match (its first telling's id), else a story of its own."""
    for match in matches:
        if match.same_story:
            return match.doc.story_id or match.doc.article_id
    return article_id


class Enricher:
    def __init__(self, redis: RedisClient, index: RelatedIndex, settings: EnrichSettings) -> None:
        self._redis = redis
        self._index = index
        self._settings = settings
        self._copies = RecentCopies(redis, settings.refresh_window_days * 86_400)
        self._refresher = Refresher(index, self._copies, settings)

    async def handle(self, deliveries: list[Delivery[ArticleEvent]]) -> None:
        outgoing: list[EnrichedEvent] = []
        handled: dict[str, int] = {}  # versions handled earlier in this batch
        for delivery in deliveries:
            event = delivery.event
            if handled.get(event.article_id, 0) > event.version:
                continue
            outgoing.extend(await self.enrich(event))
            handled[event.article_id] = event.version
        await self.publish(outgoing)

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

    async def enrich(self, event: ArticleEvent) -> list[EnrichedEvent]:
        known = await self._redis.get(version_key(event.article_id))
        if known is not None and int(known) > event.version:
            log.info("stale_event_skipped", article_id=event.article_id,
                     version=event.version, known_version=int(known))
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
        tagged = tag_article(article)
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
        await self._index.add(doc, all_terms)
        refreshed = await self._refresher.refresh(doc, matches)
        await self._copies.save(enriched, doc.published)
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
