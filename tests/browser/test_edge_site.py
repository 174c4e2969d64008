"""A reader's visit through the edge: one address for home, sections, articles and search.

The whole system runs for real (ingest, enrich, search, render on real Redis
and Meilisearch) behind a real varnishd (`edge/khabar.vcl`) that render
purges. Debian's Chromium reads only the edge's address.
"""

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from playwright.sync_api import Browser

from khabar_dev.edge import start_edge
from khabar_dev.processes import ProcessGroup, free_port, start_services
from tests.conftest import DATABASES, Servers, service_env
from tests.support import REPO_ROOT, eventually, real_articles, to_ninjs

pytestmark = pytest.mark.browser

ARTIFACTS = REPO_ROOT / "artifacts"
ARTICLES = 24


@dataclass
class Site:
    edge_url: str
    ingest_url: str
    ingest_key: str

    def post(self, document: dict) -> httpx.Response:
        return httpx.post(
            f"{self.ingest_url}/v1/articles",
            json=document,
            timeout=10,
            headers={"Authorization": f"Bearer {self.ingest_key}"},
        )


@pytest.fixture(scope="module")
def site(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    logs = tmp_path_factory.mktemp("edge-site")
    ingest_key, token = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    ports = {service: free_port() for service in ("ingest", "enrich", "search", "render")}
    edge_port = free_port()
    edge_url = f"http://127.0.0.1:{edge_port}"
    env = {
        **service_env(servers, next(DATABASES), ingest_key, f"articles_{secrets.token_hex(4)}"),
        "KHABAR_SITE_BASE_URL": edge_url,
        "KHABAR_EDGE_PURGE_URL": edge_url + "/",
        "KHABAR_EDGE_PURGE_TOKEN": token,
    }
    redis.Redis.from_url(env["KHABAR_REDIS_URL"]).flushdb()
    group = ProcessGroup()
    try:
        start_services(group, env, ports, logs)
        start_edge(group, logs / "edge", edge_port, ports["render"], ports["search"], token)
        found = Site(edge_url, f"http://127.0.0.1:{ports['ingest']}", ingest_key)
        ids = [
            found.post(to_ninjs(record)).json()["article_id"] for record in real_articles(ARTICLES)
        ]
        eventually(
            lambda: (
                httpx.get(f"{edge_url}/v1/search", params={"q": ""}, timeout=10).json()["total"]
                >= ARTICLES
            ),
            timeout_s=60,
        )
        eventually(
            lambda: all(
                httpx.get(
                    f"http://127.0.0.1:{ports['render']}/articles/{i}", timeout=10
                ).status_code
                == 200
                for i in ids
            ),
            timeout_s=60,
        )
        yield found
    finally:
        group.stop_all()


def on_edge(url: str, site: Site) -> bool:
    return urlsplit(url).netloc == urlsplit(site.edge_url).netloc


def test_a_reader_goes_from_home_to_a_section_an_article_a_search_and_a_hit(
    browser: Browser, site: Site
) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="ar")
    response = page.goto(site.edge_url + "/")
    assert response and response.headers.get("x-varnish")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.locator(".home .card").count() > 0

    page.locator(".home-section .block-heading a").first.click()
    page.wait_for_selector(".listing .card")
    assert urlsplit(page.url).path.startswith("/category/") and on_edge(page.url, site)

    page.locator(".listing .card-headline a").first.click()
    page.wait_for_selector(".article .headline")
    headline = page.locator(".article .headline").inner_text()
    assert urlsplit(page.url).path.startswith("/articles/") and on_edge(page.url, site)

    # The search box in the article's header takes the reader to search, in the site.
    word = max(headline.split(), key=len)
    page.locator(".site-search input").fill(word)
    page.locator(".site-search button").click()
    page.wait_for_selector(".hit")
    assert urlsplit(page.url).path == "/search" and on_edge(page.url, site)
    assert page.locator(".site-header .logo").count() == 1
    assert page.locator(".site-footer").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "edge-search.png"), full_page=True)

    page.locator(".hit h2 a").first.click()
    page.wait_for_selector(".article .headline")
    assert urlsplit(page.url).path.startswith("/articles/") and on_edge(page.url, site)
    page.close()


def test_a_withdrawn_story_leaves_its_page_and_every_listing_at_the_edge(
    browser: Browser, site: Site
) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="ar")
    page.goto(site.edge_url + "/")
    card = page.locator(".home-section .card").first
    article_id = card.get_attribute("data-article-id")
    section_path = card.locator(".category-link").get_attribute("href")
    listings = ["/", section_path]
    for path in listings:  # both are in the edge's cache now, with the story
        page.goto(site.edge_url + path)
        assert page.locator(f'[data-article-id="{article_id}"]').count() > 0
    page.goto(f"{site.edge_url}/articles/{article_id}")
    uri = page.locator("link[rel=canonical]").get_attribute("href")
    assert uri == f"{site.edge_url}/articles/{article_id}"

    state = httpx.get(
        f"{site.ingest_url}/v1/articles/{article_id}",
        timeout=10,
        headers={"Authorization": f"Bearer {site.ingest_key}"},
    ).json()
    started = time.monotonic()
    withdrawn = httpx.delete(
        f"{site.ingest_url}/v1/articles/{article_id}",
        timeout=10,
        headers={"Authorization": f"Bearer {site.ingest_key}"},
    )
    assert withdrawn.status_code < 300, (state, withdrawn.text)

    still: list[str] = []

    def gone_everywhere() -> bool:
        still.clear()
        for path in listings:
            page.goto(site.edge_url + path)
            if page.locator(f'[data-article-id="{article_id}"]').count():
                still.append(path)
        answer = page.goto(f"{site.edge_url}/articles/{article_id}")
        if not answer or answer.status != 410:
            still.append(f"/articles/{article_id}: {answer.status if answer else None}")
        return not still

    try:
        eventually(gone_everywhere, timeout_s=20)
    except AssertionError as error:
        raise AssertionError(f"still shown at {still}") from error
    print(f"withdrawal left every page at the edge after {time.monotonic() - started:.2f}s")
    assert page.get_attribute("html", "lang") == "ar"
    assert "سُحب هذا الخبر" in page.locator("main").inner_text()
    page.screenshot(path=str(ARTIFACTS / "edge-withdrawn.png"), full_page=True)
    page.close()
