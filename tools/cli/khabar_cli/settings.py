"""The CLI's own settings (`KHABAR_*` environment variables); the commands that act on a
service's Redis or index read that service's settings instead."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class ImportSettings(BaseSettings):
    """Where `khabar import` posts, and with which key (its options override these)."""

    model_config = SettingsConfigDict(env_prefix="KHABAR_", extra="ignore")

    ingest_url: str = "http://127.0.0.1:8001"
    ingest_key: str = ""
    # The key `make run` starts ingest with: the default when no other is given.
    bootstrap_ingest_key: str = ""
