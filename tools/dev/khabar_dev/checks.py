"""What the fault tests and the soak benchmark share: real articles to post, a record
of what ingest accepted, and the end-state checks once the pipeline drained.

The checks compare the Meilisearch index and render's fragments with what
ingest answered 202 for: every live article indexed once at its newest
version, every fragment current, nothing withdrawn left; and they read each
consumer group's lag and pending entries from Redis.
"""

import html
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

import httpx
import redis

from khabar_ingest.formats.checks import has_text_controls
from khabar_ingest.formats.corpus import iter_corpus
from khabar_ingest.formats.writer import article_to_ninjs
from khabar_shared.names import (
    ARTICLE_EVENTS_STREAM,
    ENRICHED_STREAM,
    SEARCH_NODES_KEY,
    dead_letter_stream,
    groups_by_stream,
)


class RunningPipeline(Protocol):
    """A running system as the checks see it: its index and its services' addresses."""

    @property
    def meili_url(self) -> str: ...

    @property
    def meili_master_key(self) -> str: ...

    @property
    def index(self) -> str: ...

    def url(self, service: str) -> str: ...


def corpus_documents(source: Path, count: int) -> list[dict[str, Any]]:
    """`count` ninjs documents of distinct real articles read from `source`."""
    # One corpus line in a few thousand carries a C0 control character, which ingest refuses.
    usable = (
        a
        for a in iter_corpus(source)
        if a.headline.strip()
        and len(a.body_html) > 200
        and not has_text_controls(a.headline + a.lead + a.body_html)
    )
    distinct = {article.uri: article for article in itertools.islice(usable, count * 2)}
    return [article_to_ninjs(article) for article in list(distinct.values())[:count]]


def updated(document: dict[str, Any], round_: int) -> dict[str, Any]:
    """A correction of `document`: a new headline (ingest versions changed content), stamped
    now as a newsroom stamps a correction (ingest refuses a copy older than the stored version,
    and a withdrawal is stored as of when it came), first published when the original was."""
    return {
        **document,
        "headline": f"{document['headline']} (تصحيح {round_})",
        "firstcreated": document.get("firstcreated") or document["versioncreated"],
        "versioncreated": datetime.now(UTC).isoformat(),
    }


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


def group_state(client: redis.Redis) -> dict[str, dict[str, Any]]:
    """Per `stream/group`: entries not yet read (lag) and read but not acked (pending).

    Every search node's group counts: each node must have caught up.
    """
    state = {}
    nodes = [cast(bytes, name).decode() for name in client.hkeys(SEARCH_NODES_KEY)]
    for stream, groups in groups_by_stream(nodes).items():
        # The last entry there is, not the last id made: a trim may have deleted that one.
        newest = client.xrevrange(stream, count=1)
        last = cast(bytes, newest[0][0]) if newest else b"0-0"
        found = (
            {g["name"].decode(): g for g in client.xinfo_groups(stream)}
            if client.exists(stream)
            else {}
        )
        for group in groups:
            info = found.get(group)
            state[f"{stream}/{group}"] = {
                "pending": info["pending"] if info else None,
                "caught_up": info is not None and id_at_least(info["last-delivered-id"], last),
            }
    return state


def id_at_least(entry_id: bytes, other: bytes) -> bool:
    def parts(raw: bytes) -> tuple[int, int]:
        ms, _, seq = raw.decode().partition("-")
        return int(ms), int(seq or 0)

    return parts(entry_id) >= parts(other)


def settled(client: redis.Redis) -> bool:
    return all(s["pending"] == 0 and s["caught_up"] for s in group_state(client).values())


def dead_letters(client: redis.Redis) -> dict[str, int]:
    return {
        stream: client.xlen(dead_letter_stream(stream))
        for stream in (ARTICLE_EVENTS_STREAM, ENRICHED_STREAM)
    }


def meili_versions(pipeline: RunningPipeline) -> tuple[int, dict[str, int]]:
    """(documents in the index, version of each) read with the master key."""
    headers = {"Authorization": f"Bearer {pipeline.meili_master_key}"}
    versions: dict[str, int] = {}
    total, offset = 0, 0
    with httpx.Client(timeout=30) as client:
        while True:
            page = (
                client.get(
                    f"{pipeline.meili_url}/indexes/{pipeline.index}/documents",
                    params={"fields": "id,version", "limit": 1000, "offset": offset},
                    headers=headers,
                )
                .raise_for_status()
                .json()
            )
            total = page["total"]
            for document in page["results"]:
                assert document["id"] not in versions, f"{document['id']} indexed twice"
                versions[document["id"]] = document["version"]
            offset += len(page["results"])
            if not page["results"] or offset >= total:
                return total, versions


def meili_idle(pipeline: RunningPipeline) -> bool:
    headers = {"Authorization": f"Bearer {pipeline.meili_master_key}"}
    tasks = httpx.get(
        f"{pipeline.meili_url}/tasks",
        params={"statuses": "enqueued,processing", "indexUids": pipeline.index, "limit": 1},
        headers=headers,
        timeout=10,
    ).json()
    return tasks["total"] == 0


def check_index(pipeline: RunningPipeline, accepted: Accepted) -> None:
    total, versions = meili_versions(pipeline)
    extra, missing = set(versions) - set(accepted.live), set(accepted.live) - set(versions)
    assert total == len(versions) == len(accepted.live), (
        f"{total} documents, {len(accepted.live)} live articles; "
        f"not accepted: {sorted(extra)[:5]}, missing: {sorted(missing)[:5]}"
    )
    wrong = {a: (versions.get(a), v) for a, v in accepted.live.items() if versions.get(a) != v}
    assert not wrong, (
        f"{len(wrong)} articles not at their latest version, e.g. {list(wrong.items())[:5]}"
    )
    assert not set(versions) & accepted.withdrawn


def check_fragments(pipeline: RunningPipeline, accepted: Accepted) -> None:
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
