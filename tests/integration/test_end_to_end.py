"""The whole pipeline on real Redis and Meilisearch: post, find, read, update, withdraw."""

import html
import re
from typing import Any

import httpx
import pytest

from tests.conftest import System
from tests.support import eventually, real_articles, to_ninjs


def post(system: System, document: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{system.ingest_url}/v1/articles",
        json=document,
        headers={"Authorization": f"Bearer {system.ingest_key}"},
        timeout=10,
    )


def search_ids(system: System, query: str) -> list[str]:
    answer = httpx.get(f"{system.search_url}/v1/search", params={"q": query}, timeout=10)
    answer.raise_for_status()
    return [hit["id"] for hit in answer.json()["hits"]]


def page(system: System, article_id: str) -> httpx.Response:
    return httpx.get(f"{system.render_url}/articles/{article_id}", timeout=10)


def headline_of(page_html: str) -> str:
    found = re.search(r"<h1[^>]*>(.*?)</h1>", page_html, re.DOTALL)
    assert found, "the page has no <h1>"
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def body_word(document: dict[str, Any]) -> str:
    """A long, distinctive Arabic word from the body (not the headline)."""
    text = re.sub(r"<[^>]+>", " ", document["body_html"])
    words = [w for w in re.findall(r"[\u0621-\u064A]+", text) if len(w) >= 7]
    assert words, "the article needs long Arabic words"
    return max(words, key=len)


@pytest.fixture(scope="module")
def article(system: System) -> dict[str, Any]:
    return to_ninjs(real_articles(1, min_words=120)[0])


def test_publish_update_withdraw(system: System, article: dict[str, Any]) -> None:
    accepted = post(system, article)
    assert accepted.status_code == 202, accepted.text
    answer = accepted.json()
    article_id, word = answer["article_id"], body_word(article)
    assert answer["version"] == 1 and answer["event_id"]

    eventually(lambda: article_id in search_ids(system, word))
    shown = eventually(lambda: (r := page(system, article_id)).status_code == 200 and r)
    assert 'dir="rtl"' in shown.text and 'lang="ar"' in shown.text
    assert headline_of(shown.text) == article["headline"]

    new_headline = article["headline"] + " — تحديث"
    updated = post(system, {**article, "headline": new_headline})
    assert updated.status_code == 202 and updated.json()["version"] == 2
    eventually(lambda: headline_of(page(system, article_id).text) == new_headline)
    eventually(
        lambda: any(
            hit["headline"] == new_headline
            for hit in httpx.get(f"{system.search_url}/v1/search", params={"q": word}).json()[
                "hits"
            ]
        )
    )

    withdrawn = post(system, {**article, "headline": new_headline, "pubstatus": "canceled"})
    assert withdrawn.status_code == 202 and withdrawn.json()["version"] == 3
    eventually(lambda: article_id not in search_ids(system, word))
    eventually(lambda: page(system, article_id).status_code == 410)


def test_current_version_and_status(system: System, article: dict[str, Any]) -> None:
    article_id = post(system, {**article, "uri": article["uri"] + "-status"}).json()["article_id"]
    current = httpx.get(
        f"{system.ingest_url}/v1/articles/{article_id}",
        headers={"Authorization": f"Bearer {system.ingest_key}"},
    )
    assert current.status_code == 200
    assert current.json()["version"] == 1 and current.json()["status"] == "usable"
