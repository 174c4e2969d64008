"""Related stories from an inverted index in Redis: flat cost per article.

Each live article is indexed under its salient terms (entity ids, topic,
stemmed words of headline and lead). Finding related stories reads only the
most recent postings of the new article's own terms, so the work per article
does not grow with the archive. Terms are weighted by inverse document
frequency, kept as counters beside the postings.
"""

import math
from collections import defaultdict

from pydantic import BaseModel

from redis.asyncio.client import Pipeline

from khabar_enrich.settings import EnrichSettings
from khabar_shared.events import RelatedLink
from khabar_shared.redis_helpers import RedisClient

PREFIX = "khabar:enrich"
DF_KEY = f"{PREFIX}:df"
COUNT_KEY = f"{PREFIX}:docs"
MAX_POSTINGS = 5000
RECENCY_HALF_LIFE_DAYS = 30.0


def term_key(term: str) -> str:
    return f"{PREFIX}:term:{term}"


def doc_key(article_id: str) -> str:
    return f"{PREFIX}:doc:{article_id}"


class IndexedDoc(BaseModel):
    article_id: str
    terms: dict[str, float]
    published: float
    story_id: str = ""


class RelatedIndex:
    def __init__(self, redis: RedisClient, settings: EnrichSettings) -> None:
        self._redis = redis
        self._settings = settings

    async def get(self, article_id: str) -> IndexedDoc | None:
        raw = await self._redis.get(doc_key(article_id))
        return IndexedDoc.model_validate_json(raw) if raw else None

    async def find(self, doc: IndexedDoc) -> list[RelatedLink]:
        """Up to `max_related` live articles sharing the most weighted terms, recent first."""
        idf = await self._idf(list(doc.terms))
        query = sorted(doc.terms, key=lambda t: doc.terms[t] * idf[t], reverse=True)[:24]
        async with self._redis.pipeline(transaction=False) as pipe:
            for term in query:
                pipe.zrevrange(term_key(term), 0, self._settings.candidates_per_term - 1,
                               withscores=True)
            postings = await pipe.execute()
        scores: dict[str, float] = defaultdict(float)
        shared: dict[str, list[str]] = defaultdict(list)
        published: dict[str, float] = {}
        for term, hits in zip(query, postings, strict=True):
            weight = doc.terms[term] * idf[term]
            for member, when in hits:
                candidate = member.decode()
                if candidate == doc.article_id:
                    continue
                scores[candidate] += weight
                shared[candidate].append(term)
                published[candidate] = when
        ranked = sorted(
            scores,
            key=lambda c: scores[c] * recency(doc.published, published[c]),
            reverse=True,
        )[: self._settings.max_related]
        return [
            RelatedLink(
                article_id=candidate,
                score=round(scores[candidate] * recency(doc.published, published[candidate]), 4),
                reasons=[f"shares {term}" for term in shared[candidate][:3]],
            )
            for candidate in ranked
        ]

    async def add(self, doc: IndexedDoc) -> None:
        previous = await self.get(doc.article_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            if previous:
                self._unindex(pipe, previous)
            else:
                pipe.incr(COUNT_KEY)
            for term in doc.terms:
                pipe.zadd(term_key(term), {doc.article_id: doc.published})
                pipe.zremrangebyrank(term_key(term), 0, -MAX_POSTINGS - 1)
                pipe.hincrby(DF_KEY, term, 1)
            pipe.set(doc_key(doc.article_id), doc.model_dump_json())
            await pipe.execute()

    async def remove(self, article_id: str) -> None:
        previous = await self.get(article_id)
        if previous is None:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            self._unindex(pipe, previous)
            pipe.decr(COUNT_KEY)
            pipe.delete(doc_key(article_id))
            await pipe.execute()

    @staticmethod
    def _unindex(pipe: Pipeline, doc: IndexedDoc) -> None:
        for term in doc.terms:
            pipe.zrem(term_key(term), doc.article_id)
            pipe.hincrby(DF_KEY, term, -1)

    async def _idf(self, terms: list[str]) -> dict[str, float]:
        if not terms:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(COUNT_KEY)
            pipe.hmget(DF_KEY, terms)
            total_raw, df_raw = await pipe.execute()
        total = max(int(total_raw or 0), 1)
        return {
            term: math.log(1 + total / (1 + int(df or 0)))
            for term, df in zip(terms, df_raw, strict=True)
        }


def recency(anchor: float, other: float) -> float:
    """1.0 for stories of the same day, halving every RECENCY_HALF_LIFE_DAYS apart."""
    days_apart = abs(anchor - other) / 86_400
    return 0.5 ** (days_apart / RECENCY_HALF_LIFE_DAYS)

