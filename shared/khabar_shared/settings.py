"""Settings every service shares, read from `KHABAR_*` environment variables.

Each service subclasses `CommonSettings` in its own `settings.py` and adds what
only it needs; nothing else in the code reads the environment.
"""

import os
import socket
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_consumer_name() -> str:
    """Unique per process, so replicas of one service never share a consumer."""
    return f"{socket.gethostname()}-{os.getpid()}"


def secrets_dir() -> str | None:
    """Where files named like the variables may hold secrets (compose's setup writes them).

    Environment variables win over files; unset means no files are read.
    """
    return os.environ.get("KHABAR_SECRETS_DIR") or None


class CommonSettings(BaseSettings):
    # An empty variable means "the default": compose can pass every setting through
    # (`KHABAR_X: ${KHABAR_X:-}`) without repeating the defaults written here.
    model_config = SettingsConfigDict(
        env_prefix="KHABAR_", extra="ignore", env_ignore_empty=True, secrets_dir=secrets_dir()
    )

    redis_url: str = "redis://127.0.0.1:6379/0"
    # The Redis password (compose's Redis requires one): added to `redis_url` and
    # `cache_redis_url` when they carry none, so the URLs need not repeat the secret.
    redis_password: SecretStr = SecretStr("")
    # `redis_url` names one node of a Redis Cluster: every client becomes a cluster client.
    redis_cluster: bool = False
    # The fragment cache may live in an evicting Redis; empty means `redis_url`.
    cache_redis_url: str = ""
    meili_url: str = "http://127.0.0.1:7700"
    # The site's sections and subsections (JSON, see khabar_shared.sections); empty: the
    # bundled definition.
    sections_file: str = ""

    log_format: str = Field(default="json", pattern="^(json|console)$")
    log_level: str = "INFO"

    consumer_name: str = Field(default_factory=default_consumer_name)
    # How many events one read takes from a stream.
    batch_size: int = Field(default=100, ge=1, le=10_000)
    # A pending event idle this long is taken over from its (dead) consumer.
    claim_idle_ms: int = Field(default=30_000, ge=100)
    # After this many deliveries an event goes to the dead-letter stream.
    max_deliveries: int = Field(default=5, ge=1)
    # Seconds a service waits for in-flight work on SIGTERM.
    shutdown_grace_s: float = 10.0
    # A dependency down: a consumer retries the same batch after this long, doubling up to the max.
    outage_backoff_min_s: float = Field(default=0.2, gt=0)
    outage_backoff_max_s: float = Field(default=5.0, gt=0)
    # Tests only: failpoints to arm at start, `name[:times],...` (see failpoints.py).
    failpoints: str = ""
    # Where operations ports listen (`/metrics`, `/readyz`, `/asyncapi`, `/docs`):
    # reachable by Prometheus and probes, never published to readers.
    ops_host: str = "127.0.0.1"

    @property
    def effective_cache_redis_url(self) -> str:
        return self.cache_redis_url or self.redis_url

    @model_validator(mode="after")
    def _password_into_urls(self) -> "CommonSettings":
        password = self.redis_password.get_secret_value()
        if password:
            self.redis_url = with_password(self.redis_url, password)
            if self.cache_redis_url:
                self.cache_redis_url = with_password(self.cache_redis_url, password)
        return self


class SetupSettings(BaseSettings):
    """The operator's one-shot Meilisearch setup (`meili_setup`): where it finds Meilisearch
    with the master key, and where it writes the search service's keys."""

    model_config = SettingsConfigDict(env_prefix="KHABAR_", extra="ignore")

    meili_url: str = "http://127.0.0.1:7700"
    meili_master_key: SecretStr = SecretStr("")
    meili_index: str = "articles"
    secrets_dir: Path = Path("/run/khabar/secrets")


def with_password(url: str, password: str) -> str:
    """`url` with `password` in it, unless it names one already."""
    parts = urlsplit(url)
    if parts.password is not None or not parts.hostname:
        return url
    user = quote(parts.username or "", safe="")
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{parts.netloc}"))
