"""RSS 2.0 and Atom feeds → Articles, one per entry, via feedparser.

Each entry's id comes from its guid (RSS) or id (Atom), else its link, through
the same rule as ninjs uris (`ids.article_id_from_uri`), and every field is
taken from the feed alone (no clock), so reading the same feed twice gives
the same articles: a repeated entry is a duplicate ingest can recognise.

Entries that can't be articles (no id or link, no title, no date) are
skipped and reported in `FeedResult.skipped`.
"""

import html
import io
import re
import time
from datetime import UTC, datetime
from typing import Any

import feedparser
from pydantic import BaseModel, Field

from khabar_shared.events import Article, Image, Subject
from khabar_shared.logging import get_logger
from khabar_shared.sections import sections

from .checks import is_web_url, language_problem, normalize_language
from .errors import FieldError, InvalidArticle
from .ids import article_id_from_uri
from .text import text_to_html

log = get_logger(__name__)

_TAGS = re.compile(r"<[^>]*>")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class FeedResult(BaseModel):
    articles: list[Article] = Field(default_factory=list)
    skipped: list[FieldError] = Field(default_factory=list, description="pointer: /entries/<n>")


def parse_feed(data: bytes | str, *, default_language: str, source: str) -> list[Article]:
    """The entries of an RSS 2.0 or Atom document as Articles (skipped entries logged)."""
    result = read_feed(data, default_language=default_language, source=source)
    for problem in result.skipped:
        log.warning(
            "feed_entry_skipped", source=source, entry=problem.pointer, reason=problem.message
        )
    return result.articles


def read_feed(data: bytes | str, *, default_language: str, source: str) -> FeedResult:
    """Like `parse_feed`, also saying which entries were left out and why.

    Raises InvalidArticle (pointer '') when `data` is not a feed at all.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    # A stream, never a string: feedparser would treat a string as a URL or a path.
    parsed = feedparser.parse(io.BytesIO(raw))
    if not parsed.get("version") and not parsed.entries:
        reason = str(parsed.get("bozo_exception") or "no RSS or Atom elements found")
        raise InvalidArticle([FieldError(pointer="", message=f"not an RSS or Atom feed: {reason}")])
    feed_language = _language(parsed.feed.get("language"), default_language)
    result = FeedResult()
    for index, entry in enumerate(parsed.entries):
        article_or_reason = _entry_article(entry, feed_language, source, parsed.feed)
        if isinstance(article_or_reason, Article):
            result.articles.append(article_or_reason)
        else:
            result.skipped.append(
                FieldError(pointer=f"/entries/{index}", message=article_or_reason)
            )
    return result


def _entry_article(entry: Any, feed_language: str, source: str, feed: Any) -> Article | str:
    uri = _clean(entry.get("id") or entry.get("link") or "")
    if not uri:
        return "has no guid, id or link to identify it"
    headline = _plain(entry.get("title", ""))
    if not headline:
        return "has no title"
    # dict.get, not entry.get: feedparser's own get() warns when it maps updated to published
    published = dict.get(entry, "published_parsed")
    when = dict.get(entry, "updated_parsed") or published or dict.get(feed, "updated_parsed")
    if when is None:
        return "has no date"
    lead = _plain(entry.get("summary", ""))
    tags = [_clean(tag.get("term") or "") for tag in entry.get("tags", [])]
    tags = [tag for tag in tags if tag]
    link = entry.get("link")
    title_language = (entry.get("title_detail") or {}).get("language")
    return Article(
        id=article_id_from_uri(uri),
        uri=uri,
        language=_language(title_language, feed_language),
        headline=headline,
        lead=lead,
        body_html=_body(entry),
        byline=_clean(entry.get("author", "")),
        **(sections().category(tags[0]).as_fields() if tags else {}),
        subjects=[Subject(name=tag) for tag in tags],
        source=source,
        url=link if link and is_web_url(link) else None,
        firstcreated=_utc(published) if published else None,
        versioncreated=_utc(when),
        featured_image=_image(entry),
        extra={"feed": {"title": _plain(feed.get("title", "")), "link": feed.get("link", "")}},
    )


def _body(entry: Any) -> str:
    """The entry's content (HTML as feedparser sanitized it), else its summary."""
    for content in entry.get("content", []) or []:
        value = _clean(content.get("value", ""), keep_lines=True)
        if value:
            return value if "html" in content.get("type", "") else text_to_html(value)
    summary = _clean(entry.get("summary", ""), keep_lines=True)
    detail_type = (entry.get("summary_detail") or {}).get("type", "text/html")
    if not summary:
        return ""
    return (
        summary
        if "html" in detail_type and "<" in summary
        else text_to_html(html.unescape(summary))
    )


def _image(entry: Any) -> Image | None:
    """media:content (an image), else an image enclosure, else media:thumbnail."""
    credit = (
        _plain((entry.get("media_credit") or [{}])[0].get("content", ""))
        if entry.get("media_credit")
        else ""
    )
    caption = _plain(entry.get("media_description", "") or "")
    for media in entry.get("media_content", []) or []:
        url = media.get("url", "")
        is_image = media.get("medium") == "image" or media.get("type", "").startswith("image/")
        if is_image and is_web_url(url):
            return Image(
                href=url, alt=caption, caption=caption, credit=credit, mimetype=media.get("type"),
                width=_int(media.get("width")), height=_int(media.get("height")),
            )  # fmt: skip
    for enclosure in entry.get("enclosures", []) or []:
        url = enclosure.get("href", "")
        if enclosure.get("type", "").startswith("image/") and is_web_url(url):
            return Image(
                href=url,
                alt=caption,
                caption=caption,
                credit=credit,
                mimetype=enclosure.get("type"),
            )
    for thumbnail in entry.get("media_thumbnail", []) or []:
        url = thumbnail.get("url", "")
        if is_web_url(url):
            return Image(href=url, alt=caption, caption=caption, credit=credit)
    return None


def _language(tag: str | None, fallback: str) -> str:
    if tag and language_problem(tag) is None:
        return normalize_language(tag)
    return fallback


def _utc(moment: time.struct_time) -> datetime:
    # feedparser has already turned every date into UTC.
    return datetime(*moment[:6], tzinfo=UTC)


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _clean(text: str, keep_lines: bool = False) -> str:
    cleaned = _CONTROLS.sub("", text)
    return cleaned.strip() if keep_lines else " ".join(cleaned.split())


def _plain(markup: str) -> str:
    return _clean(html.unescape(_TAGS.sub(" ", markup)))
