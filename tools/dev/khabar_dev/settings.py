"""The development tools' settings (`KHABAR_*` environment variables): `make run`'s and the rest."""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from khabar_dev.processes import REPO_ROOT


class CorpusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KHABAR_", extra="ignore")

    # Where the full corpus is, when not beside the repository (../shared/corpus).
    corpus_dir: Path | None = None


class RunSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KHABAR_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    # The fragment cache's own Redis, started bounded and evicting unless one answers there.
    cache_redis_url: str = "redis://127.0.0.1:6380/0"
    cache_redis_maxmemory: str = "256mb"
    meili_url: str = "http://127.0.0.1:7700"
    meili_master_key: SecretStr = SecretStr("")
    data_dir: Path = REPO_ROOT / ".khabar"
    load_sample: bool = True
    bootstrap_ingest_key: SecretStr = SecretStr("")
    bootstrap_push_secret: SecretStr = SecretStr("")
    ingest_port: int = 8001
    search_port: int = 8002
    render_port: int = 8003
    enrich_port: int = 8004
    # Operations routes (/metrics, /readyz, /docs…) of ingest, search and render.
    ingest_ops_port: int = 9001
    search_ops_port: int = 9002
    render_ops_port: int = 9003
    edge_port: int = 8000
    # Search nodes: each more than the first is one more Meilisearch and search process.
    search_nodes: int = Field(default=1, ge=1, le=9)
    # What render must show the edge to purge it; made for each run when unset.
    edge_purge_token: SecretStr = SecretStr("")
    log_format: str = Field(default="console")


class EdgeThrottleSettings(BaseSettings):
    """How many misses and fetched errors one client address may cause at the edge (khabar.vcl).

    Past either limit within `period_s`, the client's misses are answered 429
    for `block_s`; what the edge holds is still served. 0 turns a limit off.
    """

    model_config = SettingsConfigDict(env_prefix="KHABAR_EDGE_THROTTLE_", extra="ignore")

    misses: int = Field(default=120, ge=0)
    errors: int = Field(default=30, ge=0)
    period_s: int = Field(default=10, ge=1)
    block_s: int = Field(default=30, ge=0)

    @classmethod
    def off(cls) -> "EdgeThrottleSettings":
        """No rationing: benches replaying many readers' traffic from one address."""
        return cls(misses=0, errors=0)
