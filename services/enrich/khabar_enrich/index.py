"""Related stories from an inverted index in Redis: flat cost per article.

Every live article is indexed under its salient terms: its entities (`e:`),
its keyphrases (`p:`) and its most telling words (`w:`), each weighted by
tf-idf and the vector normalised, so the dot product of two articles is
their cosine. Postings are sorted sets per language and term, scored by
publication time.

Finding related stories never scans the archive:

1. the article's top `query_terms` terms each read only their
   `candidates_per_term` postings published nearest to it, before or after
   (up to the refresh window after it: an article arriving late finds the
   newer ones it would have been found by);
2. candidates are scored by the query weights they share, times recency, and
   the best `rerank` of them are read back (their vectors and shingle
   sketches) for the exact cosine and the same-story check;
3. the final list is diversified by story.

So the work per article is bounded by settings, not by the archive. Document
frequencies are counters beside the postings: how many indexed articles ever
used a term (a statistic of the language; withdrawals do not undo it).
"""

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from khabar_enrich.batch_view import BatchView
from khabar_enrich.caches import DocumentFrequencies, ParsedDocs
from khabar_enrich.scoring import (
    RECENCY_FLOOR,
    RECENCY_HALF_LIFE_DAYS,
    IndexedDoc,
    Match,
    rerank,
    weigh,
)
from khabar_enrich.scripts import SCRIPTS
from khabar_enrich.settings import EnrichSettings
from khabar_shared.pipeline import MGET_SCRIPT, Command, Writes, flush
from khabar_shared.redis_helpers import RedisClient

# One hash tag for the whole index: the indexing script touches many terms at once,
# and in a Redis Cluster a script's keys must share a slot.
PREFIX = "khabar:{enrich}"
TERM_PREFIX = f"{PREFIX}:term:"
DF_KEY = f"{PREFIX}:df"
COUNT_KEY = f"{PREFIX}:docs"
REVS_KEY = f"{PREFIX}:revs"  # each indexed doc's revision: a new one at each write
# Each article's doc before its batch's first index write, until the batch ends (see restore.lua).
UNDO_KEY = f"{PREFIX}:undo"
MAX_POSTINGS = 5000  # per term; only the most recent few are ever read
LOOKAHEAD_S = 2 * 86_400  # at least: a late-arriving article may relate to newer ones
NEVER = 1e18  # a publication time no candidate has

INDEX_SCRIPT = SCRIPTS["index"]
DF_SCRIPT = SCRIPTS["df"]
CANDIDATES_SCRIPT = SCRIPTS["candidates"]
REMOVE_SCRIPT = SCRIPTS["remove"]
STORY_SCRIPT = SCRIPTS["story"]
RESTORE_SCRIPT = SCRIPTS["restore"]
MEMBERS_SCRIPT = SCRIPTS["members"]


def term_key(language: str, term: str) -> str:
    return f"{TERM_PREFIX}{language}:{term}"


