"""Small hand-made archives on a real Meilisearch, for the search ranking tests.

Each test module writes its own few Arabic articles (a story, its decoys and
the common words around them) into an index of its own, built as search
builds its documents, and reads it through `SearchClient`.
"""

import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench.relevance import enriched_article
from khabar_search.documents import to_document
from khabar_search.meili import MeiliWriter
from khabar_search.query import SearchClient, SearchParams
from khabar_search.synonyms import load_synonyms
from khabar_shared.events import Article
from tests.conftest import Servers


@dataclass(frozen=True)
class ArabicArchive:
    """Builds a module's articles: one section, day numbers counted from `first_day`."""

    category: str
    first_day: datetime

    def article(self, article_id: str, headline: str, body: str, day: int) -> Article:
        """An Arabic article of one paragraph, published `day` days after the first."""
        return Article(
            id=article_id,
            uri=f"urn:test:{article_id}",
            language="ar",
            headline=headline,
            body_html=f"<p>{body}</p>",
            category=self.category,
            versioncreated=self.first_day + timedelta(days=day),
        )


@asynccontextmanager
async def archive_index(
    servers: Servers, prefix: str, articles: Iterable[Article]
) -> AsyncIterator[str]:
    """An index of its own (`<prefix>_<random>`) holding `articles`; deleted afterwards."""
    writer = MeiliWriter(
        servers.meili_url, servers.meili_keys.index_key, f"{prefix}_{secrets.token_hex(4)}"
    )
    await writer.ensure_index(load_synonyms())
    await writer.apply([to_document(enriched_article(a)).model_dump() for a in articles], [])
    try:
        yield writer.index_uid
    finally:
        await writer.delete_index()


async def hit_ids(servers: Servers, index: str, q: str, **client_options: bool) -> list[str]:
    """The ids of the first page of hits for `q` (options as SearchClient takes them)."""
    client = SearchClient(servers.meili_url, servers.meili_keys.search_key, index, **client_options)
    try:
        return [hit.id for hit in (await client.search(SearchParams(q=q, per_page=10))).hits]
    finally:
        await client.aclose()
