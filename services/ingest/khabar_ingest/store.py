"""The article log's front door: one accepted change, one event, written atomically.

For each article ingest keeps its state (a Redis hash: version, content hash,
status, the first answer, the article) and its history (a list) beside the
article events stream, all in the `{articles}` hash slot.

Accepting a batch of changes takes two round trips, however many changes:
one pipelined read of every article's state, then one pipelined run of the
`ACCEPT` script per change (see `scripts.py`), which re-checks the read and
writes event, state, history and idempotency record together or not at all.
A change whose article moved in between (another writer, or an earlier item
of the same batch) is read and tried again.

Embargo: a change whose `embargoed` time is still ahead gets its version and
its history entry now, but its event waits in the embargo schedule (a sorted
set by release time) until `release_due` appends it. While it waits:

- an update replaces the waiting change (the replaced one is never
  published; its version stays in the history); the update is held again if
  it carries a future `embargoed`, or published at once if it does not;
- a withdrawal (`pubstatus: canceled`, or DELETE) is appended at once and
  drops the waiting change.
"""

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field
from redis.asyncio.client import Pipeline

from khabar_ingest.scripts import ACCEPT, RELEASE
from khabar_shared.events import Article, ArticleEvent, ArticleEventType
from khabar_shared.names import (
    ARTICLE_EVENTS_STREAM,
    ARTICLES_TAG,
    article_history_key,
    article_state_key,
    idempotency_key,
)
from khabar_shared.redis_helpers import RedisClient

# Embargoed changes: a sorted set of article ids by release time (ms), and their waiting events.
EMBARGO_SCHEDULE = f"khabar:{ARTICLES_TAG}:embargo:schedule"
EMBARGO_PENDING = f"khabar:{ARTICLES_TAG}:embargo:pending"
# Unused idempotency slot when a change has no Idempotency-Key (scripts declare every key).
_NO_IDEMPOTENCY = idempotency_key("-")
_MAX_ATTEMPTS = 20
_VERSIONCREATED = re.compile(r'"versioncreated":"[^"]*"')

ArticleStatus = Literal["usable", "withheld", "canceled", "embargoed"]
HistoryType = Literal[
    "article.published", "article.updated", "article.withdrawn", "article.released"
]


class Acceptance(BaseModel):
    """What ingest answers for an accepted change (and answers again for a repeat)."""

    article_id: str
    version: int
    event_id: str
    status: ArticleStatus
    accepted_at: datetime
    correlation_id: str
    embargoed_until: datetime | None = None


class ArticleState(BaseModel):
    article_id: str
    version: int = Field(description="The latest accepted version (perhaps still embargoed).")
    published_version: int = Field(description="The latest version appended to the stream.")
    status: ArticleStatus
    updated_at: datetime
    embargoed_until: datetime | None = None
    answer: Acceptance
    article: Article


class HistoryEntry(BaseModel):
    version: int
    event_id: str
    type: HistoryType
    status: ArticleStatus
    accepted_at: datetime
    submitted_by: str
    editor_note: str = ""
    correlation_id: str
    embargoed_until: datetime | None = None


class Change(BaseModel):
    """One change a newsroom tool asks for."""

    article: Article
    submitted_by: str
    correlation_id: str
    base_version: int | None = Field(default=None, description="From If-Match, when sent.")
    idempotency: str | None = Field(default=None, description="The Idempotency-Key, when sent.")


class StoreResult(BaseModel):
    acceptance: Acceptance
    replayed: bool = Field(description="True when the change repeated an earlier one.")


class VersionConflict(Exception):
    def __init__(self, current_version: int) -> None:
        super().__init__(f"stale version: the article is at version {current_version}")
        self.current_version = current_version


