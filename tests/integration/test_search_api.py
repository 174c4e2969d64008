"""`GET /v1/search` and `GET /search` from a real search service process over real articles."""

import asyncio
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.relevance import enriched_article, load_corpus_articles
from khabar_dev.processes import ProcessGroup, free_port, start_service
from khabar_ingest.formats.ninjs import Limits
from khabar_search.documents import to_document
from khabar_search.meili import MeiliWriter
from khabar_search.synonyms import load_synonyms
from khabar_shared.dates import human_date
from tests.conftest import Servers

BURST = 60
# Fewer than the index's 300 articles: the deepest page is reachable in these tests.
MAX_DEPTH = 200


def load_index(servers: Servers, index: str, count: int) -> None:
    async def run() -> None:
        writer = MeiliWriter(servers.meili_url, servers.meili_keys.index_key, index)
        await writer.ensure_index(load_synonyms())
        docs = [to_document(enriched_article(a)).model_dump() for a in load_corpus_articles(count)]
        await writer.apply(docs, [])

    # In a thread of its own: a sync Playwright in the same test owns this thread's loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def run_search_service(
    servers: Servers, logs: Path, count: int, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """A search service process over an index of `count` real articles; yields its URL."""
    index = f"articles_api_{secrets.token_hex(3)}"
    load_index(servers, index, count)
    env = {
        "KHABAR_REDIS_URL": servers.redis_url,
        "KHABAR_MEILI_URL": servers.meili_url,
        "KHABAR_MEILI_INDEX": index,
        "KHABAR_MEILI_INDEX_KEY": servers.meili_keys.index_key,
        "KHABAR_MEILI_SEARCH_KEY": servers.meili_keys.search_key,
        "KHABAR_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    group = ProcessGroup()
    port = free_port()
    try:
        start_service(group, "search", env, port, log_path=logs / "search.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        group.stop_all()


@pytest.fixture(scope="module")
def search_url(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from run_search_service(
        servers,
        tmp_path_factory.mktemp("search-api"),
        300,
        {
            "KHABAR_RATE_LIMIT_PER_MINUTE": "1",
            "KHABAR_RATE_LIMIT_BURST": str(BURST),
            "KHABAR_MAX_RESULT_DEPTH": str(MAX_DEPTH),
            "KHABAR_SITE_TIME_ZONE": "Asia/Riyadh",
            "KHABAR_SITE_BASE_URL": "https://khabar.example",
        },
    )


def get(url: str, path: str = "/v1/search", **params: Any) -> httpx.Response:
    return httpx.get(url + path, params=params, timeout=10)


def test_hits_carry_what_a_result_list_shows(search_url: str) -> None:
    answer = get(search_url, q="ترمب", per_page=5)
    assert answer.status_code == 200
    result = answer.json()
    assert result["total"] >= 5 and len(result["hits"]) == 5
    hit = result["hits"][0]
    assert {"id", "headline", "lead", "category", "tags", "published_at", "url", "snippet"} <= set(
        hit
    )
    assert hit["url"] == f"/articles/{hit['id']}"
    assert any("<mark>" in h["snippet"] for h in result["hits"])
    assert all("<script" not in h["snippet"] for h in result["hits"])
    assert set(result["facets"]) == {"category", "tag", "source"}
    assert sum(result["facets"]["category"].values()) == result["total"]
    assert "person:donald-trump" in result["facets"]["tag"]
    assert result["tag_names"]["person:donald-trump"]


def test_filters_narrow_and_facets_agree(search_url: str) -> None:
    everything = get(search_url, q="كأس العالم").json()
    category, count = max(everything["facets"]["category"].items(), key=lambda kv: kv[1])
    narrowed = get(search_url, q="كأس العالم", category=category, per_page=50).json()
    assert narrowed["total"] == count
    assert all(h["category"] == category for h in narrowed["hits"])

    tag, tagged = next(iter(everything["facets"]["tag"].items()))
    by_tag = get(search_url, q="كأس العالم", tag=tag, per_page=50).json()
    assert by_tag["total"] == tagged
    assert all(tag in [t["id"] for t in h["tags"]] for h in by_tag["hits"])

    source = next(iter(everything["facets"]["source"]))
    assert all(
        h["source"] == source for h in get(search_url, q="كأس العالم", source=source).json()["hits"]
    )


def test_dates_sort_and_pages(search_url: str) -> None:
    newest = get(search_url, q="الرئيس", sort="newest", per_page=20).json()["hits"]
    stamps = [datetime.fromisoformat(h["published_at"]) for h in newest]
    assert stamps == sorted(stamps, reverse=True)

    march = get(
        search_url, q="الرئيس", **{"from": "2018-03-01", "to": "2018-03-31"}, per_page=50
    ).json()
    assert march["total"] > 0
    assert all(h["published_at"][:7] == "2018-03" for h in march["hits"])

    first = get(search_url, q="الرئيس", per_page=5, page=1).json()
    second = get(search_url, q="الرئيس", per_page=5, page=2).json()
    assert first["pages"] >= 2
    assert not {h["id"] for h in first["hits"]} & {h["id"] for h in second["hits"]}


def test_pages_stop_at_the_deepest_result_and_past_it_readers_refine(search_url: str) -> None:
    everything = get(search_url, per_page=1).json()  # no query: every article, newest first
    assert everything["total"] > MAX_DEPTH
    assert everything["pages"] == MAX_DEPTH
    last = get(search_url, page=MAX_DEPTH // 10, per_page=10)
    assert last.status_code == 200 and len(last.json()["hits"]) == 10
    past = get(search_url, page=MAX_DEPTH // 10 + 1, per_page=10)
    assert past.status_code == 400
    assert past.headers["content-type"].startswith("application/problem+json")
    assert "refine your search" in past.json()["detail"]
    assert f"at most {MAX_DEPTH}" in past.json()["errors"][0]["detail"]


BAD_REQUESTS = [
    ({"page": "0"}, "page"),
    ({"page": "abc"}, "page"),
    ({"page": "1001"}, "page"),
    ({"page": str(MAX_DEPTH // 10 + 1), "per_page": "10"}, "page"),
    ({"page": str(MAX_DEPTH // 50 + 1), "per_page": "50"}, "page"),
    ({"per_page": "0"}, "per_page"),
    ({"per_page": "500"}, "per_page"),
    ({"sort": "oldest"}, "sort"),
    ({"from": "2018-13-01"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"from": "2018-05-01", "to": "2018-01-01"}, "from"),
    ({"q": "ا" * 201}, "q"),
    ({"lang": "arabic"}, "lang"),
    ({"category": "a b"}, "category"),
    ({"tag": "no-type-prefix"}, "tag"),
    ({"source": "x" * (Limits().max_byline_chars + 1)}, "source"),
]


@pytest.mark.parametrize(("params", "name"), BAD_REQUESTS, ids=[n for _, n in BAD_REQUESTS])
def test_bad_parameters_get_a_problem_naming_them(
    search_url: str, params: dict[str, str], name: str
) -> None:
    answer = get(search_url, **params)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == 400 and name in problem["detail"]
    assert name in [error["pointer"] for error in problem["errors"]]


def test_a_source_as_long_as_ingest_takes_is_a_filter_not_a_bad_request(search_url: str) -> None:
    """The page links every source facet: one a newsroom sent at ingest's limit must work."""
    longest = "و" * Limits().max_byline_chars
    answer = get(search_url, "/search", q="كأس العالم", source=longest)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")


def test_page_works_without_javascript(search_url: str) -> None:
    page = get(search_url, "/search", q="فيفا")
    assert page.status_code == 200
    assert 'dir="rtl"' in page.text and 'lang="ar"' in page.text
    assert page.text.count('class="hit"') >= 3
    link = re.search(
        r'<section class="facet" data-facet="category">.*?<a href="([^"]+)"', page.text, re.DOTALL
    )
    assert link, "no category filter links"
    filtered = httpx.get(search_url + link.group(1).replace("&amp;", "&"), timeout=10)
    assert filtered.status_code == 200 and 'class="active-filters"' in filtered.text
    english = get(search_url, "/search", q="FIFA")
    assert 'dir="ltr"' in english.text and english.text.count('class="hit"') >= 3


def test_the_search_page_is_a_page_of_the_site(search_url: str) -> None:
    first = get(search_url, q="فيفا", per_page=10).json()["hits"][0]
    page = get(search_url, "/search", q="فيفا")
    metas = re.findall(r'<p class="meta">(.*?)</p>', page.text)
    assert metas, "hits show no meta line"
    # Dates as the site shows them: its time zone, Arabic months; no empty part between dots.
    when = human_date(datetime.fromisoformat(first["published_at"]), "ar", "Asia/Riyadh")
    assert when in metas[0]
    assert all(not m.startswith(" ·") and " ·  · " not in m and not m.endswith("· ") for m in metas)
    assert '<a class="home-link" href="https://khabar.example/">خبر</a>' in page.text
    # Through the edge, the site's own header and footer, from render, by ESI.
    edge = httpx.get(
        search_url + "/search",
        params={"q": "فيفا"},
        timeout=10,
        headers={"Surrogate-Capability": 'khabar="ESI/1.0"'},
    )
    assert edge.headers["surrogate-control"] == 'content="ESI/1.0"'
    assert '<esi:include src="/fragments/header?lang=ar"/>' in edge.text
    assert '<esi:include src="/fragments/footer?lang=ar"/>' in edge.text
    assert "home-link" not in edge.text


def test_rate_limit_answers_429_with_retry_after(search_url: str) -> None:
    """Runs last: spends this client's whole burst."""
    statuses = [get(search_url, q="فيفا", per_page=1).status_code for _ in range(BURST + 1)]
    assert 429 in statuses
    limited = get(search_url, q="فيفا")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["status"] == 429
    assert get(search_url, "/healthz").status_code == 200  # operations are never limited


def test_an_empty_index_answers_no_hits_not_an_error(servers: Servers) -> None:
    """Before the first article, Meilisearch refuses `attributesToSearchOn`; readers see 0 hits."""
    from khabar_search.query import SearchClient, SearchParams

    async def run() -> int:
        index = f"articles_empty_{secrets.token_hex(3)}"
        writer = MeiliWriter(servers.meili_url, servers.meili_keys.index_key, index)
        await writer.ensure_index(load_synonyms())
        client = SearchClient(servers.meili_url, servers.meili_keys.search_key, index)
        try:
            return (await client.search(SearchParams(q="والحكومة"))).total
        finally:
            await client.aclose()
            await writer.delete_index()

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, run()).result() == 0


def test_meilisearch_refusing_or_absent_is_search_unavailable(servers: Servers) -> None:
    """A wrong key (Meilisearch answers 403) and a dead address both surface as one error type."""
    from khabar_search.query import SearchClient, SearchParams, SearchUnavailable

    async def attempt(url: str, key: str) -> SearchUnavailable:
        client = SearchClient(url, key, "articles", timeout_s=2)
        try:
            await client.search(SearchParams(q="الحكومة"))
        except SearchUnavailable as error:
            return error
        finally:
            await client.aclose()
        raise AssertionError("the search did not fail")

    async def run() -> tuple[SearchUnavailable, SearchUnavailable]:
        refused = await attempt(servers.meili_url, "not-a-key")
        absent = await attempt(f"http://127.0.0.1:{free_port()}", "")
        return refused, absent

    with ThreadPoolExecutor(1) as pool:
        refused, absent = pool.submit(asyncio.run, run()).result()
    assert "403" in str(refused) and "invalid_api_key" in refused.answer
    assert absent.answer == "" and "Connect" in str(absent)


def test_deep_pages_fetch_their_bodies_and_get_the_same_snippets(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the first pages, hits come without bodies and the page's bodies are fetched by id."""
    from khabar_search import query
    from khabar_search.query import SearchClient, SearchParams

    index = f"articles_bodies_{secrets.token_hex(3)}"
    load_index(servers, index, 300)
    params = SearchParams(q="الرئيس", per_page=20)

    async def run() -> tuple[list[str], list[str]]:
        client = SearchClient(servers.meili_url, servers.meili_keys.search_key, index)
        try:
            inline = await client.search(params)
            monkeypatch.setattr(query, "MAX_INLINE_BODIES", 0)
            assert (
                "body"
                not in query.build_request(params, index)["queries"][0]["attributesToRetrieve"]
            )
            fetched = await client.search(params)
        finally:
            await client.aclose()
        return [h.snippet for h in inline.hits], [h.snippet for h in fetched.hits]

    with ThreadPoolExecutor(1) as pool:
        inline, fetched = pool.submit(asyncio.run, run()).result()
    assert len(inline) == 20 and fetched == inline
    # The bodies were there: most snippets are passages of them, not the leads' first words.
    assert sum(snippet.startswith("…") for snippet in fetched) >= 10
