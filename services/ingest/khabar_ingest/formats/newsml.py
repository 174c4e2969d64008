"""IPTC NewsML-G2 text items → a ninjs document, read by the same reader as ninjs.

Parsed with defusedxml: a document type declaration (and so any entity,
internal or external: billion laughs, `file://` or network entities) is
refused before anything is expanded or fetched. Elements are matched by
local name, so a document that binds the NewsML-G2 namespace to a prefix,
or none, reads the same.

ninjs field: where NewsML-G2 gives it.

- uri, version: `newsItem/@guid`, `@version`.
- language: `contentMeta/language/@tag`, else `newsItem/@xml:lang`.
- pubstatus: `itemMeta/pubStatus/@qcode` (`stat:canceled` withdraws).
- versioncreated, firstcreated, embargoed: `itemMeta/versionCreated`, `firstCreated` (else
  `contentMeta/contentCreated`), `embargoed`.
- headline, description_text, byline: `contentMeta/headline`, `description`, `by` (else
  `creator/name`).
- subject, genre: `contentMeta/subject`, `genre` (`qcode` as code, `name`).
- place, located: `contentMeta/located` (`name`, `qcode`).
- body_html: `contentSet/inlineXML`: XHTML's `body`, NITF's `body.content`; else `inlineData`.
- urgency, slugline, ednote, source: `contentMeta/urgency`, `slugline`, `itemMeta/edNote`,
  `infoSource/name` (else `provider/@qcode`).

A problem is reported at the XML path it came from (`/newsItem/contentMeta/headline`).
"""

import re
import xml.etree.ElementTree as ET
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeET

from .errors import FieldError, InvalidArticle

ROOTS = ("newsItem", "newsMessage")
TEXT_CLASSES = ("ninat:text", "icls:text")
MAX_XML_DEPTH = 64
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_SPACES = re.compile(r"\s+")
PUBSTATUS = {"stat:usable": "usable", "stat:withheld": "withheld", "stat:canceled": "canceled"}

# Where each ninjs field came from, to name problems by their place in the XML.
XML_PATHS = {
    "/uri": "/newsItem/@guid", "/language": "/newsItem/contentMeta/language/@tag",
    "/pubstatus": "/newsItem/itemMeta/pubStatus/@qcode",
    "/versioncreated": "/newsItem/itemMeta/versionCreated",
    "/firstcreated": "/newsItem/itemMeta/firstCreated",
    "/embargoed": "/newsItem/itemMeta/embargoed", "/headline": "/newsItem/contentMeta/headline",
    "/description_text": "/newsItem/contentMeta/description",
    "/byline": "/newsItem/contentMeta/by", "/body_html": "/newsItem/contentSet",
    "/body_text": "/newsItem/contentSet", "/subject": "/newsItem/contentMeta/subject",
    "/place": "/newsItem/contentMeta/located", "/urgency": "/newsItem/contentMeta/urgency",
}  # fmt: skip


class UnsafeXml(ValueError):
    """The document declares a DTD or entities: refused unread."""


class MalformedXml(ValueError):
    """The body is not well-formed XML."""


# Control characters XML 1.0 forbids even as references: a scraped \x1a in an agency's text
# (raw, or written `&#x1a;`) makes the whole item not well-formed. Each stands in, for the
# parse, as one of the 32 noncharacters U+FDD0..U+FDEF (reserved for a program's internal use,
# legal in XML), and is put back after it, so the ninjs reader cleans and reports it at its
# field, as in JSON.
_XML_FORBIDDEN_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_FORBIDDEN_CODES = frozenset(range(0x20)) - {0x09, 0x0A, 0x0D}
# A character reference, or a CDATA section or comment (where `&#...;` is not one) to skip.
_REFERENCE_OR_VERBATIM = re.compile(
    rb"<!\[CDATA\[.*?\]\]>|<!--.*?-->|&#(?:x([0-9A-Fa-f]{1,8})|([0-9]{1,10}));", re.DOTALL
)
_STAND_IN = 0xFDD0
_CONTROLS_BACK = {_STAND_IN + code: code for code in range(0x20)}
_DECLARED_ENCODING = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)")


