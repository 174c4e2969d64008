"""Search's settings: `KHABAR_*` environment variables.

The search service never holds the Meilisearch master key: it gets an
indexing key (documents, tasks, settings of its own indexes) and a
search-only key for readers' queries, both made by the operator's setup.
"""

from pydantic import Field, SecretStr, field_validator

from khabar_search.client_address import Network, parse_networks
from khabar_search.locales import DEFAULT_LANGUAGES, known_languages
from khabar_search.nodes import NODE_NAME_PATTERN
from khabar_shared.names import FIRST_SEARCH_NODE
from khabar_shared.site_settings import SiteSettings


class SearchSettings(SiteSettings):
    # Site name, base URL, time zone and language: `KHABAR_SITE_*` (khabar_shared.site_settings).
    search_host: str = "127.0.0.1"
    search_port: int = 8002
    # Operations routes (/metrics, /readyz, /docs…) answer here, not on the public port;
    # 0 keeps them on the public port.
    search_ops_port: int = Field(default=9002, ge=0, le=65535)
    meili_index: str = "articles"
    # Which search node this process indexes (`nodes.py`): its Meilisearch is
    # `meili_url`, its consumer group `search-<node>` ("1", the default, keeps
    # `search`). Readers' queries go to every registered node that is ready.
    search_node: str = Field(default=FIRST_SEARCH_NODE, pattern=NODE_NAME_PATTERN)
    # A node more than this many events behind the log serves no reader until it catches up.
    search_max_lag: int = Field(default=100, ge=0)
    # How often each process checks the nodes' health and lag.
    search_node_check_s: float = Field(default=1.0, gt=0)
    # Batches of events the indexer has taken and not yet acked: the next batch is read
    # and sent while one's guard re-read, alias records and ack are done (`indexer.py`).
    # 1 (one batch at a time) until a quiet machine shows the overlap pays: on a loaded one
    # it lowered p50 a little, not p99, and its smaller batches cost more CPU per article.
    index_pipeline_depth: int = Field(default=1, ge=1)
    # Send the next batch while one indexes, not once it is done: lower latency on a
    # machine with CPU to spare, at the cost of smaller batches (more CPU per article).
    index_send_ahead: bool = False
    meili_index_key: SecretStr = SecretStr("")
    meili_search_key: SecretStr = SecretStr("")
    # Longest a batch waits for Meilisearch to come back before it is left
    # pending (and counts a delivery); 0 waits as long as it takes.
    meili_retry_max_s: float = Field(default=0.0, ge=0.0)
    # Prefix matching of the last typed word: off by default, because its
    # databases are rebuilt on every update (see index_settings.py).
    prefix_search: bool = False
    # The languages articles arrive in (ISO 639-1, comma-separated): each is
    # tokenized as itself when indexed and queried (`locales.py`). Changing it
    # takes a `khabar reindex`.
    search_languages: str = ",".join(DEFAULT_LANGUAGES)
    # A Latin name the archive writes only in Arabic: when the query as typed
    # finds little, try its likeliest Arabic spellings (`fallback.py`).
    transliterate: bool = True
    # A query whose best hit misses words the reader gave: ask again with each word
    # left out in turn (`relax.py`).
    relax_weak_queries: bool = True
    # How often each process looks for newly learned aliases (`alias_sync.py`).
    alias_refresh_s: float = Field(default=30.0, gt=0)
    max_query_chars: int = Field(default=200, ge=10)
    max_per_page: int = Field(default=50, ge=1, le=200)
    # The deepest result a reader can page to (page × per_page): past it they
    # refine their search. Each page asks Meilisearch to rank every result up
    # to its last, twice (words and stems), and that ranking's cost grows with
    # the depth: bench.search prints the last page's cost beside page 1's.
    max_result_depth: int = Field(default=200, ge=10, le=5_000)
    # Readers' requests per minute per client address, with bursts up to
    # `rate_limit_burst`; 0 turns the limit off. The buckets live in the cache
    # Redis, so every replica counts against one limit.
    rate_limit_per_minute: int = Field(default=600, ge=0)
    rate_limit_burst: int = Field(default=60, ge=1)
    # Addresses or networks of our own proxies and load balancers, comma
    # separated ("10.0.0.0/8, 192.168.1.7"). Only a connection from one of them
    # may name the reader in X-Forwarded-For; by default none may.
    trusted_proxies: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        parse_networks(value)  # a bad entry stops the service at start, naming it
        return value

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def languages(self) -> list[str]:
        return known_languages(code.strip().lower() for code in self.search_languages.split(","))
