"""What the fault tests share: a pipeline whose processes a test can kill and restart,
real articles to post, and the end-state checks every fault test makes.

`Pipeline` runs the four services on one Redis database and one Meilisearch
index; `kill` is a real kill -9, `restart` starts a new process (a new
consumer name) on the same port. `settled` is true once every consumer group
has read everything and holds nothing pending; the `check_*` functions then
compare the index and the fragments with what ingest accepted.
"""

import html
import itertools
import random
import secrets
import time
import uuid
from datetime import UTC, datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from khabar_dev.processes import (
    ManagedProcess,
    ProcessGroup,
    free_port,
    launch_service,
    wait_ready,
)
from khabar_ingest.formats.checks import has_text_controls
from khabar_ingest.formats.corpus import iter_corpus
from khabar_ingest.formats.writer import article_to_ninjs
from khabar_shared.events import Article, ArticleEvent
from khabar_shared.names import ARTICLE_EVENTS_STREAM, ENRICHED_STREAM, GROUPS_BY_STREAM, dead_letter_stream
from tests.support import CORPUS_AR, SAMPLE_AR

SERVICES = ("ingest", "enrich", "search", "render")


def corpus_documents(count: int) -> list[dict[str, Any]]:
    """`count` ninjs documents of distinct real articles: the full corpus if present, else the sample."""
    source = CORPUS_AR if CORPUS_AR.exists() else SAMPLE_AR
    # One corpus line in a few thousand carries a C0 control character, which ingest refuses.
    usable = (a for a in iter_corpus(source) if a.headline.strip() and len(a.body_html) > 200
              and not has_text_controls(a.headline + a.lead + a.body_html))
    distinct = {article.uri: article for article in itertools.islice(usable, count * 2)}
    return [article_to_ninjs(article) for article in list(distinct.values())[:count]]


def updated(document: dict[str, Any], round_: int) -> dict[str, Any]:
    """A correction of `document`: a new headline (ingest versions changed content)."""
    return {**document, "headline": f"{document['headline']} (تصحيح {round_})"}


@dataclass
class Accepted:
    """What ingest answered 202 for, per article: its newest version and headline."""

    versions: dict[str, int] = field(default_factory=dict)
    headlines: dict[str, str] = field(default_factory=dict)
    withdrawn: set[str] = field(default_factory=set)
    event_ids: set[str] = field(default_factory=set)

    def record(self, answer: dict[str, Any], headline: str | None) -> None:
        article_id = answer["article_id"]
        if answer["version"] >= self.versions.get(article_id, 0):
            self.versions[article_id] = answer["version"]
            if headline is None:
                self.withdrawn.add(article_id)
            else:
                self.headlines[article_id] = headline
                self.withdrawn.discard(article_id)
        self.event_ids.add(answer["event_id"])

    @property
    def live(self) -> dict[str, int]:
        return {a: v for a, v in self.versions.items() if a not in self.withdrawn}


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

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.env["KHABAR_REDIS_URL"])

    def launch(self, service: str) -> ManagedProcess:
        self.generation[service] += 1
        log_path = self.logs / f"{service}.{self.generation[service]}.log"
        managed = launch_service(self.group, service, self.env, self.ports[service], log_path,
                                 name=f"{service}#{self.generation[service]}")
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
    return client.post(f"{pipeline.url('ingest')}/v1/articles", json=document,
                       headers={"Authorization": f"Bearer {pipeline.ingest_key}"})


def withdraw(client: httpx.Client, pipeline: Pipeline, article_id: str) -> httpx.Response:
    return client.delete(f"{pipeline.url('ingest')}/v1/articles/{article_id}",
                         headers={"Authorization": f"Bearer {pipeline.ingest_key}"})


def workload(documents: list[dict[str, Any]], updates: int, withdrawals: int,
             rng: random.Random) -> Iterator[tuple[str, dict[str, Any]]]:
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


def send(client: httpx.Client, pipeline: Pipeline, kind: str, document: dict[str, Any],
         accepted: Accepted, ids_by_uri: dict[str, str]) -> httpx.Response:
    """One workload step through ingest; a 202 is recorded in `accepted`."""
    if kind == "withdraw":
        response = withdraw(client, pipeline, ids_by_uri[document["uri"]])
        if response.status_code == 202:
            accepted.record(response.json(), None)
        return response
    response = post(client, pipeline, document)
    if response.status_code == 202:
        answer = response.json()
        ids_by_uri[document["uri"]] = answer["article_id"]
        accepted.record(answer, document["headline"])
    return response


