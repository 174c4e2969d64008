"""The Meilisearch index settings, declared here and applied on start (and on every rebuild).

Searchable fields in order of weight: what a reader sees first counts most
(headline, lead), then the names of the article's tags in Arabic and English
(so a Latin query finds an Arabic article about the same entity), the body, the
picture's caption and credit,
and last `search_text`, enrich's clitic-stripped stems, which the service
searches with the analyzed query (see `query.py`).

Recency matters twice: as the last ranking rule (ties go to the newer story)
and through `sort=newest`, which the first rule makes strict.

Three switches trade features nobody uses here for indexing speed, measured
with Meilisearch's own CPU time on 2,000 indexed corpus articles
(`bench.pipeline`, `bench.search`):

- `facetSearch: false`: readers pick facets from the counts on the page;
  nothing calls `/facet-search`.
- `proximityPrecision: byAttribute`: bulk indexing no longer computes how far
  apart the words are inside a field.
  Words of a query still rank higher when they share a field, and a headline
  match still beats a body match; only their distance inside the field stops
  counting. The relevance suite passes as before (`bench.relevance`).
- `prefixSearch: disabled` unless `KHABAR_PREFIX_SEARCH` is set: the prefix
  databases are rebuilt on every update and cost most of a one-article task,
  i.e. most of publish-to-searchable. Without them, the page's
  search-as-you-type answers each complete word (it fires once the reader
  stops typing) rather than a half-typed one.
"""

from collections.abc import Iterable
from typing import Any

from khabar_search.locales import DEFAULT_LANGUAGES, index_locales

SEARCHABLE = ["headline", "lead", "tag_names", "body", "captions", "search_text"]
# `id`: a deep page's bodies, for its snippets, are fetched by id after the merge (`query.py`).
FILTERABLE = [
    "id",
    "category",
    "topic",
    "source",
    "language",
    "published",
    "story_id",
    "tag_ids",
    "tag_facets",
    "people",
    "places",
    "organisations",
]
SORTABLE = ["published"]
DISPLAYED = [
    "id",
    "version",
    "language",
    "headline",
    "lead",
    "body",
    "headline_terms",
    "lead_terms",
    "category",
    "topic",
    "source",
    "tag_names",
    "tag_ids",
    "tags",
    "published",
    "published_at",
    "url",
    "story_id",
]
# `sort` first: a query that asks for newest gets strictly newest-first (and
# the merge of words and stems follows it); a query without `sort` skips the rule, so
# relevance is untouched. `published:desc` last: of equally relevant articles
# the newer comes first.
RANKING_RULES = ["sort", "words", "typo", "proximity", "attribute", "exactness", "published:desc"]
# Each text field is tokenized as its language, among those the site takes
# (`locales.py`): Arabic runs get Arabic normalization (alef, ya, ta marbuta and
# the article ال split off), Chinese dictionary words, German compounds split.
LOCALIZED_FIELDS = ["headline", "lead", "body", "captions", "tag_names", "search_text"]
MAX_TOTAL_HITS = 5000


def index_settings(
    synonyms: dict[str, list[str]] | None = None,
    prefix_search: bool = False,
    languages: Iterable[str] = DEFAULT_LANGUAGES,
) -> dict[str, Any]:
    return {
        "searchableAttributes": SEARCHABLE,
        "filterableAttributes": FILTERABLE,
        "sortableAttributes": SORTABLE,
        "displayedAttributes": DISPLAYED,
        "rankingRules": RANKING_RULES,
        "localizedAttributes": [
            {"attributePatterns": LOCALIZED_FIELDS, "locales": index_locales(languages)}
        ],
        "synonyms": synonyms or {},
        "pagination": {"maxTotalHits": MAX_TOTAL_HITS},
        "faceting": {"maxValuesPerFacet": 100},
        "facetSearch": False,
        "prefixSearch": "indexingTime" if prefix_search else "disabled",
        "proximityPrecision": "byAttribute",
    }
