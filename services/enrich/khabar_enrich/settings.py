"""Enrich's settings: `KHABAR_*` environment variables."""

from pydantic import Field

from khabar_shared.settings import CommonSettings


class EnrichSettings(CommonSettings):
    enrich_host: str = "127.0.0.1"
    enrich_port: int = 8004
    max_related: int = Field(default=8, ge=1, le=20)
    # Candidates read per index term: bounds the cost of one article.
    candidates_per_term: int = Field(default=40, ge=5)
    # How many older articles may get their related links refreshed by one new one.
    refresh_fanout: int = Field(default=4, ge=0)
