"""An ingest process of its own for the ingest tests, on the run's Redis.

`IngestProcess` runs `khabar-ingest` as a real process (through
`khabar_dev.processes`) on its own Redis database, with its log captured to
a file, and can be stopped and started again (the embargo-after-restart test).
"""

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from khabar_dev.processes import ManagedProcess, ProcessGroup, free_port, ops_url, start_service
from khabar_shared.events import ArticleEvent, decode_event
from khabar_shared.names import ARTICLE_EVENTS_STREAM
from tests.conftest import DATABASES, Servers


@dataclass
class IngestProcess:
    redis_url: str
    log_path: Path
    env: dict[str, str]
    key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port: int = field(default_factory=free_port)
    group: ProcessGroup = field(default_factory=ProcessGroup)
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str:
        """Where /openapi.json, /docs, /readyz and /metrics answer (not the public port)."""
        assert self.process is not None
        return ops_url(self.process, self.port)

    def start(self) -> None:
        env = {
            "KHABAR_REDIS_URL": self.redis_url,
            "KHABAR_BOOTSTRAP_INGEST_KEY": self.key,
            "KHABAR_LOG_FORMAT": "json",
            "KHABAR_EMBARGO_POLL_S": "0.2",
            **self.env,
        }
        self.process = start_service(self.group, "ingest", env, self.port, log_path=self.log_path)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.group.processes.remove(self.process)
            self.process = None

    def client(self, key: str | None = None) -> httpx.Client:
        token = self.key if key is None else key
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def events(self) -> list[ArticleEvent]:
        with self.redis() as client:
            entries = client.xrange(ARTICLE_EVENTS_STREAM)
        return [decode_event(ArticleEvent, fields) for _, fields in entries]

    def stream_length(self) -> int:
        with self.redis() as client:
            return int(client.xlen(ARTICLE_EVENTS_STREAM))

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def ingest_process(servers: Servers, logs: Path, **env: Any) -> IngestProcess:
    """A started ingest on a fresh Redis database; stop it with `.group.stop_all()`."""
    db = next(DATABASES)
    redis_url = servers.redis_url.rsplit("/", 1)[0] + f"/{db}"
    redis.Redis.from_url(redis_url).flushdb()
    ingest = IngestProcess(
        redis_url,
        logs / "ingest.log",
        {f"KHABAR_{name.upper()}": str(value) for name, value in env.items()},
    )
    ingest.start()
    return ingest
