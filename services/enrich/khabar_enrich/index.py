"""Related stories from an inverted index in Redis: flat cost per article.

An article is known by its salient terms: its entities (`e:`), its
keyphrases (`p:`) and its most telling words (`w:`), each weighted by tf-idf
and the vector normalised, so the dot product of two articles is their
cosine. It is indexed under its top `query_terms` of them, the same ones it
reads candidates by: then "A reads a term B is indexed under" is "they share
a query term", the same both ways, so what a new article finds is what would
find it (posted under every term, an article was found by those that share
only its minor terms, which it never finds back: a refresh then entered it
in lists a recompute would not give it, and missed lists it belonged in).
Postings are sorted sets per language and term, scored by publication time.

Finding related stories never scans the archive:

1. the article's query terms each read only their
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
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
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


def reach_until(doc: IndexedDoc, settings: EnrichSettings) -> float:
    """The newest publication time of an article whose list `doc` may enter: one published after
    it reads the older ones without end, but its copy is kept only so long (see `copies.py`)."""
    return doc.published + (settings.refresh_window_days + settings.late_arrival_days) * 86_400


class BatchFrequencies:
    """The df counters as one batch of articles reads them: once, then kept up to date locally.

    Read at the start of the batch, then every first version the batch indexes is
    counted here as the index script will count it in Redis, so each article gets
    the frequencies it would have read had the batch gone to Redis one article at
    a time.
    """

    def __init__(self, docs: int, df: dict[str, int], indexed: set[str]) -> None:
        self._docs = docs
        self._df = df  # every term the batch may ask for (see RelatedIndex.batch)
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
    """The inverted index: its reads, and the one door to its writes, `batch`.

    What the process remembers of it lives here across batches (the df cache, the parsed docs);
    what one batch knows lives in its `IndexBatch`.
    """

    def __init__(self, redis: RedisClient, settings: EnrichSettings) -> None:
        self._redis = redis
        self._settings = settings
        self._frequencies = DocumentFrequencies()
        self._parsed = ParsedDocs()

    @asynccontextmanager
    async def batch(
        self, writes: Writes, article_ids: Sequence[str], term_lists: Sequence[Collection[str]]
    ) -> AsyncIterator["IndexBatch"]:
        """A batch of `article_ids` (its events' articles, in order) using the index; `term_lists`:
        the terms of each live article to `enter`, in order (see `IndexBatch`).

        It begins with one round trip: the frequencies those terms may need and the articles'
        docs as they are before the batch. Leaving the block queues the index's last writes on
        `writes` (every write of the batch, the caller's too) and sends them in one transaction:
        then the batch is done (a batch cut off before leaves its index writes to be undone, see
        restore.lua). Left by an exception, before or while they are sent, the df cache may count
        articles the batch never indexed (see `BatchFrequencies`): it is read afresh, as a new
        process would."""
        try:
            batch = await self._start(writes, article_ids, term_lists)
            yield batch
            batch._end()
            await flush(self._redis, writes, transaction=True)
        except BaseException:
            self._frequencies = DocumentFrequencies()
            raise

    async def _start(
        self, writes: Writes, article_ids: Sequence[str], term_lists: Sequence[Collection[str]]
    ) -> "IndexBatch":
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
        before = dict(zip(keys, found[0] if found else [], strict=True))
        frequencies = BatchFrequencies(
            int(total_raw or 0),
            {t: int(df or 0) for t, df in zip(terms, df_raw, strict=False)},
            {key.removeprefix(doc_key("")) for key, raw in before.items() if raw is not None},
        )
        return IndexBatch(self, writes, ids, before, frequencies)

    # ------------------------------------------------------------ reads

    def candidates_read(
        self, doc: IndexedDoc, attach_prefix: str = "", attach_since: float = NEVER
    ) -> Command:
        """Read the candidates of `doc` from the index (see `CANDIDATES_SCRIPT`), with the value at
        `attach_prefix + id` of those published since `attach_since` (the refresh's links); then,
        when attaching (refreshing), the reach: the articles from `attach_since` to `reach_until`
        whose candidates `doc` may be without their being its own."""
        query = self._query(doc)
        reach = self._settings.refresh_reach if attach_since < NEVER else 0
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
                reach_until(doc, self._settings),
                reach,
            ],
        )

    def _query(self, doc: IndexedDoc) -> list[str]:
        """The terms `doc` reads its candidates by and is indexed under: its heaviest (`weigh`
        sorts them so)."""
        return list(doc.terms)[: self._settings.query_terms]

    async def matches(
        self,
        doc: IndexedDoc,
        found: list[Any],
        view: BatchView,
        attach_prefix: str = "",
        attach_since: float = NEVER,
    ) -> tuple[list[Match], dict[str, bytes], list[Match]]:
        """Scored candidates, best first (not yet diversified), from the candidates command's reply
        `found`; the attached values, as the batch sees them (see `BatchView`); and the reach,
        scored, best first (see `candidates_read`). `doc` keeps its read's cut."""
        *found, cut, reached = found
        doc.cut = float(cut)
        rows = [
            (i.decode(), rev, raw, side)
            for i, rev, raw, side in zip(*[iter(found)] * 4, strict=True)
        ]
        docs = await self._docs_of(rows, view)
        own = len(rows) - int(reached)
        others = [docs[i] for i, *_ in rows[:own] if i in docs]
        beyond = [docs[i] for i, *_ in rows[own:] if i in docs]
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
        return rerank(doc, others), attached, rerank(doc, beyond) if beyond else []

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


class IndexBatch:
    """One batch's use of the index (see `RelatedIndex.batch`), which holds what only the batch
    knows and lets its steps happen only in their order.

    The batch's events come twice, in the batch's order. First each live article `enter`s and
    each withdrawal `leave`s: an article's vector counts the articles entered before it, and
    each gives the commands to send for it. Then, as those commands' replies come back in the
    same order, each `Entering.matches` (then, indexed, `Entering.keep` once its story is known) or
    `Leaving.gone`: the batch's later articles see the index as the earlier ones left it. A step
    out of its turn, or an indexed article never kept, raises.
    """

    def __init__(
        self,
        index: RelatedIndex,
        writes: Writes,
        article_ids: list[str],
        before: dict[str, bytes | None],
        frequencies: BatchFrequencies,
    ) -> None:
        self.before = before  # the docs of its articles before it, by `doc_key` (see BatchView)
        self._index = index
        self._writes = writes
        self._article_ids = article_ids
        self._frequencies = frequencies
        self._steps = 0  # entered or left
        self._answered = 0  # of those, matched or gone
        self._unkept: Entering | None = None  # matched, indexed, its doc not yet kept
        # The batch's index writes' revisions (see `keep`).
        self._interim: list[tuple[str, str]] = []

    def enter(
        self,
        doc: IndexedDoc,
        strengths: dict[str, float],
        indexable: bool,
        attach_prefix: str = "",
        attach_since: float = NEVER,
    ) -> "Entering":
        """A live article: its `doc` gets its terms, its term `strengths` weighed by their idf as a
        unit vector (see `weigh`), and will be indexed (its terms then feed the df counters, see
        `BatchFrequencies`), or taken out when not `indexable`. Its candidates will come with the
        value at `attach_prefix + id` of those published since `attach_since` (see
        `RelatedIndex.candidates_read`)."""
        position = self._next_step()
        index = self._index
        doc.terms = weigh(strengths, index._frequencies.idf(list(strengths), self._frequencies))
        if indexable:
            self._frequencies.indexing(doc.article_id, list(strengths))
            revision = index._parsed.new_revision()
            write = _addition(doc, index._query(doc), revision)
        else:
            self._frequencies.removing(doc.article_id)
            revision = ""
            write = _removal(doc.article_id)
        read = index.candidates_read(doc, attach_prefix, attach_since)
        return Entering(
            self, position, doc, indexable, revision, read, write, attach_prefix, attach_since
        )

    def leave(self, article_id: str) -> "Leaving":
        """A withdrawal: the article will be taken out of the index."""
        position = self._next_step()
        self._frequencies.removing(article_id)
        return Leaving(self, position, article_id)

    def _next_step(self) -> int:
        if self._answered:
            raise RuntimeError("an article entered or left after the first replies were taken")
        self._steps += 1
        return self._steps - 1

    def _answer(self, position: int) -> None:
        """The step at `position` takes its replies: in its turn, the one before it done."""
        if position != self._answered or self._unkept is not None:
            raise RuntimeError("a step's replies taken out of the batch's order")
        self._answered += 1

    def _keep(self, entry: "Entering", view: BatchView) -> None:
        if self._unkept is not entry:
            raise RuntimeError("only an indexed article, once matched, is kept")
        self._unkept = None
        doc, revision = entry.doc, entry._revision
        parsed = self._index._parsed
        raw, final = doc.dumps(), parsed.new_revision()
        self._writes.add(
            *STORY_SCRIPT.command([doc_key(doc.article_id), REVS_KEY], [doc.article_id, raw, final])
        )
        # The batch's later candidates know the doc by the index write's revision; later batches by
        # the final one.
        parsed.remember(doc.article_id, revision, raw)
        parsed.remember(doc.article_id, final, raw)
        self._interim.append((doc.article_id, revision))
        view.write(doc_key(doc.article_id), raw)

    def _end(self) -> None:
        """Queue counting the terms of the batch's new articles (see `BatchFrequencies`), and
        dropping the undo records of its articles (see `RelatedIndex.batch`)."""
        if self._answered != self._steps or self._unkept is not None:
            raise RuntimeError("a batch ended before each of its steps was done")
        parsed = self._index._parsed
        # The index writes' revisions are replaced by the final ones when the writes are sent:
        # keeping them would only push other docs out of the cache.
        for interim in self._interim:
            parsed.forget(*interim)
        self._interim.clear()
        parsed.trim()
        added = self._frequencies.take_added()
        if added:
            self._writes.add(
                *DF_SCRIPT.command(
                    [DF_KEY], ["\n".join(f"{term} {n}" for term, n in added.items())]
                )
            )
        if self._article_ids:
            self._writes.add("HDEL", UNDO_KEY, *self._article_ids)


class Entering:
    """A live article's part of an `IndexBatch`: its commands, then its `matches`, then (indexed)
    its `keep`."""

    def __init__(
        self,
        batch: IndexBatch,
        position: int,
        doc: IndexedDoc,
        indexable: bool,
        revision: str,
        read: Command,
        write: Command,
        attach_prefix: str,
        attach_since: float,
    ) -> None:
        self.doc = doc  # its story is known only once its candidates are
        self.indexable = indexable
        self._batch = batch
        self._position = position
        self._revision = revision
        self._read = read
        self._write = write
        self._attach = attach_prefix, attach_since

    def commands(self, *reads: Command) -> list[Command]:
        """Its commands, in order: its candidates read, the caller's `reads`, then its index write
        (or its removal, when not indexable): the reads see the index as the article found it."""
        return [self._read, *reads, self._write]

    async def matches(
        self, found: list[Any], view: BatchView
    ) -> tuple[list[Match], dict[str, bytes], list[Match]]:
        """Its candidates scored, best first (see `RelatedIndex.matches`), from its candidates
        read's reply `found`, their attached values, and the reach. Not indexable, the batch's later
        articles see it out of the index from now."""
        self._batch._answer(self._position)
        scored = await self._batch._index.matches(self.doc, found, view, *self._attach)
        if self.indexable:
            self._batch._unkept = self
        else:
            _removed(view, self.doc.article_id)
        return scored

    def keep(self, view: BatchView) -> None:
        """Queue writing its doc with its story, now known (`doc.story_id`), and show it so to the
        batch's later articles; an indexed article's last step."""
        self._batch._keep(self, view)


class Leaving:
    """A withdrawal's part of an `IndexBatch`: its commands, then `gone`."""

    def __init__(self, batch: IndexBatch, position: int, article_id: str) -> None:
        self.article_id = article_id
        self._batch = batch
        self._position = position

    def commands(self, *reads: Command) -> list[Command]:
        """The caller's `reads`, then its removal."""
        return [*reads, _removal(self.article_id)]

    def gone(self, view: BatchView) -> None:
        """The batch's later articles see it out of the index from now."""
        self._batch._answer(self._position)
        _removed(view, self.article_id)


def _addition(doc: IndexedDoc, query: list[str], revision: str) -> Command:
    """Index `doc` as `revision` under its `query` terms (replacing its previous version), its
    story still unknown (see `Entering.keep`)."""
    return INDEX_SCRIPT.command(
        [COUNT_KEY, doc_key(doc.article_id), REVS_KEY, UNDO_KEY],
        [
            doc.article_id,
            doc.published,
            doc.dumps(),
            MAX_POSTINGS,
            TERM_PREFIX,
            doc.language,
            "\n".join(query),
            revision,
        ],
    )


def _removal(article_id: str) -> Command:
    """Take an article out of the index (nothing happens when it is not in it)."""
    return REMOVE_SCRIPT.command(
        [doc_key(article_id), REVS_KEY, UNDO_KEY], [article_id, TERM_PREFIX]
    )


def _removed(view: BatchView, article_id: str) -> None:
    view.write(doc_key(article_id), None)
