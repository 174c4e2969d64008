"""Where is my story: `GET /v1/articles/{id}/trace`.

For each recent version of an article, when ingest accepted it (its history)
and when each consumer group applied it (the `khabar:trace:<group>:<id>` hashes
the consumers write on ack), or that it has not yet and since when. Each
search node's indexer is a stage of its own (`search`, `search-2`…), and the
trace ends with every node's freshness: its lag and its last applied batch.
"""

from datetime import UTC, datetime
from typing import cast

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from khabar_shared.names import (
    GROUPS_BY_STREAM,
    applied_key,
    article_history_key,
    groups_by_stream,
)
from khabar_shared.problems import problem
from khabar_shared.redis_helpers import RedisClient
from khabar_shared.search_nodes import NodeFreshness, freshness, registered

# Enrich, then search and render: the order an article travels in (one search node).
STAGES: tuple[str, ...] = tuple(group for groups in GROUPS_BY_STREAM.values() for group in groups)
RECENT_VERSIONS = 10


class AcceptedVersion(BaseModel):
    """The part of ingest's history entry a trace needs."""

    model_config = ConfigDict(extra="ignore")
    version: int
    event_id: str
    status: str
    accepted_at: datetime
    correlation_id: str


class StageState(BaseModel):
    stage: str
    applied_at: datetime | None = None
    pending_since: datetime | None = None
    # Seconds from ingest's acceptance to this stage's ack (or until now when pending).
    seconds: float


class VersionTrace(BaseModel):
    version: int
    event_id: str
    status: str
    correlation_id: str
    accepted_at: datetime
    stages: list[StageState]
    live: bool  # every stage applied this version


class ArticleTrace(BaseModel):
    article_id: str
    versions: list[VersionTrace]
    search_nodes: list[NodeFreshness] = []


async def read_trace(
    redis: RedisClient, article_id: str, recent: int = RECENT_VERSIONS
) -> ArticleTrace | None:
    """None when ingest never accepted the article."""
    raw = await redis.lrange(article_history_key(article_id), -recent, -1)
    if not raw:
        return None
    history = [AcceptedVersion.model_validate_json(item) for item in raw]
    applied = {
        stage: cast(dict[bytes, bytes], await redis.hgetall(applied_key(stage, article_id)))
        for stage in await trace_stages(redis)
    }
    now = datetime.now(UTC)
    versions = [version_trace(entry, applied, now) for entry in reversed(history)]
    return ArticleTrace(
        article_id=article_id, versions=versions, search_nodes=await freshness(redis)
    )


async def trace_stages(redis: RedisClient) -> tuple[str, ...]:
    """Every group an article passes through, one per search node."""
    by_stream = groups_by_stream(list(await registered(redis)))
    return tuple(group for groups in by_stream.values() for group in groups)


def version_trace(
    entry: AcceptedVersion, applied: dict[str, dict[bytes, bytes]], now: datetime
) -> VersionTrace:
    stages = []
    for stage, when in applied.items():  # in the order an article travels
        stamp = when.get(str(entry.version).encode())
        if stamp is None:
            stages.append(
                StageState(
                    stage=stage,
                    pending_since=entry.accepted_at,
                    seconds=(now - entry.accepted_at).total_seconds(),
                )
            )
        else:
            at = datetime.fromisoformat(stamp.decode())
            stages.append(
                StageState(
                    stage=stage, applied_at=at, seconds=(at - entry.accepted_at).total_seconds()
                )
            )
    return VersionTrace(
        version=entry.version,
        event_id=entry.event_id,
        status=entry.status,
        correlation_id=entry.correlation_id,
        accepted_at=entry.accepted_at,
        stages=stages,
        live=all(stage.applied_at is not None for stage in stages),
    )


def trace_router(redis: RedisClient) -> APIRouter:
    router = APIRouter(tags=["articles"])

    @router.get(
        "/v1/articles/{article_id}/trace",
        response_model=ArticleTrace,
        summary="When each recent version was accepted and applied by each stage",
    )
    async def get_trace(article_id: str) -> ArticleTrace:
        found = await read_trace(redis, article_id)
        if found is None:
            raise problem(404, "Not Found", f"No article with id '{article_id}'.")
        return found

    return router
