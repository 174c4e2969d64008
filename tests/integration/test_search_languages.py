"""Articles in Chinese, French and German, posted to ingest, found by readers in their words.

Agency feeds carry these languages beside Arabic and English. Each article
goes through the whole pipeline (ingest → enrich → search, and render for
its page) and is searched with the words a reader of that language types:
a Chinese dictionary word of four or more characters, a part of a German
compound, a French word written with an elided article.
"""

from typing import Any

import httpx
import pytest

from tests.conftest import System
from tests.support import eventually

ARTICLES: dict[str, dict[str, Any]] = {
    "zh": {
        "uri": "urn:test:lang:zh:1",
        "language": "zh-CN",
        "headline": "中国人民银行宣布下调存款准备金率",
        "body_html": (
            "<p>中国人民银行周五宣布，将于下月下调金融机构存款准备金率0.5个百分点，"
            "预计释放长期资金约一万亿元。</p><p>分析人士认为，此举旨在支持实体经济，"
            "降低企业融资成本。</p>"
        ),
        "versioncreated": "2026-12-01T08:00:00+08:00",
    },
    "de": {
        "uri": "urn:test:lang:de:1",
        "language": "de",
        "headline": "Bundestag verabschiedet Klimaschutzgesetz",
        "body_html": (
            "<p>Der Bundestag hat am Mittwoch das neue Klimaschutzgesetz verabschiedet. "
            "Die Bundesregierung will damit die Emissionen bis 2030 deutlich senken.</p>"
        ),
        "versioncreated": "2026-12-01T10:00:00+01:00",
    },
    "fr": {
        "uri": "urn:test:lang:fr:1",
        "language": "fr",
        "headline": "L'économie française résiste à l'inflation",
        "body_html": (
            "<p>Selon l'Insee, l'activité a progressé de 0,4 % au troisième trimestre, "
            "portée par la consommation des ménages et la réforme des retraites.</p>"
        ),
        "versioncreated": "2026-12-01T09:00:00+01:00",
    },
}

# (language, what a reader types, why the article must be found)
QUERIES = [
    ("zh", "人民银行", "a four-character word of the headline"),
    ("zh", "存款准备金率", "a six-character word of the headline"),
    ("zh", "实体经济", "a four-character word of the body"),
    ("de", "Gesetz", "the last part of the compound Klimaschutzgesetz"),
    ("de", "Klimaschutzgesetz", "the compound as written"),
    ("fr", "économie", "the noun behind the elided article of L'économie"),
    ("fr", "retraites", "a plain word of the body"),
]


def post(system: System, document: dict[str, Any]) -> str:
    answer = httpx.post(
        f"{system.ingest_url}/v1/articles",
        json=document,
        timeout=10,
        headers={"Authorization": f"Bearer {system.ingest_key}"},
    )
    assert answer.status_code == 202, answer.text
    article_id: str = answer.json()["article_id"]
    return article_id


def search_ids(system: System, query: str, **filters: str) -> list[str]:
    answer = httpx.get(f"{system.search_url}/v1/search", params={"q": query, **filters}, timeout=10)
    answer.raise_for_status()
    return [hit["id"] for hit in answer.json()["hits"]]


@pytest.fixture(scope="module")
def article_ids(system: System) -> dict[str, str]:
    ids = {language: post(system, document) for language, document in ARTICLES.items()}
    for article_id in ids.values():
        # Rendered means enriched: its search document is on its way too.
        eventually(
            lambda article_id=article_id: (
                httpx.get(f"{system.render_url}/articles/{article_id}", timeout=10).status_code
                == 200
                or None
            )
        )
    return ids


@pytest.mark.parametrize(("language", "query", "why"), QUERIES)
def test_a_reader_finds_the_article_in_its_language(
    system: System, article_ids: dict[str, str], language: str, query: str, why: str
) -> None:
    wanted = article_ids[language]
    found = eventually(lambda: wanted in (ids := search_ids(system, query)) and ids, timeout_s=15)
    assert found[0] == wanted, f"{query!r} ({why}) ranked {found}"


@pytest.mark.parametrize("language", sorted(ARTICLES))
def test_the_language_filter_tokenizes_the_query_as_that_language(
    system: System, article_ids: dict[str, str], language: str
) -> None:
    query = next(query for lang, query, _ in QUERIES if lang == language)
    ids = eventually(lambda: search_ids(system, query, lang=language) or None)
    assert ids == [article_ids[language]]


def test_each_page_is_written_in_its_language(system: System, article_ids: dict[str, str]) -> None:
    for language, article_id in article_ids.items():
        page = httpx.get(f"{system.render_url}/articles/{article_id}", timeout=10)
        assert page.status_code == 200
        assert f'lang="{ARTICLES[language]["language"]}"' in page.text
        assert 'dir="ltr"' in page.text
