"""Event schemas: what travels on the streams, and how it is written there.

Two streams, two event families:

- `ArticleEvent` on the article events stream (written by ingest): one per
  accepted change, carrying the full article and its version. The log is the
  record: everything else can be rebuilt by replaying it.
- `EnrichedEvent` on the enriched stream (written by enrich): the article with
  its tags and related links, or a withdrawal, or a refresh of an older
  article's related links.

On the wire an event is a flat Redis stream entry: a few routing fields that
operators can read with redis-cli, and `data`, the whole event as JSON.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PubStatus = Literal["usable", "withheld", "canceled"]


class Image(BaseModel):
    """A featured picture: what the page shows beside the headline."""

    href: str
    alt: str = ""
    caption: str = ""
    credit: str = ""
    width: int | None = None
    height: int | None = None
    mimetype: str | None = None


class Subject(BaseModel):
    """A ninjs subject, place, person or organisation as the newsroom sent it."""

    name: str
    code: str | None = None
    scheme: str | None = None
    rel: str | None = None


class Correction(BaseModel):
    """An editor's note that came with an update: shown dated at the foot of the page."""

    version: int = Field(ge=1, description="The version the note came with.")
    accepted_at: datetime = Field(description="When ingest accepted that version.")
    note: str


class Article(BaseModel):
    """One article as ingest understood it, whatever format it arrived in."""

    model_config = ConfigDict(frozen=False)

    id: str = Field(description="Stable article id, derived from the ninjs uri.")
    uri: str
    language: str = Field(description="BCP 47 language tag, e.g. 'ar' or 'en'.")
    headline: str
    lead: str = ""
    body_html: str = ""
    byline: str = ""
    category: str = Field(
        default="", description="Slug of the category the newsroom filed it under (its listing)."
    )
    category_name: str = Field(
        default="", description="That category's name as the newsroom sent it, e.g. 'آسيا'."
    )
    subjects: list[Subject] = Field(default_factory=list)
    places: list[Subject] = Field(default_factory=list)
    source: str = Field(default="", description="Outlet or newsroom tool that wrote it.")
    url: str | None = Field(default=None, description="Canonical address of the original.")
    pubstatus: PubStatus = "usable"
    firstcreated: datetime | None = None
    versioncreated: datetime
    embargoed: datetime | None = None
    featured_image: Image | None = None
    editor_note: str = ""
    corrections: list[Correction] = Field(
        default_factory=list,
        description="Every editor's note up to this version, oldest first (added by ingest).",
    )
    extra: dict[str, Any] = Field(
        default_factory=dict, description="ninjs fields khabar does not model, kept verbatim."
    )

    @property
    def is_live(self) -> bool:
        return self.pubstatus == "usable"

    @property
    def base_language(self) -> str:
        return self.language.split("-")[0].lower()

    @property
    def direction(self) -> Literal["rtl", "ltr"]:
        return "rtl" if self.base_language in {"ar", "fa", "he", "ur"} else "ltr"


ArticleEventType = Literal["article.published", "article.updated", "article.withdrawn"]


class ArticleEvent(BaseModel):
    """One accepted change to one article: appended by ingest, read by enrich."""

    schema_version: Literal[1] = 1
    event_id: str
    type: ArticleEventType
    article_id: str
    version: int = Field(ge=1)
    correlation_id: str
    accepted_at: datetime
    submitted_by: str = Field(description="Name of the API key (newsroom tool) that sent it.")
    article: Article


TagType = Literal["topic", "person", "place", "organisation", "keyphrase"]


class Tag(BaseModel):
    id: str = Field(description="Canonical id, e.g. 'org:european-union' or 'topic:sport'.")
    type: TagType
    name: str = Field(description="Display name in the article's language.")
    names: dict[str, str] = Field(default_factory=dict, description="Names by language.")
    score: float = Field(ge=0.0)


class RelatedLink(BaseModel):
    article_id: str
    score: float
    reasons: list[str] = Field(
        default_factory=list, description="Why: shared entities, phrases, same story."
    )