def doc_key(article_id: str) -> str:
    return f"{PREFIX}:doc:{article_id}"


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
        return self._df[term] + self._added.get(
            term, 0
        )  # a Counter's missing key costs a Python call

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
    """The inverted index. Writes are queued on the caller's batch writes (see
    `khabar_shared.pipeline.Writes`).

    A batch, in order: `start_batch`; for each event, `vector` and `enter` (a live article)
    or `leave` (a withdrawal), then its `commands` sent; for each reply, `matches`, then
    `finish` (indexed) or `removed`; `end_batch`.
    """

    def __init__(self, redis: RedisClient, settings: EnrichSettings) -> None:
        self._redis = redis
        self._settings = settings
        self._frequencies = DocumentFrequencies()
        self._batch = BatchFrequencies(0, {}, set())
        self._parsed = ParsedDocs()
        self._interim: list[
            tuple[str, str]
        ] = []  # the batch's index writes' revisions (see `finish`)

    # ------------------------------------------------------------ a batch begins

    async def start_batch(
        self, article_ids: Sequence[str], term_lists: Sequence[Collection[str]]
    ) -> dict[str, bytes | None]:
        """Read, in one round trip, the frequencies the batch's `term_lists` (one per `vector` call
        to come, in order) may need, and the docs of `article_ids` as they are before the batch (by
        their `doc_key`s: the batch's view of them, see `BatchView`)."""
        terms = self._frequencies.to_read(term_lists)
        ids = list(dict.fromkeys(article_ids))
        keys = [doc_key(i) for i in ids]
        reads = Writes()
        # First, what a batch of theirs stopped before its end wrote is undone (see restore.lua).
        reads.add(
            *RESTORE_SCRIPT.command(
                [UNDO_KEY, COUNT_KEY, REVS_KEY], [TERM_PREFIX, doc_key(""), *ids]
            )
        )
        reads.add("GET", COUNT_KEY)
        reads.add("HMGET", DF_KEY, *(terms or ["-"]))
        if keys:
            reads.add(*MGET_SCRIPT.command(keys, ()))
        _, total_raw, df_raw, *found = await flush(self._redis, reads)
        docs = dict(zip(keys, found[0] if found else [], strict=True))
        self._batch = BatchFrequencies(
            int(total_raw or 0),
            {t: int(df or 0) for t, df in zip(terms, df_raw, strict=False)},
            {key.removeprefix(doc_key("")) for key, raw in docs.items() if raw is not None},
        )
        return docs

    def vector(self, strengths: dict[str, float]) -> dict[str, float]:
        """An article's index terms: its term strengths weighed by their idf, as a unit vector."""
        return weigh(strengths, self._frequencies.idf(list(strengths), self._batch))

    def enter(self, article_id: str, terms: list[str], indexable: bool) -> str:
        """The batch will index the article (its `terms` feed the df counters, see
        `BatchFrequencies`), or take it out when not `indexable`: its index write's revision
        ("" when none)."""
        if not indexable:
            self._batch.removing(article_id)
            return ""
        self._batch.indexing(article_id, terms)
        return self._new_revision()

    def leave(self, article_id: str) -> None:
        """The batch will take the article out of the index (a withdrawal)."""
        self._batch.removing(article_id)

    def commands(
        self, doc: IndexedDoc, revision: str, attach_prefix: str = "", attach_since: float = NEVER
    ) -> list[Command]:
        """An entered article's index commands, in order: its candidates read (see
        `candidates_read`), then its index write as `revision`, or its removal when it has none."""
        candidates = self.candidates_read(doc, attach_prefix, attach_since)
        if not revision:
            return [candidates, self.removal(doc.article_id)]
        return [candidates, self._addition(doc, revision)]

    # ------------------------------------------------------------ reads

    def candidates_read(
        self, doc: IndexedDoc, attach_prefix: str = "", attach_since: float = NEVER
    ) -> Command:
        """Read the candidates of `doc` from the index (see `CANDIDATES_SCRIPT`), with the value at
        `attach_prefix + id` of those published since `attach_since` (the refresh's links)."""
        query = list(doc.terms)[: self._settings.query_terms]  # `weigh` sorts, heaviest first
        return CANDIDATES_SCRIPT.command(
            [REVS_KEY],
            [
                doc.published + max(LOOKAHEAD_S, self._settings.refresh_window_days * 86_400),
                self._settings.candidates_per_term,
                self._settings.rerank,
                doc.published,
                RECENCY_HALF_LIFE_DAYS,
                RECENCY_FLOOR,
                doc.article_id,
                doc_key(""),
                attach_prefix,
                attach_since,
                term_key(doc.language, ""),
                "\n".join(f"{term} {doc.terms[term]!r}" for term in query),
                self._parsed.own_prefix,
                self._parsed.own_since,
            ],
        )

    async def matches(
        self,
        doc: IndexedDoc,
        found: list[Any],
        view: BatchView,
        attach_prefix: str = "",
        attach_since: float = NEVER,
    ) -> tuple[list[Match], dict[str, bytes]]:
        """Scored candidates, best first (not yet diversified), from the candidates command's reply
        `found`; and the attached values, as the batch sees them (see `BatchView`)."""
        rows = [
            (i.decode(), rev, raw, side)
            for i, rev, raw, side in zip(*[iter(found)] * 4, strict=True)
        ]
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
        return rerank(doc, others), attached

    async def _docs_of(
        self, rows: list[tuple[str, bytes | None, bytes | None, Any]], view: BatchView
    ) -> dict[str, IndexedDoc]:
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
            for (article_id, seen_revision), found in zip(unseen.items(), raws, strict=True):
                if found is not None:  # else withdrawn meanwhile
                    self._parsed.remember(article_id, seen_revision, found)
                    docs[article_id] = self._parsed.load(found)
        return docs

    def members_read(
        self,
        key: str,
        doc: IndexedDoc,
        since: float,
        until: float,
        limit: int,
        links_prefix: str,
        known: Iterable[str],
    ) -> Command:
        """Read the `limit` members of a story (the sorted set at `key`) published nearest to
        `doc` between `since` and `until`, but those `known`, with their links (see
        `members.lua`)."""
        return MEMBERS_SCRIPT.command(
            [key, REVS_KEY],
            [
                doc.published,
                since,
                until,
                limit,
                doc.article_id,
                doc_key(""),
                links_prefix,
                self._parsed.own_prefix,
                self._parsed.own_since,
                "\n".join(known),
            ],
        )

    async def members(
        self,
        found: list[Any],
        added: dict[str, float],
        view: BatchView,
        links_prefix: str,
    ) -> tuple[dict[str, IndexedDoc], dict[str, bytes]]:
        """A story's members' docs and links as the batch sees them, from the reply of its
        `members_read` (`found`) and the members the batch `added` since it began (by id, their
        publication time), which Redis has not seen yet."""
        rows = [
            (i.decode(), rev, raw, side)
            for i, rev, raw, side in zip(*[iter(found)] * 4, strict=True)
        ]
        docs = await self._docs_of(rows, view)
        sides = {article_id: side for article_id, _, _, side in rows}
        for article_id in added:
            if article_id not in sides:  # written by the batch: the view holds its doc
                _, raw = view.seen(doc_key(article_id))
                if raw is not None:
                    docs[article_id] = self._parsed.load(raw)
        links = {}
        for article_id, other in docs.items():
            known, value = view.seen(links_prefix + article_id, other.published)
            side = value if known else sides.get(article_id)
            if side is not None:
                links[article_id] = side
        return docs, links

    def docs_from(self, ids: Sequence[str], raws: Sequence[bytes | None]) -> dict[str, IndexedDoc]:
        """The indexed docs, from the values at their `doc_key`s (withdrawn ones are simply
        absent)."""
        return {i: self._parsed.load(raw) for i, raw in zip(ids, raws, strict=True) if raw}

    # ------------------------------------------------------------ writes

    def _addition(self, doc: IndexedDoc, revision: str) -> Command:
        """Index `doc` as `revision` (replacing its previous version), its story still unknown
        (see `finish`)."""
        return INDEX_SCRIPT.command(
            [COUNT_KEY, doc_key(doc.article_id), REVS_KEY, UNDO_KEY],
            [
                doc.article_id,
                doc.published,
                doc.dumps(),
                MAX_POSTINGS,
                TERM_PREFIX,
                doc.language,
                "\n".join(doc.terms),
                revision,
            ],
        )

    def finish(self, pipe: Writes, view: BatchView, doc: IndexedDoc, revision: str) -> None:
        """Queue writing `doc` with its story, once known; `revision`: its index write's."""
        raw, final = doc.dumps(), self._new_revision()
        pipe.add(
            *STORY_SCRIPT.command([doc_key(doc.article_id), REVS_KEY], [doc.article_id, raw, final])
        )
        # The batch's later candidates know the doc by the index write's revision; later batches by
        # the final one.
        self._parsed.remember(doc.article_id, revision, raw)
        self._parsed.remember(doc.article_id, final, raw)
        self._interim.append((doc.article_id, revision))
        view.write(doc_key(doc.article_id), raw)

    def _new_revision(self) -> str:
        """A revision no process used before (see `ParsedDocs`)."""
        return self._parsed.new_revision()

    def end_batch(self, pipe: Writes, article_ids: Sequence[str]) -> None:
        """Queue counting the terms of the batch's new articles (see `BatchFrequencies`), and
        dropping the undo records of its `article_ids`: sent in one transaction, the batch is
        done (a batch cut off before leaves its index writes to be undone, see restore.lua)."""
        # The index writes' revisions are replaced by the final ones when `pipe` is sent: keeping
        # them would only push other docs out of the cache.
        for interim in self._interim:
            self._parsed.forget(*interim)
        self._interim.clear()
        self._parsed.trim()
        added = self._batch.take_added()
        if added:
            pipe.add(
                *DF_SCRIPT.command(
                    [DF_KEY], ["\n".join(f"{term} {n}" for term, n in added.items())]
                )
            )
        if article_ids:
            pipe.add("HDEL", UNDO_KEY, *dict.fromkeys(article_ids))

    def abandon_batch(self) -> None:
        """A batch stopped before its end: the df cache may count articles it never indexed (see
        `BatchFrequencies`); it is read afresh, as a new process would."""
        self._frequencies = DocumentFrequencies()
        self._interim.clear()

    @staticmethod
    def removal(article_id: str) -> Command:
        """Take an article out of the index (nothing happens when it is not in it)."""
        return REMOVE_SCRIPT.command(
            [doc_key(article_id), REVS_KEY, UNDO_KEY], [article_id, TERM_PREFIX]
        )

    @staticmethod
    def removed(view: BatchView, article_id: str) -> None:
        """The batch's later articles see it out of the index."""
        view.write(doc_key(article_id), None)
