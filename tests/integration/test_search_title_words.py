"""Where the reader's words are counts beside how many, on a real Meilisearch.

The reader read elsewhere that Hollande announced a hostage's release and
types three words of that headline: "هولاند رهينه يعلن". Our telling's
headline holds two of them ("هولاند: تحرير رهينة ..."). A long column holds
all three scattered through its body, "رهيبة" (terrible) standing for
"رهينة" by one typo, as Meilisearch's typo tolerance allows. Meilisearch
counts the words a document holds anywhere before it asks where they are,
so without `title_cover` (`query.py`) the column comes first.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio

from khabar_search.query import SearchClient, SearchParams
from khabar_shared.events import Article
from tests.conftest import Servers
from tests.integration.search_fixtures import ArabicArchive, archive_index, hit_ids

TARGET = "hostage-freed"
COLUMN = "europe-column"
REMEMBERED = "هولاند رهينه يعلن"


article = ArabicArchive("local", datetime(2015, 8, 1, tzinfo=UTC)).article


def archive() -> list[Article]:
    filler = " ".join(["وتناول الكاتب أحوال الاقتصاد في أوروبا وأسعار الطاقة."] * 6)
    articles = [
        article(
            TARGET,
            "هولاند: تحرير رهينة فرنسية في اليمن",
            "قال الرئيس الفرنسي إن الرهينة التي خطفت قبل خمسة أشهر في طريق عودتها.",
            0,
        ),
        article(
            COLUMN,
            "أسبوع في السياسة الأوروبية",
            f"ينتظر أن يعلن الاتحاد خطته. {filler} وتلقى هولاند انتقادات. {filler} "
            "وكانت خسارة الحزب رهيبة في الانتخابات المحلية.",
            1,
        ),
    ]
    # "يعلن" is the commonest of the three words and "رهينة" the rarest.
    for n in range(15):
        articles.append(article(f"announce-{n}", f"الاتحاد يعلن جدول الدوري {n}", "جدول.", n))
    for n in range(4):
        articles.append(article(f"hollande-{n}", f"هولاند يزور المغرب {n}", "زيارة.", n))
    return articles


@pytest_asyncio.fixture(scope="module")
async def index(servers: Servers) -> AsyncIterator[str]:
    async with archive_index(servers, "articles_title", archive()) as uid:
        yield uid


async def test_words_in_a_headline_come_before_the_same_words_scattered_in_a_body(
    servers: Servers, index: str
) -> None:
    found = await hit_ids(servers, index, REMEMBERED)
    assert COLUMN in found, found
    assert found[0] == TARGET, found


async def test_a_deep_page_ranks_as_the_first(servers: Servers, index: str) -> None:
    # Past the inline bodies, hits bring only what ranking needs: the title terms too.
    client = SearchClient(servers.meili_url, servers.meili_keys.search_key, index)
    try:
        deep = await client.search(SearchParams(q=REMEMBERED, per_page=51))
        first = await client.search(SearchParams(q=REMEMBERED, per_page=10))
    finally:
        await client.aclose()
    assert deep.hits[0].id == TARGET
    assert [hit.id for hit in deep.hits[:10]] == [hit.id for hit in first.hits]
