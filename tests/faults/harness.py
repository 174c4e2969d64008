"""What the fault tests share: a pipeline whose processes a test can kill and restart,
and a workload of real articles to drive it with.

`Pipeline` runs the four services on one Redis database and one Meilisearch
index; `kill` is a real kill -9, `restart` starts a new process (a new
consumer name) on the same port. `wait_settled` returns once every consumer
group has read everything and holds nothing pending; the end-state checks
(`khabar_dev.checks`, shared with the soak benchmark) then compare the index
and the fragments with what ingest accepted.
"""

import itertools
import random
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis

from khabar_dev import checks
from khabar_dev.checks import Accepted, group_state, settled, updated
from khabar_dev.processes import (
    ManagedProcess,
    ProcessGroup,
    free_port,
    launch_service,
    ops_url,
    wait_ready,
)
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.events import Article, ArticleEvent
from tests.support import CORPUS_AR, SAMPLE_AR

SERVICES = ("ingest", "enrich", "search", "render")


def corpus_documents(count: int) -> list[dict[str, Any]]:
    """`count` ninjs documents of distinct real articles: the full corpus if present, else the
    sample."""
    return checks.corpus_documents(CORPUS_AR if CORPUS_AR.exists() else SAMPLE_AR, count)


@dataclass
class Pipeline:
    env: dict[str, str]
    logs: Path
    ingest_key: str
    meili_url: str
    meili_master_key: str
    index: str
    group: ProcessGroup = field(default_factory=ProcessGroup)
    ports: dict[str, int] = field(default_factory=lambda: {s: free_port() for s in SERVICES})
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    generation: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SERVICES, 0))

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def ops_url(self, service: str) -> str:
        """Where `service` answers /readyz and /metrics (its operations port, if it has one)."""
        return ops_url(self.processes[service], self.ports[service])

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.env["KHABAR_REDIS_URL"])

    def launch(self, service: str) -> ManagedProcess:
        self.generation[service] += 1
        log_path = self.logs / f"{service}.{self.generation[service]}.log"
        managed = launch_service(
            self.group,
            service,
            self.env,
            self.ports[service],
            log_path,
            name=f"{service}#{self.generation[service]}",
        )
        self.processes[service] = managed
        return managed

    def start_all(self) -> None:
        for service in SERVICES:
            self.launch(service)
        self.wait_ready()

    def wait_ready(self) -> None:
        for service, managed in self.processes.items():
            wait_ready(managed, self.ports[service])

    def kill(self, service: str) -> None:
        self.processes[service].kill()

    def restart(self, service: str) -> ManagedProcess:
        """kill -9, then a new process on the same port (not waited for)."""
        self.kill(service)
        return self.launch(service)

    def log_files(self) -> list[Path]:
        return sorted(self.logs.glob("*.log"))

    def stop(self) -> None:
        self.group.stop_all()


def post(client: httpx.Client, pipeline: Pipeline, document: dict[str, Any]) -> httpx.Response:
    return client.post(
        f"{pipeline.url('ingest')}/v1/articles",
        json=document,
        headers={"Authorization": f"Bearer {pipeline.ingest_key}"},
    )


def withdraw(client: httpx.Client, pipeline: Pipeline, article_id: str) -> httpx.Response:
    return client.delete(
        f"{pipeline.url('ingest')}/v1/articles/{article_id}",
        headers={"Authorization": f"Bearer {pipeline.ingest_key}"},
    )


def workload(
    documents: list[dict[str, Any]], updates: int, withdrawals: int, rng: random.Random
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Publishes of every document, with corrections and withdrawals of earlier ones mixed in."""
    published: list[dict[str, Any]] = []
    extra = ["update"] * updates + ["withdraw"] * withdrawals
    slots = sorted(rng.sample(range(len(documents) // 10, len(documents)), len(extra)))
    rng.shuffle(extra)
    planned = dict(zip(slots, extra, strict=True))
    rounds = itertools.count(1)
    for index, document in enumerate(documents):
        published.append(document)
        yield "publish", document
        if index in planned:
            target = rng.choice(published[:-1])
            if planned[index] == "update":
                yield "update", updated(target, next(rounds))
            else:
                yield "withdraw", target


def send(
    client: httpx.Client,
    pipeline: Pipeline,
    kind: str,
    document: dict[str, Any],
    accepted: Accepted,
    ids_by_uri: dict[str, str],
) -> httpx.Response:
    """One workload step through ingest; a 202 is recorded in `accepted`."""
    if kind == "withdraw":
        response = withdraw(client, pipeline, ids_by_uri[document["uri"]])
        if response.status_code == 202:
            accepted.record(response.json(), None)
        return response
    if kind == "update":  # stamped when sent (a workload is drawn up before it runs)
        document = {**document, "versioncreated": datetime.now(UTC).isoformat()}
    response = post(client, pipeline, document)
    if response.status_code == 202:
        answer = response.json()
        ids_by_uri[document["uri"]] = answer["article_id"]
        accepted.record(answer, document["headline"])
    return response


def wait_settled(client: redis.Redis, timeout_s: float) -> None:
    """Until every group read everything and acked it; the failure says where it stuck."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if settled(client):
            return
        time.sleep(0.5)
    raise AssertionError(f"not settled after {timeout_s}s: {group_state(client)}")


def new_pipeline(servers: Any, db: int, logs: Path, **settings: str) -> Pipeline:
    from tests.conftest import service_env

    ingest_key = secrets.token_urlsafe(24)
    index = f"articles_{secrets.token_hex(4)}"
    env = service_env(servers, db, ingest_key, index)
    env.update({f"KHABAR_{name.upper()}": value for name, value in settings.items()})
    redis.Redis.from_url(env["KHABAR_REDIS_URL"]).flushdb()
    return Pipeline(env, logs, ingest_key, servers.meili_url, servers.meili_master_key, index)


def article_event(article: Article, version: int = 1) -> ArticleEvent:
    """The event ingest would append for `article` (for tests that write the stream directly)."""
    return ArticleEvent(
        event_id=str(uuid.uuid4()),
        type="article.published",
        article_id=article.id,
        version=version,
        correlation_id=str(uuid.uuid4()),
        accepted_at=datetime.now(UTC),
        submitted_by="fault-tests",
        article=article,
    )


def corpus_articles(count: int) -> list[Article]:
    source = CORPUS_AR if CORPUS_AR.exists() else SAMPLE_AR
    usable = (a for a in iter_corpus(source) if a.headline.strip() and len(a.body_html) > 200)
    return list(itertools.islice(usable, count))
