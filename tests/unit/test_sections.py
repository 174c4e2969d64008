"""One definition of the site's sections: ingest files under it, render lists by it."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from khabar_ingest.formats.ninjs import parse_ninjs
from khabar_render.site import default_site
from khabar_shared import sections as sections_module
from khabar_shared.sections import load_sections, use_sections

ARTICLE = {
    "uri": "urn:test:sections",
    "language": "ar",
    "headline": "عنوان",
    "body_html": "<p>نص الخبر.</p>",
    "versioncreated": "2024-11-01T09:30:00Z",
}


@pytest.fixture()
def operators_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sections.json"
    path.write_text(
        json.dumps(
            {
                "default": "local",
                "sections": [
                    {"slug": "local", "labels": {"ar": "محليات", "en": "Local"}},
                    {"slug": "region", "labels": {"ar": "المنطقة", "en": "Region"}},
                    {
                        "slug": "gulf-affairs",
                        "parent": "region",
                        "labels": {"ar": "شؤون خليجية"},
                        "aliases": ["khaleej", "medtop:99"],
                    },
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    yield path
    sections_module._current.clear()


def test_an_operators_file_decides_how_ingest_files_and_render_lists(operators_file: Path) -> None:
    use_sections(str(operators_file))
    by_name = parse_ninjs({**ARTICLE, "category": "شؤون خليجية"})
    by_code = parse_ninjs({**ARTICLE, "subject": [{"name": "Khaleej news", "code": "medtop:99"}]})
    unknown = parse_ninjs({**ARTICLE, "category": "Arts & Crafts"})
    assert (by_name.category, by_name.category_name) == ("gulf-affairs", "شؤون خليجية")
    assert (by_code.category, by_code.category_name) == ("gulf-affairs", "Khaleej news")
    assert (unknown.category, unknown.category_name) == ("arts-crafts", "Arts & Crafts")
    site = default_site()
    assert site.listings_of("gulf-affairs") == ["gulf-affairs", "region"]
    assert site.listings_of("arts-crafts") == ["arts-crafts", "local"]
    assert [s.slug for s in site.nav_sections()] == ["local", "region"]
    assert [s.label("ar") for s in site.breadcrumb("arts-crafts", "Arts & Crafts")] == [
        "محليات",
        "Arts & Crafts",
    ]


def test_the_bundled_file_knows_the_seed_pages_category() -> None:
    bundled = load_sections()
    assert bundled.category("آسيا", "asia").slug == "asia"
    assert bundled.listings_of("asia") == ["asia", "world"]
    assert bundled.category("internationalNews").slug == "world"
    # render's navigation is the reference page's, in its order
    assert [s.label("ar") for s in bundled.nav()] == [
        "أخبار",
        "سياسة",
        "أعمال",
        "رياضة",
        "العالم",
        "تكنولوجيا",
        "اقتصاد",
        "صحة",
        "تسلية",
    ]


def test_a_file_naming_an_unknown_parent_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(
        json.dumps(
            {
                "default": "a",
                "sections": [
                    {"slug": "a", "labels": {"en": "A"}},
                    {"slug": "b", "parent": "nowhere", "labels": {}},
                ],
            }
        )
    )
    with pytest.raises(ValidationError, match="unknown parent 'nowhere'"):
        load_sections(str(path))
