"""What render publishes beside pages: RSS, sitemaps and robots.txt, as documents."""

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from khabar_render.feeds import news_sitemap, pages_sitemap, robots_txt, rss, sitemap_index
from khabar_render.fragments import Teaser
from khabar_render.site import default_site

SITE = default_site(base_url="https://khabar.example", timezone="Asia/Riyadh")
NS = {
    "s": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "n": "http://www.google.com/schemas/sitemap-news/0.9",
    "atom": "http://www.w3.org/2005/Atom",
}
TEASERS = [
    Teaser(
        id="a/1",
        headline="<b>عاجل</b> & خبر",
        teaser="مقدمة",
        category="sport",
        published=datetime(2018, 3, 28, 21, 30, tzinfo=UTC),
        language="ar",
    ),
    Teaser(
        id="b2",
        headline="Second",
        category="world",
        published=datetime(2018, 3, 27, 9, 0, tzinfo=UTC),
        language="en",
    ),
]


def test_rss_lists_items_in_order_with_absolute_links_and_escaped_text() -> None:
    text = rss(
        "رياضة",
        "/category/sport",
        "/category/sport/rss.xml",
        TEASERS,
        SITE,
        "ar",
        datetime(2018, 3, 29, tzinfo=UTC),
    )
    channel = ET.fromstring(text.encode()).find("channel")
    assert channel.findtext("link") == "https://khabar.example/category/sport"
    assert channel.findtext("language") == "ar"
    assert (
        channel.find("atom:link", NS).get("href") == "https://khabar.example/category/sport/rss.xml"
    )
    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == ["<b>عاجل</b> & خبر", "Second"]
    assert items[0].findtext("link") == "https://khabar.example/articles/a%2F1"
    assert items[0].findtext("guid") == items[0].findtext("link")
    # RFC 822 dates, in the site's zone.
    assert items[0].findtext("pubDate") == "Thu, 29 Mar 2018 00:30:00 +0300"
    assert items[0].findtext("category") == "رياضة"
    assert "<b>" not in text  # escaped, never markup


def test_news_sitemap_names_publication_language_date_and_title() -> None:
    root = ET.fromstring(news_sitemap(TEASERS, SITE).encode())
    urls = root.findall("s:url", NS)
    assert [u.findtext("s:loc", namespaces=NS) for u in urls] == [
        "https://khabar.example/articles/a%2F1",
        "https://khabar.example/articles/b2",
    ]
    news = urls[1].find("n:news", NS)
    assert news.findtext("n:publication/n:name", namespaces=NS) == "Khabar"
    assert news.findtext("n:publication/n:language", namespaces=NS) == "en"
    assert news.findtext("n:publication_date", namespaces=NS) == "2018-03-27T12:00:00+03:00"
    assert news.findtext("n:title", namespaces=NS) == "Second"


def test_sitemap_index_pages_and_robots_point_at_absolute_urls() -> None:
    index = ET.fromstring(sitemap_index(["/news-sitemap.xml", "/sitemap-pages.xml"], SITE).encode())
    assert [e.findtext("s:loc", namespaces=NS) for e in index.findall("s:sitemap", NS)] == [
        "https://khabar.example/news-sitemap.xml",
        "https://khabar.example/sitemap-pages.xml",
    ]
    pages = ET.fromstring(pages_sitemap(["news", "sport"], TEASERS, SITE).encode())
    locs = [u.findtext("s:loc", namespaces=NS) for u in pages.findall("s:url", NS)]
    assert locs[:3] == [
        "https://khabar.example/",
        "https://khabar.example/category/news",
        "https://khabar.example/category/sport",
    ]
    assert "https://khabar.example/articles/b2" in locs
    robots = robots_txt(SITE)
    assert "Sitemap: https://khabar.example/sitemap.xml" in robots.splitlines()
    assert "Disallow: /fragments/" in robots.splitlines()
