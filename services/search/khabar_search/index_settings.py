"""The Meilisearch index settings, declared here and applied on start."""

from typing import Any

SEARCHABLE = ["headline", "lead", "tag_names", "body", "search_text"]
FILTERABLE = [
    "category", "topic", "source", "language", "published", "story_id",
    "tag_ids", "people", "places", "organisations",
]
SORTABLE = ["published"]
DISPLAYED = [
    "id", "version", "language", "headline", "lead", "category", "topic", "source",
    "tag_names", "tag_ids", "published", "published_at", "url", "story_id",
]
RANKING_RULES = ["words", "typo", "proximity", "attribute", "sort", "exactness", "published:desc"]


def index_settings(synonyms: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {
        "searchableAttributes": SEARCHABLE,
        "filterableAttributes": FILTERABLE,
        "sortableAttributes": SORTABLE,
        "displayedAttributes": DISPLAYED,
        "rankingRules": RANKING_RULES,
        # Readers search Arabic and English; tell the tokenizer which two to expect.
        "localizedAttributes": [
            {"attributePatterns": ["headline", "lead", "body", "tag_names"],
             "locales": ["ara", "eng"]},
        ],
        "synonyms": synonyms or {},
        "pagination": {"maxTotalHits": 5000},
        "faceting": {"maxValuesPerFacet": 100},
    }