class EnrichedArticle(BaseModel):
    """An article with what enrich added; the input of search and render."""

    article: Article
    version: int = Field(ge=1)
    tags: list[Tag] = Field(default_factory=list)
    topic: str = Field(default="", description="Main topic slug, one of the site's sections.")
    story_id: str = Field(default="", description="Shared by near-duplicate tellings of one story.")
    related: list[RelatedLink] = Field(default_factory=list, description="Ranked, at most 8.")
    search_text: str = Field(
        default="", description="Normalized, stemmed words for recall beyond the engine's own."
    )
    enriched_at: datetime


EnrichedEventType = Literal["article.enriched", "article.withdrawn", "article.related_refreshed"]


class EnrichedEvent(BaseModel):
    """Appended by enrich; search and render each read it through their own group.

    - `article.enriched`: a new version of a live article, `enriched` set.
    - `article.withdrawn`: the article must disappear everywhere; `enriched`
      may be absent.
    - `article.related_refreshed`: same version, new related links (a newer
      article became a better match); `enriched` set.
    """

    schema_version: Literal[1] = 1
    event_id: str
    type: EnrichedEventType
    article_id: str
    version: int = Field(ge=1)
    correlation_id: str
    source_event_id: str
    enriched: EnrichedArticle | None = None


AnyEvent = ArticleEvent | EnrichedEvent
EventT = TypeVar("EventT", ArticleEvent, EnrichedEvent)


class MalformedEvent(ValueError):
    """A stream entry that can never be handled: it goes straight to dead letters."""


# A stream entry: its fields, the event's JSON as bytes.
Entry = dict[str, str | bytes]


def encode_event(
    event: AnyEvent, data: bytes | None = None, *, copied_from: bytes | None = None
) -> Entry:
    """The stream entry for an event: every writer's. Its JSON (`data`, when already made by
    `event_json` or one of the fast paths below) as bytes.

    `copied_from`: for an `article.related_refreshed` event, the JSON of the
    `article.enriched` event its article is a copy of; most of its bytes are
    taken from there as they are (see `_refreshed_json`).
    """
    if data is None:
        if copied_from is not None and isinstance(event, EnrichedEvent):
            data = _refreshed_json(copied_from, event)
        else:
            data = event_json(event)
    return {**routing_fields(event), "data": data}


def event_json(event: AnyEvent) -> bytes:
    """The event's JSON as the serializer makes it: `model_dump_json` decodes a few KB of Arabic
    to a str, for the packer to encode back: work the bytes serializer skips."""
    return type(event).__pydantic_serializer__.to_json(event)


def routing_fields(event: AnyEvent) -> dict[str, str]:
    """The entry's fields besides `data`: what operators read with redis-cli."""
    return _routing(
        event.type, event.event_id, event.article_id, event.version, event.correlation_id
    )


def _routing(
    kind: str, event_id: str, article_id: str, version: int, correlation_id: str
) -> dict[str, str]:
    return {
        "type": kind,
        "event_id": event_id,
        "article_id": article_id,
        "version": str(version),
        "correlation_id": correlation_id,
    }


def decode_event(model: type[EventT], fields: Mapping[Any, bytes | str]) -> EventT:
    """Parse a stream entry back into its event, or say exactly why it can't be."""
    raw = fields.get(b"data", fields.get("data"))
    if raw is None:
        raise MalformedEvent("stream entry has no 'data' field")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise MalformedEvent(f"invalid {model.__name__}: {error}") from error


def supersedes(candidate: EnrichedEvent, current: EnrichedEvent) -> bool:
    """Whether `candidate` replaces `current` for the same article.

    A newer version wins. At equal versions a withdrawal is final (a live event
    of the same version never undoes it); otherwise the later event wins, which
    is how a same-version refresh of related links gets through.
    """
    if candidate.version != current.version:
        return candidate.version > current.version
    return candidate.type == "article.withdrawn" or current.type != "article.withdrawn"


def newest_per_article(events: Iterable[EnrichedEvent]) -> dict[str, EnrichedEvent]:
    """One event per article from a batch read in stream order (see `supersedes`)."""
    newest: dict[str, EnrichedEvent] = {}
    for event in events:
        current = newest.get(event.article_id)
        if current is None or supersedes(event, current):
            newest[event.article_id] = event
    return newest


