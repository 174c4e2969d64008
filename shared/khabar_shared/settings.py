"""Settings every service shares, read from `KHABAR_*` environment variables.

Each service subclasses `CommonSettings` in its own `settings.py` and adds what
only it needs; nothing else in the code reads the environment.
"""

import os
import socket

from pydantic import Field
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
    model_config = SettingsConfigDict(env_prefix="KHABAR_", extra="ignore",
                                      env_ignore_empty=True, secrets_dir=secrets_dir())

    redis_url: str = "redis://127.0.0.1:6379/0"
    # `redis_url` names one node of a Redis Cluster: every client becomes a cluster client.
    redis_cluster: bool = False
    # The fragment cache may live in an evicting Redis; empty means `redis_url`.
    cache_redis_url: str = ""
    meili_url: str = "http://127.0.0.1:7700"

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

    @property
    def effective_cache_redis_url(self) -> str:
        return self.cache_redis_url or self.redis_url
