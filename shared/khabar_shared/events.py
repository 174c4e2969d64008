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

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, TypeVar

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
        default="", description="Slug of the category the newsroom filed it under (its listing).")
    category_name: str = Field(
        default="", description="That category's name as the newsroom sent it, e.g. 'آسيا'.")
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
        description="Every editor's note up to this version, oldest first (added by ingest).")
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
    reasons: list[str] = Field(default_factory=list, description="Why: shared entities, phrases, same story.")


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


def encode_event(event: AnyEvent) -> dict[str, str]:
    """The stream entry for an event."""
    return {**routing_fields(event), "data": event.model_dump_json()}


def routing_fields(event: AnyEvent) -> dict[str, str]:
    """The entry's fields besides `data`: what operators read with redis-cli."""
    return {
        "type": event.type,
        "event_id": event.event_id,
        "article_id": event.article_id,
        "version": str(event.version),
        "correlation_id": event.correlation_id,
    }


def decode_event(model: type[EventT], fields: dict[bytes | str, bytes | str]) -> EventT:
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