def _controls_stood_in(body: bytes) -> bytes | None:
    """The body with each forbidden control, raw or as a reference, as its stand-in; None when
    it has none. A reference stands in as a reference, so in any ASCII-based encoding; a raw
    control only in UTF-8 (its stand-in is written in UTF-8)."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    stood_in = _REFERENCE_OR_VERBATIM.sub(_reference_stand_in, body) if b"&#" in body else body
    declared = _DECLARED_ENCODING.match(body.removeprefix(b"\xef\xbb\xbf"))
    utf8 = not declared or declared.group(1).lower().replace(b"-", b"") == b"utf8"
    if utf8 and _XML_FORBIDDEN_CONTROLS.search(stood_in):
        stood_in = _XML_FORBIDDEN_CONTROLS.sub(
            lambda m: chr(_STAND_IN + m.group()[0]).encode(), stood_in
        )
    return None if stood_in == body else stood_in


def _reference_stand_in(match: re.Match[bytes]) -> bytes:
    hexadecimal, decimal = match.group(1), match.group(2)
    if hexadecimal is None and decimal is None:
        return match.group()  # a CDATA section or a comment, verbatim
    code = int(hexadecimal, 16) if hexadecimal is not None else int(decimal)
    return f"&#x{_STAND_IN + code:X};".encode() if code in _FORBIDDEN_CODES else match.group()


def _controls_back(root: ET.Element) -> None:
    for element in root.iter():
        if element.text:
            element.text = element.text.translate(_CONTROLS_BACK)
        if element.tail:
            element.tail = element.tail.translate(_CONTROLS_BACK)
        for name, value in element.attrib.items():
            element.attrib[name] = value.translate(_CONTROLS_BACK)


def parse_xml(body: bytes) -> ET.Element:
    """The root element, refusing DTDs, entities and external references. Stray control
    characters in text are read (and later cleaned by the ninjs reader), not refused."""
    try:
        root = _parse(body)
    except MalformedXml as first:
        stood_in = _controls_stood_in(body)
        if stood_in is None:
            raise
        try:
            root = _parse(stood_in)
        except MalformedXml:
            # Not (only) the controls: the first parse's error names the sender's own bytes.
            raise first from None
        _controls_back(root)
    if _deeper_than(root, MAX_XML_DEPTH):
        raise MalformedXml(f"the XML nests deeper than {MAX_XML_DEPTH} elements")
    return root


def _parse(body: bytes) -> ET.Element:
    try:
        return SafeET.fromstring(body, forbid_dtd=True)
    except defusedxml.DefusedXmlException as refused:
        raise UnsafeXml(
            f"XML with a document type declaration or entities is refused "
            f"({type(refused).__name__})"
        ) from refused
    except ET.ParseError as error:
        raise MalformedXml(f"the body is not well-formed XML: {error}") from error


def is_newsml(root: ET.Element) -> bool:
    return local(root.tag) in ROOTS


def newsml_to_ninjs(root: ET.Element) -> dict[str, Any]:
    """The ninjs document a NewsML-G2 `newsItem` (or a `newsMessage` holding one text item) says."""
    return item_to_ninjs(_the_text_item(root))


def text_items(root: ET.Element) -> list[ET.Element]:
    """The text `newsItem`s of a document, in its order: the root itself, or a message's."""
    if local(root.tag) == "newsItem":
        return [root]
    return [
        el
        for el in root.iter()
        if local(el.tag) == "newsItem"
        and _attr(_first(_first(el, "itemMeta"), "itemClass"), "qcode") in (None, *TEXT_CLASSES)
    ]


def item_to_ninjs(item: ET.Element) -> dict[str, Any]:
    """The ninjs document one `newsItem` says."""
    item_meta, content_meta = _first(item, "itemMeta"), _first(item, "contentMeta")
    errors = _class_errors(item_meta)
    ninjs: dict[str, Any] = {"uri": item.get("guid", "")}
    if item.get("version"):
        ninjs["version"] = item.get("version")
    language = _attr(_first(content_meta, "language"), "tag") or item.get(_XML_LANG)
    if language:
        ninjs["language"] = language
    status = _attr(_first(item_meta, "pubStatus"), "qcode")
    if status is not None:
        if status not in PUBSTATUS:
            errors.append(
                FieldError(
                    pointer=XML_PATHS["/pubstatus"],
                    message=f"must be one of {', '.join(PUBSTATUS)}; got {status!r}",
                )
            )
        ninjs["pubstatus"] = PUBSTATUS.get(status, "usable")
    for field, parent, name in (
        ("versioncreated", item_meta, "versionCreated"),
        ("firstcreated", item_meta, "firstCreated"),
        ("firstcreated", content_meta, "contentCreated"),
        ("embargoed", item_meta, "embargoed"),
        ("headline", content_meta, "headline"),
        ("description_text", content_meta, "description"),
        ("byline", content_meta, "by"),
        ("slugline", content_meta, "slugline"),
        ("ednote", item_meta, "edNote"),
    ):
        value = _text(_first(parent, name))
        if value and field not in ninjs:
            ninjs[field] = value
    _add_people_and_codes(ninjs, item_meta, content_meta, errors)
    _add_body(ninjs, _first(item, "contentSet"))
    if errors:
        raise InvalidArticle(errors)
    return ninjs


def xml_pointer(pointer: str) -> str:
    """A ninjs reader's JSON pointer as the XML path the value came from."""
    head = "/" + pointer.split("/")[1] if pointer.count("/") >= 1 and pointer != "" else pointer
    if head in XML_PATHS:
        rest = pointer[len(head) :]
        return XML_PATHS[head] + (f"[{int(rest.split('/')[1]) + 1}]" if rest[1:2].isdigit() else "")
    return "/newsItem" + pointer


