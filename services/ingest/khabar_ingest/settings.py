"""Ingest's settings: `KHABAR_*` environment variables."""

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from khabar_ingest.formats.ninjs import Limits
from khabar_ingest.push.destinations import check_time_zone
from khabar_shared.settings import CommonSettings


class IngestSettings(CommonSettings):
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8001
    # Operations routes (/metrics, /readyz, /docs…) answer here, not on the public port;
    # 0 keeps them on the public port.
    ingest_ops_port: int = Field(default=9001, ge=0, le=65535)
    # A write key accepted beside the operator's stored keys (`make run` sets one).
    bootstrap_ingest_key: SecretStr = SecretStr("")
    # A Superdesk push secret accepted beside those made with `khabar keys push` (`make run` sets
    # one).
    bootstrap_push_secret: SecretStr = SecretStr("")
    # Encrypts the stored push secrets (32 bytes, URL-safe base64); the CLI needs the same value.
    push_secrets_key: SecretStr = SecretStr("")
    # The zone a time without a UTC offset is read in, unless the sending key names its own.
    site_time_zone: str = "UTC"
    # Pushed media files, and where readers fetch them (render serves KHABAR_MEDIA_DIR there).
    media_dir: Path = Path(".khabar/media")
    media_base_url: str = "http://127.0.0.1:8000/media"
    max_media_bytes: int = Field(default=20_000_000, ge=1_000)
    max_media_pixels: int = Field(default=50_000_000, ge=1)
    # How long a pushed picture or package is kept for the items that refer to it by guid.
    push_item_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    # Whole request bodies: one article, and one batch.
    max_body_bytes: int = Field(default=2_000_000, ge=1_000)
    max_batch_bytes: int = Field(default=50_000_000, ge=1_000)
    max_batch_items: int = Field(default=500, ge=1)
    # Parts of one article (see `formats.ninjs.Limits`).
    max_headline_chars: int = Field(default=300, ge=1)
    max_lead_chars: int = Field(default=3000, ge=1)
    max_article_body_bytes: int = Field(default=1_000_000, ge=1)
    max_list_items: int = Field(default=200, ge=1)
    # JSON nested deeper than this is refused (no article needs it; it costs recursion).
    max_json_depth: int = Field(default=32, ge=4)
    # How long a known API key is remembered in memory (a revoked key works this much longer).
    key_cache_s: float = Field(default=5.0, ge=0)
    idempotency_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    # How often the embargo releaser looks for articles that are due.
    embargo_poll_s: float = Field(default=1.0, gt=0)
    # Watched feeds (`khabar feeds add`): how often due feeds are looked for, how long one
    # fetch may take, how large a feed may be, and the longest wait after failures.
    feed_poll_s: float = Field(default=5.0, gt=0)
    feed_timeout_s: float = Field(default=20.0, gt=0)
    max_feed_bytes: int = Field(default=10_000_000, ge=1_000)
    feed_max_backoff_s: int = Field(default=3600, ge=10)

    @field_validator("site_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_time_zone(value)

    @property
    def limits(self) -> Limits:
        return Limits(
            max_headline_chars=self.max_headline_chars,
            max_lead_chars=self.max_lead_chars,
            max_body_bytes=self.max_article_body_bytes,
            max_list_items=self.max_list_items,
        )
