"""What the enrich process keeps in memory between batches: the index's parsed docs and its
document frequencies, and the recent articles' copies and related links, parsed."""

import itertools
import math
import secrets
import zlib
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple, Protocol

import orjson

from khabar_enrich.scoring import IndexedDoc
from khabar_shared.events import EnrichedArticle, EnrichedEvent, RelatedLink

PARSED_DOCS = 4000  # a few days of news
DF_CACHE_CALLS = 200
DF_CACHE_MAX = 200_000
REMEMBERED_COPIES = 1000  # parsed copies kept in memory: the last few hours of news
REMEMBERED_LINKS = 4000  # parsed related lists kept in memory: a few days of news


class Frequencies(Protocol):
    """Document frequencies as a batch reads them (see `index.BatchFrequencies`)."""

    @property
    def docs(self) -> int: ...

    def df(self, term: str) -> int: ...


class DocumentFrequencies:
    """Document frequencies change slowly: they are cached here and taken afresh (from the batch's
    read) every DF_CACHE_CALLS articles, so a typical article reads only the few words it is the
    first in a while to use."""

    def __init__(self) -> None:
        self._cache: dict[str, int] = {}
        self._total = 0
        self._calls = 0

    def to_read(self, term_lists: Sequence[Collection[str]]) -> list[str]:
        """The terms the cache lacks for these `idf` calls to come; all of them when the cache
        will be cleared during them."""
        wanted = set().union(*term_lists)
        calls = range(self._calls + 1, self._calls + len(term_lists) + 1)
        if (
            any(c % DF_CACHE_CALLS == 1 for c in calls)
            or len(self._cache) + len(wanted) > DF_CACHE_MAX
        ):
            return sorted(wanted)
        return sorted(wanted.difference(self._cache))

    def idf(self, terms: list[str], batch: Frequencies) -> dict[str, float]:
        """Inverse document frequency of each term, those not cached taken from `batch`."""
        self._calls += 1
        if self._calls % DF_CACHE_CALLS == 1 or len(self._cache) > DF_CACHE_MAX:
            self._cache.clear()
        cache = self._cache
        missing = list(itertools.filterfalse(cache.__contains__, terms))
        if missing or not self._total:
            self._total = batch.docs
            cache.update((t, batch.df(t)) for t in missing)
        total, log = self._total + 1, math.log
        # Many terms share a document frequency (most are rare): each one's idf is worked out once.
        frequencies = list(map(cache.__getitem__, terms))
        by_frequency = {df: log(1 + total / (1 + df)) for df in set(frequencies)}
        return dict(zip(terms, map(by_frequency.__getitem__, frequencies)))


class ParsedDocs:
    """`IndexedDoc.loads`, remembered by the stored bytes themselves, so never stale; and the
    stored bytes by article and revision, for the candidates (see `CANDIDATES_SCRIPT`).

    The recent articles are every new article's candidates: parsing the same
    docs again and again was a large share of an article's cost, and reading
    them back from Redis a large share of the candidates script's. A revision
    is new at each write of a doc, so a doc known by its revision is the
    stored one. The docs handed out are shared: not to be changed.

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


class Copy(NamedTuple):
    """A kept copy: the article as last enriched, and the JSON of its `article.enriched` event."""

    enriched: EnrichedArticle
    event_json: bytes


class ParsedCopies:
    """The kept copies (see `copies.py`) this process wrote or read, and recent articles'
    related lists, parsed, by their stored bytes (so never stale).

    Most refreshed articles were enriched here shortly before, and parsing a
    whole article back was a large share of a refresh; a recent article's list
    is read by every new article that may refresh it, until it changes. What
    it hands out is shared: not to be changed.
    """

    def __init__(self, remembered: int = REMEMBERED_COPIES) -> None:
        self._remembered = remembered
        self._parsed: dict[bytes, Copy] = {}
        self._links: dict[bytes, list[RelatedLink]] = {}

    def copies_from(self, ids: Sequence[str], raws: Sequence[bytes | None]) -> dict[str, Copy]:
        """The copies still kept, from the values at their `copy_key`s."""
        return {
            article_id: self._load(raw) for article_id, raw in zip(ids, raws, strict=True) if raw
        }

    def _load(self, copy: bytes) -> Copy:
        kept = self._parsed.get(copy)
        if kept is None:
            event_json = zlib.decompress(copy)
            enriched = EnrichedEvent.model_validate_json(event_json).enriched
            assert enriched is not None, "a copy is an article.enriched event"
            kept = Copy(enriched, event_json)
            self.remember(copy, kept)
        return kept

    def remember(self, copy: bytes, kept: Copy) -> None:
        """A copy as stored (compressed), and what it holds."""
        make_room(self._parsed, self._remembered)
        self._parsed[copy] = kept

    def links_of(self, raw: bytes) -> list[RelatedLink]:
        """An article's current related links, from the bytes at its `links_key` (read with the
        candidates, see `fanout.Refresher`)."""
        links = self._links.get(raw)
        if links is None:
            links = [RelatedLink.model_validate(link) for link in orjson.loads(raw)]
            self.remember_links(raw, links)
        return links

    def remember_links(self, raw: bytes, links: list[RelatedLink]) -> None:
        make_room(self._links, REMEMBERED_LINKS)
        self._links[raw] = links


def make_room(cache: dict[Any, Any], size: int) -> None:
    """Before adding to a cache of at most `size` entries: the first remembered goes first."""
    if len(cache) >= size:
        del cache[next(iter(cache))]  # the first remembered goes first
