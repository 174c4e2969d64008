"""The whole pipeline on a three-master Redis Cluster started from Debian's redis-server."""

import random
import secrets
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import markupsafe
import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from khabar_dev.processes import ProcessGroup, free_port, ops_url, start_service, wait_until
from khabar_shared.names import (
    ARTICLE_EVENTS_STREAM,
    ENRICH_GROUP,
    ENRICHED_STREAM,
    SEARCH_GROUP,
    applied_key,
    article_history_key,
    article_state_key,
    dead_letter_stream,
)
from tests.conftest import Servers, service_env
from tests.support import eventually, real_articles, to_ninjs

pytestmark = pytest.mark.slow


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is valid and free too."""
    while True:
        port = free_port()
        if port + 10_000 <= 65_535 and _free(port + 10_000):
            return port
        port = random.randrange(20_000, 50_000)
        if _free(port) and _free(port + 10_000):
            return port


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_cluster(group: ProcessGroup, base: Path, masters: int = 3) -> list[int]:
    ports = [cluster_port() for _ in range(masters)]
    for port in ports:
        node_dir = base / str(port)
        node_dir.mkdir(parents=True)
        group.start(
            f"redis-{port}",
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(node_dir),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--appendonly",
                "yes",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
            ],
            log_path=node_dir / "redis.log",
        )
        wait_until(lambda p=port: _answers(p), 20, f"redis node {port}")
    created = subprocess.run(
        [
            "redis-cli",
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    wait_until(lambda: _cluster_ok(ports[0]), 30, "cluster state ok")
    return ports


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _cluster_ok(port: int) -> bool:
    info = redis.Redis(port=port).execute_command("CLUSTER", "INFO").decode()
    return "cluster_state:ok" in info


@pytest.fixture(scope="module")
def cluster_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    group = ProcessGroup()
    try:
        yield start_cluster(group, tmp_path_factory.mktemp("cluster"))
    finally:
        group.stop_all()


def test_keys_that_move_together_share_a_slot() -> None:
    article = "ar-2018-0001"
    articles = {
        key_slot(k.encode())
        for k in (
            ARTICLE_EVENTS_STREAM,
            dead_letter_stream(ARTICLE_EVENTS_STREAM),
            article_state_key(article),
            article_history_key(article),
        )
    }
    enriched = {
        key_slot(k.encode()) for k in (ENRICHED_STREAM, dead_letter_stream(ENRICHED_STREAM))
    }
    assert len(articles) == 1 and len(enriched) == 1
    assert articles != enriched  # the two streams may live on different masters


def cluster_env(servers: Servers, cluster_ports: list[int], ingest_key: str) -> dict[str, str]:
    env = service_env(servers, 0, ingest_key, f"articles_{secrets.token_hex(4)}")
    return env | {
        "KHABAR_REDIS_URL": f"redis://127.0.0.1:{cluster_ports[0]}/0",
        "KHABAR_REDIS_CLUSTER": "true",
        "KHABAR_CLAIM_IDLE_MS": "2000",
    }


@pytest.fixture(scope="module")
def documents() -> list[dict[str, Any]]:
    return [to_ninjs(record) for record in real_articles(5, min_words=120)]


@dataclass
class Posted:
    article_id: str
    headline: str


@dataclass
class ClusterSystem:
    cluster: RedisCluster
    urls: dict[str, str]
    posted: list[Posted]
    ingest_key: str
    ops_urls: dict[str, str]


@pytest.fixture(scope="module")
def consumers_on_cluster(
    servers: Servers,
    cluster_ports: list[int],
    documents: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ClusterSystem]:
    """All four services on the cluster; the sample articles posted to ingest."""
    logs = tmp_path_factory.mktemp("cluster-logs")
    ingest_key = secrets.token_urlsafe(16)
    env = cluster_env(servers, cluster_ports, ingest_key)
    group = ProcessGroup()
    ports = {service: free_port() for service in ("ingest", "enrich", "search", "render")}
    cluster = RedisCluster(host="127.0.0.1", port=cluster_ports[0])
    try:
        ops_urls = {}
        for service, port in ports.items():
            managed = start_service(group, service, env, port, log_path=logs / f"{service}.log")
            ops_urls[service] = ops_url(managed, port)
        posted = []
        for document in documents:
            answer = httpx.post(
                f"http://127.0.0.1:{ports['ingest']}/v1/articles",
                json=document,
                headers={"Authorization": f"Bearer {ingest_key}"},
                timeout=10,
            )
            assert answer.status_code == 202, answer.text
            posted.append(Posted(answer.json()["article_id"], document["headline"]))
        yield ClusterSystem(
            cluster,
            {s: f"http://127.0.0.1:{p}" for s, p in ports.items()},
            posted,
            ingest_key,
            ops_urls,
        )
    finally:
        group.stop_all()
        cluster.close()


def search_ids(system: ClusterSystem, query: str) -> set[str]:
    answer = httpx.get(f"{system.urls['search']}/v1/search", params={"q": query}, timeout=10)
    return {hit["id"] for hit in answer.json()["hits"]} if answer.status_code == 200 else set()


def test_ingest_enrich_and_search_on_a_redis_cluster(consumers_on_cluster: ClusterSystem) -> None:
    system = consumers_on_cluster
    for article in system.posted:
        eventually(lambda a=article: a.article_id in search_ids(system, a.headline), timeout_s=60)
    for stream, stream_group in (
        (ARTICLE_EVENTS_STREAM, ENRICH_GROUP),
        (ENRICHED_STREAM, SEARCH_GROUP),
    ):
        eventually(
            lambda s=stream, g=stream_group: system.cluster.xpending(s, g)["pending"] == 0,
            timeout_s=30,
        )
    first = system.posted[0].article_id
    assert system.cluster.hget(applied_key(ENRICH_GROUP, first), "1")
    assert system.cluster.hget(applied_key(SEARCH_GROUP, first), "1")
    assert system.cluster.xlen(dead_letter_stream(ARTICLE_EVENTS_STREAM)) == 0
    trace = httpx.get(
        f"{system.urls['ingest']}/v1/articles/{first}/trace",
        timeout=10,
        headers={"Authorization": f"Bearer {system.ingest_key}"},
    ).json()
    stages = {s["stage"]: s for s in trace["versions"][0]["stages"]}
    assert stages["enrich"]["applied_at"] and stages["search"]["applied_at"]
    for service in ("ingest", "enrich", "search"):
        ready = httpx.get(f"{system.ops_urls[service]}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text


def test_render_on_a_redis_cluster(consumers_on_cluster: ClusterSystem) -> None:
    system = consumers_on_cluster
    for article in system.posted:
        page = eventually(
            lambda a=article.article_id: (
                (r := httpx.get(f"{system.urls['render']}/articles/{a}")).status_code == 200 and r
            ),
            timeout_s=30,
        )
        # The page escapes quotes in the headline (&#34;): compare escaped text.
        assert str(markupsafe.escape(article.headline)) in page.text
