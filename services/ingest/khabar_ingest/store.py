"""The article log's front door: one accepted change, one event, written atomically.

For each article ingest keeps its state (a Redis hash: version, content hash,
status, the first answer, the stream entry of its latest event) and its
history (a list) beside the article events stream, all in the `{articles}`
hash slot.

The state names its latest event's entry rather than keeping a copy: the
copy doubled what Redis held and wrote to its append-only file for every
change. `current()` reads the event where it is: the stream entry, the
embargo hash while a change waits, or the state's own `event` field, which
`keep_events` fills before `khabar trim` removes an article's latest
entry (and which states written before this layout still have).

Changes are accepted by the `ACCEPT` script (see `scripts.py`), which for each
change reads the article's state and writes event, state, history and
idempotency record together, or answers why not (a repeat, a stale
If-Match, an older copy).

Out of order: a change whose `versioncreated` is older than the stored
version's changes nothing (`StaleCopy`): agency feeds and retries resend old
copies, and one must not revert an update or bring a withdrawal back. A
change naming the current version (If-Match, a batch item's `base_version`)
replaces it anyway; so does a DELETE (a kill is never refused as old). Equal
times are a new version as before (identical content is a repeat).

A batch is a series of script calls (a few dozen changes per call), each
change atomic on its own and in order (two changes to one article in a
batch become two versions). On one Redis the calls go out one after
another on one connection, each as soon as its changes are ready, and the
replies are read at the end: Redis runs a call while ingest parses the next
one's articles, and one connection keeps them in order (see
`khabar_shared.pipeline.send_in_order`).

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
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from typing import Any, Literal, cast

import orjson
from pydantic import BaseModel, Field

from khabar_ingest.scripts import ACCEPT, KEEP_EVENT, RELEASE
from khabar_shared.events import (
    HOLE,
    Article,
    ArticleEvent,
    ArticleEventType,
    DraftArticleEvent,
    PubStatus,
    correction_json,
    draft_article_event,
    entry_pieces,
    json_pieces,
    nest,
)
from khabar_shared.names import (
    ARTICLE_EVENTS_STREAM,
    ARTICLES_TAG,
    article_history_key,
    article_state_key,
    idempotency_key,
)
from khabar_shared.pipeline import Command, queue, send_in_order
from khabar_shared.redis_helpers import RedisClient, read_entries

# Embargoed changes: a sorted set of article ids by release time (ms), and their waiting events.
EMBARGO_SCHEDULE = f"khabar:{ARTICLES_TAG}:embargo:schedule"
EMBARGO_PENDING = f"khabar:{ARTICLES_TAG}:embargo:pending"
# Unused idempotency slot when a change has no Idempotency-Key (scripts declare every key).
_NO_IDEMPOTENCY = idempotency_key("-")
# The keys every ACCEPT call declares before each change's own three.
_SHARED_KEYS = [ARTICLE_EVENTS_STREAM, EMBARGO_SCHEDULE, EMBARGO_PENDING]
# Changes per ACCEPT call; a batch sends its calls in one pipeline. Redis spends less per
# change on calls of a few dozen than on one call of hundreds.
ACCEPT_CHUNK = 25
# The first call of a batch is smaller: Redis starts on it while ingest parses the rest, rather
# than idling through the parsing of a whole call's articles.
FIRST_ACCEPT_CHUNK = 5
# Tries of one release whose waiting change another change replaced meanwhile.
RELEASE_ATTEMPTS = 3
# One change's part of an ACCEPT call: its three keys, its decided fields, and its arguments:
# its event's JSON as it is for a first version, then its records' drafts (`record_drafts`).
PreparedChange = tuple[list[str], dict[str, Any], list[bytes]]

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


class EmbargoedChange(BaseModel):
    """A held change in the embargo hash, waiting for RELEASE to append its event."""

    status: PubStatus = Field(description="The article's status once its event is out.")
    fields: list[str] = Field(description="Its stream entry's fields, name then value.")
    version: int
    history: HistoryEntry = Field(
        description="Its release's history entry; RELEASE writes in `accepted_at` (when)."
    )


# Change and StoreResult are made once per article and never changed, but not frozen: a frozen
# dataclass sets each field through object.__setattr__, which makes it slow to make.
@dataclass(slots=True)
class Change:
    """One change a newsroom tool asks for (made inside ingest, from validated parts)."""

    article: Article
    submitted_by: str
    correlation_id: str
    base_version: int | None = None  # from If-Match, when sent
    idempotency: str | None = None  # the Idempotency-Key, when sent
    newer_only: bool = True  # refuse it when older than the stored version (not for a DELETE)


@dataclass(slots=True)
class StoreResult:
    """An accepted change, or the repeat of one (`replayed`).

    A batch item answers with the fields here; `answer()` builds the whole
    Acceptance only where it is needed: a single POST's answer.
    """

    article_id: str
    version: int
    event_id: str
    status: ArticleStatus
    replayed: bool
    answer: Callable[[], Acceptance] = field(repr=False, compare=False)


class VersionConflict(Exception):
    def __init__(self, current_version: int) -> None:
        super().__init__(f"stale version: the article is at version {current_version}")
        self.current_version = current_version


class StaleCopy(Exception):
    """The change's versioncreated is older than the stored version's: nothing changed."""

    def __init__(self, current_version: int, stored: datetime, sent: datetime) -> None:
        super().__init__(f"versioncreated {sent} is older than version {current_version}'s")
        self.current_version = current_version
        self.stored = stored
        self.sent = sent


class IdempotencyMismatch(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was used with different content")
        self.key = key


Outcome = StoreResult | VersionConflict | StaleCopy | IdempotencyMismatch


def content_hash(article: Article) -> str:
    """Same content, same hash: a CMS re-sending an unchanged article is not a change.

    The hash covers the article's fields but `versioncreated` (a nested one,
    inside `extra`, still counts as content) and `corrections` (ingest's own),
    written as JSON with every object's keys sorted: neither the order in which
    a newsroom sent its fields nor the order of `Article`'s fields changes it.
    Written by orjson from the fields as they are, rather than by parsing the
    article's JSON again (which cost more than the rest of the hash).
    """
    content = {name: value for name, value in article.__dict__.items() if name not in _NOT_HASHED}
    try:
        canonical = orjson.dumps(content, default=_fields_of, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, in `extra`
        canonical = json.dumps(
            content, default=_fields_of, sort_keys=True, ensure_ascii=False, separators=(",", ":")
        ).encode()
    return hashlib.sha256(canonical).hexdigest()


_NOT_HASHED = {"versioncreated", "corrections"}


def _fields_of(value: Any) -> Any:
    """What the hash writes for a value JSON has no type for: a model's fields, a time's text."""
    if isinstance(value, BaseModel):
        return value.__dict__
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in an article")


def new_event_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as text, as `str(uuid.uuid4())` writes them.

    One getrandom call for them all: a call per id was a visible share of a batch's time.
    """
    raw = bytearray(os.urandom(16 * count))
    ids = []
    for start in range(0, len(raw), 16):
        raw[start + 6] = raw[start + 6] & 0x0F | 0x40  # version 4
        raw[start + 8] = raw[start + 8] & 0x3F | 0x80  # the RFC 4122 variant
        text = raw[start : start + 16].hex()
        ids.append(f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}")
    return ids


def is_embargoed(article: Article, now: datetime) -> bool:
    """A withdrawal is never held: it must take effect at once."""
    return bool(article.embargoed and article.embargoed > now and article.pubstatus != "canceled")


class ArticleStore:
    def __init__(self, redis: RedisClient, idempotency_ttl_s: int) -> None:
        self._redis = redis
        self._idempotency_ttl_s = idempotency_ttl_s
        self._release_script = RELEASE.register(redis)

    # ---- reading ------------------------------------------------------------

    async def current(self, article_id: str) -> ArticleState | None:
        # A trim may remove the entry between the two reads; it keeps the event in the state
        # first, so a second read finds it there.
        for _ in range(2):
            raw = cast(dict[bytes, bytes], await self._redis.hgetall(article_state_key(article_id)))
            if not raw:
                return None
            fields = {key.decode(): value.decode() for key, value in raw.items()}
            event = await self._latest_event(article_id, fields)
            if event is not None:
                return ArticleState(
                    article_id=article_id,
                    version=int(fields["version"]),
                    published_version=int(fields.get("appended") or 0),
                    status=fields["status"],
                    updated_at=fields["updated_at"],
                    embargoed_until=fields.get("embargoed_until") or None,
                    answer=Acceptance.model_validate_json(fields["answer"]),
                    article=ArticleEvent.model_validate_json(event).article,
                )
        raise LookupError(f"the latest event of {article_id!r} is in none of its places")

    async def _latest_event(self, article_id: str, state: dict[str, str]) -> bytes | str | None:
        """The JSON of the event of the state's latest version (see the module's notes)."""
        if state.get("entry"):
            found = await read_entries(
                self._redis, ARTICLE_EVENTS_STREAM, state["entry"], state["entry"]
            )
            return found[0][1][b"data"] if found else None
        if state["status"] == "embargoed":
            waiting = await self._redis.hget(EMBARGO_PENDING, article_id)
            if waiting is not None:
                fields = orjson.loads(waiting)["fields"]  # the stream entry's, name then value
                return dict(zip(fields[::2], fields[1::2], strict=True))["data"]
        return state.get("event") or None

    async def history(self, article_id: str) -> list[HistoryEntry]:
        raw = await self._redis.lrange(article_history_key(article_id), 0, -1)
        return [HistoryEntry.model_validate_json(item) for item in raw]

    # ---- accepting ----------------------------------------------------------

    async def accept(self, change: Change) -> StoreResult:
        """Accept one change; raises VersionConflict or IdempotencyMismatch."""
        (outcome,) = await self.accept_many([change])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def accept_many(self, changes: Iterable[Change]) -> list[Outcome]:
        """Accept each change on its own (one refused does not stop the others), in order.

        `changes` may be lazy (a generator parsing a batch): each call's
        changes are taken from it only once the call before is on its way to
        Redis, so making them overlaps Redis running the previous call.
        """
        now = datetime.now(UTC)
        accepted_at = now.isoformat()
        taken: list[tuple[Change, dict[str, Any]]] = []

        def calls() -> Iterator[Command]:
            for chunk in chunks(changes, ACCEPT_CHUNK, first=FIRST_ACCEPT_CHUNK):
                prepared = [
                    self._script_call(change, event_id, now, accepted_at)
                    for change, event_id in zip(chunk, new_event_ids(len(chunk)))
                ]
                taken.extend((change, decided) for change, (_, decided, _) in zip(chunk, prepared))
                yield ACCEPT.command(*accept_call(prepared))

        replies = await send_in_order(self._redis, calls())
        return [
            outcome_of(change, decided, now, reply)
            for (change, decided), reply in zip(taken, flat(replies), strict=True)
        ]

    def _script_call(
        self, change: Change, event_id: str, now: datetime, accepted_at: str
    ) -> PreparedChange:
        """One change's part of an ACCEPT call: its keys, its decided fields, its first event."""
        article = change.article
        held = is_embargoed(article, now)
        release_ms = int(article.embargoed.timestamp() * 1000) if held and article.embargoed else 0
        kind: ArticleEventType = (
            "article.withdrawn" if change.article.pubstatus == "canceled" else "article.published"
        )
        # The event as the codec writes it; ACCEPT writes in a later version's type, version and
        # corrections where the draft marks them. The article's bytes are hashed as they are.
        draft = draft_article_event(
            event_id=event_id,
            kind=kind,
            correlation_id=change.correlation_id,
            accepted_at=now,
            submitted_by=change.submitted_by,
            article=article,
        )
        embargoed_until = article.embargoed.isoformat() if held and article.embargoed else ""
        decided = {
            "hash": content_hash(article),
            "ttl": self._idempotency_ttl_s if change.idempotency else 0,
            "base_version": -1 if change.base_version is None else change.base_version,
            "release_ms": str(release_ms), "embargoed_until": embargoed_until,
            "event_id": event_id, "article_id": article.id, "marks": draft.marks,
            "entry": draft.entry, "entry_marks": draft.entry_marks,
            "correlation_id": change.correlation_id, "accepted_at": accepted_at,
            "pubstatus": article.pubstatus,
            "versioncreated_ms": str(millis(article.versioncreated)),
            "newer_only": change.newer_only,
        }  # fmt: skip
        if article.editor_note:
            decided["correction"] = [
                part.decode() for part in correction_json(now, article.editor_note)
            ]
        keys = [
            article_state_key(article.id),
            article_history_key(article.id),
            self._idempotency_key(change),
        ]
        drafts = record_drafts(
            change, event_id, accepted_at, embargoed_until, draft if held else None
        )
        return keys, decided, [draft.data, *drafts]

    def _idempotency_key(self, change: Change) -> str:
        if not change.idempotency:
            return _NO_IDEMPOTENCY
        return idempotency_key(f"{change.submitted_by}:{change.idempotency}")

    # ---- embargo --------------------------------------------------------------

    async def due_embargoes(self, now: datetime, limit: int = 100) -> list[str]:
        """Ids of embargoed articles whose release time has passed (by our clock)."""
        ids = await self._redis.zrangebyscore(
            EMBARGO_SCHEDULE, "-inf", int(now.timestamp() * 1000), start=0, num=limit
        )
        return [article_id.decode() for article_id in cast(list[bytes], ids)]

    async def next_release(self) -> datetime | None:
        first = cast(
            list[tuple[bytes, float]],
            await self._redis.zrange(EMBARGO_SCHEDULE, 0, 0, withscores=True),
        )
        return datetime.fromtimestamp(first[0][1] / 1000, UTC) if first else None

    async def release(self, article_id: str) -> str | None:
        """Append the waiting event if it is due (by Redis's clock); its stream id, or None.

        The release's history entry is drafted here from the waiting change as read just
        before; RELEASE writes in the time and refuses a change replaced meanwhile, which is
        then read and drafted again (a few times at most: else the next round releases it).
        """
        keys = [EMBARGO_SCHEDULE, EMBARGO_PENDING, ARTICLE_EVENTS_STREAM,
                article_state_key(article_id), article_history_key(article_id)]  # fmt: skip
        for _ in range(RELEASE_ATTEMPTS):
            waiting = cast(bytes | None, await self._redis.hget(EMBARGO_PENDING, article_id))
            history = released_history(waiting) if waiting else HOLE
            entry = await self._release_script(
                keys=keys, args=[article_id, waiting or b"", *history]
            )
            if entry != b"replaced":
                return entry.decode() if entry else None
        return None


async def keep_events(redis: RedisClient, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> int:
    """Before these article events are deleted: each that is its article's latest moves
    into the article's state. How many moved."""
    keep = KEEP_EVENT.register(redis)
    async with redis.pipeline(transaction=False) as pipe:
        for entry_id, fields in entries:
            article_id, data = fields.get(b"article_id"), fields.get(b"data")
            if article_id and data:  # (an entry ingest did not write is not anyone's latest)
                state_key = article_state_key(article_id.decode())
                await queue(pipe, keep, [state_key], [entry_id, data])
        return sum(await pipe.execute())


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def millis(moment: datetime) -> int:
    """Milliseconds since 1970, exactly (as the embargo's times): sent to ACCEPT as text, since
    Redis's Lua writes a number back with 14 digits only."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MILLISECOND


def from_millis(value: bytes | str | int) -> datetime:
    return _EPOCH + int(value) * _MILLISECOND


def chunks(items: Iterable[Change], size: int, first: int | None = None) -> Iterator[list[Change]]:
    """`items` in lists of `size` (the first of `first`, the last one shorter), taken only as
    each list is needed."""
    iterator = iter(items)
    wanted = size if first is None else first
    while chunk := list(islice(iterator, wanted)):
        yield chunk
        wanted = size


def accept_call(prepared: list[PreparedChange]) -> tuple[list[str], list[bytes]]:
    """The keys and arguments of one ACCEPT call for these changes: each change's decided
    fields say where its own arguments start (`arg`)."""
    keys = list(_SHARED_KEYS)
    args: list[bytes] = [b""]
    for change_keys, change_decided, change_args in prepared:
        keys += change_keys
        change_decided["arg"] = len(args) + 1  # (as Lua counts)
        args += change_args
    args[0] = orjson.dumps([change_decided for _, change_decided, _ in prepared])
    return keys, args


def record_drafts(
    change: Change,
    event_id: str,
    accepted_at: str,
    embargoed_until: str,
    held: DraftArticleEvent | None,
) -> list[bytes]:
    """The records ACCEPT stores for a change, as their models lay them out, cut where the
    values only Redis knows go, one after another: the answer (2 pieces, around its version),
    the history entry (3: its version, its type) and, for a change `held` for its embargo, its
    EmbargoedChange (6: the entry's type, version and event, the version, and the release's
    version). Sent as arguments of their own: as bytes, unescaped.

    Times are the text ingest decided (`accepted_at`, `embargoed_until`), as the state's own
    fields hold them.
    """
    article = change.article
    dumps = orjson.dumps
    written = {
        "article_id": dumps(article.id),
        "event_id": dumps(event_id),
        "status": dumps("embargoed" if held else article.pubstatus),
        "accepted_at": dumps(accepted_at),
        "correlation_id": dumps(change.correlation_id),
        "submitted_by": dumps(change.submitted_by),
        "editor_note": dumps(article.editor_note),
        "embargoed_until": dumps(embargoed_until) if held else b"null",
    }
    drafts = [
        *json_pieces(Acceptance, written, ("version",)),
        *json_pieces(HistoryEntry, written, ("version", "type")),
    ]
    if held:
        status = dumps(article.pubstatus)
        released = {**written, "type": b'"article.released"', "status": status}
        released["embargoed_until"] = b"null"
        drafts += nest(
            json_pieces(EmbargoedChange, {"status": status}, ("fields", "version", "history")),
            [
                entry_pieces(held),
                HOLE,
                json_pieces(HistoryEntry, released, ("version",), omit=frozenset({"accepted_at"})),
            ],
        )
    return drafts


def released_history(waiting: bytes) -> list[bytes]:
    """The history entry of a waiting change's release (`EmbargoedChange.history`, drafted
    when it was held), as `HistoryEntry` lays it out, cut where its `accepted_at` goes: RELEASE
    writes in Redis's time of the release (in milliseconds)."""
    drafted = orjson.loads(waiting)["history"]
    history = HistoryEntry.model_validate({**drafted, "accepted_at": 0})
    written = {name: orjson.dumps(value) for name, value in history.model_dump().items()}
    return json_pieces(HistoryEntry, written, ("accepted_at",))


def flat(replies: list[list[Any]]) -> list[Any]:
    """Each change's reply, from the calls' lists of them."""
    return [reply for call in replies for reply in call]


def outcome_of(change: Change, call: dict[str, Any], now: datetime, reply: list[Any]) -> Outcome:
    """What the script's answer `[verdict, answer or version, stream id, version]` means."""
    verdict, detail = reply[0], reply[1]
    if verdict == b"accepted":
        version = int(reply[3])
        status: ArticleStatus = "embargoed" if call["release_ms"] != "0" else call["pubstatus"]
        return StoreResult(
            call["article_id"],
            version,
            call["event_id"],
            status,
            replayed=False,
            answer=partial(new_acceptance, change, call, now, version, status),
        )
    if verdict == b"replay":
        first = Acceptance.model_validate_json(detail)
        return StoreResult(
            first.article_id,
            first.version,
            first.event_id,
            first.status,
            replayed=True,
            answer=lambda: first,
        )
    if verdict == b"conflict":
        return VersionConflict(int(detail))
    if verdict == b"stale":
        return StaleCopy(int(detail), from_millis(reply[2]), change.article.versioncreated)
    return IdempotencyMismatch(change.idempotency or "")


def new_acceptance(
    change: Change, call: dict[str, Any], now: datetime, version: int, status: ArticleStatus
) -> Acceptance:
    """The answer the script stored for a new version, built from what we sent it.

    Only the version came from Redis; every other field is ours, so nothing
    is parsed back from the script's JSON. (Validating these few Python values
    costs less than pydantic's `model_construct`.)
    """
    return Acceptance(
        article_id=call["article_id"],
        version=version,
        event_id=call["event_id"],
        status=status,
        accepted_at=now,
        correlation_id=call["correlation_id"],
        embargoed_until=change.article.embargoed if status == "embargoed" else None,
    )
