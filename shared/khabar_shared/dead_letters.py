"""Dead letters: the entries a consumer group gave up on, and how to send them back.

A dead letter is one entry on `<stream>:dead` (same hash slot as its stream):
where it came from (`source_stream`, `source_id`, `group`), why it was given
up (`reason`: `malformed` or `max_deliveries`, the last `error`, how many
`deliveries`), when (`dead_at`), and the original entry's fields, each under
`original.<field>`. Replaying one appends those original fields to the source
stream again as a new entry and removes the dead letter, in one transaction;
every group of the source stream then sees it again (version guards make that
harmless for the groups that had already handled it).
"""

from datetime import UTC, datetime
from itertools import chain

from pydantic import BaseModel

from khabar_shared.pipeline import send
from khabar_shared.redis_helpers import RedisClient, read_entries

ORIGINAL_PREFIX = b"original."
# A traceback is useful; a megabyte of one is not.
MAX_ERROR_CHARS = 4000


class DeadLetter(BaseModel):
    """One dead-letter entry as an operator sees it."""

    entry_id: str
    dead_stream: str = ""
    source_stream: str
    source_id: str
    group: str
    reason: str
    error: str
    deliveries: int
    dead_at: str
    original: dict[str, str]

    @property
    def article_id(self) -> str:
        """The article the original event was about, "?" when its entry does not say."""
        return self.original.get("article_id", "?")


class DeadLetterNotFound(LookupError):
    """No entry with that id on that dead-letter stream."""


def dead_letter_entry(
    source_stream: str,
    source_id: str,
    group: str,
    reason: str,
    error: str,
    deliveries: int,
    original: dict[bytes, bytes],
) -> dict[bytes, bytes]:
    """The fields written to the dead-letter stream for one entry given up on."""
    entry: dict[bytes, bytes] = {
        b"source_stream": source_stream.encode(),
        b"source_id": source_id.encode(),
        b"group": group.encode(),
        b"reason": reason.encode(),
        b"error": error[-MAX_ERROR_CHARS:].encode(),
        b"deliveries": str(deliveries).encode(),
        b"dead_at": datetime.now(UTC).isoformat().encode(),
    }
    entry.update({ORIGINAL_PREFIX + key: value for key, value in original.items()})
    return entry


def parse_dead_letter(
    entry_id: str, fields: dict[bytes, bytes], dead_stream: str = ""
) -> DeadLetter:
    def text(name: str) -> str:
        return fields.get(name.encode(), b"").decode("utf-8", "replace")

    return DeadLetter(
        entry_id=entry_id,
        dead_stream=dead_stream,
        source_stream=text("source_stream"),
        source_id=text("source_id"),
        group=text("group"),
        reason=text("reason"),
        error=text("error"),
        deliveries=int(text("deliveries") or 0),
        dead_at=text("dead_at"),
        original={
            key[len(ORIGINAL_PREFIX) :].decode("utf-8", "replace"): value.decode("utf-8", "replace")
            for key, value in fields.items()
            if key.startswith(ORIGINAL_PREFIX)
        },
    )


async def read_dead_letter(redis: RedisClient, dead_stream: str, entry_id: str) -> DeadLetter:
    found = await read_entries(redis, dead_stream, entry_id, entry_id, count=1)
    if not found:
        raise DeadLetterNotFound(f"no dead letter {entry_id} on {dead_stream}")
    raw_id, fields = found[0]
    return parse_dead_letter(
        raw_id.decode() if isinstance(raw_id, bytes) else raw_id, fields, dead_stream
    )


async def list_dead_letters(
    redis: RedisClient, dead_stream: str, count: int = 100
) -> list[DeadLetter]:
    """The oldest `count` dead letters of one stream."""
    entries = await read_entries(redis, dead_stream, count=count)
    return [
        parse_dead_letter(i.decode() if isinstance(i, bytes) else i, f, dead_stream)
        for i, f in entries
    ]


async def replay_dead_letter(redis: RedisClient, dead_stream: str, entry_id: str) -> str:
    """Append the dead letter's original entry to its source stream again; returns the new id.

    The XADD and the removal of the dead letter happen in one MULTI/EXEC, so a
    replay is never lost nor doubled. The original fields are copied as they
    were (bytes for bytes), so a fixed consumer reads exactly what failed.
    """
    found = await read_entries(redis, dead_stream, entry_id, entry_id, count=1)
    if not found:
        raise DeadLetterNotFound(f"no dead letter {entry_id} on {dead_stream}")
    _, fields = found[0]
    source = fields.get(b"source_stream")
    original = {
        key[len(ORIGINAL_PREFIX) :]: value
        for key, value in fields.items()
        if key.startswith(ORIGINAL_PREFIX)
    }
    if not source or not original:
        raise ValueError(f"dead letter {entry_id} names no source stream or has no original fields")
    new_id, _ = await send(
        redis,
        [
            ("XADD", source.decode(), "*", *chain.from_iterable(original.items())),
            ("XDEL", dead_stream, entry_id),
        ],
        transaction=True,
    )
    return new_id.decode() if isinstance(new_id, bytes) else str(new_id)


async def drop_dead_letter(redis: RedisClient, dead_stream: str, entry_id: str) -> None:
    if not await redis.xdel(dead_stream, entry_id):
        raise DeadLetterNotFound(f"no dead letter {entry_id} on {dead_stream}")
