"""A Latin name that the archive writes only in Arabic, on a real Meilisearch.

The articles are real (the corpus, or its bundled subset), the index is built as the indexer
builds it, and the queries go through the readers' `SearchClient`. The
name "Federer" is in no gazetteer and in no article in Latin script: only
the transliteration fallback can find فيدرر. Messi is in the gazetteer's
synonyms: its query already works, and the fallback must leave it alone.
"""

import secrets
from collections.abc import AsyncIterator

import pytest_asyncio

from bench.latin_names import corpus_articles_naming, names
from bench.relevance import enriched_article, load_corpus_articles
from khabar_search.documents import to_document
from khabar_search.meili import MeiliWriter
from khabar_search.query import SearchClient, SearchParams
from khabar_search.synonyms import load_synonyms
from khabar_shared.events import Article
from tests.conftest import Servers

NAMES = [("Federer", ["فيدرر"]), ("Nadal", ["نادال"]), ("Messi", ["ميسي"])]


@pytest_asyncio.fixture(scope="module")
async def indexed(servers: Servers) -> AsyncIterator[tuple[str, list[Article]]]:
    articles = {a.id: a for a in load_corpus_articles(300)}
    for name in NAMES:
        articles.update({a.id: a for a in corpus_articles_naming([name])[:20]})
    writer = MeiliWriter(
        servers.meili_url, servers.meili_keys.index_key, f"articles_latin_{secrets.token_hex(4)}"
    )
    await writer.ensure_index(load_synonyms())
    await writer.apply(
        [to_document(enriched_article(a)).model_dump() for a in articles.values()], []
    )
    yield writer.index_uid, list(articles.values())
    await writer.delete_index()


async def hit_ids(servers: Servers, index: str, q: str, transliterate: bool) -> list[str]:
    client = SearchClient(
        servers.meili_url, servers.meili_keys.search_key, index, transliterate=transliterate
    )
    try:
        return [hit.id for hit in (await client.search(SearchParams(q=q, per_page=10))).hits]
    finally:
        await client.aclose()


async def test_a_latin_name_finds_its_arabic_spelling(
    servers: Servers, indexed: tuple[str, list[Article]]
) -> None:
    index, articles = indexed
    for latin, spellings in NAMES[:2]:
        relevant = {a.id for a in articles if names(a, spellings)}
        assert relevant, f"the corpus has no article naming {latin}"
        assert not set(await hit_ids(servers, index, latin, transliterate=False)) & relevant
        found = await hit_ids(servers, index, latin, transliterate=True)
        assert set(found[:3]) & relevant, (latin, found)


async def test_a_query_that_works_is_left_as_it_is(
    servers: Servers, indexed: tuple[str, list[Article]]
) -> None:
    index, _ = indexed
    plain = await hit_ids(servers, index, "Messi", transliterate=False)
    assert len(plain) == 10
    assert await hit_ids(servers, index, "Messi", transliterate=True) == plain


async def test_a_hit_found_by_a_guessed_spelling_shows_it_marked(
    servers: Servers, indexed: tuple[str, list[Article]]
) -> None:
    """The reader typed Nadal; the snippet marks نادال, so the Arabic hit explains itself."""
    index, _ = indexed
    client = SearchClient(servers.meili_url, servers.meili_keys.search_key, index)
    try:
        hits = (await client.search(SearchParams(q="Nadal", per_page=10))).hits
    finally:
        await client.aclose()
    assert hits
    assert "<mark>نادال</mark>" in hits[0].snippet, hits[0].snippet
