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

import itertools
import math
import operator
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from khabar_enrich.batch_view import BatchView
from khabar_enrich.pipes import MGET_SCRIPT, Command, Writes, flush
from khabar_enrich.scripts import SCRIPTS
from khabar_enrich.settings import EnrichSettings
from khabar_enrich.stories import Sketch, same_story
from khabar_shared.events import Article, RelatedLink, Tag
from khabar_shared.redis_helpers import RedisClient

# One hash tag for the whole index: the indexing script touches many terms at once,
# and in a Redis Cluster a script's keys must share a slot.
PREFIX = "khabar:{enrich}"
TERM_PREFIX = f"{PREFIX}:term:"
DF_KEY = f"{PREFIX}:df"
COUNT_KEY = f"{PREFIX}:docs"
REVS_KEY = f"{PREFIX}:revs"  # each indexed doc's revision: a new one at each write
MAX_POSTINGS = 5000  # per term; only the most recent few are ever read
LOOKAHEAD_S = 2 * 86_400  # a late-arriving article may relate to slightly newer ones

HEADLINE_BOOST = 2  # each headline word counts as this many more body words
ENTITY_WEIGHT = 2.5
PHRASE_WEIGHT = 1.5
MAX_TERMS = 40  # terms an article is indexed under
SAME_STORY_BONUS = 0.25
MIN_STORY_COSINE = 0.2  # below it, two articles are not worth a shingle comparison
DF_CACHE_CALLS = 200
DF_CACHE_MAX = 200_000
PARSED_DOCS = 4000  # a few days of news
RECENCY_HALF_LIFE_DAYS = 7.0
NEVER = 1e18  # a publication time no candidate has
RECENCY_FLOOR = 0.3  # a strong old match still beats a weak fresh one
TOP_SHOWN = 4  # render's inline "see also"
MAX_SAME_STORY_TOP = 2  # of one story among the first TOP_SHOWN links
MAX_SAME_STORY = 3  # of one story in the whole list

INDEX_SCRIPT = SCRIPTS["index"]
DF_SCRIPT = SCRIPTS["df"]
CANDIDATES_SCRIPT = SCRIPTS["candidates"]
REMOVE_SCRIPT = SCRIPTS["remove"]
STORY_SCRIPT = SCRIPTS["story"]


def published_at(article: Article) -> float:
    """When the story first came out: what recency and the story window count from."""
    return (article.firstcreated or article.versioncreated).timestamp()


def term_key(language: str, term: str) -> str:
    return f"{TERM_PREFIX}{language}:{term}"


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


class ParsedDocs:
    """`IndexedDoc.loads`, remembered by the stored bytes themselves, so never stale; and the
    stored bytes by article and revision, for the candidates (see `CANDIDATES_SCRIPT`).

    The recent articles are every new article's candidates: parsing the same
    docs again and again was a large share of an article's cost, and reading
    them back from Redis half of the candidates script's. A revision is new at
    each write of a doc, so a doc known by its revision is the stored one. The
    docs handed out are shared: not to be changed.

    This process's own revisions are its prefix and a count. They are forgotten
    oldest first, and the lowest count still remembered (`own_since`) tells the
    candidates script which of them to send whole: an archive larger than the
    cache then costs no extra round trip for the older docs it brings up. The
    revisions are forgotten only between batches (see `trim`), so the mark sent
    with a batch's candidate reads, all made at its start, holds until its end.
    """

    def __init__(self, size: int = PARSED_DOCS) -> None:
        self._size = size
        self._docs: dict[bytes, IndexedDoc] = {}
        self._by_revision: dict[tuple[str, str], bytes] = {}
        # Revisions unique across processes without coordination: a random prefix, then a count.
        self.own_prefix = secrets.token_hex(6) + "-"
        self._counts = itertools.count()
        self.own_since = 0  # own revisions counted below it may be forgotten

    def new_revision(self) -> str:
        """A revision no process used before."""
        return f"{self.own_prefix}{next(self._counts)}"

    def load(self, raw: bytes) -> IndexedDoc:
        doc = self._docs.get(raw)
        if doc is None:
            make_room(self._docs, self._size)
            doc = self._docs[raw] = IndexedDoc.loads(raw)
        return doc

    def remember(self, article_id: str, revision: str, raw: bytes) -> None:
        """The stored bytes of `article_id` at `revision`, as written or read."""
        self._by_revision[article_id, revision] = raw

    def forget(self, article_id: str, revision: str) -> None:
        """A revision no longer stored (replaced within the batch that wrote it)."""
        self._by_revision.pop((article_id, revision), None)

    def trim(self) -> None:
        """Between batches: forget the revisions remembered first, down to the cache's size."""
        while len(self._by_revision) > self._size:
            oldest_id, oldest = next(iter(self._by_revision))
            del self._by_revision[oldest_id, oldest]
            if oldest.startswith(self.own_prefix):
                self.own_since = max(self.own_since, int(oldest.removeprefix(self.own_prefix)) + 1)

    def known(self, article_id: str, revision: str) -> IndexedDoc | None:
        raw = self._by_revision.get((article_id, revision))
        return None if raw is None else self.load(raw)


