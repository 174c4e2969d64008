"""One hit per story, on a real Meilisearch.

Three papers reprint one agency story about rain in Jazan (enrich gives the
tellings one story id); a fourth article, on another day, is the one the
reader remembers: Jazan's dam filling after the rain. Every telling of the
reprinted story matches the reader's words as well as the sought article
does, so without stories the reader scrolls past the same story three times.
"""

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest_asyncio

from bench.relevance import enriched_article
from khabar_search.documents import to_document
from khabar_search.meili import MeiliWriter
from khabar_search.query import SearchClient, SearchParams
from khabar_search.synonyms import load_synonyms
from khabar_shared.events import Article
from tests.conftest import Servers

RAIN_STORY = "rain-spa"
RAIN = {"rain-spa": "spa", "rain-okaz": "okaz", "rain-riyadh": "alriyadh"}
DAM = "dam-jazan"
QUERY = "امطار جازان"


def article(article_id: str, headline: str, body: str, source: str, hours: int) -> Article:
    return Article(
        id=article_id,
        uri=f"urn:test:{article_id}",
        language="ar",
        headline=headline,
        body_html=f"<p>{body}</p>",
        category="local",
        source=source,
        versioncreated=datetime(2015, 8, 1, tzinfo=UTC) + timedelta(hours=hours),
    )


def archive() -> list[tuple[Article, str]]:
    """(article, enrich's story id)."""
    reprints = [
        (
            article(
                article_id,
                "أمطار غزيرة على جازان",
                "هطلت أمطار غزيرة على جازان أمس وجرت الأودية في المنطقة.",
                source,
                hours,
            ),
            RAIN_STORY,
        )
        for hours, (article_id, source) in enumerate(RAIN.items())
    ]
    dam = article(
        DAM,
        "سد جازان يمتلئ بعد الأمطار",
        "امتلأ سد وادي جازان بعد أمطار الأسبوع الماضي.",
        "alwatan",
        72,
    )
    return [*reprints, (dam, DAM)]


@pytest_asyncio.fixture(scope="module")
async def index(servers: Servers) -> AsyncIterator[str]:
    writer = MeiliWriter(
        servers.meili_url, servers.meili_keys.index_key, f"articles_stories_{secrets.token_hex(4)}"
    )
    await writer.ensure_index(load_synonyms())
    documents = [to_document(enriched_article(a, story_id=story)) for a, story in archive()]
    await writer.apply([d.model_dump() for d in documents], [])
    yield writer.index_uid
    await writer.delete_index()


async def search(servers: Servers, index: str, **params: object) -> list[tuple[str, str]]:
    """(id, source) of each hit."""
    client = SearchClient(servers.meili_url, servers.meili_keys.search_key, index)
    try:
        result = await client.search(SearchParams.model_validate(params))
        return [(hit.id, hit.source) for hit in result.hits]
    finally:
        await client.aclose()


async def test_each_story_is_one_hit_and_a_source_filter_shows_that_papers_telling(
    servers: Servers, index: str
) -> None:
    found = await search(servers, index, q=QUERY)
    ids = [article_id for article_id, _ in found]
    assert DAM in ids, found
    assert len([i for i in ids if i in RAIN]) == 1, found
    assert len(ids) == 2, found
    for article_id, source in RAIN.items():
        found = await search(servers, index, q=QUERY, source=source)
        assert found == [(article_id, source)], found


async def test_newest_first_shows_each_storys_newest_telling(servers: Servers, index: str) -> None:
    found = await search(servers, index, q=QUERY, sort="newest")
    assert [article_id for article_id, _ in found] == [DAM, "rain-riyadh"], found
    browsing = await search(servers, index)
    assert [article_id for article_id, _ in browsing] == [DAM, "rain-riyadh"], browsing
