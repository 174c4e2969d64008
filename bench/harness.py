"""What every benchmark starts with: real servers and services on free ports, real articles."""

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
    start_meili,
    start_redis,
    start_services,
)
from khabar_shared.events import Article
from khabar_ingest.formats.corpus import iter_corpus
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

    @property
    def meili_master_key(self) -> str:
        return self.master_key

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def cpu_by_process(self) -> dict[str, float]:
        """CPU seconds used so far by each process of the run (redis, meilisearch, services)."""
        return {managed.name: cpu_seconds(managed.process.pid)
                for managed in self.group.processes if managed.process.poll() is None}


@contextmanager
def running_system(services: tuple[str, ...] = SERVICES, extra_env: dict[str, str] | None = None
                   ) -> Iterator[BenchSystem]:
    group = ProcessGroup()
    with tempfile.TemporaryDirectory(prefix="khabar-bench-") as tmp:
        base = Path(tmp)
        try:
            master_key = secrets.token_hex(16)
            redis_url = start_redis(group, base / "redis", free_port())
            meili_url = start_meili(group, base / "meili", free_port(), master_key)
            keys = provision_keys(meili_url, master_key)
            ingest_key = secrets.token_urlsafe(16)
            index = "articles"
            env = {
                "KHABAR_REDIS_URL": redis_url, "KHABAR_MEILI_URL": meili_url,
                "KHABAR_MEILI_INDEX": index, "KHABAR_MEILI_INDEX_KEY": keys.index_key,
                "KHABAR_MEILI_SEARCH_KEY": keys.search_key,
                "KHABAR_BOOTSTRAP_INGEST_KEY": ingest_key, "KHABAR_LOG_LEVEL": "WARNING",
                **(extra_env or {}),
            }
            ports = {service: free_port() for service in services}
            start_services(group, env, ports, base)
            yield BenchSystem(redis_url, meili_url, master_key, keys, ports, ingest_key, index,
                              group)
        finally:
            group.stop_all()
