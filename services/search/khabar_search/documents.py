"""From an enriched article to the Meilisearch document readers search."""

import html
import re
from datetime import UTC

from pydantic import BaseModel

from khabar_search.captions import captions_of
from khabar_shared.events import EnrichedArticle
from khabar_shared.text import analyze

TAG_PATTERN = re.compile(r"<[^>]+>")
MAX_BODY_CHARS = 20_000
# Tags readers filter by; keyphrases are too many and too fine for a facet list.
FACETED_TAG_TYPES = frozenset({"topic", "person", "place", "organisation"})
FACET_SEPARATOR = "|"


def facet_value(tag_id: str, name: str) -> str:
    """Tag id and display name in one facet value, so facet counts come with a label."""
    return f"{tag_id}{FACET_SEPARATOR}{name}"


class DocTag(BaseModel):
    id: str
    type: str
    name: str


class SearchDocument(BaseModel):
    id: str
    version: int
    language: str
    headline: str
    lead: str
    body: str
    # The picture's caption and credit: a reader remembers a photo (`captions.py`).
    captions: str = ""
    search_text: str
    # The stems of headline and lead, each once: ranking counts the reader's words found
    # there (`title_cover` in query.py) without analyzing text on every query.
    headline_terms: str = ""
    lead_terms: str = ""
    category: str
    topic: str
    source: str
    tag_names: list[str]
    tag_ids: list[str]
    tags: list[DocTag]
    tag_facets: list[str]
    people: list[str]
    places: list[str]
    organisations: list[str]
    story_id: str
    published: int
    published_at: str
    url: str


def distinct_terms(search_text: str) -> str:
    """Each stem once, where it first occurs (headline first).

    The stems query only asks *whether* an article has a stem: the words
    query ranks by proximity and counts on the real text. Repeats would only
    add positions and word pairs for Meilisearch to index on every update.
    """
    return " ".join(dict.fromkeys(search_text.split()))


def field_terms(text: str) -> str:
    """The stems of one field as the stems query sees them, each once."""
    return " ".join(dict.fromkeys(analyze(text)))


def to_document(enriched: EnrichedArticle) -> SearchDocument:
    """The document of one live article version; `version` rides along for the guard."""
    article = enriched.article
    published = article.firstcreated or article.versioncreated
    by_type = {
        kind: [t.id for t in enriched.tags if t.type == kind]
        for kind in ("person", "place", "organisation")
    }
    return SearchDocument(
        id=article.id,
        version=enriched.version,
        language=article.base_language,
        headline=article.headline,
        lead=article.lead,
        body=html.unescape(TAG_PATTERN.sub(" ", article.body_html))[:MAX_BODY_CHARS],
        captions=captions_of(article),
        search_text=distinct_terms(enriched.search_text),
        headline_terms=field_terms(article.headline),
        lead_terms=field_terms(article.lead),
        category=article.category,
        topic=enriched.topic,
        source=article.source,
        tag_names=[name for tag in enriched.tags for name in {tag.name, *tag.names.values()}],
        tag_ids=[tag.id for tag in enriched.tags],
        tags=[DocTag(id=tag.id, type=tag.type, name=tag.name) for tag in enriched.tags],
        tag_facets=[
            facet_value(tag.id, tag.name) for tag in enriched.tags if tag.type in FACETED_TAG_TYPES
        ],
        people=by_type["person"],
        places=by_type["place"],
        organisations=by_type["organisation"],
        story_id=enriched.story_id,
        published=int(published.timestamp()),
        published_at=published.astimezone(UTC).isoformat(),
        url=f"/articles/{article.id}",
    )
