"""The article log's front door: one accepted change, one event, written atomically.

For each article ingest keeps its current state (version, status, content
hash, the full article) beside the article events stream, in the same Redis
hash slot. Appending the event, bumping the version, recording history and
remembering the idempotency key happen in one MULTI/EXEC guarded by WATCH:
all of it or none of it.
"""

import hashlib
import uuid
from datetime import UTC, datetime

from pydantic import BaseModel
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from khabar_shared.events import Article, ArticleEvent, ArticleEventType, PubStatus, encode_event
from khabar_shared.names import (
    ARTICLE_EVENTS_STREAM,
    article_history_key,
    article_state_key,
    idempotency_key,
)
from khabar_shared.redis_helpers import RedisClient


class Acceptance(BaseModel):
    """What ingest answers for an accepted change (and answers again for a repeat)."""

    article_id: str
    version: int
    event_id: str
    status: PubStatus
    accepted_at: datetime
    correlation_id: str


class ArticleState(BaseModel):
    article_id: str
    version: int
    status: PubStatus
    content_hash: str
    updated_at: datetime
    answer: Acceptance
    article: Article


class HistoryEntry(BaseModel):
    version: int
    event_id: str
    type: ArticleEventType
    status: PubStatus
    accepted_at: datetime
    submitted_by: str
    editor_note: str = ""
    correlation_id: str


class VersionConflict(Exception):
    def __init__(self, current_version: int) -> None:
        super().__init__(f"stale version: the article is at version {current_version}")
        self.current_version = current_version


class UnknownArticle(LookupError):
    pass


class StoreResult(BaseModel):
    acceptance: Acceptance
    appended: bool  # False when the change repeated an earlier one


def content_hash(article: Article) -> str:
    """Same content, same hash: a CMS re-sending an unchanged article is not a change."""
    payload = article.model_dump_json(exclude={"versioncreated"})
    return hashlib.sha256(payload.encode()).hexdigest()


def event_type_for(article: Article, new_version: int) -> ArticleEventType:
    if article.pubstatus == "canceled":
        return "article.withdrawn"
    return "article.published" if new_version == 1 else "article.updated"


class ArticleStore:
    def __init__(self, redis: RedisClient, idempotency_ttl_s: int) -> None:
        self._redis = redis
        self._idempotency_ttl_s = idempotency_ttl_s

    async def current(self, article_id: str) -> ArticleState | None:
        raw = await self._redis.get(article_state_key(article_id))
        return ArticleState.model_validate_json(raw) if raw else None

    async def history(self, article_id: str) -> list[HistoryEntry]:
        raw = await self._redis.lrange(article_history_key(article_id), 0, -1)
        return [HistoryEntry.model_validate_json(item) for item in raw]

    async def accept(
        self,
        article: Article,
        *,
        submitted_by: str,
        correlation_id: str,
        base_version: int | None = None,
        idempotency: str | None = None,
    ) -> StoreResult:
        """Append `article` as its next version, unless it repeats the last change."""
        state_key = article_state_key(article.id)
        idem_key = idempotency_key(f"{submitted_by}:{idempotency}") if idempotency else None
        new_hash = content_hash(article)
        watched = [state_key, *([idem_key] if idem_key else [])]
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(*watched)
                    repeat = await self._repeated_answer(pipe, state_key, idem_key, new_hash)
                    if repeat is not None:
                        return StoreResult(acceptance=repeat, appended=False)
                    current = await self._load_state(pipe, state_key)
                    current_version = current.version if current else 0
                    if base_version is not None and base_version != current_version:
                        raise VersionConflict(current_version)
                    event = self._new_event(article, current_version + 1, submitted_by, correlation_id)
                    pipe.multi()
                    self._queue_writes(pipe, event, new_hash, idem_key)
                    await pipe.execute()
                    return StoreResult(acceptance=acceptance_of(event), appended=True)
                except WatchError:
                    continue

    async def _repeated_answer(
        self, pipe: Pipeline, state_key: str, idem_key: str | None, new_hash: str
    ) -> Acceptance | None:
        if idem_key:
            stored = await pipe.get(idem_key)
            if stored:
                return Acceptance.model_validate_json(stored)
        current = await self._load_state(pipe, state_key)
        if current and current.content_hash == new_hash:
            return current.answer
        return None

    @staticmethod
    async def _load_state(pipe: Pipeline, state_key: str) -> ArticleState | None:
        raw = await pipe.get(state_key)
        return ArticleState.model_validate_json(raw) if raw else None

    @staticmethod
    def _new_event(
        article: Article, version: int, submitted_by: str, correlation_id: str
    ) -> ArticleEvent:
        return ArticleEvent(
            event_id=str(uuid.uuid4()),
            type=event_type_for(article, version),
            article_id=article.id,
            version=version,
            correlation_id=correlation_id,
            accepted_at=datetime.now(UTC),
            submitted_by=submitted_by,
            article=article,
        )

    def _queue_writes(
        self, pipe: Pipeline, event: ArticleEvent, new_hash: str, idem_key: str | None
    ) -> None:
        answer = acceptance_of(event)
        state = ArticleState(
            article_id=event.article_id,
            version=event.version,
            status=event.article.pubstatus,
            content_hash=new_hash,
            updated_at=event.accepted_at,
            answer=answer,
            article=event.article,
        )
        history = HistoryEntry(
            version=event.version,
            event_id=event.event_id,
            type=event.type,
            status=event.article.pubstatus,
            accepted_at=event.accepted_at,
            submitted_by=event.submitted_by,
            editor_note=event.article.editor_note,
            correlation_id=event.correlation_id,
        )
        pipe.xadd(ARTICLE_EVENTS_STREAM, encode_event(event))
        pipe.set(article_state_key(event.article_id), state.model_dump_json())
        pipe.rpush(article_history_key(event.article_id), history.model_dump_json())
        if idem_key:
            pipe.set(idem_key, answer.model_dump_json(), ex=self._idempotency_ttl_s)


def acceptance_of(event: ArticleEvent) -> Acceptance:
    return Acceptance(
        article_id=event.article_id,
        version=event.version,
        event_id=event.event_id,
        status=event.article.pubstatus,
        accepted_at=event.accepted_at,
        correlation_id=event.correlation_id,
    )
