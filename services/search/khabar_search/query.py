"""Readers' queries: validated parameters in, ranked hits with snippets out.

Raw Meilisearch matches the words a reader typed, after its own Arabic
normalization. Readers also type clitic forms (والحكومة), plurals (اللاجئون
for لاجئ) and other derivations, which Meilisearch does not reduce. So each
query runs as one multi-search of two queries on the same index:

- `words`: what the reader typed, on headline, lead, tag names and body, with
  the gazetteer synonyms (FIFA → فيفا) and typo tolerance;
- `stems`: the query analyzed by the shared text pipeline (the same one that
  made enrich's `search_text`), on `search_text` only, weighted a little lower
  so an exact match of the reader's words still comes first.

The service merges both lists by weighted ranking score (or by publication
time for `sort=newest`), keeps each article once, and pages the merged list;
filters apply to both queries. Meilisearch's own federated search does the
same merge, but answered fewer queries under load than two plain queries in
one multi-search (`bench.search`; figures in the commit that chose this): its
federation path costs more CPU and keeps one core idle.

Snippets are made here too (`snippets.py`), for the page's hits only: when
Meilisearch cropped every hit of both queries, the cropping cost it more CPU
than both searches. Their work per hit is bounded, but a page of bodies that
were written to be expensive still costs tens of milliseconds of Python, so
the page's hits are made in a worker thread: the event loop keeps serving
other readers meanwhile.

Queries go over a pooled aiohttp session with the search-only key: the hot
path never blocks the event loop and never holds a writer's key. (aiohttp,
not httpx, because under 16 concurrent readers httpx's connection pool cost
more CPU per query than the rest of the service.)
"""

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any, Literal

import aiohttp
import orjson
from pydantic import BaseModel, Field

from khabar_search import fallback, relax
from khabar_search.documents import FACET_SEPARATOR
from khabar_search.locales import DEFAULT_LANGUAGES, query_locales
from khabar_search.node_pool import NodePool
from khabar_search.snippets import Highlighter, SynonymTerms
from khabar_search.synonyms import load_synonyms
from khabar_shared.logging import get_logger
from khabar_shared.text import analyze, normalize, tokenize
from khabar_shared.text.lexicon import frequency

log = get_logger(__name__)

WORD_FIELDS = ["headline", "lead", "tag_names", "body", "captions"]
STEM_FIELDS = ["search_text"]
STEMS_WEIGHT = 0.9
RETRIEVED = [
    "id",
    "headline",
    "lead",
    "category",
    "source",
    "tags",
    "published",
    "published_at",
    "url",
]
# Up to this many hits per query, the hits bring their bodies for the snippets.
MAX_INLINE_BODIES = 50
# Deeper, the hits bring only what merging needs; the page's documents are fetched after.
RANKED = ["id", "published"]
# The stems of each hit's headline and lead (`documents.py`), for `title_cover`.
TITLE_TERMS = ["headline_terms", "lead_terms"]
# How much a hit gains when the reader's words are all in its headline (a lead counts half):
# as much as a whole ranking score, so each word the headline holds outweighs that share of
# a score earned in a body (a column that holds two of three words somewhere, found by
# `relax.py`, no longer outranks a telling whose headline holds one).
TITLE_WEIGHT = 1.0
LEAD_SHARE = 0.5
EMPTY_INDEX_CODE = "invalid_search_attributes_to_search_on"


class SearchParams(BaseModel):
    q: str = ""
    category: str | None = None
    tag: str | None = None
    source: str | None = None
    lang: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    sort: Literal["relevance", "newest"] = "relevance"
    page: int = Field(default=1, ge=1, le=1000)
    per_page: int = Field(default=10, ge=1)


class HitTag(BaseModel):
    id: str
    type: str
    name: str


class Hit(BaseModel):
    id: str
    headline: str
    lead: str
    category: str
    source: str
    tags: list[HitTag]
    published_at: str
    url: str
    snippet: str = Field(description="Escaped HTML: where the words matched, in <mark>.")


class SearchResult(BaseModel):
    query: str
    total: int
    page: int
    per_page: int
    pages: int
    hits: list[Hit]
    facets: dict[str, dict[str, int]] = Field(
        description="Counts by facet: 'category', 'tag' (tag ids) and 'source'."
    )
    tag_names: dict[str, str] = Field(
        default_factory=dict, description="Display name of every tag id in `facets.tag`."
    )


