"""Readers' queries: validated parameters in, ranked hits with snippets out.

Queries go to Meilisearch with the search-only key over a pooled async HTTP
client: the hot path never blocks the event loop and never holds a writer's key.
"""

import html
from datetime import UTC, date, datetime, time
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from khabar_shared.text import detect_language


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


class Hit(BaseModel):
    id: str
    headline: str
    lead: str
    category: str
    tags: list[str]
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
    facets: dict[str, dict[str, int]]


FACETS = ["category", "tag_ids", "source"]
# Sentinels Meilisearch puts around matches; the text is escaped before they become <mark>.
MARK_START, MARK_END = "\x01", "\x02"


def snippet_html(formatted: str) -> str:
    """The matched passage as safe HTML: escaped text, matches in <mark>."""
    escaped = html.escape(formatted, quote=False)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


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


def build_request(params: SearchParams) -> dict[str, Any]:
    body: dict[str, Any] = {
        "q": params.q,
        "filter": build_filters(params),
        "page": params.page,
        "hitsPerPage": params.per_page,
        "facets": FACETS,
        "attributesToCrop": ["lead:40"],
        "attributesToHighlight": ["headline", "lead"],
        "highlightPreTag": MARK_START,
        "highlightPostTag": MARK_END,
        "matchingStrategy": "last",
    }
    if params.q:
        body["locales"] = ["ara"] if detect_language(params.q) == "ar" else ["eng"]
    if params.sort == "newest" or not params.q:
        body["sort"] = ["published:desc"]
    return body


def to_result(params: SearchParams, answer: dict[str, Any]) -> SearchResult:
    hits = [
        Hit(
            id=hit["id"],
            headline=hit["headline"],
            lead=hit.get("lead", ""),
            category=hit.get("category", ""),
            tags=hit.get("tag_ids", []),
            published_at=hit.get("published_at", ""),
            url=hit.get("url", f"/articles/{hit['id']}"),
            snippet=snippet_html(hit.get("_formatted", {}).get("lead", "")),
        )
        for hit in answer.get("hits", [])
    ]
    return SearchResult(
        query=params.q,
        total=answer.get("totalHits", 0),
        page=answer.get("page", params.page),
        per_page=params.per_page,
        pages=answer.get("totalPages", 0),
        hits=hits,
        facets=answer.get("facetDistribution", {}),
    )


class SearchClient:
    def __init__(self, meili_url: str, search_key: str, index_uid: str) -> None:
        headers = {"Authorization": f"Bearer {search_key}"} if search_key else {}
        self._http = httpx.AsyncClient(base_url=meili_url, headers=headers, timeout=10.0)
        self._path = f"/indexes/{index_uid}/search"

    async def search(self, params: SearchParams) -> SearchResult:
        response = await self._http.post(self._path, json=build_request(params))
        response.raise_for_status()
        return to_result(params, response.json())

    async def aclose(self) -> None:
        await self._http.aclose()
