"""Ingest's settings: `KHABAR_*` environment variables."""

from pydantic import Field, SecretStr

from khabar_shared.settings import CommonSettings


class IngestSettings(CommonSettings):
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8001
    # A write key accepted beside the operator's stored keys (`make run` sets one).
    bootstrap_ingest_key: SecretStr = SecretStr("")
    max_body_bytes: int = Field(default=2_000_000, ge=1_000)
    max_batch_items: int = Field(default=500, ge=1)
    idempotency_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    # How often the embargo releaser looks for articles that are due.
    embargo_poll_s: float = Field(default=1.0, gt=0)