# Facet names readers see, and the index fields they count.
FACETS = {"category": "category", "tag": "tag_facets", "source": "source"}


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_filters(params: SearchParams) -> list[str]:
    filters: list[str] = []
    if params.category:
        filters.append(f"category = {quote(params.category)}")
    if params.tag:
        filters.append(f"tag_ids = {quote(params.tag)}")
    if params.source:
        filters.append(f"source = {quote(params.source)}")
    if params.lang:
        filters.append(f"language = {quote(params.lang)}")
    if params.date_from:
        start = datetime.combine(params.date_from, time.min, tzinfo=UTC)
        filters.append(f"published >= {int(start.timestamp())}")
    if params.date_to:
        end = datetime.combine(params.date_to, time.max, tzinfo=UTC)
        filters.append(f"published <= {int(end.timestamp())}")
    return filters


def stems_query(q: str) -> str:
    """The query as enrich wrote `search_text`: clitics gone, stemmed, no stop words."""
    return " ".join(dict.fromkeys(analyze(q)))


def adds_recall(q: str, stems: str) -> bool:
    """Whether the stems query can find what the words query cannot.

    When analysis changed nothing (ترمب, FIFA, a bare noun), `search_text`
    holds the same words as the body and a second query only costs time.
    """
    return set(stems.split()) != set(tokenize(q))


def page_fields(params: SearchParams) -> list[str]:
    """What a hit of the results page shows: the body too when snippets are cut from it."""
    return [*RETRIEVED, "body"] if params.q else RETRIEVED


def is_deep(params: SearchParams) -> bool:
    return params.page * params.per_page > MAX_INLINE_BODIES


def _common(params: SearchParams) -> dict[str, Any]:
    # The usual first pages come whole with the hits (bodies cost Meilisearch
    # little to send). Deeper pages rank every result up to the page's last:
    # those hits bring only their id and date (Meilisearch's CPU grows with the
    # fields it sends for every hit ranked), and the page's own documents are
    # fetched after the merge.
    retrieved = RANKED if is_deep(params) else page_fields(params)
    common: dict[str, Any] = {
        "filter": build_filters(params),
        "attributesToRetrieve": [*retrieved, *TITLE_TERMS] if params.q else retrieved,
        # Meilisearch splits a leading ال off Arabic words; with the default
        # strategy a lone ال would be the last word kept and match everything.
        # `frequency` drops the most common words first.
        "matchingStrategy": "frequency",
    }
    if params.sort == "newest" or not params.q:
        common["sort"] = ["published:desc"]
    return common


def build_request(
    params: SearchParams, index_uid: str, languages: Sequence[str] = DEFAULT_LANGUAGES
) -> dict[str, Any]:
    """The multi-search body for one reader's query: words, and stems when they add recall.

    Meilisearch neither crops nor marks: `snippets.py` does, for the merged page only.
    """
    common = _common(params)
    locales = query_locales(params.q, languages, params.lang) if params.q else ["ara", "eng"]
    window = {
        "offset": 0,
        "limit": params.page * params.per_page,
        "facets": list(FACETS.values()),
        "showRankingScore": True,
    }
    queries: list[dict[str, Any]] = [
        {
            "indexUid": index_uid,
            "q": params.q,
            "attributesToSearchOn": WORD_FIELDS,
            "locales": locales,
            **common,
            **window,
        },
    ]
    stems = stems_query(params.q)
    if stems and adds_recall(params.q, stems):
        queries.append(
            {
                "indexUid": index_uid,
                "q": stems,
                "attributesToSearchOn": STEM_FIELDS,
                "locales": locales,
                **common,
                **window,
            }
        )
    return {"queries": queries}


def documents_request(index_uid: str, ids: list[str], fields: list[str]) -> dict[str, Any]:
    """The multi-search body that fetches `fields` of the page's hits (the search key cannot
    read documents any other way)."""
    return {
        "queries": [
            {
                "indexUid": index_uid,
                "q": "",
                "limit": len(ids),
                "attributesToRetrieve": fields,
                "filter": f"id IN [{', '.join(quote(article_id) for article_id in ids)}]",
            }
        ]
    }


# How much a stems match counts beside a words match, by position in `queries`.
QUERY_WEIGHTS = (1.0, STEMS_WEIGHT)


# The letters spellings of one transliterated name differ in (فيرغسون / فيرغسن, كابل / كابول).
_LONG_VOWELS = str.maketrans("", "", "اوي")
# A word this short or shorter keeps its own spelling: short skeletons join unrelated words.
MIN_SKELETON = 3
# Only a word the corpus rarely writes, as a transliterated name is, is compared by its
# skeleton: common words share skeletons with their derivations (محاكمة / محكمة).
MAX_NAME_FREQUENCY = 100


