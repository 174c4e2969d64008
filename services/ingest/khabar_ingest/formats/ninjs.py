"""IPTC ninjs (1.x, 2.x, 3.x) → `Article`, collecting every problem at once.

Which ninjs fields become which `Article` fields (`Article` field: ninjs 1.x; ninjs 2.x / 3.x):

- id: derived from `uri` (see `ids.py`); same.
- headline: `headline`, else `headline_main`, `headline_*`; `headlines[]` (role main first).
- body_html: `body_html`/`body_xhtml`/`body_richtext`, else `body_text`/`body_main` as
  `<p>`s; `bodies[]` (HTML content type or role richtext first).
- lead: `description_text`, else `description_html` without tags; `descriptions[]`.
- byline: `byline`; `by`.
- versioncreated…: `versioncreated`, `firstcreated`, `embargoed`; `versionCreated`,
  `firstCreated`, `embargoedUntil` (3.x).
- subjects, places: `subject[]`, `place[]` (`code`, `scheme`); `subjects[]`, `places[]`
  (`uri`/`literal` as code).
- featured_image: `associations.featuremedia`, else the first picture; `associations[]` by
  `name`, same rule.

khabar's own optional fields: `category` (the newsroom's category: a name in
any language or a section's slug, kept as sent, see `khabar_shared.sections`;
else the first subject's code and name), `source`, `editor_note` (a public correction note; ninjs
`ednote` is internal and stays in `extra`) and `url`.

Every other top-level field (`version`, `urgency`, `type`, `person`,
`organisation`, `associations`, ...) is kept verbatim in `Article.extra`.

Items whose `type` is not `text` or `composite` (pictures, videos, events)
are refused at `/type`: khabar publishes articles; pictures come as
associations of one.

Every text field khabar reads, the featured picture's caption, credit and
alt text included, has a length limit (`Limits`; too long refuses the
article). Careless characters are cleaned, not refused: in a one-line field
(headline, byline, caption…) line breaks and tabs fold into one space and
other control characters go; in a body, lead or note control characters
other than tab and line breaks go. Each cleaning is written down by JSON
pointer (`read_ninjs`), and ingest's answer lists them.
"""

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from pydantic import BaseModel, Field

from khabar_shared.events import Article, Image, Subject
from khabar_shared.sections import MAX_SLUG_CHARS, Category, sections

from .checks import (
    clean_line,
    clean_text,
    guess_language,
    has_line_controls,
    has_text_controls,
    is_web_url,
    parse_timestamp,
    read_language,
    surrogate_paths,
)
from .errors import FieldCleaned, FieldError, InvalidArticle, MalformedDocument, pointer
from .flash import is_flash
from .ids import article_id_from_uri
from .text import text_to_html


class Limits(BaseModel):
    """How big each part of an article may be; ingest's settings pass their own."""

    max_uri_chars: int = Field(default=1000, ge=1)
    max_headline_chars: int = Field(default=300, ge=1)
    max_lead_chars: int = Field(default=3000, ge=1)
    max_byline_chars: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    max_editor_note_chars: int = Field(default=2000, ge=1)
    max_list_items: int = Field(default=200, ge=1, description="subjects, places")
    # Subjects' and places' names, codes and schemes.
    max_subject_chars: int = Field(default=1000, ge=1)
    # The featured picture: its words are copied into every card that shows the article.
    max_caption_chars: int = Field(default=1000, ge=1)
    max_alt_chars: int = Field(default=500, ge=1)
    max_credit_chars: int = Field(default=300, ge=1)
    max_mimetype_chars: int = Field(default=100, ge=1)


ARTICLE_TYPES = {"text", "composite"}
PUBSTATUSES = ("usable", "withheld", "canceled")
_TAGS = re.compile(r"<[^>]*>")
_WHITESPACE = re.compile(r"\s")
_HTML_BODY_KEYS = ("body_html", "body_xhtml", "body_richtext")
_TEXT_BODY_KEYS = ("body_text", "body_main", "body_plain")
_IMAGE_TYPES = {"picture", "graphic", "image"}
_PREFERRED_RENDITIONS = ("original", "baseImage", "viewImage", "main", "highres", "hughres")

