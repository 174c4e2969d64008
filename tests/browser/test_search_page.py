"""Debian's headless Chromium on the readers' search page: type, see results, click a filter.

The search service runs as a real process over an index of the 300 sample
articles. With JavaScript the page searches as the reader types; without it
the form and the filter links do the same through page loads. Screenshots go
to `artifacts/`.
"""

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser

from tests.conftest import Servers
from tests.integration.test_search_api import run_search_service
from tests.support import REPO_ROOT

pytestmark = pytest.mark.browser

ARTIFACTS = REPO_ROOT / "artifacts"


@pytest.fixture(scope="module")
def search_url(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from run_search_service(servers, tmp_path_factory.mktemp("search-page"), 300)


def test_type_see_results_click_a_filter(browser: Browser, search_url: str) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="ar")
    page.goto(f"{search_url}/search")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.locator(".hit").count() == 0

    page.locator("#q").press_sequentially("كأس العالم", delay=40)
    page.wait_for_selector(".hit")
    assert page.locator(".hit").count() >= 5
    assert "كأس العالم" in parse_qs(urlsplit(page.url).query)["q"]
    assert page.locator(".hit mark").count() > 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "search-page-typed.png"), full_page=True)

    facet = page.locator('[data-facet="category"] a').first
    category = facet.inner_text()
    facet.click()
    page.wait_for_selector(".active-filters")
    assert parse_qs(urlsplit(page.url).query)["category"] == [category]
    metas = page.locator(".hit .meta").all_inner_texts()
    assert metas and all(meta.endswith(category) for meta in metas)
    page.screenshot(path=str(ARTIFACTS / "search-page-filtered.png"), full_page=True)
    page.close()


def test_typing_keeps_sort_pages_and_active_filters(browser: Browser, search_url: str) -> None:
    """As-you-type results are the same page a form submit loads: sort links, the pages of a
    long answer, and the filter the reader chose (with its remove link) stay on screen."""
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="ar")
    page.goto(f"{search_url}/search?q=" + "الرئيس")
    href = page.locator('[data-facet="category"] a').first.get_attribute("href") or ""
    chosen = parse_qs(urlsplit(href).query)["category"]
    page.goto(f"{search_url}/search?category={chosen[0]}")  # browsing a section, no query yet
    page.locator("#q").press_sequentially("الرئيس", delay=40)
    page.wait_for_function("() => new URLSearchParams(location.search).get('q') === 'الرئيس'")
    page.wait_for_selector(".hit")
    assert page.locator(".active-filters .remove").count() == 1
    assert page.locator(".sort a, .sort strong").count() == 2
    assert page.locator('.pages a[rel="next"]').count() == 1
    assert parse_qs(urlsplit(page.url).query)["category"] == chosen
    assert page.evaluate("document.activeElement.id") == "q"
    page.locator('.pages a[rel="next"]').click()
    page.wait_for_selector(".hit")
    assert parse_qs(urlsplit(page.url).query)["page"] == ["2"]
    page.close()


def test_latin_query_finds_arabic_articles_as_you_type(browser: Browser, search_url: str) -> None:
    page = browser.new_page()
    page.goto(f"{search_url}/search")
    page.locator("#q").press_sequentially("FIFA", delay=40)
    page.wait_for_selector(".hit")
    shown = page.locator(".hit").all_inner_texts()
    assert shown and any("فيفا" in text for text in shown[:3])
    page.close()


def test_without_javascript_the_form_and_pages_work(browser: Browser, search_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{search_url}/search")
    page.fill("#q", "الرئيس")
    page.press("#q", "Enter")
    page.wait_for_selector(".hit")
    first = page.locator(".hit h2").all_inner_texts()
    page.locator('.pages a[rel="next"]').click()
    page.wait_for_selector(".hit")
    assert parse_qs(urlsplit(page.url).query)["page"] == ["2"]
    assert not set(first) & set(page.locator(".hit h2").all_inner_texts())
    context.close()
