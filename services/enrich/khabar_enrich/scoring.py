"""Related stories' scoring: pure functions, no Redis.

An article is known by its salient terms: its entities (`e:`), its keyphrases
(`p:`) and its most telling words (`w:`), each weighted by tf-idf and the
vector normalised (`weigh`), so the dot product of two articles is their
cosine. A candidate's score is its cosine, plus a bonus when both tell the
same story, times its recency; the final list is diversified by story, and
holds no copy of the article itself nor two copies of one text (`same_text`).
The index that finds the candidates is `index.py`.
"""

import math
import operator
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from khabar_enrich.stories import SAME_TEXT_RESEMBLANCE, Sketch, same_story, same_text
from khabar_shared.events import Article, RelatedLink, Tag

HEADLINE_BOOST = 2  # each headline word counts as this many more body words
ENTITY_WEIGHT = 2.5
PHRASE_WEIGHT = 1.5
MAX_TERMS = 40  # terms of an article's vector (it is indexed under the first `query_terms`)
SAME_STORY_BONUS = 0.25
MIN_STORY_COSINE = 0.2  # below it, two articles are not worth a shingle comparison
MIN_COPY_COSINE = 0.8  # below it, two articles are not copies of one text
RECENCY_HALF_LIFE_DAYS = 7.0
RECENCY_FLOOR = 0.3  # a strong old match still beats a weak fresh one
TOP_SHOWN = 4  # render's inline "see also"
MAX_SAME_STORY_TOP = 2  # of one story among the first TOP_SHOWN links
MAX_SAME_STORY = 3  # of one story in the whole list


def published_at(article: Article) -> float:
    """When the story first came out: what recency and the story window count from."""
    return (article.firstcreated or article.versioncreated).timestamp()


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
    # The score (as its candidates read ranks them) below which its read kept no candidate when
    # it was enriched; 0: none was left out (see `fanout.finds`).
    cut: float = 0.0

    def dumps(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.article_id,
                "lang": self.language,
                "pub": self.published,
                "terms": self.terms,
                "sk": self.sketch.hashes,
                "sks": self.sketch.size,
                "story": self.story_id,
                "cut": self.cut,
            }
        )

    @classmethod
    def loads(cls, raw: bytes) -> "IndexedDoc":
        data = orjson.loads(raw)
        return cls(
            article_id=data["id"],
            language=data["lang"],
            published=data["pub"],
            terms=data["terms"],
            sketch=Sketch(tuple(data["sk"]), data["sks"]),
            story_id=data["story"],
            cut=data.get("cut", 0.0),
        )


@dataclass
class Match:
    """A candidate related article, scored from the new article's side (the score is symmetric).

    Its reasons are given, or worked out from `query` (the new article) when
    first needed: of the `rerank` candidates only the few that become links do.
    A match made from an existing link (`given_link`) is that link again. A
    `copy` is the new article's own text under another uri: it tells the story
    but is never linked.
    """

    doc: IndexedDoc
    score: float
    same_story: bool
    given_reasons: list[str] | None = None
    query: IndexedDoc | None = field(default=None, repr=False)
    given_link: RelatedLink | None = field(default=None, repr=False)
    copy: bool = False

    @classmethod
    def of_link(cls, doc: IndexedDoc, link: RelatedLink) -> "Match":
        """An article's existing link to `doc`, as a match (a refresh keeps most of them)."""
        return cls(doc, link.score, "same story" in link.reasons, link.reasons, given_link=link)

    @property
    def reasons(self) -> list[str]:
        if self.given_reasons is None:
            assert self.query is not None, (
                "a match has its reasons or the article to find them from"
            )
            self.given_reasons = reasons_for(
                self.query, self.doc, self.same_story, self.query.names
            )
        return self.given_reasons

    def link(self) -> RelatedLink:
        # Links are never changed once made (cached lists share them): a kept one is reused.
        if self.given_link is None:
            self.given_link = RelatedLink(
                article_id=self.doc.article_id, score=round(self.score, 4), reasons=self.reasons
            )
        return self.given_link


class _DampedCounts(dict[int, float]):
    """n -> 1 + log(n), a word's strength for its count, worked out on first use."""

    def __missing__(self, n: int) -> float:
        damped = self[n] = 1.0 + math.log(n)
        return damped


_DAMPED = _DampedCounts()


def raw_terms(
    headline_terms: Sequence[str],
    terms: Sequence[str],
    tags: Iterable[Tag],
    phrase_terms: dict[str, str],
) -> tuple[dict[str, float], dict[str, str]]:
    """Un-weighted term strengths and display names: damped word counts, entities, phrases."""
    counts: Counter[str] = Counter(terms)
    for word in headline_terms:
        counts[word] += HEADLINE_BOOST
    # Keys and damped counts made in C loops, the damping of each count worked out once.
    strengths = dict(zip(map("w:".__add__, counts), map(_DAMPED.__getitem__, counts.values())))
    names: dict[str, str] = {}
    for tag in tags:
        if tag.type in ("person", "place", "organisation"):
            strengths[f"e:{tag.id}"] = ENTITY_WEIGHT * (0.5 + min(tag.score, 1.0))
            names[f"e:{tag.id}"] = tag.name
    for key, phrase in phrase_terms.items():
        strengths[key] = PHRASE_WEIGHT
        names[key] = phrase
    return strengths, names