def skeleton(word: str) -> str | None:
    """The word without the long vowels between its first and last letters (the last, as in
    ارهابي / ارهاب, is grammar, not spelling), or None when too short."""
    bare = word[:1] + word[1:-1].translate(_LONG_VOWELS) + word[-1:]
    return "~" + bare if len(word) > MIN_SKELETON and len(bare) >= MIN_SKELETON else None


def cover_forms(q: str) -> list[frozenset[str]]:
    """Per query word, the forms a headline may hold it in: its stem, and for a rare word
    whose first letter the stemmer took for a clitic, the skeleton of the word as typed
    (كابل -> ابل, while a headline writes كابول, stem كابول)."""
    words: dict[str, frozenset[str]] = {}
    for token in tokenize(q):
        stems = analyze(token)
        if not stems or stems[0] in words:
            continue
        forms: set[str | None] = {stems[0]}
        whole = normalize(token)
        if frequency(whole) < MAX_NAME_FREQUENCY and not whole.startswith(stems[0]):
            # Only a rare word the stemmer read as clitic + stem is compared by its
            # skeleton as typed: a stem's own skeleton joins verb and noun patterns too
            # (تحاكم / تحكم, اميركيا / اميركا) and lost more on half B than it won on A.
            forms.add(skeleton(whole))
        words[stems[0]] = frozenset(form for form in forms if form)
    return list(words.values())


def _with_skeletons(terms: str) -> set[str]:
    stems = set(terms.split())
    return stems | {form for form in map(skeleton, stems) if form}


def title_cover(words: list[frozenset[str]], hit: dict[str, Any]) -> float:
    """The share of the query's words in the hit's headline (a word only in its lead counts
    `LEAD_SHARE`), a word counting as there when a headline stem has one of its forms
    (`cover_forms`; headline stems are compared by their skeletons too).

    Meilisearch ranks by how many of the words a document holds anywhere
    before it asks where: three words scattered through a long body come
    before two in a headline. A reader who read a story elsewhere
    remembers words of its headline, and another paper's telling of the
    story puts most of them in its own headline or lead, so where the words
    are counts beside how many. Papers transliterate a foreign name each
    their own way, so a name the reader took from one paper can be in the
    other's headline with a long vowel more or less. A hit without the
    fields (indexed before they existed) gains nothing until the index is
    rebuilt.
    """
    if not words:
        return 0.0
    headline = _with_skeletons(hit.get("headline_terms", ""))
    lead = _with_skeletons(hit.get("lead_terms", ""))
    in_headline = sum(1 for forms in words if forms & headline)
    in_lead = sum(1 for forms in words if not forms & headline and forms & lead)
    return (in_headline + LEAD_SHARE * in_lead) / len(words)


def by_title_cover(
    q: str, best: dict[str, tuple[float, dict[str, Any]]], first_page: set[str]
) -> list[tuple[float, dict[str, Any]]]:
    """The hits best first: those among each query's first page by their score plus their
    `title_cover` bonus, then the rest by their score alone.

    The bonus can lift a hit past many others, so a deeper page, which
    fetches more of each query's hits, would otherwise rank some above hits
    an earlier page showed and show them twice while others are never shown.
    Each query's first page is the same whichever page is asked for, so it is
    ranked the same on every page and the pages follow on from it.
    """
    words = cover_forms(q)
    head = sorted(
        (item for article_id, item in best.items() if article_id in first_page),
        reverse=True,
        key=lambda item: item[0] + TITLE_WEIGHT * title_cover(words, item[1]),
    )
    tail = sorted(
        (item for article_id, item in best.items() if article_id not in first_page),
        reverse=True,
        key=lambda item: item[0],
    )
    return head + tail


def merge_answers(
    params: SearchParams, results: list[dict[str, Any]], weights: Sequence[float] = QUERY_WEIGHTS
) -> dict[str, Any]:
    """One page of hits from the queries' answers, each article once, and their counts.

    Totals and facet counts take, per value, the larger of the queries'
    figures: the stems query usually finds a superset of the words query.
    `weights` says how much a hit of each query counts, by position.
    """
    best: dict[str, tuple[float, dict[str, Any]]] = {}
    first_page: set[str] = set()
    for weight, result in zip(weights, results, strict=False):
        for position, hit in enumerate(result.get("hits", [])):
            score = hit.get("_rankingScore", 0.0) * weight
            if hit["id"] not in best or score > best[hit["id"]][0]:
                best[hit["id"]] = (score, hit)
            if position < params.per_page:
                first_page.add(hit["id"])
    if params.sort == "newest" or not params.q:
        ranked = sorted(best.values(), reverse=True, key=lambda item: item[1].get("published", 0))
    else:
        ranked = by_title_cover(params.q, best, first_page)
    offset = (params.page - 1) * params.per_page
    facets: dict[str, dict[str, int]] = {}
    for result in results:
        for name, counts in result.get("facetDistribution", {}).items():
            merged = facets.setdefault(name, {})
            for value, count in counts.items():
                merged[value] = max(merged.get(value, 0), count)
    return {
        "hits": [hit for _, hit in ranked[offset : offset + params.per_page]],
        "estimatedTotalHits": max((r.get("estimatedTotalHits", 0) for r in results), default=0),
        "facetDistribution": facets,
    }


