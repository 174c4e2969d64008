"""Headline-only urgent items ("عاجل" flashes) are articles; other bodiless items are not."""

from typing import Any

import pytest

from khabar_ingest.formats.errors import InvalidArticle
from khabar_ingest.formats.ninjs import parse_ninjs

BASE = {"uri": "urn:flash:1", "versioncreated": "2026-03-01T10:00:00+00:00"}


@pytest.mark.parametrize("fields", [
    {"headline": "عاجل: زلزال بقوة 5 درجات يضرب جنوب تركيا"},
    {"headline": "(عاجل) انفجار في مرفأ بيروت"},
    {"headline": "BREAKING: Parliament dissolved", "language": "en"},
    {"headline": "زلزال يضرب جنوب تركيا", "urgency": 1},
    {"headline": "Storm closes port", "profile": "snap"},
    {"headline": "Storm closes port", "signal": [{"code": "flash", "scheme": "x"}]},
])  # fmt: skip
def test_a_flash_needs_no_body(fields: dict[str, Any]) -> None:
    article = parse_ninjs({**BASE, **fields})
    assert article.body_html == ""
    assert article.extra["flash"] is True
    # With its body (the full story, later), the same item is an ordinary article.
    full = parse_ninjs({**BASE, **fields, "body_html": "<p>التفاصيل.</p>"})
    assert "flash" not in full.extra


@pytest.mark.parametrize("fields", [
    {"headline": "زلزال يضرب جنوب تركيا"},
    {"headline": "Storm closes port", "urgency": 3},
    {"headline": "An urgent need for housing"},  # the word, not the marker
    {"headline": "Urgent care clinics close early"},
])  # fmt: skip
def test_other_items_without_a_body_are_still_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidArticle) as refused:
        parse_ninjs({**BASE, **fields})
    assert [e.pointer for e in refused.value.errors] == ["/body_html"]
    assert "flash" in refused.value.errors[0].message
