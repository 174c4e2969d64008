"""Related stories from an inverted index in Redis: flat cost per article.

Every live article is indexed under its salient terms: its entities (`e:`),
its keyphrases (`p:`) and its most telling words (`w:`), each weighted by
tf-idf and the vector normalised, so the dot product of two articles is
their cosine. Postings are sorted sets per language and term, scored by
publication time.

Finding related stories never scans the archive:

1. the article's top `query_terms` terms each read only their
   `candidates_per_term` most recent postings (published up to a little
   after the article itself);
2. candidates are scored by the query weights they share, times recency, and
   the best `rerank` of them are read back (their vectors and shingle
   sketches) for the exact cosine and the same-story check;
3. the final list is diversified by story.

So the work per article is bounded by settings, not by the archive. Document
frequencies are counters beside the postings: how many indexed articles ever
used a term (a statistic of the language; withdrawals do not undo it).
"""

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from khabar_enrich.settings import EnrichSettings
from khabar_enrich.stories import Sketch, same_story
from khabar_shared.events import RelatedLink, Tag
from khabar_shared.redis_helpers import RedisClient

PREFIX = "khabar:enrich"
DF_KEY = f"{PREFIX}:df"
COUNT_KEY = f"{PREFIX}:docs"
MAX_POSTINGS = 5000  # per term; only the most recent few are ever read
LOOKAHEAD_S = 2 * 86_400  # a late-arriving article may relate to slightly newer ones

HEADLINE_BOOST = 2  # each headline word counts as this many more body words
ENTITY_WEIGHT = 2.5
PHRASE_WEIGHT = 1.5
MAX_TERMS = 40  # terms an article is indexed under
SAME_STORY_BONUS = 0.25
RECENCY_HALF_LIFE_DAYS = 7.0
RECENCY_FLOOR = 0.3  # a strong old match still beats a weak fresh one
TOP_SHOWN = 4  # render's inline "see also"
MAX_SAME_STORY_TOP = 2  # of one story among the first TOP_SHOWN links
MAX_SAME_STORY = 3  # of one story in the whole list


def term_key(language: str, term: str) -> str:
    return f"{PREFIX}:term:{language}:{term}"


def doc_key(article_id: str) -> str:
    return f"{PREFIX}:doc:{article_id}"


@dataclass
class IndexedDoc:
    """What the index keeps of an article: a few hundred bytes, whatever its length."""

    article_id: str
    language: str
    published: float
    terms: dict[str, float]  # normalised tf-idf vector
    sketch: Sketch
    names: dict[str, str] = field(default_factory=dict)  # display names of e: and p: terms
    story_id: str = ""

    def dumps(self) -> bytes:
        return orjson.dumps({
            "id": self.article_id, "lang": self.language, "pub": self.published,
            "terms": self.terms, "sk": self.sketch.hashes, "sks": self.sketch.size,
            "story": self.story_id,
        })

    @classmethod
    def loads(cls, raw: bytes) -> "IndexedDoc":
        data = orjson.loads(raw)
        return cls(
            article_id=data["id"], language=data["lang"], published=data["pub"],
            terms=data["terms"], sketch=Sketch(tuple(data["sk"]), data["sks"]),
            story_id=data["story"],
        )


@dataclass
class Match:
    """A candidate related article, scored from the new article's side (the score is symmetric)."""

    doc: IndexedDoc
    score: float
    same_story: bool
    reasons: list[str]

    def link(self) -> RelatedLink:
        return RelatedLink(article_id=self.doc.article_id, score=round(self.score, 4),
                           reasons=self.reasons)


# ---------------------------------------------------------------- terms


def raw_terms(headline_terms: Sequence[str], terms: Sequence[str], tags: Iterable[Tag],
              phrase_terms: dict[str, str]) -> tuple[dict[str, float], dict[str, str]]:
    """Un-weighted term strengths and display names: damped word counts, entities, phrases."""
    counts: Counter[str] = Counter(terms)
    for word in headline_terms:
        counts[word] += HEADLINE_BOOST
    strengths = {f"w:{word}": 1.0 + math.log(n) for word, n in counts.items()}
    names: dict[str, str] = {}
    for tag in tags:
        if tag.type in ("person", "place", "organisation"):
            strengths[f"e:{tag.id}"] = ENTITY_WEIGHT * (0.5 + min(tag.score, 1.0))
            names[f"e:{tag.id}"] = tag.name
    for key, phrase in phrase_terms.items():
        strengths[key] = PHRASE_WEIGHT
        names[key] = phrase
    return strengths, names


def weigh(strengths: dict[str, float], idf: dict[str, float], limit: int = MAX_TERMS) -> dict[str, float]:
    """The top `limit` terms by tf-idf, as a unit vector."""
    weighted = sorted(((strengths[t] * idf[t], t) for t in strengths), reverse=True)[:limit]
    norm = math.sqrt(sum(w * w for w, _ in weighted)) or 1.0
    return {t: round(w / norm, 5) for w, t in weighted}


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return sum(w * large[t] for t, w in small.items() if t in large)


def recency(anchor: float, other: float) -> float:
    """1.0 on the same day, decaying towards RECENCY_FLOOR as stories lie further apart."""
    days_apart = abs(anchor - other) / 86_400
    return RECENCY_FLOOR + (1 - RECENCY_FLOOR) * 0.5 ** (days_apart / RECENCY_HALF_LIFE_DAYS)