# ---- end-state checks ---------------------------------------------------------------


def group_state(client: redis.Redis) -> dict[str, dict[str, Any]]:
    """Per `stream/group`: entries not yet read (lag) and read but not acked (pending)."""
    state = {}
    for stream, groups in GROUPS_BY_STREAM.items():
        last = client.xinfo_stream(stream)["last-generated-id"] if client.exists(stream) else b"0-0"
        found = {g["name"].decode(): g for g in client.xinfo_groups(stream)} if client.exists(stream) else {}
        for group in groups:
            info = found.get(group)
            state[f"{stream}/{group}"] = {
                "pending": info["pending"] if info else None,
                "caught_up": bool(info) and info["last-delivered-id"] == last,
            }
    return state


def settled(client: redis.Redis) -> bool:
    return all(s["pending"] == 0 and s["caught_up"] for s in group_state(client).values())


def wait_settled(client: redis.Redis, timeout_s: float) -> None:
    """Until every group read everything and acked it; the failure says where it stuck."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if settled(client):
            return
        time.sleep(0.5)
    raise AssertionError(f"not settled after {timeout_s}s: {group_state(client)}")


def dead_letters(client: redis.Redis) -> dict[str, int]:
    return {stream: client.xlen(dead_letter_stream(stream))
            for stream in (ARTICLE_EVENTS_STREAM, ENRICHED_STREAM)}


def meili_versions(pipeline: Pipeline) -> tuple[int, dict[str, int]]:
    """(documents in the index, version of each) read with the master key."""
    headers = {"Authorization": f"Bearer {pipeline.meili_master_key}"}
    versions: dict[str, int] = {}
    total, offset = 0, 0
    with httpx.Client(timeout=30) as client:
        while True:
            page = client.get(f"{pipeline.meili_url}/indexes/{pipeline.index}/documents",
                              params={"fields": "id,version", "limit": 1000, "offset": offset},
                              headers=headers).raise_for_status().json()
            total = page["total"]
            for document in page["results"]:
                assert document["id"] not in versions, f"{document['id']} indexed twice"
                versions[document["id"]] = document["version"]
            offset += len(page["results"])
            if not page["results"] or offset >= total:
                return total, versions


def meili_idle(pipeline: Pipeline) -> bool:
    headers = {"Authorization": f"Bearer {pipeline.meili_master_key}"}
    tasks = httpx.get(f"{pipeline.meili_url}/tasks", params={"statuses": "enqueued,processing",
                      "indexUids": pipeline.index, "limit": 1}, headers=headers, timeout=10).json()
    return tasks["total"] == 0


def check_index(pipeline: Pipeline, accepted: Accepted) -> None:
    total, versions = meili_versions(pipeline)
    extra, missing = set(versions) - set(accepted.live), set(accepted.live) - set(versions)
    assert total == len(versions) == len(accepted.live), (
        f"{total} documents, {len(accepted.live)} live articles; "
        f"not accepted: {sorted(extra)[:5]}, missing: {sorted(missing)[:5]}")
    wrong = {a: (versions.get(a), v) for a, v in accepted.live.items() if versions.get(a) != v}
    assert not wrong, f"{len(wrong)} articles not at their latest version, e.g. {list(wrong.items())[:5]}"
    assert not set(versions) & accepted.withdrawn


def check_fragments(pipeline: Pipeline, accepted: Accepted) -> None:
    stale, present_withdrawn = [], []
    with httpx.Client(base_url=pipeline.url("render"), timeout=30) as client:
        for article_id, headline in accepted.headlines.items():
            response = client.get(f"/fragments/article/{article_id}")
            if article_id in accepted.withdrawn:
                if response.status_code < 400:
                    present_withdrawn.append(article_id)
            elif response.status_code != 200 or headline not in html.unescape(response.text):
                stale.append((article_id, response.status_code))
    assert not stale, f"{len(stale)} fragments missing or not current, e.g. {stale[:5]}"
    assert not present_withdrawn, f"withdrawn articles still rendered: {present_withdrawn[:5]}"


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
    return ArticleEvent(event_id=str(uuid.uuid4()), type="article.published", article_id=article.id,
                        version=version, correlation_id=str(uuid.uuid4()),
                        accepted_at=datetime.now(UTC), submitted_by="fault-tests", article=article)


def corpus_articles(count: int) -> list[Article]:
    source = CORPUS_AR if CORPUS_AR.exists() else SAMPLE_AR
    usable = (a for a in iter_corpus(source) if a.headline.strip() and len(a.body_html) > 200)
    return list(itertools.islice(usable, count))