def make_room(cache: dict[Any, Any], size: int) -> None:
    """Before adding to a cache of at most `size` entries: the first remembered goes first."""
    if len(cache) >= size:
        del cache[next(iter(cache))]  # the first remembered goes first


@dataclass
class Match:
    """A candidate related article, scored from the new article's side (the score is symmetric).

    Its reasons are given, or worked out from `query` (the new article) when
    first needed: of the `rerank` candidates only the few that become links do.
    A match made from an existing link (`given_link`) is that link again.
    """

    doc: IndexedDoc
    score: float
    same_story: bool
    given_reasons: list[str] | None = None
    query: IndexedDoc | None = field(default=None, repr=False)
    given_link: RelatedLink | None = field(default=None, repr=False)

    @classmethod
    def of_link(cls, doc: IndexedDoc, link: RelatedLink) -> "Match":
        """An article's existing link to `doc`, as a match (a refresh keeps most of them)."""
        return cls(doc, link.score, "same story" in link.reasons, link.reasons, given_link=link)

    @property
    def reasons(self) -> list[str]:
        if self.given_reasons is None:
            assert self.query is not None, "a match has its reasons or the article to find them from"
            self.given_reasons = reasons_for(self.query, self.doc, self.same_story, self.query.names)
        return self.given_reasons

    def link(self) -> RelatedLink:
        # Links are never changed once made (cached lists share them): a kept one is reused.
        if self.given_link is None:
            self.given_link = RelatedLink(article_id=self.doc.article_id, score=round(self.score, 4),
                                          reasons=self.reasons)
        return self.given_link


# ---------------------------------------------------------------- terms


class _DampedCounts(dict[int, float]):
    """n -> 1 + log(n), a word's strength for its count, worked out on first use."""

    def __missing__(self, n: int) -> float:
        damped = self[n] = 1.0 + math.log(n)
        return damped


_DAMPED = _DampedCounts()


def raw_terms(headline_terms: Sequence[str], terms: Sequence[str], tags: Iterable[Tag],
              phrase_terms: dict[str, str]) -> tuple[dict[str, float], dict[str, str]]:
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


def weigh(strengths: dict[str, float], idf: dict[str, float], limit: int = MAX_TERMS) -> dict[str, float]:
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


def reasons_for(doc: IndexedDoc, other: IndexedDoc, is_same_story: bool, names: dict[str, str]) -> list[str]:
    """Why two articles relate: same story, then shared entities and phrases by name.

    When they share neither, the heaviest shared words (as stems) say why.
    """
    shared = sorted((t for t in doc.terms if t in other.terms),
                    key=lambda t: -doc.terms[t] * other.terms[t])
    reasons = ["same story"] if is_same_story else []
    for term in [t for t in shared if t in names][:4]:
        kind = "entity" if term.startswith("e:") else "phrase"
        reasons.append(f"{kind}: {names[term]}")
    if len(reasons) <= int(is_same_story):
        words = [t.removeprefix("w:") for t in shared if t.startswith("w:")][:3]
        if words:
            reasons.append("words: " + ", ".join(words))
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


