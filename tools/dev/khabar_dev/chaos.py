"""`make chaos`: break a running `make run` the way production breaks, then count.

Against the system `make run` started (same `KHABAR_*` settings), it:

1. starts an extra replica of enrich, search and render, and kills them with
   SIGKILL at random moments (mid-batch) while it posts `--articles` new
   articles (1,000) and withdraws `--withdrawals` of them (100), starting a
   new replica after each kill;
2. makes the fragment cache fail for a few seconds in the middle (every
   client connection of the cache's Redis is cut, again and again), so
   purges fail;
3. waits until every consumer group has read and acked everything, then runs
   `khabar trim --keep-days 0 --yes` and `khabar reindex`;
4. counts: every live article searchable at its latest version and rendered,
   no withdrawn page served, every live article of the whole index (the
   sample's too) still there after the maintenance, no dead letter.

It prints the counts and exits 1 unless every one is exact. It adds its
articles to your data (under `urn:khabar:chaos:<run>:` URIs) and trims your
streams to their compacted minimum.
"""

import argparse
import asyncio
import html
import random
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
import redis.asyncio as aioredis
from typer.testing import CliRunner

from khabar_cli.main import app as khabar_app
from khabar_dev.checks import Accepted, corpus_documents, dead_letters, meili_versions, settled
from khabar_dev.corpus import ANT, SAMPLE_AR, corpus_file
from khabar_dev.processes import ManagedProcess, ProcessGroup, free_port, launch_service
from khabar_dev.run import master_key
from khabar_dev.settings import RunSettings
from khabar_ingest.auth import create_key
from khabar_shared.meili_setup import provision_keys

VICTIMS = ("enrich", "search", "render")


@dataclass
class Running:
    """The `make run` system as the checks see it (`checks.RunningPipeline`)."""

    settings: RunSettings
    meili_master_key: str
    index: str = "articles"

    @property
    def meili_url(self) -> str:
        return self.settings.meili_url

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{getattr(self.settings, f'{service}_port')}"


class Replicas:
    """Extra consumer replicas, killed with SIGKILL and replaced."""

    planned = 0

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.group = ProcessGroup()
        self.current: dict[str, ManagedProcess] = {}
        self.killed = 0

    def start(self, service: str) -> None:
        name = f"{service}-chaos-{secrets.token_hex(3)}"
        env = {**self.env, "KHABAR_CONSUMER_NAME": name}
        self.current[service] = launch_service(
            self.group, service, env, free_port(), self.logs / f"{name}.log", name
        )

    def kill_and_replace(self, service: str) -> None:
        self.current[service].kill()
        self.killed += 1
        self.start(service)

    def stop(self) -> None:
        self.group.stop_all()


def cut_cache_connections(url: str, seconds: float) -> None:
    """For `seconds`, cut every client connection of the cache's Redis: purges fail."""
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        client.client_kill_filter(_type="normal", skipme=True)
        time.sleep(0.05)


