"""Real servers for the whole test run: Redis and Meilisearch, started here.

Each run starts its own Redis and Meilisearch on free ports (so parallel runs
and the machine's own Redis are never disturbed), unless
`KHABAR_TEST_REDIS_URL` / `KHABAR_TEST_MEILI_URL` (+ `KHABAR_TEST_MEILI_MASTER_KEY`)
point at servers to reuse.
"""

import itertools
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from khabar_dev.processes import (
    ProcessGroup,
    free_port,
    ops_url,
    start_meili,
    start_redis,
    start_services,
)
from khabar_shared.meili_setup import MeiliKeys, provision_keys


@dataclass
class Servers:
    redis_url: str
    meili_url: str
    meili_master_key: str
    meili_keys: MeiliKeys


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    group = ProcessGroup()
    base = tmp_path_factory.mktemp("servers")
    try:
        # The session's shared Redis trades the shipped fsync for speed; the durability
        # tests start their own at the shipped setting.
        redis_url = os.environ.get("KHABAR_TEST_REDIS_URL") or start_redis(
            group, base / "redis", free_port(), appendfsync="everysec"
        )
        master_key = os.environ.get("KHABAR_TEST_MEILI_MASTER_KEY") or secrets.token_hex(16)
        meili_url = os.environ.get("KHABAR_TEST_MEILI_URL") or start_meili(
            group, base / "meili", free_port(), master_key
        )
        yield Servers(redis_url, meili_url, master_key, provision_keys(meili_url, master_key))
    finally:
        group.stop_all()


@dataclass
class System:
    """The four services running as real processes against the test servers."""

    servers: Servers
    ingest_url: str
    search_url: str
    render_url: str
    enrich_url: str
    ingest_key: str
    group: ProcessGroup
    env: dict[str, str]
    logs: Path
    # Where each service answers /metrics, /readyz, /asyncapi and /docs.
    ops_urls: dict[str, str] = field(default_factory=dict)


def service_env(servers: Servers, db: int, ingest_key: str, index: str) -> dict[str, str]:
    redis_url = servers.redis_url.rsplit("/", 1)[0] + f"/{db}"
    return {
        "KHABAR_REDIS_URL": redis_url,
        "KHABAR_MEILI_URL": servers.meili_url,
        "KHABAR_MEILI_INDEX": index,
        "KHABAR_MEILI_INDEX_KEY": servers.meili_keys.index_key,
        "KHABAR_MEILI_SEARCH_KEY": servers.meili_keys.search_key,
        "KHABAR_BOOTSTRAP_INGEST_KEY": ingest_key,
        "KHABAR_LOG_FORMAT": "json",
        "KHABAR_CLAIM_IDLE_MS": "3000",
    }


# Each module that runs the system gets its own Redis database (1-15).
DATABASES = itertools.cycle(range(1, 16))


@pytest.fixture(scope="module")
def system(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """All four services on a fresh Redis database and a fresh index, per test module."""
    logs = tmp_path_factory.mktemp("logs")
    db = next(DATABASES)
    ingest_key = secrets.token_urlsafe(24)
    env = service_env(servers, db, ingest_key, f"articles_{secrets.token_hex(4)}")
    redis.Redis.from_url(env["KHABAR_REDIS_URL"]).flushdb()
    group = ProcessGroup()
    ports = {service: free_port() for service in ("ingest", "enrich", "search", "render")}
    try:
        started = start_services(group, env, ports, logs)
        yield System(
            servers,
            f"http://127.0.0.1:{ports['ingest']}",
            f"http://127.0.0.1:{ports['search']}",
            f"http://127.0.0.1:{ports['render']}",
            f"http://127.0.0.1:{ports['enrich']}",
            ingest_key,
            group,
            env,
            logs,
            {name: ops_url(managed, ports[name]) for name, managed in started.items()},
        )
    finally:
        group.stop_all()