class BatchFrequencies:
    """The df counters as one batch of articles reads them: once, then kept up to date locally.

    Read at the start of the batch, then every first version the batch indexes is
    counted here as the index script will count it in Redis, so each article gets
    the frequencies it would have read had the batch gone to Redis one article at
    a time.
    """

    def __init__(self, docs: int, df: dict[str, int], indexed: set[str]) -> None:
        self._docs = docs
        self._df = df  # every term the batch may ask for (see RelatedIndex.terms_to_read)
        self._indexed = indexed  # of the batch's articles, those in the index now
        self._added: Counter[str] = Counter()

    @property
    def docs(self) -> int:
        return self._docs

    def df(self, term: str) -> int:
        return self._df[term] + self._added.get(term, 0)  # a Counter's missing key costs a Python call

    def indexing(self, article_id: str, terms: Iterable[str]) -> None:
        """The index script counts an article and its terms only when it is not indexed yet."""
        if article_id not in self._indexed:
            self._indexed.add(article_id)
            self._docs += 1
            self._added.update(terms)

    def removing(self, article_id: str) -> None:
        self._indexed.discard(article_id)

    def take_added(self) -> Counter[str]:
        """The terms counted since the last call (the index writes them once per batch)."""
        added, self._added = self._added, Counter()
        return added