def khabar(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(khabar_app, list(args), env=env)
    if result.exit_code != 0:
        raise RuntimeError(f"khabar {' '.join(args)} failed: {result.output}")
    return result.output


def documents_for(run: str, count: int) -> list[dict[str, Any]]:
    source = corpus_file(ANT)
    documents = corpus_documents(source if source.exists() else SAMPLE_AR, count)
    return [{**d, "uri": f"urn:khabar:chaos:{run}:{n}"} for n, d in enumerate(documents)]


def wait_settled(client: redis.Redis, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if settled(client):
            return True
        time.sleep(1)
    return False


def post_all(
    running: Running,
    key: str,
    documents: list[dict[str, Any]],
    withdrawals: int,
    replicas: Replicas,
    cache_url: str,
    rng: random.Random,
) -> Accepted:
    """Posts and withdrawals, with kills at random steps and a cache outage in the middle."""
    accepted = Accepted()
    ids: dict[str, str] = {}  # uri → article id
    steps: list[tuple[str, dict[str, Any]]] = [("publish", d) for d in documents]
    for target in rng.sample(documents[: len(documents) * 9 // 10], withdrawals):
        published = next(
            n for n, (kind, d) in enumerate(steps) if d is target and kind == "publish"
        )
        steps.insert(rng.randrange(published + 1, len(steps) + 1), ("withdraw", target))
    kills = {rng.randrange(len(steps) // 10, len(steps)): v for v in VICTIMS * 2}
    replicas.planned = len(kills)
    outage_at = len(steps) // 2
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=running.url("ingest"), headers=headers, timeout=60) as client:
        for number, (kind, document) in enumerate(steps):
            if number in kills:
                replicas.kill_and_replace(kills[number])
            if number == outage_at:
                threading.Thread(
                    target=cut_cache_connections, args=(cache_url, 4.0), daemon=True
                ).start()
            if kind == "withdraw":
                answer = client.delete(f"/v1/articles/{ids[document['uri']]}")
            else:
                answer = client.post("/v1/articles", json=document)
            answer.raise_for_status()
            body = answer.json()
            ids.setdefault(document["uri"], body["article_id"])
            accepted.record(body, None if kind == "withdraw" else document["headline"])
    return accepted


def count_pages(running: Running, accepted: Accepted) -> tuple[int, int]:
    """(live articles rendered at their latest headline, withdrawn articles still served)."""
    rendered = served_withdrawn = 0
    with httpx.Client(base_url=running.url("render"), timeout=30) as client:
        for article_id, headline in accepted.headlines.items():
            answer = client.get(f"/articles/{article_id}")
            if article_id in accepted.withdrawn:
                served_withdrawn += answer.status_code < 400
            elif answer.status_code == 200 and headline in html.unescape(answer.text):
                rendered += 1
    return rendered, served_withdrawn


def count_searchable(running: Running, accepted: Accepted) -> tuple[int, int]:
    """(live articles indexed at their latest version, withdrawn articles still indexed)."""
    _, versions = meili_versions(running)
    current = sum(versions.get(a) == v for a, v in accepted.live.items())
    return current, len(set(versions) & accepted.withdrawn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--withdrawals", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    arguments = parser.parse_args()
    settings = RunSettings()
    seed = arguments.seed if arguments.seed is not None else random.randrange(1 << 30)
    rng, run = random.Random(seed), secrets.token_hex(3)
    master = master_key(settings)
    keys = provision_keys(settings.meili_url, master)
    client = redis.Redis.from_url(settings.redis_url)
    key, _ = asyncio.run(
        create_key(aioredis.Redis.from_url(settings.redis_url), f"chaos-{run}", "write")
    )
    env = {
        "KHABAR_REDIS_URL": settings.redis_url,
        "KHABAR_MEILI_URL": settings.meili_url,
        "KHABAR_CACHE_REDIS_URL": settings.cache_redis_url,
        "KHABAR_MEILI_INDEX_KEY": keys.index_key,
        "KHABAR_MEILI_SEARCH_KEY": keys.search_key,
        "KHABAR_LOG_FORMAT": "json",
    }
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    running = Running(settings, master)
    replicas = Replicas(env, logs)
    print(
        f"chaos run {run} (seed {seed}): {arguments.articles} posts, "
        f"{arguments.withdrawals} withdrawals, replicas killed, cache cut for 4 s"
    )
    try:
        for service in VICTIMS:
            replicas.start(service)
        documents = documents_for(run, arguments.articles)
        accepted = post_all(
            running, key, documents, arguments.withdrawals, replicas, settings.cache_redis_url, rng
        )
    finally:
        replicas.stop()  # what they held is claimed by make run's own consumers
    results = settle_maintain_and_count(running, accepted, client, env)
    results["replicas killed with SIGKILL"] = (replicas.killed, replicas.planned)
    sys.exit(report(results))


def settle_maintain_and_count(
    running: Running, accepted: Accepted, client: redis.Redis, env: dict[str, str]
) -> dict[str, tuple[int, int]]:
    live, withdrawn = len(accepted.live), len(accepted.withdrawn)
    if not wait_settled(client, 1800):
        print("the consumers did not settle within 30 minutes")
    results: dict[str, tuple[int, int]] = {}
    searchable, indexed_withdrawn = count_searchable(running, accepted)
    rendered, served_withdrawn = count_pages(running, accepted)
    results["live articles searchable at their latest version"] = (searchable, live)
    results["live articles rendered at their latest version"] = (rendered, live)
    results[f"withdrawn articles ({withdrawn}) still searchable"] = (indexed_withdrawn, 0)
    results[f"withdrawn articles ({withdrawn}) still served"] = (served_withdrawn, 0)
    before, versions_before = meili_versions(running)
    cli_env = {**env, "KHABAR_MEILI_INDEX": running.index}
    khabar(cli_env, "trim", "--keep-days", "0", "--yes")
    khabar(cli_env, "reindex")
    after, versions_after = meili_versions(running)
    results["articles in the index after trim + reindex"] = (after, before)
    results["articles whose version changed in trim + reindex"] = (
        sum(versions_after.get(a) != v for a, v in versions_before.items()),
        0,
    )
    results["dead letters"] = (sum(dead_letters(client).values()), 0)
    return results


def report(results: dict[str, tuple[int, int]]) -> int:
    width = max(map(len, results))
    wrong = 0
    for what, (found, expected) in results.items():
        ok = found == expected
        wrong += not ok
        print(f"  {what:<{width}}  {found:>6} / {expected:<6} {'ok' if ok else 'WRONG'}")
    print("all exact" if not wrong else f"{wrong} count(s) wrong")
    return 0 if not wrong else 1


if __name__ == "__main__":
    main()
