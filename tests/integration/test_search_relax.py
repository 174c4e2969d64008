"""Words remembered from another paper's telling, on a real Meilisearch.

The reader read about a fuel-price plan elsewhere and types three words of
that telling: "زاهر" (bright) from the other paper's headline, then "الوقود"
and "الصيف". Our telling has the last two but not "زاهر", which only an
unrelated article holds. Meilisearch's `frequency` strategy drops the common
words first and keeps the rare one, so without relaxation the unrelated
article is all the reader gets.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio

from khabar_shared.events import Article
from tests.conftest import Servers
from tests.integration.search_fixtures import ArabicArchive, archive_index, hit_ids

TARGET = "fuel-plan"
ELSEWHERE = "bright-future"
REMEMBERED = "زاهر الوقود الصيف"


article = ArabicArchive("economy", datetime(2018, 6, 1, tzinfo=UTC)).article


def archive() -> list[Article]:
    articles = [
        article(
            TARGET,
            "الحكومة تعلن خطة لخفض أسعار الوقود قبل الصيف",
            "قالت وزارة الطاقة إن أسعار الوقود ستنخفض مع بداية الصيف المقبل.",
            0,
        ),
        article(
            ELSEWHERE,
            "مستقبل زاهر ينتظر الشباب في المدينة",
            "قال رئيس البلدية إن مستقبلا زاهرا ينتظر شباب المدينة.",
            1,
        ),
    ]
    # Many articles name one of the two shared words, none both: each word alone is common.
    for n in range(12):
        articles.append(
            article(f"fuel-{n}", f"محطات الوقود في المنطقة {n}", "ازدحام عند محطات الوقود.", n)
        )
        articles.append(
            article(f"summer-{n}", f"مهرجان الصيف في المدينة {n}", "عروض فنية طوال الصيف.", n)
        )
    return articles


@pytest_asyncio.fixture(scope="module")
async def index(servers: Servers) -> AsyncIterator[str]:
    async with archive_index(servers, "articles_relax", archive()) as uid:
        yield uid


async def test_words_from_another_telling_find_ours(servers: Servers, index: str) -> None:
    assert TARGET not in await hit_ids(servers, index, REMEMBERED, relax_weak=False)
    found = await hit_ids(servers, index, REMEMBERED, relax_weak=True)
    assert found[0] == TARGET, found


async def test_a_query_whose_best_hit_is_good_is_left_as_it_is(
    servers: Servers, index: str
) -> None:
    for q in ("خطة أسعار الوقود", "مستقبل زاهر الشباب"):
        plain = await hit_ids(servers, index, q, relax_weak=False)
        assert plain, q
        assert await hit_ids(servers, index, q, relax_weak=True) == plain