class RelatedIndex:
    """The inverted index. Writes are queued on the caller's batch writes (see `pipes.Writes`)."""

    def __init__(self, redis: RedisClient, settings: EnrichSettings) -> None:
        self._redis = redis
        self._settings = settings
        self._df_cache: dict[str, int] = {}
        self._df_total = 0
        self._idf_calls = 0
        self._batch = BatchFrequencies(0, {}, set())
        self._parsed = ParsedDocs()
        self._interim: list[tuple[str, str]] = []  # the batch's index writes' revisions (see `finish`)

    # ------------------------------------------------------------ document frequencies

    async def start_batch(self, article_ids: Sequence[str],
                          term_lists: Sequence[Sequence[str]]) -> dict[str, bytes | None]:
        """Read, in one round trip, the frequencies the batch's `term_lists` (one per `idf` call to
        come, in order) may need, and the docs of `article_ids` as they are before the batch (by
        their `doc_key`s: the batch's view of them, see `BatchView`)."""
        terms = self.terms_to_read(term_lists)
        keys = [doc_key(i) for i in dict.fromkeys(article_ids)]
        reads = Writes()
        reads.add("GET", COUNT_KEY)
        reads.add("HMGET", DF_KEY, *(terms or ["-"]))
        if keys:
            reads.add(*MGET_SCRIPT.command(keys, ()))
        total_raw, df_raw, *found = await flush(self._redis, reads)
        docs = dict(zip(keys, found[0] if found else [], strict=True))
        self._batch = BatchFrequencies(
            int(total_raw or 0),
            {t: int(df or 0) for t, df in zip(terms, df_raw, strict=False)},
            {key.removeprefix(doc_key("")) for key, raw in docs.items() if raw is not None},
        )
        return docs

    def terms_to_read(self, term_lists: Sequence[Sequence[str]]) -> list[str]:
        """The terms the cache lacks; all of them when the cache will be cleared during the batch."""
        wanted = set().union(*term_lists)
        calls = range(self._idf_calls + 1, self._idf_calls + len(term_lists) + 1)
        if any(c % DF_CACHE_CALLS == 1 for c in calls) or len(self._df_cache) + len(wanted) > DF_CACHE_MAX:
            return sorted(wanted)
        return sorted(wanted.difference(self._df_cache))

    def idf(self, terms: list[str]) -> dict[str, float]:
        """Inverse document frequency of each term.

        Document frequencies change slowly: they are cached here and taken
        afresh (from the batch's read) every DF_CACHE_CALLS articles, so a
        typical article reads only the few words it is the first in a while
        to use.
        """
        self._idf_calls += 1
        if self._idf_calls % DF_CACHE_CALLS == 1 or len(self._df_cache) > DF_CACHE_MAX:
            self._df_cache.clear()
        cache = self._df_cache
        missing = list(itertools.filterfalse(cache.__contains__, terms))
        if missing or not self._df_total:
            self._df_total = self._batch.docs
            cache.update((t, self._batch.df(t)) for t in missing)
        total, log = self._df_total + 1, math.log
        # Many terms share a document frequency (most are rare): each one's idf is worked out once.
        frequencies = list(map(cache.__getitem__, terms))
        by_frequency = {df: log(1 + total / (1 + df)) for df in set(frequencies)}
        return dict(zip(terms, map(by_frequency.__getitem__, frequencies)))

    # ------------------------------------------------------------ reads

    def candidates_command(self, doc: IndexedDoc, attach_prefix: str = "",
                           attach_since: float = NEVER) -> Command:
        """Read the candidates of `doc` from the index (see `CANDIDATES_SCRIPT`), with the value at
        `attach_prefix + id` of those published since `attach_since` (the refresh's links)."""
        query = list(doc.terms)[: self._settings.query_terms]  # `weigh` sorts, heaviest first
        return CANDIDATES_SCRIPT.command([REVS_KEY], [
            doc.published + LOOKAHEAD_S, self._settings.candidates_per_term, self._settings.rerank,
            doc.published, RECENCY_HALF_LIFE_DAYS, RECENCY_FLOOR, doc.article_id, doc_key(""),
            attach_prefix, attach_since, term_key(doc.language, ""),
            "\n".join(f"{term} {doc.terms[term]!r}" for term in query),
            self._parsed.own_prefix, self._parsed.own_since])

    async def matches(self, doc: IndexedDoc, found: list[Any], view: BatchView, attach_prefix: str = "",
                      attach_since: float = NEVER) -> tuple[list[Match], dict[str, bytes]]:
        """Scored candidates, best first (not yet diversified), from the candidates command's reply
        `found`; and the attached values, as the batch sees them (see `BatchView`)."""
        rows = [(i.decode(), rev, raw, side) for i, rev, raw, side in zip(*[iter(found)] * 4, strict=True)]
        docs = await self._docs_of(rows, view)
        others = [docs[i] for i, *_ in rows if i in docs]
        attached = {}
        for article_id, _, _, side in rows:
            other = docs.get(article_id)
            if other is None:
                continue
            known, value = view.seen(attach_prefix + article_id, other.published)
            if known and other.published >= attach_since:
                side = value
            if side is not None:
                attached[article_id] = side
        return self._rerank(doc, others), attached

    async def _docs_of(self, rows: list[tuple[str, bytes | None, bytes | None, Any]],
                       view: BatchView) -> dict[str, IndexedDoc]:
        """The candidates' docs: known by revision, sent whole (no revision, or one this process
        forgot), or read now (the few not seen yet: written by another process, or before this
        one started)."""
        docs: dict[str, IndexedDoc] = {}
        unseen: dict[str, str] = {}
        for article_id, revision, raw, _ in rows:
            if raw is not None and revision is not None:
                # Forgotten, so old: parsed, not remembered, lest it push a recent doc out (which
                # a large archive would then parse again).
                docs[article_id] = IndexedDoc.loads(raw)
            elif raw is not None:
                docs[article_id] = self._parsed.load(raw)
            elif revision is not None:
                known = self._parsed.known(article_id, revision.decode())
                if known is None:
                    unseen[article_id] = revision.decode()
                else:
                    docs[article_id] = known
        if unseen:
            raws = await view.read([doc_key(i) for i in unseen], [None] * len(unseen))
            for (article_id, revision), raw in zip(unseen.items(), raws, strict=True):
                if raw is not None:  # else withdrawn meanwhile
                    self._parsed.remember(article_id, revision, raw)
                    docs[article_id] = self._parsed.load(raw)
        return docs

    def _rerank(self, doc: IndexedDoc, others: list[IndexedDoc]) -> list[Match]:
        matches = []
        for other in others:
            similarity = cosine(doc.terms, other.terms)
            is_same = similarity >= MIN_STORY_COSINE and same_story(
                doc.sketch, doc.published, other.sketch, other.published)
            score = (similarity + (SAME_STORY_BONUS if is_same else 0.0)) * recency(doc.published, other.published)
            matches.append(Match(other, score, is_same, query=doc))
        return sorted(matches, key=lambda m: -m.score)

    def docs_from(self, ids: Sequence[str], raws: Sequence[bytes | None]) -> dict[str, IndexedDoc]:
        """The indexed docs, from the values at their `doc_key`s (withdrawn ones are simply absent)."""
        return {i: self._parsed.load(raw) for i, raw in zip(ids, raws, strict=True) if raw}

    # ------------------------------------------------------------ writes

    def counting(self, article_id: str, all_terms: list[str]) -> None:
        """The batch will index the article: its terms feed the df counters (see `BatchFrequencies`)."""
        self._batch.indexing(article_id, all_terms)

    def uncounting(self, article_id: str) -> None:
        """The batch will take the article out of the index."""
        self._batch.removing(article_id)

    def add_command(self, doc: IndexedDoc, revision: str) -> Command:
        """Index `doc` as `revision` (replacing its previous version), its story still unknown
        (see `finish`)."""
        return INDEX_SCRIPT.command(
            [COUNT_KEY, doc_key(doc.article_id), REVS_KEY],
            [doc.article_id, doc.published, doc.dumps(), MAX_POSTINGS, TERM_PREFIX, doc.language,
             "\n".join(doc.terms), revision])

    def finish(self, pipe: Writes, view: BatchView, doc: IndexedDoc, revision: str) -> None:
        """Queue writing `doc` with its story, once known; `revision`: its index write's."""
        raw, final = doc.dumps(), self.new_revision()
        pipe.add(*STORY_SCRIPT.command([doc_key(doc.article_id), REVS_KEY], [doc.article_id, raw, final]))
        # The batch's later candidates know the doc by the index write's revision; later batches by
        # the final one.
        self._parsed.remember(doc.article_id, revision, raw)
        self._parsed.remember(doc.article_id, final, raw)
        self._interim.append((doc.article_id, revision))
        view.write(doc_key(doc.article_id), raw)

    def new_revision(self) -> str:
        """A revision no process used before (see `ParsedDocs`)."""
        return self._parsed.new_revision()

    def end_batch(self, pipe: Writes) -> None:
        """Queue counting the terms of the batch's new articles (see `BatchFrequencies`).

        Counted once per batch, not per article, a batch cut off before its end
        leaves its new articles' terms uncounted: a statistic, which withdrawals
        do not undo either.
        """
        # The index writes' revisions are replaced by the final ones when `pipe` is sent: keeping
        # them would only push other docs out of the cache.
        for interim in self._interim:
            self._parsed.forget(*interim)
        self._interim.clear()
        self._parsed.trim()
        added = self._batch.take_added()
        if added:
            pipe.add(*DF_SCRIPT.command([DF_KEY], ["\n".join(f"{term} {n}" for term, n in added.items())]))

    @staticmethod
    def remove_command(article_id: str) -> Command:
        """Take an article out of the index (nothing happens when it is not in it)."""
        return REMOVE_SCRIPT.command([doc_key(article_id), REVS_KEY], [article_id, TERM_PREFIX])

    @staticmethod
    def removed(view: BatchView, article_id: str) -> None:
        """The batch's later articles see it out of the index."""
        view.write(doc_key(article_id), None)
