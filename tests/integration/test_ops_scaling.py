"""Three enrich processes on one stream share its work, and killing one loses nothing."""

import asyncio
import os
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from khabar_dev.processes import ManagedProcess, ProcessGroup, free_port, start_service
from khabar_shared.names import ARTICLE_EVENTS_STREAM, ENRICH_GROUP, ENRICHED_STREAM
from tests.conftest import DATABASES, Servers, service_env
from tests.support import eventually, real_articles, to_ninjs

ARTICLES = 300
pytestmark = pytest.mark.slow


def handled(metrics_url: str) -> float:
    """khabar_events_handled_total of one process, for the article events stream."""
    text = httpx.get(metrics_url, timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "khabar_events_handled"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["stream"] == ARTICLE_EVENTS_STREAM
    )


async def post_all(ingest_url: str, key: str, documents: list[dict]) -> set[str]:
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(
        base_url=ingest_url, timeout=30, headers={"Authorization": f"Bearer {key}"}
    ) as client:

        async def post(document: dict) -> str:
            async with gate:
                answer = await client.post("/v1/articles", json=document)
            assert answer.status_code == 202, answer.text
            return str(answer.json()["article_id"])

        return set(await asyncio.gather(*(post(document) for document in documents)))


def pending_of(client: redis.Redis, consumer: str) -> int:
    for found in client.xinfo_consumers(ARTICLE_EVENTS_STREAM, ENRICH_GROUP):
        if found["name"].decode() == consumer:
            return int(found["pending"])
    return 0


def catch_holding_unacked(
    victim: ManagedProcess, client: redis.Redis, name: str, timeout_s: float = 120
) -> tuple[int, int]:
    """Let a frozen consumer run in short steps until, frozen again, it has published
    something and holds events it has not acked; it is left frozen there.

    Stepping, rather than polling a running process, can't miss the moment however fast the
    consumer is: with a small batch size it is mid-batch most of the time. Returns (entries
    on the enriched stream, all the victim's while the others are frozen; its pending count).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        os.kill(victim.process.pid, signal.SIGCONT)
        time.sleep(0.05)
        os.kill(victim.process.pid, signal.SIGSTOP)
        published, pending = client.xlen(ENRICHED_STREAM), pending_of(client, name)
        if published and pending:
            return published, pending
    raise AssertionError(f"{name} never held unacked events after publishing some")


def enriched_ids(client: redis.Redis) -> set[str]:
    ids = set()
    for _, fields in client.xrange(ENRICHED_STREAM):
        ids.add(fields[b"article_id"].decode())
    return ids


@pytest.fixture()
def env(servers: Servers) -> Iterator[dict[str, str]]:
    env = service_env(servers, next(DATABASES), secrets.token_urlsafe(16), "unused")
    env |= {"KHABAR_CLAIM_IDLE_MS": "1000", "KHABAR_BATCH_SIZE": "5"}
    client = redis.Redis.from_url(env["KHABAR_REDIS_URL"])
    client.flushdb()
    yield env
    client.flushdb()


def test_three_enrich_processes_share_the_stream_and_a_kill_loses_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    group = ProcessGroup()
    client = redis.Redis.from_url(env["KHABAR_REDIS_URL"])
    documents = [to_ninjs(record) for record in real_articles(ARTICLES, min_words=40)]
    assert len(documents) == ARTICLES
    try:
        ingest_port = free_port()
        start_service(group, "ingest", env, ingest_port, log_path=tmp_path / "ingest.log")
        enrich: dict[str, tuple[ManagedProcess, str]] = {}
        for n in range(3):
            port = free_port()
            process = start_service(
                group,
                "enrich",
                env,
                port,
                name=f"enrich-{n}",
                log_path=tmp_path / f"enrich-{n}.log",
            )
            enrich[f"enrich-{n}"] = (process, f"http://127.0.0.1:{port}/metrics")

        victim, _ = enrich.pop("enrich-0")
        victim_name = f"{socket.gethostname()}-{victim.process.pid}"
        ingest_url = f"http://127.0.0.1:{ingest_port}"
        key = env["KHABAR_BOOTSTRAP_INGEST_KEY"]
        # Freeze all three while the first wave is posted: the victim then takes its share
        # alone, and is killed while it holds some events unacked.
        for process in [victim, *(process for process, _ in enrich.values())]:
            os.kill(process.process.pid, signal.SIGSTOP)
        try:
            posted = asyncio.run(post_all(ingest_url, key, documents[:150]))
            victim_handled, left_pending = catch_holding_unacked(victim, client, victim_name)
            victim.kill()
        finally:
            for process, _ in enrich.values():
                os.kill(process.process.pid, signal.SIGCONT)
        posted |= asyncio.run(post_all(ingest_url, key, documents[150:]))
        assert len(posted) == ARTICLES and left_pending > 0

        eventually(lambda: enriched_ids(client) >= posted, timeout_s=180, interval_s=0.5)
        eventually(
            lambda: client.xpending(ARTICLE_EVENTS_STREAM, ENRICH_GROUP)["pending"] == 0,
            timeout_s=60,
        )
        survivors = {name: handled(url) for name, (_, url) in enrich.items()}
        assert victim_handled > 0, "the killed consumer had handled nothing before it died"
        assert all(count > 0 for count in survivors.values()), survivors
        # The killed consumer, its events claimed by the others, leaves the group.
        survivor_names = {
            f"{socket.gethostname()}-{process.process.pid}" for process, _ in enrich.values()
        }
        eventually(
            lambda: (
                {
                    c["name"].decode()
                    for c in client.xinfo_consumers(ARTICLE_EVENTS_STREAM, ENRICH_GROUP)
                }
                == survivor_names
            ),
            timeout_s=60,
            interval_s=0.5,
        )
        consumers = client.xinfo_consumers(ARTICLE_EVENTS_STREAM, ENRICH_GROUP)
        assert all(consumer["pending"] == 0 for consumer in consumers)
    finally:
        group.stop_all()