class IdempotencyMismatch(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was used with different content")
        self.key = key


class StoreBusy(Exception):
    """The article kept changing under us: the caller may try again."""


Outcome = StoreResult | VersionConflict | IdempotencyMismatch | StoreBusy


class _Seen(BaseModel):
    """What the first read found for one change."""

    version: int = 0
    appended: int = 0
    content_hash: str | None = None
    answer: bytes | None = None
    idempotency_hash: str | None = None
    idempotency_answer: bytes | None = None


def content_hash(article_json: str) -> str:
    """Same content, same hash: a CMS re-sending an unchanged article is not a change.

    The hash covers the article's JSON without its `versioncreated`. That key
    comes before `extra` in `Article`, so its first occurrence is the
    top-level one (a nested one, inside `extra`, still counts as content).
    """
    payload = _VERSIONCREATED.sub('"versioncreated":null', article_json, count=1)
    return hashlib.sha256(payload.encode()).hexdigest()


def stream_entry(event: ArticleEvent, article_json: str) -> dict[str, str]:
    """`encode_event(event)`, reusing the article's JSON instead of serializing it again."""
    envelope = event.model_dump_json(exclude={"article"})
    return {
        "type": event.type,
        "event_id": event.event_id,
        "article_id": event.article_id,
        "version": str(event.version),
        "correlation_id": event.correlation_id,
        "data": f'{envelope[:-1]},"article":{article_json}}}',
    }


def event_type_for(article: Article, published_before: bool) -> ArticleEventType:
    if article.pubstatus == "canceled":
        return "article.withdrawn"
    return "article.updated" if published_before else "article.published"


def is_embargoed(article: Article, now: datetime) -> bool:
    """A withdrawal is never held: it must take effect at once."""
    return bool(article.embargoed and article.embargoed > now and article.pubstatus != "canceled")


class ArticleStore:
    def __init__(self, redis: RedisClient, idempotency_ttl_s: int) -> None:
        self._redis = redis
        self._idempotency_ttl_s = idempotency_ttl_s
        self._accept_script = redis.register_script(ACCEPT)
        self._release_script = redis.register_script(RELEASE)

    # ---- reading ------------------------------------------------------------

    async def current(self, article_id: str) -> ArticleState | None:
        raw = await self._redis.hgetall(article_state_key(article_id))
        if not raw:
            return None
        fields = {key.decode(): value.decode() for key, value in raw.items()}
        return ArticleState(
            article_id=article_id,
            version=int(fields["version"]),
            published_version=int(fields.get("appended") or 0),
            status=fields["status"],
            updated_at=fields["updated_at"],
            embargoed_until=fields.get("embargoed_until") or None,
            answer=Acceptance.model_validate_json(fields["answer"]),
            article=ArticleEvent.model_validate_json(fields["event"]).article,
        )

    async def history(self, article_id: str) -> list[HistoryEntry]:
        raw = await self._redis.lrange(article_history_key(article_id), 0, -1)
        return [HistoryEntry.model_validate_json(item) for item in raw]

    # ---- accepting ----------------------------------------------------------

    async def accept(self, change: Change) -> StoreResult:
        """Accept one change; raises VersionConflict, IdempotencyMismatch or StoreBusy."""
        (outcome,) = await self.accept_many([change])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def accept_many(self, changes: list[Change]) -> list[Outcome]:
        """Accept each change on its own (one failing does not stop the others), in order."""
        outcomes: list[Outcome | None] = [None] * len(changes)
        todo = list(range(len(changes)))
        for _ in range(_MAX_ATTEMPTS):
            if not todo:
                break
            todo = await self._attempt(changes, todo, outcomes)
        for index in todo:
            outcomes[index] = StoreBusy("the article kept changing; try again")
        return [outcome for outcome in outcomes if outcome is not None]

    async def _attempt(
        self, changes: list[Change], todo: list[int], outcomes: list[Outcome | None]
    ) -> list[int]:
        """One read and one write round trip; returns the changes to try again."""
        seen = await self._read([changes[i] for i in todo])
        now = datetime.now(UTC)
        calls: list[tuple[int, Acceptance]] = []
        async with self._redis.pipeline(transaction=False) as pipe:
            for index, found in zip(todo, seen, strict=True):
                article_json = changes[index].article.model_dump_json()
                new_hash = content_hash(article_json)
                decided = decide_without_writing(changes[index], found, new_hash)
                if decided is not None:
                    outcomes[index] = decided
                    continue
                answer = await self._queue_accept(pipe, changes[index], found, article_json,
                                                  new_hash, now)
                calls.append((index, answer))
            replies = await pipe.execute() if calls else []
        retry = []
        for (index, answer), reply in zip(calls, replies, strict=True):
            outcome = self._interpret(changes[index], answer, reply)
            if outcome is None:
                retry.append(index)
            else:
                outcomes[index] = outcome
        return retry

    async def _read(self, changes: list[Change]) -> list[_Seen]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for change in changes:
                pipe.hmget(article_state_key(change.article.id),
                           ["version", "hash", "answer", "appended"])
                if change.idempotency:
                    pipe.hmget(self._idempotency_key(change), ["hash", "answer"])
            replies = iter(await pipe.execute())
        seen = []
        for change in changes:
            version, chash, answer, appended = next(replies)
            record = next(replies) if change.idempotency else [None, None]
            seen.append(_Seen(
                version=int(version or 0), appended=int(appended or 0),
                content_hash=chash.decode() if chash else None, answer=answer,
                idempotency_hash=record[0].decode() if record[0] else None,
                idempotency_answer=record[1],
            ))  # fmt: skip
        return seen

    def _idempotency_key(self, change: Change) -> str:
        if not change.idempotency:
            return _NO_IDEMPOTENCY
        return idempotency_key(f"{change.submitted_by}:{change.idempotency}")

    async def _queue_accept(
        self, pipe: Pipeline, change: Change, seen: _Seen, article_json: str, new_hash: str,
        now: datetime,
    ) -> Acceptance:
        article, version = change.article, seen.version + 1
        hold = is_embargoed(article, now)
        event = ArticleEvent.model_construct(
            schema_version=1, event_id=str(uuid.uuid4()),
            type=event_type_for(article, seen.appended > 0), article_id=article.id,
            version=version, correlation_id=change.correlation_id, accepted_at=now,
            submitted_by=change.submitted_by, article=article,
        )  # fmt: skip
        status: ArticleStatus = "embargoed" if hold else article.pubstatus
        embargoed_until = article.embargoed if hold else None
        answer = Acceptance(
            article_id=article.id, version=version, event_id=event.event_id, status=status,
            accepted_at=now, correlation_id=change.correlation_id, embargoed_until=embargoed_until,
        )  # fmt: skip
        entry = stream_entry(event, article_json)
        release_ms = int(article.embargoed.timestamp() * 1000) if hold and article.embargoed else 0
        decided = {
            "expected_version": seen.version, "expected_appended": seen.appended,
            "hash": new_hash, "ttl": self._idempotency_ttl_s if change.idempotency else 0,
            "release_ms": str(release_ms), "status": status, "updated_at": now.isoformat(),
            "embargoed_until": embargoed_until.isoformat() if embargoed_until else "",
            **{name: value for name, value in entry.items() if name != "data"},
        }  # fmt: skip
        await self._accept_script(
            keys=[article_state_key(article.id), article_history_key(article.id),
                  ARTICLE_EVENTS_STREAM, self._idempotency_key(change),
                  EMBARGO_SCHEDULE, EMBARGO_PENDING],
            args=[json.dumps(decided), answer.model_dump_json(),
                  history_entry(event, status, embargoed_until).model_dump_json(),
                  pending_release(event, entry) if hold else "", entry["data"]],
            client=pipe,
        )  # fmt: skip
        return answer

    @staticmethod
    def _interpret(change: Change, answer: Acceptance, reply: list[bytes]) -> Outcome | None:
        verdict = reply[0].decode()
        if verdict == "accepted":
            return StoreResult(acceptance=answer, replayed=False)
        if verdict == "replay":
            return StoreResult(acceptance=Acceptance.model_validate_json(reply[1]), replayed=True)
        if verdict == "idempotency_mismatch":
            return IdempotencyMismatch(change.idempotency or "")
        return None  # moved: read again

    # ---- embargo --------------------------------------------------------------

    async def due_embargoes(self, now: datetime, limit: int = 100) -> list[str]:
        """Ids of embargoed articles whose release time has passed (by our clock)."""
        ids = await self._redis.zrangebyscore(
            EMBARGO_SCHEDULE, "-inf", int(now.timestamp() * 1000), start=0, num=limit
        )
        return [article_id.decode() for article_id in ids]

    async def next_release(self) -> datetime | None:
        first = await self._redis.zrange(EMBARGO_SCHEDULE, 0, 0, withscores=True)
        return datetime.fromtimestamp(first[0][1] / 1000, UTC) if first else None

    async def release(self, article_id: str) -> str | None:
        """Append the waiting event if it is due (by Redis's clock); its stream id, or None."""
        entry = await self._release_script(
            keys=[EMBARGO_SCHEDULE, EMBARGO_PENDING, ARTICLE_EVENTS_STREAM,
                  article_state_key(article_id), article_history_key(article_id)],
            args=[article_id],
        )  # fmt: skip
        return entry.decode() if entry else None


def decide_without_writing(change: Change, seen: _Seen, new_hash: str) -> Outcome | None:
    """Repeats and stale versions are answered from the read alone (the script re-checks)."""
    if change.idempotency and seen.idempotency_hash:
        if seen.idempotency_hash != new_hash:
            return IdempotencyMismatch(change.idempotency)
        return StoreResult(
            acceptance=Acceptance.model_validate_json(seen.idempotency_answer or b""),
            replayed=True,
        )
    if seen.content_hash == new_hash and seen.answer:
        return StoreResult(acceptance=Acceptance.model_validate_json(seen.answer), replayed=True)
    if change.base_version is not None and change.base_version != seen.version:
        return VersionConflict(seen.version)
    return None


def history_entry(
    event: ArticleEvent, status: ArticleStatus, embargoed_until: datetime | None
) -> HistoryEntry:
    return HistoryEntry(
        version=event.version, event_id=event.event_id, type=event.type, status=status,
        accepted_at=event.accepted_at, submitted_by=event.submitted_by,
        editor_note=event.article.editor_note, correlation_id=event.correlation_id,
        embargoed_until=embargoed_until,
    )  # fmt: skip


def pending_release(event: ArticleEvent, entry: dict[str, str]) -> str:
    """What the release script needs: the stream entry, the status after, its history entry."""
    released = history_entry(event, event.article.pubstatus, None).model_copy(
        update={"type": "article.released"}
    )
    history = released.model_dump(mode="json", exclude={"accepted_at"})
    fields = [part for pair in entry.items() for part in pair]
    return json.dumps({"fields": fields, "status": event.article.pubstatus,
                       "version": event.version, "history": history}, ensure_ascii=False)
