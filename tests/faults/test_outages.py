"""Outages: Meilisearch stopped under load, Redis killed and restarted.

Each test starts its own server (the session's are shared with other tests),
runs the four services against it, breaks it in the middle of a stream of
real articles, brings it back on the same port and data directory, and then
checks that nothing ingest accepted was lost.

The outages of Meilisearch and of the cache's Redis last `KHABAR_TEST_OUTAGE_S`
seconds (10 by default, to keep the suite short; corrections keep arriving
meanwhile): `KHABAR_TEST_OUTAGE_S=180` runs them for three minutes.
"""

import itertools
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_sync

from khabar_dev.checks import (
    Accepted,
    check_fragments,
    check_index,
    dead_letters,
    meili_idle,
    updated,
)
from khabar_dev.processes import ProcessGroup, free_port, start_meili, start_redis
from khabar_shared.meili_setup import provision_keys
from khabar_shared.names import ARTICLE_EVENTS_STREAM, ENRICHED_STREAM, SEARCH_GROUP
from tests.conftest import Servers
from tests.faults.harness import Pipeline, corpus_documents, new_pipeline, post, send, wait_settled
from tests.support import eventually

OUTAGE_S = float(os.environ.get("KHABAR_TEST_OUTAGE_S", "10"))


@pytest.fixture
def own_servers(tmp_path: Path) -> Iterator[tuple[ProcessGroup, Path]]:
    group = ProcessGroup()
    try:
        yield group, tmp_path
    finally:
        group.stop_all()


def with_own_meili(servers: Servers, group: ProcessGroup, data: Path, port: int) -> Servers:
    master = secrets.token_hex(16)
    url = start_meili(group, data, port, master)
    return Servers(servers.redis_url, url, master, provision_keys(url, master))


def keep_correcting(
    client: httpx.Client,
    pipeline: Pipeline,
    documents: list[dict[str, Any]],
    accepted: Accepted,
    ids: dict[str, str],
    until: float,
) -> None:
    """Corrections of `documents`, one every half second, until the monotonic time `until`."""
    for number, document in enumerate(itertools.cycle(documents), 1):
        if time.monotonic() >= until:
            return
        corrected = updated(document, number)
        assert send(client, pipeline, "update", corrected, accepted, ids).status_code == 202
        time.sleep(0.5)