_CAMEL_CASE_KEYS = frozenset(
    ("firstCreated", "pubStatus", "copyrightNotice", "embargoedUntil", "edNote", "altIds")
)
_MODERN_KEYS = frozenset(("headlines", "bodies", "descriptions"))

# Fields read into Article (other than through the helpers below); the rest go to `extra`.
_CONSUMED = {
    "uri", "language", "pubstatus", "pubStatus", "byline", "by",
    "versioncreated", "versionCreated", "firstcreated", "firstCreated",
    "embargoed", "embargoedUntil", "subject", "subjects", "place", "places",
    "headline", "headlines", "bodies", "descriptions",
    "category", "source", "editor_note", "url",
}  # fmt: skip


def parse_ninjs_json(
    data: bytes | str,
    *,
    limits: Limits | None = None,
    default_language: str | None = None,
    received_at: datetime | None = None,
) -> Article:
    """Parse a request body: MalformedDocument (→ 400) if it isn't JSON, else as `parse_ninjs`."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise MalformedDocument(f"the body is not a JSON document: {error}") from error
    return parse_ninjs(
        document, limits=limits, default_language=default_language, received_at=received_at
    )


def parse_ninjs(
    document: Any,
    *,
    limits: Limits | None = None,
    default_language: str | None = None,
    received_at: datetime | None = None,
    unicode_checked: bool = False,
    naive_zone: tzinfo | None = None,
) -> Article:
    """The article a ninjs document describes, or InvalidArticle listing every problem.

    `default_language` is used when the document has no `language`; without
    one, the language is guessed from the script ('ar' or 'en').
    `received_at` stands in for a missing `versioncreated`; without it a
    missing `versioncreated` is an error. `unicode_checked` says the caller
    knows the document holds no lone surrogates (its JSON text had no `\\ud`
    escape), which spares a walk over every string. `naive_zone` is the zone
    a time without an offset is read in (else such a time is refused); see
    `read_ninjs` to learn which fields needed it.
    """
    return read_ninjs(
        document,
        limits=limits,
        default_language=default_language,
        received_at=received_at,
        unicode_checked=unicode_checked,
        naive_zone=naive_zone,
    ).article


@dataclass(slots=True)
class Reading:
    """An article, the pointers of its times that were read in the sender's zone, and what
    careless text was cleaned in it.

    A plain dataclass: every article read makes one, and a pydantic model costs more.
    """

    article: Article
    zoned_fields: list[str] = field(default_factory=list)
    # Careless text cleaned rather than refused (a tab in the headline), by pointer.
    cleaned: list[FieldCleaned] = field(default_factory=list)


def read_ninjs(
    document: Any,
    *,
    limits: Limits | None = None,
    default_language: str | None = None,
    received_at: datetime | None = None,
    unicode_checked: bool = False,
    naive_zone: tzinfo | None = None,
) -> Reading:
    """As `parse_ninjs`, also saying which times had no offset (read in `naive_zone`)."""
    if not isinstance(document, dict):
        kind = _json_type(document)
        raise InvalidArticle([FieldError(pointer="", message=f"must be a JSON object, got {kind}")])
    broken = [] if unicode_checked else surrogate_paths(document)
    if broken:
        raise InvalidArticle(
            [
                FieldError(
                    pointer=pointer(*path), message="contains invalid Unicode (a lone surrogate)"
                )
                for path in broken
            ]
        )
    reader = _Reader(document, limits or Limits(), naive_zone)
    article = reader.read(default_language, received_at)
    if reader.errors or article is None:
        raise InvalidArticle(reader.errors)
    return Reading(article, reader.zoned, reader.cleaned)


class _Reader:
    """Reads one document field by field, writing down each problem it meets."""

    def __init__(
        self, document: dict[str, Any], limits: Limits, naive_zone: tzinfo | None = None
    ) -> None:
        self.doc = document
        self.limits = limits
        self.naive_zone = naive_zone
        self.zoned: list[str] = []
        self.errors: list[FieldError] = []
        self.cleaned: list[FieldCleaned] = []
        self.consumed: set[str] = set(_CONSUMED)
        self.modern = not document.keys().isdisjoint(_MODERN_KEYS)
        # ninjs 3.x spells its names in camelCase; name missing fields the way the sender would
        self.camel = not document.keys().isdisjoint(_CAMEL_CASE_KEYS)
        # The `body_*` and `description_*` keys, found in one pass over the keys, not one each.
        self.body_keys: list[str] = []
        self.description_keys: list[str] = []
        for key in document:
            if "_" not in key:  # most keys: an operator, not two method calls
                continue
            if key.startswith("body_"):
                self.body_keys.append(key)
            elif key.startswith("description_"):
                self.description_keys.append(key)

    def fail(self, where: str, message: str) -> None:
        self.errors.append(FieldError(pointer=where, message=message))

    def clean(self, value: str, where: str, one_line: bool) -> str:
        """`value` with its careless characters fixed (see the module's notes), each fix noted."""
        cleaned, done = (clean_line if one_line else clean_text)(value)
        self.cleaned.extend(FieldCleaned(pointer=where, detail=detail) for detail in done)
        return cleaned

    # ---- the whole article ------------------------------------------------

    def read(self, default_language: str | None, received_at: datetime | None) -> Article | None:
        self._check_type()
        self._check_extras()
        uri = self._uri()
        headline = self._headline()
        body_html = self._body()
        lead = self._lead()
        pubstatus = self._pubstatus()
        bodiless = not body_html.strip()
        flash = bodiless and is_flash(self.doc, headline)
        if bodiless and pubstatus != "canceled" and not flash:
            self.fail(
                "/bodies" if self.modern else "/body_html",
                "an article needs a body "
                "(a headline-only flash needs urgency 1 or a headline starting 'عاجل')",
            )
        language = self._language(default_language, headline, body_html)
        versioncreated = self._timestamp(("versioncreated", "versionCreated"), received_at)
        subjects = self._subjects(("subject", "subjects"))
        places = self._subjects(("place", "places"))
        fields = dict(
            byline=self._string(("byline", "by"), max_chars=self.limits.max_byline_chars),
            **self._category(subjects).as_fields(),
            source=self._string(("source",), max_chars=self.limits.max_byline_chars),
            editor_note=self._string(
                ("editor_note",), max_chars=self.limits.max_editor_note_chars, one_line=False
            ),
            url=self._url(),
            firstcreated=self._timestamp(("firstcreated", "firstCreated"), None, required=False),
            embargoed=self._timestamp(("embargoed", "embargoedUntil"), None, required=False),
            featured_image=self._featured_image(),
        )  # fmt: skip
        if self.errors or uri is None or language is None or versioncreated is None:
            return None
        return Article(
            id=article_id_from_uri(uri),
            uri=uri,
            language=language,
            headline=headline,
            lead=lead,
            body_html=body_html,
            pubstatus=pubstatus,
            versioncreated=versioncreated,
            subjects=subjects,
            places=places,
            extra=self._extra(flash),
            **fields,
        )

    def _extra(self, flash: bool) -> dict[str, Any]:
        extra = {k: v for k, v in self.doc.items() if k not in self.consumed}
        if flash:
            extra["flash"] = True  # a headline-only urgent item (see `flash.py`)
        return extra

    # ---- generic field readers --------------------------------------------

    def _first_present(
        self, names: tuple[str, ...], source: dict[str, Any] | None = None
    ) -> str | None:
        source = self.doc if source is None else source
        for name in names:  # a plain loop: this runs a dozen times per article
            if name in source:
                return name
        return None

    def _string(
        self,
        names: tuple[str, ...],
        *,
        max_chars: int | None = None,
        one_line: bool = True,
        container: dict[str, Any] | None = None,
        prefix: str = "",
    ) -> str:
        """A string field ('' when absent), checked for type, controls and length."""
        source = self.doc if container is None else container
        name = self._first_present(names, source)
        if name is None or source[name] is None:
            return ""
        value = source[name]
        if (
            type(value) is str
            and (max_chars is None or len(value) <= max_chars)
            and not (has_line_controls if one_line else has_text_controls)(value)
        ):
            return value.strip()  # nothing to report: no pointer to build
        return self._check_string(value, prefix + pointer(name), max_chars, one_line)

    def _check_string(self, value: Any, where: str, max_chars: int | None, one_line: bool) -> str:
        if not isinstance(value, str):
            self.fail(where, f"must be a string, got {_json_type(value)}")
            return ""
        if (has_line_controls if one_line else has_text_controls)(value):
            value = self.clean(value, where, one_line)
        if max_chars is not None and len(value) > max_chars:
            self.fail(where, f"is {len(value)} characters long; at most {max_chars} allowed")
        return value.strip()

    def _timestamp(
        self, names: tuple[str, ...], fallback: datetime | None, *, required: bool = True
    ) -> datetime | None:
        name = self._first_present(names)
        if name is None or self.doc[name] is None:
            if required and fallback is None:
                self.fail(
                    pointer(names[-1] if self.camel else names[0]),
                    "is required: the time this version was written",
                )
            return fallback
        value = self.doc[name]
        if not isinstance(value, str):
            self.fail(pointer(name), f"must be a date-time string, got {_json_type(value)}")
            return None
        parsed, problem = parse_timestamp(value, self.naive_zone)
        if problem:
            self.fail(pointer(name), problem)
        elif (
            self.naive_zone is not None and parsed is not None and parsed.tzinfo is self.naive_zone
        ):
            self.zoned.append(pointer(name))
        return parsed

    # ---- individual fields ------------------------------------------------

    def _check_type(self) -> None:
        kind = self.doc.get("type")
        if kind is None:
            return
        if not isinstance(kind, str):
            self.fail("/type", f"must be a string, got {_json_type(kind)}")
        elif kind not in ARTICLE_TYPES:
            self.fail(
                "/type",
                f"items of type {kind!r} are not articles: khabar takes 'text' and "
                "'composite' items (a picture belongs in an article's associations)",
            )

    def _check_extras(self) -> None:
        """The few unmapped fields whose type ninjs fixes and a wrong one would mislead."""
        urgency = self.doc.get("urgency")
        if urgency is not None and (
            not isinstance(urgency, int) or isinstance(urgency, bool) or not 1 <= urgency <= 9
        ):
            self.fail("/urgency", "must be a whole number from 1 (most urgent) to 9")
        version = self.doc.get("version")
        if version is not None and (
            not isinstance(version, str | int) or isinstance(version, bool)
        ):
            self.fail("/version", f"must be a string, got {_json_type(version)}")

    def _uri(self) -> str | None:
        if "uri" not in self.doc:
            self.fail("/uri", "is required: the newsroom's identifier of this article")
            return None
        value = self.doc["uri"]
        if isinstance(value, str) and has_line_controls(value):
            # The article's identity: cleaning it could make two articles one.
            self.fail("/uri", "contains control characters")
            return None
        uri = self._check_string(value, "/uri", self.limits.max_uri_chars, True)
        if not uri:
            if isinstance(self.doc["uri"], str):
                self.fail("/uri", "must not be empty")
            return None
        if _WHITESPACE.search(uri):
            self.fail("/uri", "must not contain spaces")
        return uri

    def _headline(self) -> str:
        headline, where = "", "/headlines" if self.modern else "/headline"
        if "headline" in self.doc:
            where = "/headline"
            headline = self._check_string(self.doc["headline"], where, None, True)
        elif "headlines" in self.doc:
            headline, where = self._from_value_list("headlines", prefer_roles=("main", "default"))
        else:
            key = self._first_pattern_key("headline_", ("headline_main", "headline_simple"))
            if key is not None:
                self.consumed.add(key)
                where = pointer(key)
                headline = self._check_string(self.doc[key], where, None, True)
        if not headline and not any(e.pointer.startswith(where) for e in self.errors):
            self.fail(where, "an article needs a headline" + self._emptied_by_cleaning(where))
        elif len(headline) > self.limits.max_headline_chars:
            self.fail(
                where,
                f"is {len(headline)} characters long; "
                f"at most {self.limits.max_headline_chars} allowed",
            )
        return headline

    def _emptied_by_cleaning(self, where: str) -> str:
        """Why a field sent with text came out empty: its cleaning, said, so a headline of
        control characters alone is not refused as if none had been sent."""
        done = [c.detail for c in self.cleaned if c.pointer.startswith(where)]
        return f"; nothing was left once cleaned ({', '.join(done)})" if done else ""

    def _first_pattern_key(self, prefix: str, preferred: tuple[str, ...]) -> str | None:
        for key in preferred:
            if key in self.doc:
                return key
        return next((key for key in self.doc if key.startswith(prefix)), None)

    def _from_value_list(self, name: str, prefer_roles: tuple[str, ...]) -> tuple[str, str]:
        """The best `value` of a 2.x/3.x list (headlines, descriptions): role order, else first."""
        items = self._value_items(name)
        for role in (*prefer_roles, None):
            for index, item in items:
                if role is None or item.get("role") == role:
                    where = pointer(name, index, "value")
                    return self._check_string(item["value"], where, None, True), where
        return "", pointer(name)

    def _value_items(self, name: str) -> list[tuple[int, dict[str, Any]]]:
        """The well-formed `{value: ...}` objects of a 2.x/3.x list, reporting the others."""
        value = self.doc[name]
        if not isinstance(value, list):
            self.fail(pointer(name), f"must be a list, got {_json_type(value)}")
            return []
        items = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                self.fail(pointer(name, index), f"must be an object, got {_json_type(item)}")
            elif not isinstance(item.get("value"), str):
                got = _json_type(item.get("value")) if "value" in item else "nothing"
                self.fail(pointer(name, index, "value"), f"must be a string, got {got}")
            else:
                items.append((index, item))
        return items

    def _body(self) -> str:
        html_body, text_body = None, None
        where = text_where = "/bodies" if self.modern else "/body_html"
        if "bodies" in self.doc:
            for index, item in self._value_items("bodies"):
                kind = str(item.get("contenttype") or item.get("contentType") or "").lower()
                is_html = "html" in kind or item.get("role") == "richtext"
                if is_html and html_body is None:
                    html_body, where = item["value"], pointer("bodies", index, "value")
                elif not is_html and text_body is None:
                    text_body, text_where = item["value"], pointer("bodies", index, "value")
        body_keys = self.body_keys
        self.consumed.update(body_keys)
        for key in body_keys:
            if self.doc[key] is not None and not isinstance(self.doc[key], str):
                self.fail(pointer(key), f"must be a string, got {_json_type(self.doc[key])}")
        strings = {k: self.doc[k] for k in body_keys if isinstance(self.doc[k], str)}
        if html_body is None:
            picked = _pick_key(strings, _HTML_BODY_KEYS, "body_", _looks_html)
            if picked:
                html_body, where = strings[picked], pointer(picked)
        if html_body is None and text_body is None:
            picked = _pick_key(strings, _TEXT_BODY_KEYS, "body_", lambda k: True)
            if picked:
                text_body, text_where = strings[picked], pointer(picked)
        if html_body is None and text_body is not None:
            html_body, where = text_to_html(text_body), text_where
        return self._check_body(html_body or "", where)

    def _check_body(self, body: str, where: str) -> str:
        limit = self.limits.max_body_bytes
        # A character is at most 4 bytes of UTF-8: most bodies need no encoding to be measured.
        if len(body) * 4 > limit:
            size = len(body.encode("utf-8", errors="surrogatepass"))
            if size > limit:
                self.fail(where, f"is {size} bytes long; at most {limit} allowed")
        if has_text_controls(body):
            body = self.clean(body, where, one_line=False)
        return body.strip()

    def _lead(self) -> str:
        if "descriptions" in self.doc:
            lead, where = self._from_value_list("descriptions", prefer_roles=("text", "summary"))
            lead = _strip_tags(lead)
        else:
            self.consumed.update(self.description_keys)
            key = _pick_key(
                self.doc, ("description_text", "description_html"), "description_", lambda k: True
            )
            if key is None:
                return ""
            where = pointer(key)
            lead = self._check_string(self.doc[key], where, None, False)
            lead = _strip_tags(lead) if _looks_html(key) else lead
        if len(lead) > self.limits.max_lead_chars:
            self.fail(
                where,
                f"is {len(lead)} characters long; at most {self.limits.max_lead_chars} allowed",
            )
        return lead

    def _pubstatus(self) -> str:
        name = self._first_present(("pubstatus", "pubStatus"))
        if name is None or self.doc[name] is None:
            return "usable"
        value = self.doc[name]
        if value not in PUBSTATUSES:
            self.fail(
                pointer(name), f"must be one of {', '.join(PUBSTATUSES)}; got {value!r}"[:200]
            )
            return "usable"
        return value

    def _language(self, default: str | None, headline: str, body_html: str) -> str | None:
        value = self.doc.get("language")
        if value is None:
            return default or guess_language(headline + " " + body_html)
        if not isinstance(value, str):
            self.fail("/language", f"must be a string, got {_json_type(value)}")
            return None
        problem, normalized = read_language(value)
        if problem:
            self.fail("/language", problem[:200])
            return None
        return normalized

    def _subjects(self, names: tuple[str, str]) -> list[Subject]:
        name = self._first_present(names)
        if name is None or self.doc[name] is None:
            return []
        value = self.doc[name]
        if not isinstance(value, list):
            self.fail(pointer(name), f"must be a list, got {_json_type(value)}")
            return []
        if len(value) > self.limits.max_list_items:
            self.fail(
                pointer(name),
                f"has {len(value)} items; at most {self.limits.max_list_items} allowed",
            )
            return []
        subjects = []
        for index, item in enumerate(value):
            subject = self._subject(item, pointer(name, index))
            if subject is not None:
                subjects.append(subject)
        return subjects

    def _subject(self, item: Any, where: str) -> Subject | None:
        if not isinstance(item, dict):
            self.fail(where, f"must be an object, got {_json_type(item)}")
            return None
        fields = {}
        for key in ("name", "code", "uri", "literal", "scheme", "rel"):
            fields[key] = self._string(
                (key,), container=item, prefix=where, max_chars=self.limits.max_subject_chars
            )
        code = fields["code"] or fields["uri"] or fields["literal"] or None
        name = fields["name"] or code
        if not name:
            self.fail(where + "/name", "a subject needs a name or a code")
            return None
        return Subject(
            name=name, code=code, scheme=fields["scheme"] or None, rel=fields["rel"] or None
        )

    def _category(self, subjects: list[Subject]) -> Category:
        """The newsroom's category as sent: `category` (a name in any language, or a
        section's slug), else the first subject (its code, then its name)."""
        if "category" in self.doc and self.doc["category"] is not None:
            value = self._string(("category",), max_chars=MAX_SLUG_CHARS)
            category = sections().category(value) if value else Category()
            if value and not category.slug:
                self.fail("/category", f"{value!r} has no letter or digit to name a listing by")
            return category
        if subjects:
            return sections().category(subjects[0].name, subjects[0].code)
        return Category()

    def _url(self) -> str | None:
        value = self._string(("url",), max_chars=self.limits.max_uri_chars)
        if value and not is_web_url(value):
            self.fail("/url", "must be an absolute http or https address")
            return None
        return value or None

    # ---- the featured picture ---------------------------------------------

    def _featured_image(self) -> Image | None:
        chosen = self._featured_association()
        if chosen is None:
            return None
        where, item = chosen
        best = self._best_rendition(item, where)
        if best is None:
            return None
        href, rendition_key, rendition = best
        limits = self.limits
        caption = self._media_text(
            item, where, ("description_text", "caption"), limits.max_caption_chars
        )
        if not caption and (described := _first_value(item, "descriptions")):
            caption = self._media_string(
                described[1], where + described[0], limits.max_caption_chars
            )
        alt = self._media_text(item, where, ("alt_text", "description_text"), limits.max_alt_chars)
        if not alt and len(caption) > limits.max_alt_chars:
            self.fail(
                where + "/description_text",
                f"is {len(caption)} characters long: too long to stand as the picture's "
                f"alt text (at most {limits.max_alt_chars}); send a shorter alt_text",
            )
        return Image(
            href=href,
            alt=alt or caption,
            caption=caption,
            credit=self._media_text(
                item,
                where,
                ("creditline", "copyrightnotice", "copyrightNotice", "byline", "by"),
                limits.max_credit_chars,
            ),
            width=_whole(rendition.get("width")),
            height=_whole(rendition.get("height")),
            mimetype=self._media_text(
                rendition,
                f"{where}/renditions{pointer(rendition_key)}",
                ("mimetype", "contenttype", "contentType"),
                limits.max_mimetype_chars,
            )
            or None,
        )

    def _media_text(
        self, item: dict[str, Any], where: str, names: tuple[str, ...], max_chars: int
    ) -> str:
        """The first non-blank string of `names` in a picture's object, cleaned and measured."""
        for name in names:
            value = item.get(name)
            if isinstance(value, str) and value.strip():
                return self._media_string(value, where + pointer(name), max_chars)
        return ""

    def _media_string(self, value: str, where: str, max_chars: int) -> str:
        if not value.isprintable():
            value = self.clean(value, where, one_line=True)
        value = value.strip()
        if len(value) > max_chars:
            self.fail(where, f"is {len(value)} characters long; at most {max_chars} allowed")
        return value

    def _featured_association(self) -> tuple[str, dict[str, Any]] | None:
        """`featuremedia` when there is one, else the first picture."""
        value = self.doc.get("associations")
        if value is None:
            return None
        if isinstance(value, dict):
            named = [(pointer("associations", key), key, item) for key, item in value.items()]
        elif isinstance(value, list):
            named = [
                (
                    pointer("associations", index),
                    item.get("name") if isinstance(item, dict) else None,
                    item,
                )
                for index, item in enumerate(value)
            ]  # fmt: skip
        else:
            self.fail("/associations", f"must be an object or a list, got {_json_type(value)}")
            return None
        usable = []
        for where, name, item in named:
            if not isinstance(item, dict):
                self.fail(where, f"must be an object, got {_json_type(item)}")
            else:
                usable.append((where, name, item))
        for where, name, item in usable:
            if name == "featuremedia":
                return where, item
        for where, _, item in usable:
            if item.get("type") in _IMAGE_TYPES:
                return where, item
        return None

    def _best_rendition(
        self, item: dict[str, Any], where: str
    ) -> tuple[str, Any, dict[str, Any]] | None:
        value = item.get("renditions")
        if value is None:
            return None
        if isinstance(value, dict):
            entries = [(key, key, r) for key, r in value.items()]
        elif isinstance(value, list):
            entries = [
                (index, r.get("name") if isinstance(r, dict) else None, r)
                for index, r in enumerate(value)
            ]
        else:
            self.fail(
                where + "/renditions", f"must be an object or a list, got {_json_type(value)}"
            )
            return None
        candidates = []
        for key, name, rendition in entries:
            here = f"{where}/renditions{pointer(key)}"
            if not isinstance(rendition, dict):
                self.fail(here, f"must be an object, got {_json_type(rendition)}")
                continue
            href = rendition.get("href")
            if href is None:
                continue
            if not isinstance(href, str) or not is_web_url(href):
                self.fail(here + "/href", "must be an absolute http or https address")
                continue
            for dimension in ("width", "height"):
                if dimension in rendition and _whole(rendition[dimension]) is None:
                    self.fail(f"{here}/{dimension}", "must be a whole number of pixels")
            candidates.append((key, name, href, rendition))
        return _preferred(candidates)


def _preferred(
    candidates: list[tuple[Any, Any, str, dict[str, Any]]],
) -> tuple[str, Any, dict[str, Any]] | None:
    """The preferred rendition's address, key (for pointers) and object."""
    if not candidates:
        return None
    for wanted in _PREFERRED_RENDITIONS:
        for key, name, href, rendition in candidates:
            if name == wanted:
                return href, key, rendition
    key, _, href, rendition = max(candidates, key=lambda c: _whole(c[3].get("width")) or 0)
    return href, key, rendition


def _pick_key(
    source: dict[str, Any], preferred: tuple[str, ...], prefix: str, accept: Callable[[str], bool]
) -> str | None:
    """The first preferred key present, else the first `prefix*` key that `accept`s."""
    for key in preferred:
        if key in source:
            return key
    return next((key for key in source if key.startswith(prefix) and accept(key)), None)


def _looks_html(key: str) -> bool:
    return key.endswith(("html", "richtext"))


def _first_value(item: dict[str, Any], name: str) -> tuple[str, str] | None:
    """The pointer (within `item`) and text of the first `value` of a 2.x list, tags stripped."""
    values = item.get(name)
    if isinstance(values, list):
        for index, entry in enumerate(values):
            if isinstance(entry, dict) and isinstance(entry.get("value"), str):
                return pointer(name, index, "value"), _strip_tags(entry["value"])
    return None


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def _strip_tags(markup: str) -> str:
    return " ".join(html.unescape(_TAGS.sub(" ", markup)).split())


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
