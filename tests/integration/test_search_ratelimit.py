"""The readers' rate limit, through real search service processes sharing one real Redis.

A reader is the connecting address unless that connection comes from a proxy
named in `KHABAR_TRUSTED_PROXIES`; the buckets live in Redis, so replicas
enforce one limit.
"""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from khabar_dev.processes import ProcessGroup, free_port, start_service
from tests.conftest import Servers
from tests.integration.test_search_api import load_index

BURST = 6


@contextmanager
def start_replicas(
    servers: Servers, index: str, logs: Path, count: int, extra_env: dict[str, str] | None = None
) -> Iterator[list[str]]:
    """`count` search processes over one index, each with its own port; yields their URLs."""
    env = {
        "KHABAR_REDIS_URL": servers.redis_url,
        "KHABAR_MEILI_URL": servers.meili_url,
        "KHABAR_MEILI_INDEX": index,
        "KHABAR_MEILI_INDEX_KEY": servers.meili_keys.index_key,
        "KHABAR_MEILI_SEARCH_KEY": servers.meili_keys.search_key,
        "KHABAR_LOG_LEVEL": "WARNING",
        # One token a minute: nothing refills during a test.
        "KHABAR_RATE_LIMIT_PER_MINUTE": "1",
        "KHABAR_RATE_LIMIT_BURST": str(BURST),
        **(extra_env or {}),
    }
    group = ProcessGroup()
    try:
        ports = [free_port() for _ in range(count)]
        for n, port in enumerate(ports):
            start_service(
                group, "search", env, port, log_path=logs / f"search-{n}.log", name=f"search-{n}"
            )
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        group.stop_all()


def search(url: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return httpx.get(
        f"{url}/v1/search", params={"q": "فيفا"}, headers=headers, timeout=10
    ).status_code


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_gets_no_fresh_bucket(
    servers: Servers, tmp_path: Path
) -> None:
    index = f"articles_spoof_{secrets.token_hex(3)}"
    load_index(servers, index, 20)
    with start_replicas(servers, index, tmp_path, 1) as [url]:
        # Every request claims a new address; none is believed, so they share one bucket.
        statuses = [search(url, f"203.0.113.{n}") for n in range(BURST + 2)]
        assert statuses[:BURST] == [200] * BURST
        assert statuses[BURST:] == [429, 429]


def test_behind_a_trusted_proxy_each_reader_has_a_bucket_and_cannot_claim_another(
    servers: Servers, tmp_path: Path
) -> None:
    index = f"articles_proxy_{secrets.token_hex(3)}"
    load_index(servers, index, 20)
    env = {"KHABAR_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}
    with start_replicas(servers, index, tmp_path, 1, env) as [url]:
        # The load balancer appends the reader's address; what the reader sent is left of it.
        spent = [search(url, f"198.51.100.{n}, 10.1.2.3, 203.0.113.9") for n in range(BURST + 1)]
        assert spent[:BURST] == [200] * BURST and spent[BURST] == 429
        assert search(url, "203.0.113.10") == 200  # another reader behind the same proxy


def test_replicas_share_one_bucket(servers: Servers, tmp_path: Path) -> None:
    index = f"articles_replicas_{secrets.token_hex(3)}"
    load_index(servers, index, 20)
    with start_replicas(servers, index, tmp_path, 2) as (first, second):
        statuses = [search(first if n % 2 else second) for n in range(BURST + 2)]
        # One burst in all, not one per replica.
        assert statuses[:BURST] == [200] * BURST
        assert statuses[BURST:] == [429, 429]