def weigh(
    strengths: dict[str, float], idf: dict[str, float], limit: int = MAX_TERMS
) -> dict[str, float]:
    """The top `limit` terms by tf-idf, as a unit vector."""
    # (tf-idf, term) pairs made in C loops; the same products as strengths[t] * idf[t].
    products = map(operator.mul, strengths.values(), map(idf.__getitem__, strengths))
    weighted = sorted(zip(products, strengths), reverse=True)[:limit]
    norm = math.sqrt(sum([w * w for w, _ in weighted])) or 1.0
    return {t: round(w / norm, 5) for w, t in weighted}


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    # The shared terms found and their products made in C loops (filter, map), in the small
    # vector's order: the same sum of the same products as a Python loop, at a fraction of the cost.
    shared = list(filter(large.__contains__, small))
    return sum(map(operator.mul, map(small.__getitem__, shared), map(large.__getitem__, shared)))


def recency(anchor: float, other: float) -> float:
    """1.0 on the same day, decaying towards RECENCY_FLOOR as stories lie further apart."""
    days_apart = abs(anchor - other) / 86_400
    return RECENCY_FLOOR + (1 - RECENCY_FLOOR) * 0.5 ** (days_apart / RECENCY_HALF_LIFE_DAYS)


def reasons_for(
    doc: IndexedDoc, other: IndexedDoc, is_same_story: bool, names: dict[str, str]
) -> list[str]:
    """Why two articles relate: same story, then shared entities and phrases by name.

    When they share neither, the heaviest shared words (as stems) say why.
    """
    shared = sorted(
        (t for t in doc.terms if t in other.terms), key=lambda t: -doc.terms[t] * other.terms[t]
    )
    reasons = ["same story"] if is_same_story else []
    for term in [t for t in shared if t in names][:4]:
        kind = "entity" if term.startswith("e:") else "phrase"
        reasons.append(f"{kind}: {names[term]}")
    if len(reasons) <= int(is_same_story):
        words = [t.removeprefix("w:") for t in shared if t.startswith("w:")][:3]
        if words:
            reasons.append("words: " + ", ".join(words))
    return reasons


def is_copy(a: IndexedDoc, b: IndexedDoc, similarity: float | None = None) -> bool:
    """One text under two uris (`similarity`: their cosine, when already known)."""
    # `close_in_size` inlined (diversify and rerank ask this of every pair they meet): most
    # pairs differ in size, and then there is no cosine to work out.
    sa, sb = a.sketch, b.sketch
    if sa.size <= sb.size:
        if sa.size < SAME_TEXT_RESEMBLANCE * sb.size:
            return False
    elif sb.size < SAME_TEXT_RESEMBLANCE * sa.size:
        return False
    if not (sa.hashes and sb.hashes):
        return False
    if similarity is None:
        similarity = cosine(a.terms, b.terms)
    return similarity >= MIN_COPY_COSINE and same_text(sa, sb)


def diversify(matches: Sequence[Match], limit: int) -> list[Match]:
    """Best first, but no one story crowding the list (see MAX_SAME_STORY_TOP), no copy of the
    article itself, and one place for copies of one text."""
    chosen: list[Match] = []
    per_story: Counter[str] = Counter()
    rest = sorted((m for m in matches if not m.copy), key=lambda m: -m.score)
    for position in range(limit):
        cap = MAX_SAME_STORY_TOP if position < TOP_SHOWN else MAX_SAME_STORY
        pick = next(
            (
                m
                for m in rest
                if per_story[m.doc.story_id or m.doc.article_id] < cap
                and not any(is_copy(m.doc, c.doc) for c in chosen)
            ),
            None,
        )
        if pick is None:
            break
        rest.remove(pick)
        chosen.append(pick)
        per_story[pick.doc.story_id or pick.doc.article_id] += 1
    return chosen


def rerank(doc: IndexedDoc, others: Iterable[IndexedDoc]) -> list[Match]:
    """`others` scored as `doc`'s matches, best first: cosine, a bonus when they tell the same
    story, times recency. Copies of `doc`'s text are marked (see `Match.copy`)."""
    matches = []
    for other in others:
        similarity = cosine(doc.terms, other.terms)
        copy = is_copy(doc, other, similarity)
        is_same = copy or (
            similarity >= MIN_STORY_COSINE
            and same_story(doc.sketch, doc.published, other.sketch, other.published)
        )
        score = (similarity + (SAME_STORY_BONUS if is_same else 0.0)) * recency(
            doc.published, other.published
        )
        matches.append(Match(other, score, is_same, query=doc, copy=copy))
    return sorted(matches, key=lambda m: -m.score)