# ---------------------------------------------------------------- fast paths
# Each makes the very bytes `event_json` would (tests/unit hold them equal), from parts
# already serialized.


@dataclass(frozen=True, slots=True)
class DraftArticleEvent:
    """An `ArticleEvent` whose version Redis decides (ingest's ACCEPT script), as bytes.

    `data` is the event's JSON at version 1 (type `article.published`, or
    `article.withdrawn` for a withdrawal) without corrections: what
    `event_json` makes of that event. `marks` say where, in `data`, the type's,
    the version's and the article's corrections' JSON values are (1-based,
    first and last byte of each, as Lua's `string.sub` counts), for the script
    to write a later version's values there: the rest of the event is the
    codec's, never the script's. `entry` is the stream entry's fields, name
    then value, as `encode_event` writes them (`data` empty), and
    `entry_marks` where the type's, the version's and `data`'s values are in
    it (1-based, as Lua counts).
    """

    data: bytes
    marks: list[int]
    entry: list[str]
    entry_marks: list[int]


def draft_article_event(
    *,
    event_id: str,
    kind: ArticleEventType,
    correlation_id: str,
    accepted_at: datetime,
    submitted_by: str,
    article: Article,
) -> DraftArticleEvent:
    """The first version's event: the article as its serializer makes it, its corrections and
    the envelope's plain fields written around it in the models' field order."""
    article_json = Article.__pydantic_serializer__.to_json(article, exclude={"corrections"})
    envelope = _flat_json(
        ArticleEvent,
        {
            "schema_version": 1, "event_id": event_id, "article_id": article.id,
            "correlation_id": correlation_id, "accepted_at": accepted_at,
            "submitted_by": submitted_by,
        },
        slots=("type", "version", "article"),
    )  # fmt: skip
    # Where the corrections go: before the field that follows them. The fields before that one
    # are plain values and fixed models, so its key's first occurrence is the article's own.
    at = article_json.index(_AFTER_CORRECTIONS) if _AFTER_CORRECTIONS else len(article_json) - 1
    parts = [
        envelope[0], f'"{kind}"'.encode(), envelope[1], b"1", envelope[2],
        article_json[:at] + b',"corrections":', b"[]", article_json[at:], envelope[3],
    ]  # fmt: skip
    marks, end = [], 0
    for index, part in enumerate(parts):
        if index in (1, 3, 6):  # the type, the version, the corrections
            marks += [end + 1, end + len(part)]
        end += len(part)
    fields = {**_routing(kind, event_id, article.id, 1, correlation_id), "data": ""}
    entry = [text for pair in fields.items() for text in pair]
    names = list(fields)  # a value may spell a name ("data"): positions come from the names
    entry_marks = [2 * names.index(name) + 2 for name in ("type", "version", "data")]
    return DraftArticleEvent(b"".join(parts), marks, entry, entry_marks)


def entry_pieces(draft: DraftArticleEvent) -> list[bytes]:
    """The draft's stream entry's fields as a JSON list of strings, cut where the type's, the
    version's and `data`'s strings go (each written with its quotes)."""
    holes = set(draft.entry_marks)
    pieces = [b"["]
    for at, text in enumerate(draft.entry, start=1):
        if at > 1:
            pieces[-1] += b","
        if at in holes:
            pieces.append(b"")
        else:
            pieces[-1] += orjson.dumps(text)
    pieces[-1] += b"]"
    return pieces


def correction_json(accepted_at: datetime, note: str) -> tuple[bytes, bytes]:
    """A `Correction`'s JSON before and after its version (which Redis decides)."""
    before, after = _flat_json(
        Correction, {"accepted_at": accepted_at, "note": note}, slots=("version",)
    )
    return before, after


