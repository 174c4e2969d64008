"""Readers on `/search` meet 400, 429 and 503 as pages of the site; programs keep the problems.

A real search service over its own real Meilisearch (killed by the last test,
for the outage) and the session's Redis (the rate limit's buckets). Each test
is its own reader: the connection comes from a trusted proxy, so the reader is
the address in `X-Forwarded-For`.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from khabar_dev.processes import ManagedProcess, ProcessGroup, free_port, start_meili
from khabar_shared.meili_setup import provision_keys
from tests.conftest import Servers
from tests.integration.test_search_api import run_search_service

BURST = 4
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@dataclass
class Search:
    url: str
    meili: ManagedProcess

    def get(self, reader: str, path: str, accept: str, **params: Any) -> httpx.Response:
        headers = {"Accept": accept, "X-Forwarded-For": reader}
        return httpx.get(self.url + path, params=params, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def search(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Search]:
    base = tmp_path_factory.mktemp("search-error-pages")
    group = ProcessGroup()
    try:
        meili_url = start_meili(group, base / "meili", free_port(), servers.meili_master_key)
        meili = group.processes[-1]
        # Keys made from one master key and fixed uids are the same on every Meilisearch.
        keys = provision_keys(meili_url, servers.meili_master_key)
        own = Servers(servers.redis_url, meili_url, servers.meili_master_key, keys)
        env = {
            "KHABAR_RATE_LIMIT_PER_MINUTE": "1",  # nothing refills during a test
            "KHABAR_RATE_LIMIT_BURST": str(BURST),
            "KHABAR_TRUSTED_PROXIES": "127.0.0.1/32",
            "KHABAR_SITE_BASE_URL": "https://khabar.example",
        }
        for url in run_search_service(own, base, 30, env):
            yield Search(url, meili)
    finally:
        group.stop_all()


def assert_site_page(page: httpx.Response, status: int, lang: str = "ar") -> None:
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    direction = "rtl" if lang == "ar" else "ltr"
    assert f'<html lang="{lang}" dir="{direction}">' in page.text
    assert '<a class="home-link" href="https://khabar.example/">' in page.text
    assert f'data-status="{status}"' in page.text
    assert 'role="search"' in page.text  # the reader can search again from the page
    assert "accept" in page.headers["vary"].lower()


def assert_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = answer.json()
    assert problem["status"] == status
    return problem


BAD = [
    ({"q": "ا" * 201}, "q", "ar"),
    ({"q": "فيفا", "page": "abc"}, "page", "ar"),
    ({"q": "FIFA", "from": "2018-05-01", "to": "2018-01-01"}, "from", "en"),
    ({"category": "a b"}, "category", "ar"),
]


@pytest.mark.parametrize(("params", "name", "lang"), BAD, ids=[n for _, n, _ in BAD])
def test_a_bad_parameter_is_a_page_naming_it_for_readers_and_a_problem_for_programs(
    search: Search, params: dict[str, str], name: str, lang: str
) -> None:
    reader = f"10.1.0.{BAD.index((params, name, lang)) + 1}"
    page = search.get(reader, "/search", BROWSER, **params)
    assert_site_page(page, 400, lang)
    assert f'data-parameter="{name}"' in page.text
    assert "application/problem+json" not in page.headers["content-type"]

    api = assert_problem(search.get(reader, "/v1/search", BROWSER, **params), 400)
    assert name in [error["pointer"] for error in api["errors"]]
    for accept in ("application/json", "application/problem+json"):
        asked = assert_problem(search.get(reader, "/search", accept, **params), 400)
        assert asked == api  # the same document as the API's, as before


def test_a_rate_limited_reader_gets_a_page_that_says_when_to_come_back(search: Search) -> None:
    reader = "10.2.0.1"
    statuses = [search.get(reader, "/search", BROWSER, q="فيفا").status_code for _ in range(BURST)]
    assert statuses == [200] * BURST
    page = search.get(reader, "/search", BROWSER, q="فيفا")
    assert_site_page(page, 429)
    assert int(page.headers["retry-after"]) >= 1

    api = search.get(reader, "/v1/search", BROWSER, q="فيفا")
    assert assert_problem(api, 429)["title"] == "Too Many Requests"
    assert int(api.headers["retry-after"]) >= 1
    asked = search.get(reader, "/search", "application/json", q="فيفا")
    assert assert_problem(asked, 429) == api.json()


ENGLISH_WORDS = ("Input should", "String should", "must not be after", "refine your search")
SAID_IN_ARABIC = [
    ({"q": "ا" * 201}, "q", "200 حرفاً على الأكثر"),
    ({"q": "فيفا", "page": "abc"}, "page", "عدداً صحيحاً"),
    ({"q": "فيفا", "page": "0"}, "page", "يجب ألا تقل عن 1"),
    ({"q": "فيفا", "from": "أمس"}, "from", "تاريخاً بالشكل"),
    ({"q": "فيفا", "sort": "x"}, "sort", "relevance أو newest"),
    ({"q": "فيفا", "from": "2018-05-01", "to": "2018-01-01"}, "from", "«إلى تاريخ»"),
    ({"q": "فيفا", "page": "1000", "per_page": "50"}, "page", "حدّد بحثك"),
]


@pytest.mark.parametrize(
    ("params", "name", "words"), SAID_IN_ARABIC, ids=[w for _, _, w in SAID_IN_ARABIC]
)
def test_an_arabic_page_says_what_is_wrong_in_arabic(
    search: Search, params: dict[str, str], name: str, words: str
) -> None:
    """The validator's English beside each Arabic parameter name read as a foreign error;
    the API's document keeps the English, for programs."""
    reader = f"10.4.0.{SAID_IN_ARABIC.index((params, name, words)) + 1}"
    page = search.get(reader, "/search", BROWSER, **params)
    assert_site_page(page, 400, "ar")
    assert f'data-parameter="{name}"' in page.text and words in page.text
    assert not any(english in page.text for english in ENGLISH_WORDS), page.text
    api = assert_problem(search.get(reader, "/v1/search", BROWSER, **params), 400)
    assert any(english in api["errors"][0]["detail"] for english in ENGLISH_WORDS)


def test_an_english_page_keeps_the_english_words(search: Search) -> None:
    page = search.get("10.5.0.1", "/search", BROWSER, q="FIFA", page="abc")
    assert_site_page(page, 400, "en")
    assert "Input should be a valid integer" in page.text


def test_search_down_is_a_page_for_readers_and_a_problem_for_programs(search: Search) -> None:
    """Runs last: kills this module's Meilisearch."""
    reader = "10.3.0.1"
    assert search.get(reader, "/search", BROWSER, q="فيفا").status_code == 200
    search.meili.kill()
    page = search.get(reader, "/search", BROWSER, q="فيفا")
    assert_site_page(page, 503)
    assert int(page.headers["retry-after"]) >= 1
    assert page.headers["cache-control"] == "no-store"

    api = assert_problem(search.get(reader, "/v1/search", BROWSER, q="فيفا"), 503)
    assert api["detail"] == "Search is unavailable; try again."
    asked = search.get(reader, "/search", "application/problem+json", q="فيفا")
    assert assert_problem(asked, 503) == api