def run_pipeline(servers: Servers, db: int, logs: Path, **settings: str) -> Pipeline:
    pipeline = new_pipeline(servers, db, logs, claim_idle_ms="2000", **settings)
    pipeline.start_all()
    return pipeline


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_meilisearch_down_for_ten_seconds_under_load(
    servers: Servers, own_servers: tuple[ProcessGroup, Path]
) -> None:
    group, base = own_servers
    port = free_port()
    mine = with_own_meili(servers, group, base / "meili", port)
    pipeline = run_pipeline(mine, 8, base)
    accepted, ids = Accepted(), {}
    documents = corpus_documents(400)
    try:
        with httpx.Client(timeout=30) as client:
            for document in documents[:150]:
                assert send(client, pipeline, "publish", document, accepted, ids).status_code == 202
            meili = next(p for p in group.processes if p.name == "meilisearch")
            meili.stop()
            stopped = time.monotonic()
            for document in documents[150:]:
                assert send(client, pipeline, "publish", document, accepted, ids).status_code == 202
            # Search is waiting for Meilisearch: its events stay pending, none dead-lettered.
            eventually(
                lambda: pipeline.redis.xpending(ENRICHED_STREAM, SEARCH_GROUP)["pending"] > 0,
                timeout_s=30,
            )
            keep_correcting(client, pipeline, documents[:150], accepted, ids, stopped + OUTAGE_S)
            start_meili(group, base / "meili", port, mine.meili_master_key)
            for document in documents[150:200]:  # corrections after the outage
                corrected = {**document, "headline": document["headline"] + " (محدث)"}
                assert send(client, pipeline, "update", corrected, accepted, ids).status_code == 202
        wait_settled(pipeline.redis, timeout_s=300)
        eventually(lambda: meili_idle(pipeline), timeout_s=60)
        assert dead_letters(pipeline.redis) == dict.fromkeys(dead_letters(pipeline.redis), 0)
        check_index(pipeline, accepted)
        check_fragments(pipeline, accepted)
    finally:
        pipeline.stop()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_search_exits_within_grace_while_meilisearch_is_down(
    servers: Servers, own_servers: tuple[ProcessGroup, Path]
) -> None:
    group, base = own_servers
    port = free_port()
    mine = with_own_meili(servers, group, base / "meili", port)
    grace_s = 4.0
    pipeline = run_pipeline(mine, 7, base, shutdown_grace_s=str(grace_s))
    try:
        next(p for p in group.processes if p.name == "meilisearch").stop()
        with httpx.Client(timeout=30) as client:
            for document in corpus_documents(20):
                assert (
                    send(client, pipeline, "publish", document, Accepted(), {}).status_code == 202
                )
        eventually(
            lambda: pipeline.redis.xpending(ENRICHED_STREAM, SEARCH_GROUP)["pending"] > 0,
            timeout_s=60,
        )
        search = pipeline.processes["search"]
        search.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        search.process.wait(60)
        took = time.monotonic() - signalled
        # Unfinished work stays pending for the next search process: nothing acked early.
        assert pipeline.redis.xpending(ENRICHED_STREAM, SEARCH_GROUP)["pending"] > 0
        assert took <= grace_s + 3.0, f"search took {took:.1f}s to exit"
    finally:
        pipeline.stop()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_redis_killed_and_restarted_keeps_every_accepted_event(
    servers: Servers, own_servers: tuple[ProcessGroup, Path], tmp_path: Path
) -> None:
    group, base = own_servers
    port = free_port()
    redis_url = start_redis(group, base / "redis", port)
    # At the shipped setting, not one switched on for the test.
    assert redis_sync.Redis.from_url(redis_url).config_get("appendfsync")["appendfsync"] == "always"
    mine = Servers(redis_url, servers.meili_url, servers.meili_master_key, servers.meili_keys)
    pipeline = run_pipeline(mine, 0, tmp_path)
    accepted, ids = Accepted(), {}
    documents = corpus_documents(300)
    try:
        with httpx.Client(timeout=30) as client:
            for number, document in enumerate(documents):
                if number == 120:
                    next(p for p in group.processes if p.name == "redis").kill()
                    for late in documents[120:140]:  # posted while Redis is gone: refused
                        assert attempt(client, pipeline, late, accepted, ids) != 202
                    start_redis(group, base / "redis", port)
                # A newsroom tool retries until its article is accepted.
                status = attempt(client, pipeline, document, accepted, ids)
                for _ in range(60):
                    if status == 202:
                        break
                    time.sleep(0.5)
                    status = attempt(client, pipeline, document, accepted, ids)
                assert status == 202
        on_stream = {
            fields[b"event_id"].decode()
            for _, fields in pipeline.redis.xrange(ARTICLE_EVENTS_STREAM)
        }
        assert accepted.event_ids <= on_stream, (
            f"lost: {sorted(accepted.event_ids - on_stream)[:5]}"
        )
        wait_settled(pipeline.redis, timeout_s=300)
        eventually(lambda: meili_idle(pipeline), timeout_s=60)
        check_index(pipeline, accepted)
        check_fragments(pipeline, accepted)
    finally:
        pipeline.stop()


def attempt(
    client: httpx.Client,
    pipeline: Pipeline,
    document: dict[str, Any],
    accepted: Accepted,
    ids: dict[str, str],
) -> int | str:
    """Post once: the status, or the transport error's name when there was no answer."""
    try:
        return send(client, pipeline, "publish", document, accepted, ids).status_code
    except httpx.TransportError as error:
        return type(error).__name__