def hit_fields(hit: dict[str, Any], highlighter: Highlighter) -> dict[str, Any]:
    """One Meilisearch hit as the fields of a `Hit`."""
    return {
        "id": hit["id"],
        "headline": hit["headline"],
        "lead": hit.get("lead", ""),
        "category": hit.get("category", ""),
        "source": hit.get("source", ""),
        "tags": hit.get("tags", []),
        "published_at": hit.get("published_at", ""),
        "url": hit.get("url", f"/articles/{hit['id']}"),
        "snippet": highlighter.snippet(hit.get("body", ""), hit.get("lead", "")),
    }


def result_fields(
    params: SearchParams,
    answer: dict[str, Any],
    highlighter: Highlighter | None = None,
    max_depth: int | None = None,
) -> dict[str, Any]:
    """The fields of a `SearchResult`, as plain data ready for JSON.

    The API sends them as they are: every value comes from documents the
    indexer validated, so validating the hits again on every query would buy
    nothing. A unit test holds them to the model. `pages`
    counts only the pages a reader may ask for (`max_depth` results deep).
    """
    highlighter = highlighter or Highlighter(params.q)
    total = int(answer.get("estimatedTotalHits", answer.get("totalHits", 0)))
    distribution = answer.get("facetDistribution", {})
    tag_counts: dict[str, int] = {}
    tag_names: dict[str, str] = {}
    for value, count in distribution.get("tag_facets", {}).items():
        tag_id, _, name = value.partition(FACET_SEPARATOR)
        tag_counts[tag_id] = tag_counts.get(tag_id, 0) + count
        tag_names[tag_id] = name
    return {
        "query": params.q,
        "total": total,
        "page": params.page,
        "per_page": params.per_page,
        "pages": -(-min(total, max_depth or total) // params.per_page),
        "hits": [hit_fields(hit, highlighter) for hit in answer.get("hits", [])],
        "facets": {
            "category": distribution.get("category", {}),
            "tag": tag_counts,
            "source": distribution.get("source", {}),
        },
        "tag_names": tag_names,
    }


def to_result(
    params: SearchParams, answer: dict[str, Any], highlighter: Highlighter | None = None
) -> SearchResult:
    return SearchResult.model_validate(result_fields(params, answer, highlighter))


class SearchUnavailable(RuntimeError):
    """Meilisearch did not answer, or answered with an error; `answer` holds what it said.

    `node_down`: the node did not answer or failed (5xx), so another node may answer.
    """

    def __init__(self, reason: str, answer: str = "", node_down: bool = True) -> None:
        super().__init__(reason)
        self.answer = answer
        self.node_down = node_down


class SearchClient:
    def __init__(
        self,
        meili_url: str,
        search_key: str,
        index_uid: str,
        timeout_s: float = 10.0,
        synonyms: dict[str, list[str]] | None = None,
        languages: Sequence[str] = DEFAULT_LANGUAGES,
        transliterate: bool = True,
        relax_weak: bool = True,
        max_depth: int | None = None,
        pool: NodePool | None = None,
    ) -> None:
        self._languages = languages
        self._pool = pool
        self._transliterate = transliterate
        self._relax = relax_weak
        # Uncompressed: Meilisearch sits next to us, and gzip costs both sides CPU per query.
        self._headers = {"Accept-Encoding": "identity", "Content-Type": "application/json"}
        if search_key:
            self._headers["Authorization"] = f"Bearer {search_key}"
        self._url = meili_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._index = index_uid
        self._max_depth = max_depth
        self._session: aiohttp.ClientSession | None = None
        self._synonyms = SynonymTerms(synonyms if synonyms is not None else load_synonyms())

    def use_synonyms(self, synonyms: dict[str, list[str]]) -> None:
        """The index's synonyms changed (learned aliases): highlight by the new ones."""
        self._synonyms = SynonymTerms(synonyms)

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the event loop that runs it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=200, ttl_dns_cache=300),
            )
        return self._session

    async def search(self, params: SearchParams) -> SearchResult:
        return SearchResult.model_validate(await self.search_fields(params))

    async def search_fields(self, params: SearchParams) -> dict[str, Any]:
        """The result as plain data (see `result_fields`), from the first node that answers.

        With a pool of nodes, a node that fails is taken out and the next one asked.
        """
        urls = self._pool.choices() if self._pool else [self._url]
        for attempt, url in enumerate(urls, start=1):
            try:
                return await self._search_on(url, params)
            except SearchUnavailable as error:
                if self._pool is None or not error.node_down:
                    raise
                self._pool.failed(url)
                if attempt == len(urls):
                    raise
                log.warning("search_node_failed_asking_next", url=url, error=str(error))
        raise AssertionError("unreachable: the pool always names a node")

    async def _search_on(self, url: str, params: SearchParams) -> dict[str, Any]:
        request = build_request(params, self._index, self._languages)
        answer = await self._multi_search(url, request)
        if answer is None:
            return result_fields(params, {})
        weights = list(QUERY_WEIGHTS[: len(answer)])
        spelled: list[str] = []
        if self._transliterate and params.q and fallback.found_little(answer, params.per_page):
            answer, weights, spelled = await self._with_guesses(
                url, params, request, answer, weights
            )
        if self._relax and params.q and relax.is_weak(answer, weights):
            answer, weights = await self._with_relaxed(url, request, answer, weights)
        merged = merge_answers(params, answer, weights)
        if is_deep(params) and merged["hits"]:
            await self._add_page_documents(url, merged["hits"], page_fields(params))
        highlighter = Highlighter(params.q, self._synonyms, also=spelled)
        if not highlighter.wanted or not merged["hits"]:
            return result_fields(params, merged, highlighter, self._max_depth)
        return await asyncio.to_thread(result_fields, params, merged, highlighter, self._max_depth)

    async def _with_guesses(
        self,
        url: str,
        params: SearchParams,
        request: dict[str, Any],
        answer: list[dict[str, Any]],
        weights: list[float],
    ) -> tuple[list[dict[str, Any]], list[float], list[str]]:
        """The answer with the hits of the Latin words' Arabic spellings (`fallback.py`).

        Also the spellings that found something: a snippet marks them as it
        marks the words typed, so the reader sees why a hit in Arabic came up.
        """
        spellings = fallback.guesses(params.q)
        if not spellings:
            return answer, weights, []
        queries = fallback.guess_queries(request["queries"][0], spellings)
        guessed = await self._multi_search(url, {"queries": queries}) or []
        found = [s for s, result in zip(spellings, guessed, strict=False) if result.get("hits")]
        return answer + guessed, weights + fallback.guess_weights(len(guessed)), found

    async def _with_relaxed(
        self,
        url: str,
        request: dict[str, Any],
        answer: list[dict[str, Any]],
        weights: list[float],
    ) -> tuple[list[dict[str, Any]], list[float]]:
        """The answer with the hits of the query's words, each left out in turn (`relax.py`)."""
        queries = relax.relaxed_queries(request["queries"])
        if not queries:
            return answer, weights
        relaxed = await self._multi_search(url, {"queries": queries}) or []
        return answer + relaxed, weights + relax.relaxed_weights(len(relaxed))

    async def _add_page_documents(
        self, url: str, hits: list[dict[str, Any]], fields: list[str]
    ) -> None:
        by_id = {hit["id"]: hit for hit in hits}
        request = documents_request(self._index, list(by_id), fields)
        [found] = await self._multi_search(url, request) or [{}]
        for document in found.get("hits", []):
            by_id[document["id"]].update(document)

    async def _multi_search(self, url: str, request: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Each query's answer from the node at `url`; None when the index is still empty."""
        try:
            endpoint = url + "/multi-search"
            async with self._open().post(endpoint, data=orjson.dumps(request)) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SearchUnavailable(f"{type(error).__name__}: {error}") from error
        answer = _json_object(raw)
        if status == 400 and answer and answer.get("code") == EMPTY_INDEX_CODE:
            # An index without documents knows no fields yet, so Meilisearch
            # refuses `attributesToSearchOn`: nothing is there to find.
            return None
        if status >= 300 or answer is None:
            raise SearchUnavailable(
                f"meilisearch answered {status}",
                raw[:500].decode(errors="replace"),
                node_down=status >= 500 or answer is None,
            )
        results: list[dict[str, Any]] = answer.get("results", [])
        return results

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _json_object(raw: bytes) -> dict[str, Any] | None:
    """The answer's JSON object; None when it is not one (a proxy's error page, say)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