def _flat_json(
    model: type[BaseModel], values: dict[str, Any], slots: tuple[str, ...]
) -> list[bytes]:
    """JSON of `model` with these `values` (plain values; datetimes in UTC), as its serializer
    writes it, cut where the values of the fields `slots` go: the pieces between them."""
    written = {name: orjson.dumps(value, option=orjson.OPT_UTC_Z) for name, value in values.items()}
    return json_pieces(model, written, slots)


def json_pieces(
    model: type[BaseModel],
    written: Mapping[str, bytes],
    slots: tuple[str, ...],
    omit: frozenset[str] = frozenset(),
) -> list[bytes]:
    """JSON of `model` laid out as its serializer lays it out (its fields in order), each
    field's value already written as JSON (`written`), cut where the values of the fields
    `slots` go: the pieces between them. Fields in `omit` are left out."""
    pieces, piece = [], b""
    for key, name, slot in _layout(model, slots, omit):
        if slot:
            pieces.append(piece + key)
            piece = b""
        else:
            piece += key + written[name]
    pieces.append(piece + b"}")
    return pieces


def nest(outer: list[bytes], inner: Iterable[list[bytes]]) -> list[bytes]:
    """`outer`'s pieces with each of its holes filled by a draft of its own (`inner`, in
    order; `[b"", b""]` keeps a plain hole): the pieces of the whole."""
    pieces = [outer[0]]
    for inside, after in zip(inner, outer[1:], strict=True):
        pieces[-1] += inside[0]
        pieces += inside[1:]
        pieces[-1] += after
    return pieces


HOLE = [b"", b""]


@cache
def _layout(
    model: type[BaseModel], slots: tuple[str, ...], omit: frozenset[str] = frozenset()
) -> list[tuple[bytes, str, bool]]:
    """Each field of `model` in order, but `omit`: its key as written (with the brace or comma
    before it), its name, whether it is one of `slots`."""
    names = [name for name in model.model_fields if name not in omit]
    return [
        ((b',"' if index else b'{"') + name.encode() + b'":', name, name in slots)
        for index, name in enumerate(names)
    ]


_AFTER = list(Article.model_fields)[list(Article.model_fields).index("corrections") + 1 :]
_AFTER_CORRECTIONS = f',"{_AFTER[0]}":'.encode() if _AFTER else b""


# Serializing a refreshed event's article again cost more than the rest of its refresh: its
# JSON is the copy's, but for its header and the links and time at its end. That holds while
# the models keep these fields last; were they moved, every refresh is serialized whole
# (tests/unit/test_event_codec.py holds both ways equal, and today's models to the short one).
_REFRESH_TAIL = ("related", "search_text", "enriched_at")
SPLICES_REFRESHES = (
    list(EnrichedEvent.model_fields)[-1] == "enriched"
    and tuple(EnrichedArticle.model_fields)[-len(_REFRESH_TAIL) :] == _REFRESH_TAIL
)
_ENRICHED = b',"enriched":{'
_RELATED = b',"related":['
_TAIL = set(_REFRESH_TAIL)


def _refreshed_json(copy_json: bytes, event: EnrichedEvent) -> bytes:
    """The JSON of `event`, a refresh of the article whose `article.enriched` event's JSON is
    `copy_json`: the copy's article, tags and story (most of its bytes) copied as they are, between
    the event's own header and the new links and time.

    Within the copy, `,"enriched":{` first appears where its article starts, and `,"related":[`
    last appears where its links start: a quote inside a JSON string is escaped, and nothing
    before the article (plain fields) nor after the links' start (links, text, time) has keys of
    those names. The copy is this process's or another's JSON of the same model, so its
    unchanged part is what serializing it again would make.
    """
    if not SPLICES_REFRESHES or event.enriched is None:
        return event_json(event)
    start = copy_json.index(_ENRICHED) + len(_ENRICHED) - 1  # at the article's "{"
    end = copy_json.rindex(_RELATED)
    head = EnrichedEvent.__pydantic_serializer__.to_json(event, exclude={"enriched"})  # {...}
    tail = EnrichedArticle.__pydantic_serializer__.to_json(event.enriched, include=_TAIL)  # {...}
    return b"".join((head[:-1], b',"enriched":', copy_json[start:end], b",", tail[1:], b"}"))