def reasons_for(doc: IndexedDoc, other: IndexedDoc, is_same_story: bool, names: dict[str, str]) -> list[str]:
    """Why two articles relate: same story, then shared entities and phrases by name."""
    shared = sorted((t for t in doc.terms if t in other.terms and t in names),
                    key=lambda t: -doc.terms[t] * other.terms[t])
    reasons = ["same story"] if is_same_story else []
    for term in shared[:4]:
        kind = "entity" if term.startswith("e:") else "phrase"
        reasons.append(f"{kind}: {names[term]}")
    return reasons


def diversify(matches: Sequence[Match], limit: int) -> list[Match]:
    """Best first, but no one story crowding the list (see MAX_SAME_STORY_TOP)."""
    chosen: list[Match] = []
    per_story: Counter[str] = Counter()
    rest = sorted(matches, key=lambda m: -m.score)
    for position in range(limit):
        cap = MAX_SAME_STORY_TOP if position < TOP_SHOWN else MAX_SAME_STORY
        pick = next((m for m in rest if per_story[m.doc.story_id or m.doc.article_id] < cap), None)
        if pick is None:
            break
        rest.remove(pick)
        chosen.append(pick)
        per_story[pick.doc.story_id or pick.doc.article_id] += 1
    return chosen


# ---------------------------------------------------------------- the index


class RelatedIndex:
    def __init__(self, redis: RedisClient, settings: EnrichSettings) -> None:
        self._redis = redis
        self._settings = settings

    async def idf(self, terms: list[str]) -> dict[str, float]:
        """Inverse document frequency of each term, from the counters (one round trip)."""
        if not terms:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(COUNT_KEY)
            pipe.hmget(DF_KEY, terms)
            total_raw, df_raw = await pipe.execute()
        total = int(total_raw or 0) + 1
        return {term: math.log(1 + total / (1 + int(df or 0))) for term, df in zip(terms, df_raw, strict=True)}

    async def candidates(self, doc: IndexedDoc) -> list[Match]:
        """Scored candidates from the index, best first (not yet diversified)."""
        query = list(doc.terms)[: self._settings.query_terms]  # `weigh` sorts, heaviest first
        newest = doc.published + LOOKAHEAD_S
        async with self._redis.pipeline(transaction=False) as pipe:
            for term in query:
                pipe.zrange(term_key(doc.language, term), newest, "-inf", desc=True, byscore=True,
                            offset=0, num=self._settings.candidates_per_term, withscores=True)
            postings = await pipe.execute()
        rough: dict[str, float] = defaultdict(float)
        published: dict[str, float] = {}
        for term, hits in zip(query, postings, strict=True):
            for member, when in hits:
                rough[member] += doc.terms[term]
                published[member] = when
        own = doc.article_id.encode()
        rough.pop(own, None)
        best = sorted(rough, key=lambda c: -rough[c] * recency(doc.published, published[c]))
        return await self._rerank(doc, [c.decode() for c in best[: self._settings.rerank]])

    async def _rerank(self, doc: IndexedDoc, ids: list[str]) -> list[Match]:
        others = await self.get_many(ids)
        matches = []
        for other in others.values():
            is_same = same_story(doc.sketch, doc.published, other.sketch, other.published)
            similarity = cosine(doc.terms, other.terms) + (SAME_STORY_BONUS if is_same else 0.0)
            score = similarity * recency(doc.published, other.published)
            matches.append(Match(other, score, is_same, reasons_for(doc, other, is_same, doc.names)))
        return sorted(matches, key=lambda m: -m.score)

    async def get_many(self, ids: Sequence[str]) -> dict[str, IndexedDoc]:
        """The indexed docs among `ids` (withdrawn ones are simply absent)."""
        if not ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for article_id in ids:
                pipe.get(doc_key(article_id))
            raws = await pipe.execute()
        return {i: IndexedDoc.loads(raw) for i, raw in zip(ids, raws, strict=True) if raw}

    async def add(self, doc: IndexedDoc, all_terms: list[str]) -> None:
        """Index `doc` (replacing its previous version); `all_terms` feed the df counters."""
        previous = (await self.get_many([doc.article_id])).get(doc.article_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            if previous is None:
                pipe.incr(COUNT_KEY)
                for term in all_terms:
                    pipe.hincrby(DF_KEY, term, 1)
            else:
                self._unindex(pipe, previous, keep=doc.terms)
            for term in doc.terms:
                key = term_key(doc.language, term)
                pipe.zadd(key, {doc.article_id: doc.published})
                pipe.zremrangebyrank(key, 0, -MAX_POSTINGS - 1)
            pipe.set(doc_key(doc.article_id), doc.dumps())
            await pipe.execute()

    async def remove(self, article_id: str) -> bool:
        """Take an article out of the index; False when it was not in it."""
        previous = (await self.get_many([article_id])).get(article_id)
        if previous is None:
            return False
        async with self._redis.pipeline(transaction=False) as pipe:
            self._unindex(pipe, previous, keep={})
            pipe.delete(doc_key(article_id))
            await pipe.execute()
        return True

    @staticmethod
    def _unindex(pipe, doc: IndexedDoc, keep: dict[str, float]) -> None:  # type: ignore[no-untyped-def]
        for term in doc.terms:
            if term not in keep:
                pipe.zrem(term_key(doc.language, term), doc.article_id)
