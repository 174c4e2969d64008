"""What `POST /v1/articles` holds, by Content-Type: ninjs JSON, or NewsML-G2 XML.

NewsML-G2 comes as `application/vnd.iptc.g2.newsitem+xml` (or
`…newsmessage+xml`), or as plain `application/xml` / `text/xml` when its root
is a `newsItem` or `newsMessage`. Either way the document becomes ninjs and
goes through the one ninjs reader, so both formats meet the same rules.
"""

from zoneinfo import ZoneInfo

from fastapi import Request

from khabar_ingest.body import JSON_MEDIA_TYPES, read_json_body, read_raw_body
from khabar_ingest.formats.errors import FieldError, InvalidArticle
from khabar_ingest.formats.newsml import (
    MalformedXml,
    UnsafeXml,
    is_newsml,
    newsml_to_ninjs,
    parse_xml,
    text_items,
    xml_pointer,
)
from khabar_ingest.formats.ninjs import Limits, Reading, read_ninjs
from khabar_ingest.newsml_message import NewsMessage
from khabar_ingest.problems import invalid_article, unreadable_xml, unsupported_media_type
from khabar_ingest.settings import IngestSettings

NEWSML_MEDIA_TYPES = (
    "application/vnd.iptc.g2.newsitem+xml",
    "application/vnd.iptc.g2.newsmessage+xml",
)
GENERIC_XML_TYPES = ("application/xml", "text/xml")
ARTICLE_MEDIA_TYPES = (*JSON_MEDIA_TYPES, *NEWSML_MEDIA_TYPES, *GENERIC_XML_TYPES)


async def read_article(
    request: Request, settings: IngestSettings, limits: Limits, zone: str
) -> Reading | NewsMessage:
    """The article a POST body holds, with the times read in `zone` when they had no offset;
    or the text items of a NewsML-G2 message that holds several, each read by the caller."""
    path = request.url.path
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in NEWSML_MEDIA_TYPES or media_type in GENERIC_XML_TYPES:
        return await read_newsml(request, settings, limits, zone)
    if media_type not in JSON_MEDIA_TYPES:
        raise unsupported_media_type(media_type or None, ARTICLE_MEDIA_TYPES, path).error()
    body = await read_json_body(request, settings.max_body_bytes, settings.max_json_depth)
    try:
        return read_ninjs(
            body.document,
            limits=limits,
            unicode_checked=body.unicode_checked,
            naive_zone=ZoneInfo(zone),
        )
    except InvalidArticle as invalid:
        raise invalid_article(invalid, path).error() from invalid


async def read_newsml(
    request: Request, settings: IngestSettings, limits: Limits, zone: str
) -> Reading | NewsMessage:
    path = request.url.path
    body = await read_raw_body(request, settings.max_body_bytes)
    try:
        root = parse_xml(body)
    except (UnsafeXml, MalformedXml) as refused:
        raise unreadable_xml(
            str(refused), isinstance(refused, UnsafeXml), path
        ).error() from refused
    if not is_newsml(root):
        raise invalid_article(
            InvalidArticle(
                [
                    FieldError(
                        pointer="/",
                        message=(
                            f"the root element is {root.tag!r}; "
                            "an XML article must be a NewsML-G2 newsItem or newsMessage"
                        ),
                    )
                ]
            ),
            path,
        ).error()
    items = text_items(root)
    if len(items) > 1:
        return NewsMessage(items)
    try:
        ninjs = newsml_to_ninjs(root)
        return read_ninjs(ninjs, limits=limits, naive_zone=ZoneInfo(zone))
    except InvalidArticle as invalid:
        errors = [
            FieldError(
                pointer=error.pointer
                if error.pointer.startswith("/news")
                else xml_pointer(error.pointer),
                message=error.message,
            )
            for error in invalid.errors
        ]
        raise invalid_article(InvalidArticle(errors), path).error() from invalid
