"""RSS 2.0 and Atom → Articles: stable ids, Arabic entries, images, sanitized bodies."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from khabar_ingest.formats import InvalidArticle
from khabar_ingest.formats.feeds import parse_feed, read_feed

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"
RSS = (FEEDS / "skynews-arabic.rss.xml").read_bytes()
ATOM = (FEEDS / "bbc-arabic.atom.xml").read_bytes()


def by_headline(articles):
    return {a.headline: a for a in articles}


def test_rss_entries_become_arabic_articles():
    articles = by_headline(parse_feed(RSS, default_language="en", source="skynews"))
    assert len(articles) == 2  # the entry without a title is left out
    drug = articles["أول دواء لعلاج الذهان المرتبط بالزهايمر"]
    assert drug.id == "skynews-1021743"  # the guid, a clean slug, is its own id
    assert drug.language == "ar"  # from the channel's <language>, not the default
    assert drug.direction == "rtl"
    assert drug.source == "skynews"
    assert drug.byline == "أبوظبي - سكاي نيوز عربية"
    assert drug.category == "technology"
    assert [s.name for s in drug.subjects] == ["technology", "صحة"]
    assert drug.versioncreated == datetime(2018, 2, 14, 11, 37, 34, tzinfo=UTC)
    assert drug.lead.startswith("نجح العلماء في اختبار أول دواء")
    assert "<p>نجح العلماء" in drug.body_html
    assert drug.featured_image is not None
    assert drug.featured_image.href == "https://img.example/sky/1021743.jpg"
    assert (drug.featured_image.width, drug.featured_image.credit) == (1200, "رويترز")


def test_rss_enclosure_is_the_picture_and_scripts_are_gone():
    articles = by_headline(parse_feed(RSS, default_language="ar", source="skynews"))
    facebook = articles["فيسبوك تغازل أوروبا بتدريب مليون شخص"]
    assert facebook.featured_image is not None
    assert facebook.featured_image.href == "https://img.example/sky/1020001.jpg"
    assert facebook.featured_image.mimetype == "image/jpeg"
    assert "<script" not in facebook.body_html and "alert" not in facebook.body_html
    assert "ستفتتح ثلاثة مراكز" in facebook.body_html
    assert facebook.category == "technology"  # the Arabic tag تكنولوجيا maps onto the section
    # +04:00 in the feed, UTC in the article
    assert facebook.versioncreated == datetime(2018, 1, 22, 6, 35, 6, tzinfo=UTC)


def test_atom_entries_with_their_own_language():
    result = read_feed(ATOM, default_language="ar", source="BBC")
    articles = by_headline(result.articles)
    ronaldo = articles["لماذا تراجع رونالدو في قائمة أغلى اللاعبين؟"]
    assert ronaldo.language == "ar"
    assert ronaldo.category == "sport"
    assert ronaldo.byline == "بي بي سي"
    assert ronaldo.url == "https://www.bbc.co.uk/arabic/sports-42653417"
    assert ronaldo.firstcreated == datetime(2018, 1, 12, 0, 34, 54, tzinfo=UTC)
    assert ronaldo.body_html.count("<p>") == 2
    lohan = articles["Lindsay Lohan checks into Betty Ford Center"]
    assert lohan.language == "en"  # xml:lang on the entry wins over the feed's
    assert lohan.direction == "ltr"
    # plain-text content: paragraphs, and the ampersand escaped
    assert lohan.body_html.startswith("<p>Lindsay Lohan has checked into")
    assert "&amp; after a probation violation" in lohan.body_html
    assert [s.message for s in result.skipped] == ["has no guid, id or link to identify it"]
    assert result.skipped[0].pointer == "/entries/2"


@pytest.mark.parametrize("feed", [RSS, ATOM], ids=["rss", "atom"])
def test_reading_a_feed_twice_gives_the_same_articles(feed):
    first = parse_feed(feed, default_language="ar", source="x")
    second = parse_feed(feed.decode("utf-8"), default_language="ar", source="x")
    assert [a.id for a in first] == [a.id for a in second]
    assert [a.model_dump() for a in first] == [a.model_dump() for a in second]
    assert len({a.id for a in first}) == len(first)


def test_something_that_is_not_a_feed_is_refused():
    with pytest.raises(InvalidArticle) as refused:
        parse_feed(b'{"headline": "json, not a feed"}', default_language="ar", source="x")
    assert refused.value.errors[0].pointer == ""
    assert "not an RSS or Atom feed" in refused.value.errors[0].message