@pytest.mark.timeout(300)
def test_ingest_answers_503_while_redis_is_down(
    servers: Servers, own_servers: tuple[ProcessGroup, Path], tmp_path: Path
) -> None:
    group, base = own_servers
    redis_url = start_redis(group, base / "redis", free_port())
    mine = Servers(redis_url, servers.meili_url, servers.meili_master_key, servers.meili_keys)
    pipeline = new_pipeline(mine, 0, tmp_path)
    pipeline.launch("ingest")
    try:
        pipeline.wait_ready()
        next(p for p in group.processes if p.name == "redis").kill()
        with httpx.Client(timeout=30) as client:
            answers = [post(client, pipeline, d) for d in corpus_documents(3)]
        assert [a.status_code for a in answers] == [503, 503, 503]
        assert all(a.headers.get("retry-after") for a in answers)
        assert all(a.json()["status"] == 503 for a in answers)
    finally:
        pipeline.stop()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_cache_redis_down_with_withdrawals_sends_nothing_to_dead_letters(
    servers: Servers, own_servers: tuple[ProcessGroup, Path], tmp_path: Path
) -> None:
    """The fragment cache's own Redis stopped while articles are withdrawn and published.

    Render cannot purge, so it waits (readiness red, the waiting gauge at 1),
    holding its batch: with two deliveries and a one-second claim the outage
    lasts many times deliveries x claim idle, after which the code before
    this fix had dead-lettered the withdrawals and left their pages cached.
    The mechanism does not depend on the outage's length (the consumer waits
    in a loop that counts nothing), so a dozen seconds stand for minutes.
    """
    group, base = own_servers
    port = free_port()
    cache_url = start_redis(group, base / "cache", port)
    pipeline = new_pipeline(
        servers,
        6,
        tmp_path,
        claim_idle_ms="1000",
        max_deliveries="2",
        cache_redis_url=cache_url,
        outage_backoff_max_s="1",
    )
    pipeline.start_all()
    accepted, ids = Accepted(), {}
    documents = corpus_documents(60)
    try:
        with httpx.Client(timeout=30) as client:
            for document in documents[:40]:
                assert send(client, pipeline, "publish", document, accepted, ids).status_code == 202
            wait_settled(pipeline.redis, timeout_s=300)
            for document in documents[:40]:  # every page cached
                client.get(f"{pipeline.url('render')}/articles/{ids[document['uri']]}")
            next(p for p in group.processes if p.name == "redis").kill()
            stopped = time.monotonic()
            for document in documents[:10]:
                assert (
                    send(client, pipeline, "withdraw", document, accepted, ids).status_code == 202
                )
            for document in documents[40:]:
                assert send(client, pipeline, "publish", document, accepted, ids).status_code == 202
            ready = eventually(
                lambda: (
                    (r := client.get(f"{pipeline.ops_url('render')}/readyz")).status_code == 503
                    and "waiting" in r.text
                    and r
                ),
                timeout_s=30,
            )
            assert "dependencies" in ready.text
            metrics = client.get(f"{pipeline.ops_url('render')}/metrics").text
            assert 'khabar_waiting_for_dependency{group="render"' in metrics
            keep_correcting(
                client, pipeline, documents[10:40], accepted, ids, stopped + max(OUTAGE_S, 12)
            )
            assert dead_letters(pipeline.redis) == dict.fromkeys(dead_letters(pipeline.redis), 0)
            start_redis(group, base / "cache", port)
        wait_settled(pipeline.redis, timeout_s=300)
        assert dead_letters(pipeline.redis) == dict.fromkeys(dead_letters(pipeline.redis), 0)
        eventually(
            lambda: httpx.get(f"{pipeline.ops_url('render')}/readyz").status_code == 200,
            timeout_s=30,
        )
        check_fragments(pipeline, accepted)
    finally:
        pipeline.stop()