def _the_text_item(root: ET.Element) -> ET.Element:
    texts = text_items(root)
    if len(texts) != 1:
        raise InvalidArticle(
            [FieldError(pointer="/newsMessage/itemSet", message="holds no text newsItem")]
        )
    return texts[0]


def _class_errors(item_meta: ET.Element | None) -> list[FieldError]:
    item_class = _attr(_first(item_meta, "itemClass"), "qcode")
    if item_class is None or item_class in TEXT_CLASSES:
        return []
    return [
        FieldError(
            pointer="/newsItem/itemMeta/itemClass/@qcode",
            message=(
                f"items of class {item_class!r} are not articles: khabar takes ninat:text items"
            ),
        )
    ]


def _add_people_and_codes(
    ninjs: dict[str, Any],
    item_meta: ET.Element | None,
    content_meta: ET.Element | None,
    errors: list[FieldError],
) -> None:
    if "byline" not in ninjs:
        creator = _text(_first(_first(content_meta, "creator"), "name"))
        if creator:
            ninjs["byline"] = creator
    source = (
        _text(_first(_first(content_meta, "infoSource"), "name"))
        or (_attr(_first(item_meta, "provider"), "qcode") or "").partition(":")[2]
    )
    if source:
        ninjs["source"] = source
    subjects = [_concept(el) for el in _all(content_meta, "subject")]
    if subjects:
        ninjs["subject"] = subjects
    genres = [_concept(el) for el in _all(content_meta, "genre")]
    if genres:
        ninjs["genre"] = genres
    located = _first(content_meta, "located")
    if located is not None:
        place = _concept(located)
        ninjs["place"] = [place]
        ninjs["located"] = place.get("name") or place.get("code")
    urgency = _text(_first(content_meta, "urgency"))
    if urgency:
        if urgency.isdigit():
            ninjs["urgency"] = int(urgency)
        else:
            errors.append(
                FieldError(
                    pointer=XML_PATHS["/urgency"], message="must be a whole number from 1 to 9"
                )
            )


def _concept(element: ET.Element) -> dict[str, str]:
    code = element.get("qcode") or element.get("uri") or element.get("literal") or ""
    names = _all(element, "name")
    name = _text(names[0]) if names else ""
    concept = {"name": name or code}
    if code:
        concept["code"] = code
        if ":" in code and "qcode" in element.attrib:
            concept["scheme"] = code.partition(":")[0]
    return concept


def _add_body(ninjs: dict[str, Any], content_set: ET.Element | None) -> None:
    if content_set is None:
        return
    for part in content_set:
        kind = (part.get("contenttype") or part.get("contentType") or "").lower()
        if local(part.tag) == "inlineXML":
            body, head = _xml_body(part)
            if body:
                ninjs["body_html"] = body
                for field, value in head.items():
                    ninjs.setdefault(field, value)
                return
        elif local(part.tag) == "inlineData" and (text := (part.text or "").strip()):
            ninjs["body_html" if "html" in kind else "body_text"] = text
            return


def _xml_body(inline: ET.Element) -> tuple[str, dict[str, str]]:
    """The body HTML of an inline XHTML or NITF document, and the NITF head's fields."""
    for element in inline:
        name = local(element.tag)
        if name == "html":
            return _inner_html(_first(element, "body")), {}
        if name == "nitf":
            body = _first(element, "body")
            head = _first(body, "body.head")
            fields = {
                "headline": _text(_first(_first(head, "hedline"), "hl1")),
                "description_text": _text(_first(head, "abstract")),
            }
            return _inner_html(_first(body, "body.content")), {k: v for k, v in fields.items() if v}
    return "", {}


def _inner_html(element: ET.Element | None) -> str:
    """The children of `element` as HTML, namespaces dropped (the sanitizer sees it later)."""
    if element is None:
        return ""
    parts = [element.text or ""]
    for child in element:
        parts.append(ET.tostring(_plain(child), encoding="unicode", method="html"))
    return "".join(parts).strip()


def _plain(element: ET.Element) -> ET.Element:
    """A copy of `element` with the namespaces taken off its tags and attributes."""
    copy = ET.Element(local(element.tag), {local(k): v for k, v in element.attrib.items()})
    copy.text, copy.tail = element.text, element.tail
    for child in element:
        if isinstance(child.tag, str):
            copy.append(_plain(child))
    return copy


def local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _first(parent: ET.Element | None, name: str) -> ET.Element | None:
    if parent is None:
        return None
    return next((child for child in parent if local(child.tag) == name), None)


def _all(parent: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if parent is None else [child for child in parent if local(child.tag) == name]


def _attr(element: ET.Element | None, name: str) -> str | None:
    return None if element is None else element.get(name)


def _text(element: ET.Element | None) -> str:
    if element is None:
        return ""
    return _SPACES.sub(" ", "".join(element.itertext())).strip()


def _deeper_than(root: ET.Element, limit: int) -> bool:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False
