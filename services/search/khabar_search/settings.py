"""Search's settings: `KHABAR_*` environment variables.

The search service never holds the Meilisearch master key: it gets an
indexing key (documents, tasks, settings of its own indexes) and a
search-only key for readers' queries, both made by the operator's setup.
"""

from pydantic import Field, SecretStr

from khabar_search.locales import DEFAULT_LANGUAGES, known_languages
from khabar_shared.site_settings import SiteSettings


class SearchSettings(SiteSettings):
    # Site name, base URL, time zone and language: `KHABAR_SITE_*` (khabar_shared.site_settings).
    search_host: str = "127.0.0.1"
    search_port: int = 8002
    meili_index: str = "articles"
    meili_index_key: SecretStr = SecretStr("")
    meili_search_key: SecretStr = SecretStr("")
    # Longest a batch waits for Meilisearch to come back before it is left
    # pending (and counts a delivery); 0 waits as long as it takes.
    meili_retry_max_s: float = Field(default=0.0, ge=0.0)
    # Prefix matching of the last typed word: off by default, because its
    # databases make every update several times slower (see index_settings.py).
    prefix_search: bool = False
    # The languages articles arrive in (ISO 639-1, comma-separated): each is
    # tokenized as itself when indexed and queried (`locales.py`). Changing it
    # takes a `khabar reindex`.
    search_languages: str = ",".join(DEFAULT_LANGUAGES)
    # A Latin name the archive writes only in Arabic: when the query as typed
    # finds little, try its likeliest Arabic spellings (`fallback.py`).
    transliterate: bool = True
    # How often each process looks for newly learned aliases (`alias_sync.py`).
    alias_refresh_s: float = Field(default=30.0, gt=0)
    max_query_chars: int = Field(default=200, ge=10)
    max_per_page: int = Field(default=50, ge=1, le=200)
    # Readers' requests per minute per client address, with bursts up to
    # `rate_limit_burst`; 0 turns the limit off. Each replica counts its own
    # clients (an in-process token bucket), so N replicas allow N times this.
    rate_limit_per_minute: int = Field(default=600, ge=0)
    rate_limit_burst: int = Field(default=60, ge=1)

    @property
    def languages(self) -> list[str]:
        return known_languages(code.strip().lower() for code in self.search_languages.split(","))
