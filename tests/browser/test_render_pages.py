"""Debian's headless Chromium reads article pages that a real render process serves.

An Arabic article (BBC Arabic on the spy swap, with subheads) and an English
one (ECB+, Ellen DeGeneres to host the Oscars), each with eight related
stories: the browser checks direction, the four "see also" links between body
sections, the related block of four other stories, and the share links, then
follows a see-also link. Screenshots go to `artifacts/` (desktop and phone).
"""

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page

from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_shared.events import Article
from tests.integration.test_render_service import (
    SITE_BASE_URL,
    RenderService,
    enriched,
    purge_receiver,
    render_service,
    sample_ar,
    sample_en,
)
from tests.support import REPO_ROOT

pytestmark = pytest.mark.browser

ARTIFACTS = REPO_ROOT / "artifacts"
ARABIC_ID = "bb-internationalnews-106-20180306"
ENGLISH_ID = "ecb-2_1ecbplus"


def arabic_font_installed() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    found = subprocess.run(
        [fc_list, ":lang=ar", "family"], capture_output=True, text=True, check=False
    )
    return bool(found.stdout.strip())


def with_related(
    articles: tuple[Article, ...], main_id: str, count: int = 8
) -> tuple[Article, list[Article]]:
    main = next(a for a in articles if a.id == main_id)
    others = [a for a in articles if a.id != main_id and a.language == main.language]
    return main, others[:count]


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RenderService]:
    base = tmp_path_factory.mktemp("browser")
    group = ProcessGroup()
    try:
        redis_url = start_redis(group, base / "redis", free_port())
        with (
            purge_receiver() as receiver,
            render_service(redis_url, receiver, base / "render.log") as service,
        ):
            for articles, main_id in ((sample_ar(), ARABIC_ID), (sample_en(), ENGLISH_ID)):
                main, related = with_related(articles, main_id)
                service.publish(*(enriched(a) for a in related))
                service.publish(enriched(main, related=[a.id for a in related]))
                service.page(main_id)
            yield service
    finally:
        group.stop_all()


def open_page(
    browser: Browser, render: RenderService, article_id: str, width: int = 1280, height: int = 900
) -> Page:
    page = browser.new_page(viewport={"width": width, "height": height})
    answer = page.goto(f"{render.url}/articles/{article_id}", wait_until="load")
    assert answer is not None and answer.status == 200
    return page


def body_layout(page: Page) -> list[str]:
    """The article body's children in order: 'section' or 'see-also:<article id>'."""
    return page.eval_on_selector_all(
        ".article-body > *",
        """nodes => nodes.map(n => n.classList.contains('see-also')
            ? 'see-also:'
                + decodeURIComponent(n.querySelector('a').getAttribute('href').split('/').pop())
            : 'section')""",
    )


def check_article_page(
    page: Page,
    article_id: str,
    lang: str,
    direction: str,
    related: list[Article],
    related_heading: str,
) -> None:
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == [
        lang,
        direction,
    ]
    assert page.eval_on_selector(".article-body", "n => getComputedStyle(n).direction") == direction

    layout = body_layout(page)
    see_also = [item.split(":", 1)[1] for item in layout if item.startswith("see-also:")]
    assert see_also == [a.id for a in related[:4]]
    # Between sections: a body section before the first link and after the first one.
    first = layout.index(f"see-also:{see_also[0]}")
    assert layout[0] == "section" and "section" in layout[first + 1 :]
    assert page.locator(".see-also").first.is_visible()

    cards = page.eval_on_selector_all(".related .card", "ns => ns.map(n => n.dataset.articleId)")
    assert cards == [a.id for a in related[4:8]]
    assert page.inner_text(".related .block-heading").strip() == related_heading
    assert set(cards).isdisjoint(see_also)

    canonical = f"{SITE_BASE_URL}/articles/{article_id}"
    assert page.get_attribute('link[rel="canonical"]', "href") == canonical
    shares = page.eval_on_selector_all(
        ".share a", "ns => ns.map(n => [n.className, n.getAttribute('href')])"
    )
    by_network = dict(shares)
    assert set(by_network) == {
        "share-facebook",
        "share-x",
        "share-linkedin",
        "share-email",
        "share-whatsapp",
        "share-telegram",
    }
    assert parse_qs(urlsplit(by_network["share-facebook"]).query)["u"] == [canonical]
    assert parse_qs(urlsplit(by_network["share-x"]).query)["url"] == [canonical]
    assert parse_qs(urlsplit(by_network["share-linkedin"]).query)["url"] == [canonical]
    assert (
        by_network["share-email"].startswith("mailto:")
        and canonical.replace(":", "%3A").replace("/", "%2F") in by_network["share-email"]
    )


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_an_arabic_font_is_installed() -> None:
    assert arabic_font_installed(), "no font covers Arabic: apt-get install -y fonts-noto-core"


def test_arabic_article_page(browser: Browser, render: RenderService) -> None:
    _, related = with_related(sample_ar(), ARABIC_ID)
    page = open_page(browser, render, ARABIC_ID)
    check_article_page(page, ARABIC_ID, "ar", "rtl", related, "أخبار ذات صلة")
    assert page.inner_text(".see-also .label").strip() == "شاهد ايضاً:"
    # Right to left: the headline's right edge sits at the right of the page.
    box = page.locator("h1.headline").bounding_box()
    assert box is not None and box["x"] + box["width"] > 1280 / 2
    screenshot(page, "render-article-ar")

    page.locator(".see-also a").first.click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/articles/{related[0].id}")
    assert page.inner_text("h1.headline").strip() == related[0].headline.strip()
    page.close()


def test_english_article_page(browser: Browser, render: RenderService) -> None:
    _, related = with_related(sample_en(), ENGLISH_ID)
    page = open_page(browser, render, ENGLISH_ID)
    check_article_page(page, ENGLISH_ID, "en", "ltr", related, "Related news")
    assert page.inner_text(".see-also .label").strip() == "See also:"
    screenshot(page, "render-article-en")
    page.close()


def test_pages_fit_a_phone(browser: Browser, render: RenderService) -> None:
    for article_id, name in ((ARABIC_ID, "render-article-ar-phone"), (ENGLISH_ID, None)):
        page = open_page(browser, render, article_id, width=390, height=844)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{article_id} scrolls sideways by {overflow}px on a phone"
        if name:
            screenshot(page, name)
        page.close()
    home = browser.new_page(viewport={"width": 390, "height": 844})
    assert home.goto(f"{render.url}/").status == 200  # type: ignore[union-attr]
    assert home.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(home, "render-home-phone")
    home.close()
