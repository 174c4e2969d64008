"""Names more than one process uses: streams, groups, ingest's article keys, traces.

Keys only one service reads and writes (enrich's index, search's version
guard, render's store and cache) are spelled in that service's own module,
each under its own hash tag (`khabar:{enrich}:…`, `khabar:{search}:…`,
`khabar:{render}:…`).

Keys that must move together in a Redis Cluster share a hash tag (`{...}`):
the article events stream, its version counters, idempotency records and its
dead letters live in one slot, so ingest's append script and the dead-letter
move are single-slot operations.
"""

import re

ARTICLES_TAG = "{articles}"
ENRICHED_TAG = "{enriched}"

ARTICLE_EVENTS_STREAM = f"khabar:{ARTICLES_TAG}:events"
ENRICHED_STREAM = f"khabar:{ENRICHED_TAG}:events"

ENRICH_GROUP = "enrich"
SEARCH_GROUP = "search"
RENDER_GROUP = "render"

GROUPS_BY_STREAM: dict[str, tuple[str, ...]] = {
    ARTICLE_EVENTS_STREAM: (ENRICH_GROUP,),
    ENRICHED_STREAM: (SEARCH_GROUP, RENDER_GROUP),
}

# Search nodes: each Meilisearch node has its own indexer reading the enriched
# stream in its own group, so every node holds the whole index. Node "1" keeps
# the names a single node always had; each indexer registers its node here
# (node name -> its Meilisearch URL) so readers, `khabar status` and traces find it.
FIRST_SEARCH_NODE = "1"
SEARCH_NODES_KEY = "khabar:search:nodes"
# Node name -> JSON {"event": stream id, "at": ISO time} of the node's last applied batch.
SEARCH_NODES_APPLIED_KEY = "khabar:search:nodes:applied"


def search_group(node: str) -> str:
    """The consumer group of a search node's indexer: `search`, `search-2`, `search-3`…"""
    return SEARCH_GROUP if node == FIRST_SEARCH_NODE else f"{SEARCH_GROUP}-{node}"


def groups_by_stream(search_nodes: list[str]) -> dict[str, tuple[str, ...]]:
    """`GROUPS_BY_STREAM` with one search group per node (nodes as `SEARCH_NODES_KEY` lists)."""
    extra = tuple(search_group(node) for node in search_nodes if node != FIRST_SEARCH_NODE)
    return {**GROUPS_BY_STREAM, ENRICHED_STREAM: (SEARCH_GROUP, *extra, RENDER_GROUP)}


def dead_letter_stream(stream: str) -> str:
    """Dead letters of a stream, in the stream's own hash slot."""
    return f"{stream}:dead"


def article_state_key(article_id: str) -> str:
    """Ingest's record of an article: current version, status, content hash."""
    return f"khabar:{ARTICLES_TAG}:article:{article_id}"


def article_history_key(article_id: str) -> str:
    return f"khabar:{ARTICLES_TAG}:history:{article_id}"


def idempotency_key(key: str) -> str:
    return f"khabar:{ARTICLES_TAG}:idempotency:{key}"


def metrics_lease_key(series: str) -> str:
    """Which replica exports a stream's (or a group's) gauges: one, so sums count each once."""
    return f"khabar:metrics:reporter:{series}"


def applied_key(service: str, article_id: str) -> str:
    """When a consumer applied which version of an article (for tracing)."""
    return f"khabar:trace:{service}:{article_id}"


# What an article id can be (ingest's `formats/ids.py` makes them): ASCII letters and digits
# in runs joined by single `-`, `_` or `.`, lower-case. Anything else names no article.
ARTICLE_ID_MAX_LENGTH = 120
ARTICLE_ID_PATTERN = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


def is_article_id(text: str) -> bool:
    return len(text) <= ARTICLE_ID_MAX_LENGTH and ARTICLE_ID_PATTERN.match(text) is not None
