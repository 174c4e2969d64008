"""What a newsroom sends is what readers see: its category and its corrections, through
ingest, enrich and render on real Redis and Meilisearch, read off the rendered pages."""

import html
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tests.conftest import System
from tests.support import eventually

SEED = Path(__file__).resolve().parents[1] / "data" / "seed_article.ar.json"


def seed_article(**changes: Any) -> dict[str, Any]:
    """The seed page's article (Japan–EU security partnership, filed under آسيا)."""
    document = json.loads(SEED.read_text(encoding="utf-8"))
    document.pop("_source")
    return {**document, **changes}


def post(system: System, document: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(
        f"{system.ingest_url}/v1/articles",
        json=document,
        headers={"Authorization": f"Bearer {system.ingest_key}"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def get(system: System, path: str) -> httpx.Response:
    return httpx.get(f"{system.render_url}{path}", timeout=10)


def page_at_version(system: System, article_id: str, headline: str) -> str:
    """The article's page once it shows `headline` (the version under test)."""

    def shown() -> str | None:
        answer = get(system, f"/articles/{article_id}")
        return (
            answer.text
            if answer.status_code == 200 and html.escape(headline, quote=False) in answer.text
            else None
        )

    return eventually(shown, timeout_s=30)


def links_in(fragment: str) -> list[tuple[str, str]]:
    """(href, text) of every link in an HTML fragment."""
    return [
        (html.unescape(href), html.unescape(re.sub(r"<[^>]+>", "", text)).strip())
        for href, text in re.findall(r'<a [^>]*href="([^"]*)"[^>]*>(.*?)</a>', fragment, re.DOTALL)
    ]


def part(page: str, pattern: str) -> str:
    found = re.search(pattern, page, re.DOTALL)
    assert found, f"no {pattern!r} on the page"
    return found.group(0)


def category_line(page: str) -> list[tuple[str, str]]:
    return links_in(part(page, r'<p class="article-category">.*?</p>'))


def breadcrumb(page: str) -> list[tuple[str, str]]:
    return links_in(part(page, r'<nav class="breadcrumb".*?</nav>'))


def listed(system: System, slug: str, article_id: str) -> bool:
    answer = get(system, f"/category/{quote(slug, safe='')}")
    return answer.status_code == 200 and f'data-article-id="{article_id}"' in answer.text


def test_the_newsroom_category_is_shown_in_the_breadcrumb_and_listed_under_its_section(
    system: System,
) -> None:
    first = post(system, seed_article())
    article_id = first["article_id"]
    page = page_at_version(system, article_id, seed_article()["headline"])
    assert category_line(page) == [("/category/asia", "آسيا")]
    assert breadcrumb(page) == [
        ("/", "الرئيسية"),
        ("/category/world", "العالم"),
        ("/category/asia", "آسيا"),
    ]
    eventually(lambda: listed(system, "asia", article_id) and listed(system, "world", article_id))
    assert not listed(system, "economy", article_id)  # the tagger's topic is not the category

    # An update that names the category by its code only keeps it, in the article's language.
    headline = seed_article()["headline"] + " (محدث)"
    post(system, seed_article(headline=headline, subject=[{"code": "asia"}]))
    page = page_at_version(system, article_id, headline)
    assert category_line(page) == [("/category/asia", "آسيا")]
    assert breadcrumb(page)[1:] == [("/category/world", "العالم"), ("/category/asia", "آسيا")]
    assert listed(system, "asia", article_id) and listed(system, "world", article_id)


def test_an_unknown_category_is_kept_as_sent_with_its_own_listing_under_the_default_section(
    system: System,
) -> None:
    name = "شؤون آسيوية"
    first = post(
        system,
        seed_article(
            uri="urn:khabar:seed:unknown-category",
            category=name,
            headline="شراكة أمنية: تصنيف لا يعرفه الموقع",
        ),
    )
    article_id = first["article_id"]
    page = page_at_version(system, article_id, "شراكة أمنية: تصنيف لا يعرفه الموقع")
    own = "/category/" + quote("شؤون-آسيوية", safe="")
    assert category_line(page) == [(own, name)]
    assert breadcrumb(page) == [("/", "الرئيسية"), ("/category/news", "أخبار"), (own, name)]
    eventually(
        lambda: listed(system, "شؤون-آسيوية", article_id) and listed(system, "news", article_id)
    )


def corrections(page: str) -> list[tuple[datetime, str]]:
    """(when, note) of each correction at the foot of the article."""
    foot = part(page, r'<aside class="corrections".*?</aside>')
    assert "تصحيحات" in foot  # headed in the article's language
    return [
        (datetime.fromisoformat(when), html.unescape(note).strip())
        for when, note in re.findall(
            r'<li class="correction"><time datetime="([^"]+)">[^<]*</time>:(.*?)</li>', foot
        )
    ]


def history(system: System, article_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{system.ingest_url}/v1/articles/{article_id}/history",
        headers={"Authorization": f"Bearer {system.ingest_key}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_correction_is_shown_dated_at_the_foot_and_kept_on_later_versions(
    system: System,
) -> None:
    uri = "urn:khabar:seed:corrected"
    first = post(system, seed_article(uri=uri, headline="شراكة أمنية: قبل التصحيح"))
    article_id = first["article_id"]
    page = page_at_version(system, article_id, "شراكة أمنية: قبل التصحيح")
    assert '<aside class="corrections"' not in page and 'class="updated"' not in page

    note = "صُحح: الاتفاقية هي الأولى مع دولة من آسيا والمحيط الهادئ، لا الثانية."
    post(
        system,
        seed_article(
            uri=uri,
            headline="شراكة أمنية: بعد التصحيح",
            editor_note=note,
            versioncreated="2024-11-01T11:00:00+00:00",
        ),
    )
    page = page_at_version(system, article_id, "شراكة أمنية: بعد التصحيح")
    (accepted,) = [
        entry["accepted_at"]
        for entry in history(system, article_id)
        if entry["editor_note"] == note
    ]
    assert corrections(page) == [(datetime.fromisoformat(accepted), note)]
    updated = part(page, r'<span class="updated">.*?</span>')
    assert "حُدّث في" in updated
    assert datetime.fromisoformat(
        re.search(r'datetime="([^"]+)"', updated).group(1)
    ) == datetime.fromisoformat("2024-11-01T11:00:00+00:00")

    # A later version without a note keeps the correction on the page.
    post(
        system,
        seed_article(
            uri=uri, headline="شراكة أمنية: تحديث لاحق", versioncreated="2024-11-01T12:00:00+00:00"
        ),
    )
    page = page_at_version(system, article_id, "شراكة أمنية: تحديث لاحق")
    assert corrections(page) == [(datetime.fromisoformat(accepted), note)]
