"""What every benchmark starts with: real servers and services on free ports, real articles."""

import asyncio
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from khabar_dev.corpus import ANT, SAMPLE_AR, corpus_file
from khabar_dev.processes import (
    SERVICES,
    ProcessGroup,
    free_port,
    start_cache_redis,
    start_meili,
    start_redis,
    start_services,
)
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.events import Article
from khabar_shared.meili_setup import MeiliKeys, provision_keys

CORPUS_AR = corpus_file(ANT)


def corpus_path() -> Path:
    """The full corpus when it sits beside the repo, else the bundled sample."""
    return CORPUS_AR if CORPUS_AR.exists() else SAMPLE_AR


def load_articles(count: int) -> list[Article]:
    return [a for a in iter_corpus(corpus_path(), limit=count * 2) if a.headline][:count]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class BenchSystem:
    redis_url: str
    meili_url: str
    master_key: str
    keys: MeiliKeys
    ports: dict[str, int]
    ingest_key: str
    index: str
    group: ProcessGroup = field(repr=False)
    cache_redis_url: str = ""  # the fragment cache's own Redis, when the run has one

    @property
    def meili_master_key(self) -> str:
        return self.master_key

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def cpu_by_process(self) -> dict[str, float]:
        """CPU seconds used so far by each process of the run (redis, meilisearch, services)."""
        return {
            managed.name: cpu_seconds(managed.process.pid)
            for managed in self.group.processes
            if managed.process.poll() is None
        }


@contextmanager
def running_system(
    services: tuple[str, ...] = SERVICES,
    extra_env: dict[str, str] | None = None,
    cache_maxmemory: str = "",
) -> Iterator[BenchSystem]:
    """The services on their own Redis and Meilisearch; with `cache_maxmemory`, the fragment
    cache in a Redis of its own of that size (as `make run` and compose ship it)."""
    group = ProcessGroup()
    with tempfile.TemporaryDirectory(prefix="khabar-bench-") as tmp:
        base = Path(tmp)
        try:
            master_key = secrets.token_hex(16)
            redis_url = start_redis(group, base / "redis", free_port())
            cache_url = (
                start_cache_redis(group, base / "cache-redis", free_port(), cache_maxmemory)
                if cache_maxmemory
                else ""
            )
            meili_url = start_meili(group, base / "meili", free_port(), master_key)
            keys = provision_keys(meili_url, master_key)
            ingest_key = secrets.token_urlsafe(16)
            index = "articles"
            env = {
                "KHABAR_REDIS_URL": redis_url,
                "KHABAR_MEILI_URL": meili_url,
                "KHABAR_MEILI_INDEX": index,
                "KHABAR_MEILI_INDEX_KEY": keys.index_key,
                "KHABAR_MEILI_SEARCH_KEY": keys.search_key,
                "KHABAR_BOOTSTRAP_INGEST_KEY": ingest_key,
                "KHABAR_LOG_LEVEL": "WARNING",
                **({"KHABAR_CACHE_REDIS_URL": cache_url} if cache_url else {}),
                **(extra_env or {}),
            }
            ports = {service: free_port() for service in services}
            start_services(group, env, ports, base)
            yield BenchSystem(
                redis_url, meili_url, master_key, keys, ports, ingest_key, index, group, cache_url
            )
        finally:
            group.stop_all()


class KeepAliveClient:
    """One HTTP/1.1 keep-alive connection that sends a request and reads the answer.

    httpx's connection pool costs more CPU than the services themselves once 16
    or more requests are in flight (a render run measured 366 pages/s at 16
    clients and 108 at 64 through httpx, against 1,340 and 1,495 through this
    client), and the load generator shares the machine's cores with what it
    measures: so benchmarks use the leanest client that speaks to the services.
    They always answer with a Content-Length.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._reader, self._writer = reader, writer
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())

    @classmethod
    async def open(
        cls, host: str, port: int, headers: dict[str, str] | None = None
    ) -> "KeepAliveClient":
        """A connection whose every request carries `headers`."""
        return cls(*await asyncio.open_connection(host, port), headers=headers)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, bytes]:
        """The answer's status, head (lowercased) and body; `headers` for this request only."""
        length = f"Content-Length: {len(body)}\r\n" if body or method != "GET" else ""
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: khabar\r\n{self._headers}{extra}{length}\r\n".encode()
            + body
        )
        head = (await self._reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head.split(b" ", 2)[1])
        size = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.startswith(b"content-length:")
            ),
            0,
        )
        return status, head, await self._reader.readexactly(size)

    async def get(self, path: str) -> tuple[int, bytes]:
        status, _, body = await self.request("GET", path)
        return status, body

    def close(self) -> None:
        self._writer.close()
