"""What news sites publish beside pages: RSS, sitemaps, robots.txt.

Pure functions of teasers and the site: each returns the document's text.
URLs are absolute, from the site's base URL. XML is built with ElementTree,
so every headline and teaser is escaped however it is written.
"""

from collections.abc import Iterable
from datetime import datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from khabar_render.fragments import Teaser
from khabar_render.site import Site, base_language

ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS = "http://www.google.com/schemas/sitemap-news/0.9"
# Google News reads at most this many URLs from one news sitemap.
NEWS_SITEMAP_MAX = 1000
# News sitemaps list what was published in the last two days.
NEWS_WINDOW_S = 48 * 3600
FEED_ITEMS = 30
ET.register_namespace("atom", ATOM)
ET.register_namespace("news", NEWS)
ET.register_namespace("", SITEMAP)


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = text
    return element


def _document(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def rss(
    title: str,
    page_path: str,
    feed_path: str,
    teasers: Iterable[Teaser],
    site: Site,
    lang: str,
    updated: datetime,
) -> str:
    """An RSS 2.0 channel of `teasers`, newest first as given."""
    root = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(root, "channel")
    _text(channel, "title", f"{title} | {site.name(lang)}")
    _text(channel, "link", site.absolute(page_path))
    _text(channel, "description", title)
    _text(channel, "language", lang)
    _text(channel, "lastBuildDate", format_datetime(site.local_time(updated)))
    ET.SubElement(
        channel,
        f"{{{ATOM}}}link",
        {"href": site.absolute(feed_path), "rel": "self", "type": "application/rss+xml"},
    )
    for teaser in teasers:
        item = ET.SubElement(channel, "item")
        url = site.absolute(site.article_path(teaser.id))
        _text(item, "title", teaser.headline)
        _text(item, "link", url)
        _text(item, "guid", url, isPermaLink="true")
        _text(item, "pubDate", format_datetime(site.local_time(teaser.published)))
        if teaser.teaser:
            _text(item, "description", teaser.teaser)
        if teaser.category:
            _text(item, "category", site.section(teaser.category).label(teaser.language))
    return _document(root)


def news_sitemap(teasers: Iterable[Teaser], site: Site) -> str:
    """Google News sitemap of the articles published in the last 48 hours (the caller picks
    them)."""
    root = ET.Element(f"{{{SITEMAP}}}urlset")
    for teaser in list(teasers)[:NEWS_SITEMAP_MAX]:
        url = ET.SubElement(root, f"{{{SITEMAP}}}url")
        _text(url, f"{{{SITEMAP}}}loc", site.absolute(site.article_path(teaser.id)))
        news = ET.SubElement(url, f"{{{NEWS}}}news")
        publication = ET.SubElement(news, f"{{{NEWS}}}publication")
        _text(publication, f"{{{NEWS}}}name", site.name(teaser.language))
        _text(publication, f"{{{NEWS}}}language", base_language(teaser.language))
        _text(news, f"{{{NEWS}}}publication_date", site.local_time(teaser.published).isoformat())
        _text(news, f"{{{NEWS}}}title", teaser.headline)
    return _document(root)


def pages_sitemap(section_slugs: Iterable[str], teasers: Iterable[Teaser], site: Site) -> str:
    """Home, every section's first page and the newest articles."""
    root = ET.Element(f"{{{SITEMAP}}}urlset")
    for path in ["/", *(site.category_path(slug) for slug in section_slugs)]:
        url = ET.SubElement(root, f"{{{SITEMAP}}}url")
        _text(url, f"{{{SITEMAP}}}loc", site.absolute(path))
    for teaser in teasers:
        url = ET.SubElement(root, f"{{{SITEMAP}}}url")
        _text(url, f"{{{SITEMAP}}}loc", site.absolute(site.article_path(teaser.id)))
        _text(url, f"{{{SITEMAP}}}lastmod", site.local_time(teaser.published).isoformat())
    return _document(root)


def sitemap_index(paths: Iterable[str], site: Site) -> str:
    root = ET.Element(f"{{{SITEMAP}}}sitemapindex")
    for path in paths:
        entry = ET.SubElement(root, f"{{{SITEMAP}}}sitemap")
        _text(entry, f"{{{SITEMAP}}}loc", site.absolute(path))
    return _document(root)


def robots_txt(site: Site) -> str:
    """Crawlers read pages and feeds; fragments, the API and search results are not for them."""
    return "\n".join(
        [
            "User-agent: *",
            "Disallow: /fragments/",
            "Disallow: /v1/",
            "Disallow: /search",
            f"Sitemap: {site.absolute('/sitemap.xml')}",
            "",
        ]
    )
