"""Compaction: what `khabar trim` removes from a stream, and what it must keep.

The streams are the record every rebuild reads (`khabar reindex` reads the
enriched stream, `khabar replay` re-delivers either stream to a group). So a
trim never removes the latest event of an article that is still live: it
deletes every other entry older than the cut (XDEL), and keeps those at their
own ids, where no group has to read them again. After `trim --keep-days 0` a
stream holds exactly one event per live article plus what is newer than the
cut, and a rebuild from it finds every live article at its latest version.

The rule for "latest" is the consumers' (`events.supersedes`): a higher
version wins; at equal versions a withdrawal is final, otherwise the later
entry wins.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from khabar_shared.redis_helpers import RedisClient, read_entries

PAGE = 1000
Entries = list[tuple[bytes, dict[bytes, bytes]]]
# Called with the entries about to be deleted (ingest moves a withdrawn article's last event
# into its state there, so the article can still be read).
BeforeDelete = Callable[[Entries], Awaitable[object]]
WITHDRAWN = "article.withdrawn"


@dataclass(frozen=True)
class Head:
    """An article's latest entry seen so far."""

    entry_id: str
    version: int
    withdrawn: bool


def replaces(candidate: Head, current: Head | None) -> bool:
    """Whether `candidate` (later in the stream) is the article's latest instead of `current`."""
    if current is None:
        return True
    if candidate.version != current.version:
        return candidate.version > current.version
    return candidate.withdrawn or not current.withdrawn


def head_of(entry_id: bytes, fields: dict[bytes, bytes]) -> tuple[str, Head] | None:
    """The article and its head from an entry's routing fields; None for an entry no article
    owns."""
    article_id, version = fields.get(b"article_id"), fields.get(b"version")
    if not article_id or not version or not version.isdigit():
        return None
    withdrawn = fields.get(b"type") == WITHDRAWN.encode()
    return article_id.decode(), Head(entry_id.decode(), int(version), withdrawn)


async def entries(
    redis: RedisClient, stream: str, start: str, end: str
) -> AsyncIterator[list[tuple[bytes, dict[bytes, bytes]]]]:
    """Pages of (start, end) of the stream, oldest first (`start` and `end` as XRANGE takes
    them)."""
    while page := await read_entries(redis, stream, start, end, PAGE):
        yield page
        if len(page) < PAGE:
            return
        start = "(" + page[-1][0].decode()


async def live_heads_before(redis: RedisClient, stream: str, before_id: str) -> set[str]:
    """Entry ids older than `before_id` that are the latest event of a live article."""
    heads: dict[str, Head] = {}
    async for page in entries(redis, stream, "-", f"({before_id}"):
        for entry_id, fields in page:
            if (found := head_of(entry_id, fields)) and replaces(found[1], heads.get(found[0])):
                heads[found[0]] = found[1]
    async for page in entries(redis, stream, before_id, "+"):
        for entry_id, fields in page:
            # A newer entry stays anyway: the older one is no article's latest any more.
            if (found := head_of(entry_id, fields)) and replaces(found[1], heads.get(found[0])):
                heads.pop(found[0], None)
    return {head.entry_id for head in heads.values() if not head.withdrawn}


async def compact_before(
    redis: RedisClient, stream: str, before_id: str, before_delete: BeforeDelete | None = None
) -> tuple[int, int]:
    """Delete the entries older than `before_id` but live articles' latest; (removed, kept)."""
    keep = await live_heads_before(redis, stream, before_id)
    removed = 0
    async for page in entries(redis, stream, "-", f"({before_id}"):
        doomed = [entry for entry in page if entry[0].decode() not in keep]
        if doomed and before_delete is not None:
            await before_delete(doomed)
        if doomed:
            removed += int(await redis.xdel(stream, *(entry_id for entry_id, _ in doomed)))
    return removed, len(keep)
