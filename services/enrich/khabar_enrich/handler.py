"""Turns article events into enriched events: tags, topic, related stories.

Events are handled in stream order within a batch, so articles that arrive
together can already relate to each other. A version guard makes a repeated
or out-of-order event harmless: an older version than the one already
enriched is skipped.
"""

import html
import re
import uuid
from collections import Counter
from datetime import UTC, datetime

from khabar_enrich.related import IndexedDoc, RelatedIndex
from khabar_enrich.settings import EnrichSettings
from khabar_enrich.tagging import tag_article
from khabar_shared.consumer import Delivery
from khabar_shared.events import ArticleEvent, EnrichedArticle, EnrichedEvent, Tag, encode_event
from khabar_shared.logging import get_logger
from khabar_shared.names import ENRICHED_STREAM
from khabar_shared.redis_helpers import RedisClient
from khabar_shared.text import analyze

log = get_logger(__name__)

TAG_PATTERN = re.compile(r"<[^>]+>")
HEADLINE_TERM_WEIGHT = 2.0
LEAD_TERM_WEIGHT = 1.0
TAG_TERM_WEIGHT = 3.0
MAX_WORD_TERMS = 30


def version_key(article_id: str) -> str:
    return f"khabar:enrich:version:{article_id}"


def plain_text(body_html: str) -> str:
    return html.unescape(TAG_PATTERN.sub(" ", body_html))


def index_terms(headline: list[str], lead: list[str], tags: list[Tag]) -> dict[str, float]:
    """What an article is indexed under: its entities and the words of its headline and lead."""
    counts: Counter[str] = Counter()
    for word in headline:
        counts[word] += HEADLINE_TERM_WEIGHT
    for word in lead:
        counts[word] += LEAD_TERM_WEIGHT
    terms = {f"w:{word}": weight for word, weight in counts.most_common(MAX_WORD_TERMS)}
    for tag in tags:
        if tag.type != "keyphrase":
            terms[tag.id] = TAG_TERM_WEIGHT * max(tag.score, 0.1)
    return terms


class Enricher:
    def __init__(self, redis: RedisClient, index: RelatedIndex, settings: EnrichSettings) -> None:
        self._redis = redis
        self._index = index
        self._settings = settings

    async def handle(self, deliveries: list[Delivery[ArticleEvent]]) -> None:
        outgoing: list[EnrichedEvent] = []
        for delivery in deliveries:
            outgoing.extend(await self.enrich(delivery.event))
        if not outgoing:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in outgoing:
                pipe.xadd(ENRICHED_STREAM, encode_event(event))
            for event in outgoing:
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
            return [self._withdrawal(event)]
        enriched = await self._enrich_live(event)
        log.info("article_enriched", article_id=event.article_id, version=event.version,
                 event_id=event.event_id, correlation_id=event.correlation_id,
                 tags=len(enriched.tags), related=len(enriched.related))
        return [self._enriched_event(event, enriched)]

    async def _enrich_live(self, event: ArticleEvent) -> EnrichedArticle:
        article = event.article
        language = article.base_language
        tagged = tag_article(article)
        headline_words = analyze(article.headline, language)
        lead_words = analyze(article.lead, language)
        body_words = analyze(plain_text(article.body_html), language)
        published = (article.firstcreated or article.versioncreated).timestamp()
        doc = IndexedDoc(
            article_id=article.id,
            terms=index_terms(headline_words, lead_words, tagged.tags),
            published=published,
        )
        related = await self._index.find(doc)
        await self._index.add(doc)
        return EnrichedArticle(
            article=article,
            version=event.version,
            tags=tagged.tags,
            topic=tagged.topic,
            story_id=article.id,
            related=related,
            search_text=" ".join([*headline_words, *lead_words, *body_words]),
            enriched_at=datetime.now(UTC),
        )

    @staticmethod
    def _enriched_event(source: ArticleEvent, enriched: EnrichedArticle) -> EnrichedEvent:
        return EnrichedEvent(
            event_id=str(uuid.uuid4()),
            type="article.enriched",
            article_id=source.article_id,
            version=source.version,
            correlation_id=source.correlation_id,
            source_event_id=source.event_id,
            enriched=enriched,
        )

    @staticmethod
    def _withdrawal(source: ArticleEvent) -> EnrichedEvent:
        return EnrichedEvent(
            event_id=str(uuid.uuid4()),
            type="article.withdrawn",
            article_id=source.article_id,
            version=source.version,
            correlation_id=source.correlation_id,
            source_event_id=source.event_id,
        )
