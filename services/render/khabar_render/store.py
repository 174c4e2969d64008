"""What render keeps: the articles it renders from, and the fragments it rendered.

Two Redis roles, possibly two servers:
- the *log* Redis (never evicts) keeps each article's latest enriched version
  (or a tombstone), the listings (by section and overall, newest first), the
  dependency index (which fragments show which article, and back) and a change
  epoch;
- the *cache* Redis (may evict) keeps rendered fragments. A miss is not an
  error: the fragment is rendered again from the log Redis.

Writes of articles are optimistic transactions (WATCH a batch's articles,
check each stored version, MULTI/EXEC), so two render replicas applying two
versions of one article at once never leave the older one stored. A batch
costs a few round trips, not a few per article: one transaction for its
writes, pipelined reads, and one Lua call that records what its fragments show.
"""

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from khabar_render import breaking
from khabar_shared.events import EnrichedArticle
from khabar_shared.lane import lane_for, lane_reply
from khabar_shared.lua import ScriptRegistry
from khabar_shared.pipeline import Command, pack, send
from khabar_shared.redis_helpers import RedisClient

# One hash tag for every render key: the version-guarded transactions span the
# article, its listings, the epoch and the dependency index, so on a Redis
# Cluster they must share a slot.
PREFIX = "khabar:{render}"
LATEST_KEY = f"{PREFIX}:latest"
# Bumped in the same transaction as every article change: a render that saw it
# move while it read was reading a mix of old and new, and is not cached.
EPOCH_KEY = f"{PREFIX}:epoch"
# Ids whose stored state is a tombstone, written with it: readers check it before
# serving a cached fragment of an article, so a purge that has not happened yet
# (render stopped between the tombstone and the purge) never shows a withdrawn text.
WITHDRAWN_KEY = f"{PREFIX}:withdrawn"
# Per article, the version and related list its link-bearing fragments were last purged for
# (JSON): what the cache and the edge may still show, until a refresh of links is done.
LINKS_SHOWN_KEY = f"{PREFIX}:links-shown"
# In a fragment cache of its own Redis: the newest epoch any writer purged at. A render
# read at an older epoch stores nothing (the log's epoch is on another server). Evicted,
# it reads 0 and lets stores through, as before it existed; each purge sets it again.
FENCE_KEY = f"{PREFIX}:fragment-fence"
MAX_WATCH_RETRIES = 50
# Stored articles kept parsed, by their bytes: about the stories a few batches show.
PARSED_CACHE_SIZE = 1024

SCRIPTS = ScriptRegistry("khabar_render")
RECORD_SHOWS_LUA = SCRIPTS["record_shows"]
LIVE_FRAGMENT_LUA = SCRIPTS["live_fragment"]
STORE_FRAGMENTS_LUA = SCRIPTS["store_fragments"]
FENCE_FRAGMENTS_LUA = SCRIPTS["fence_fragments"]

T = TypeVar("T")


def article_key(article_id: str) -> str:
    return f"{PREFIX}:article:{article_id}"


def section_key(slug: str) -> str:
    return f"{PREFIX}:section:{slug}"


def shown_in_key(article_id: str) -> str:
    """Fragments that show an article (the index the updater reads)."""
    return f"{PREFIX}:shown-in:{article_id}"


def shows_key(fragment_name: str) -> str:
    """Articles a fragment showed when last rendered (to clean `shown-in` up)."""
    return f"{PREFIX}:shows:{fragment_name}"


def fragment_key(name: str) -> str:
    return f"{PREFIX}:fragment:{name}"


class StoredArticle(BaseModel):
    article_id: str
    version: int
    status: Literal["live", "withdrawn"]
    section: str = ""
    # Listings above `section` it is in too: a subsection's parent sections.
    also_in: list[str] = []
    # The listings this version took the article out of (a move or a withdrawal):
    # a redelivered event reads them to purge the old listings again.
    left: list[str] = []
    enriched: EnrichedArticle | None = None
    # A withdrawn article's language, so that its 410 page speaks it.
    language: str = ""

    @property
    def listings(self) -> list[str]:
        return [self.section, *self.also_in] if self.section else []


def language_of(stored: StoredArticle | None) -> str:
    if stored is None:
        return ""
    return stored.enriched.article.language if stored.enriched else stored.language


class StoredFragment(BaseModel):
    name: str
    html: str
    etag: str
    shows: list[str]
    surrogate_keys: list[str] = []
    rendered_at: datetime


@dataclass(frozen=True)
class Applied:
    """What a write did: `applied` is False when a newer (or final) version was stored."""

    applied: bool
    previous: StoredArticle | None


@dataclass(frozen=True)
class Withdrawal:
    article_id: str
    version: int


def change_id(change: EnrichedArticle | Withdrawal) -> str:
    return change.article_id if isinstance(change, Withdrawal) else change.article.id


def change_version(change: EnrichedArticle | Withdrawal) -> int:
    return change.version


@dataclass(frozen=True)
class ListingRequest:
    """One page of a section's listing, `size` stories a page."""

    slug: str
    page: int
    size: int


# The listings an article is in: its category's, then the sections above it (or just one).
SectionOf = Callable[[EnrichedArticle], str | Sequence[str]]


def listings_of(section_of: SectionOf, enriched: EnrichedArticle) -> list[str]:
    found = section_of(enriched)
    return [found] if isinstance(found, str) else list(found)


def published_ts(enriched: EnrichedArticle) -> float:
    article = enriched.article
    return (article.firstcreated or article.versioncreated).timestamp()


def supersedes(previous: StoredArticle | None, version: int) -> bool:
    """Whether writing `version` over `previous` moves the article forward.

    A newer version always does; the same version does when it is a refresh of
    a live one (new related links), never over that version's withdrawal.
    """
    if previous is None or version > previous.version:
        return True
    return version == previous.version and previous.status == "live"


def listings_left(previous: StoredArticle | None, listings: list[str], version: int) -> list[str]:
    """The listings writing `version` into `listings` ([] for a tombstone) takes the article out of.

    Writing the same version again (a redelivery, a refresh of links) keeps
    what its first write left, so the retry still knows which listings to purge.
    """
    if previous is None:
        return []
    gone = [
        listing
        for listing in (previous.listings if previous.status == "live" else [])
        if listing not in listings
    ]
    if gone:
        return gone
    return previous.left if previous.version == version else []


class ArticleStore:
    """Articles as render last applied them, with listings and dependencies."""

    def __init__(self, redis: RedisClient, section_of: SectionOf) -> None:
        self._redis = redis
        self.section_of = section_of
        self._record_shows_script = RECORD_SHOWS_LUA.register(redis)

    async def get(self, article_id: str) -> StoredArticle | None:
        raw = await self._redis.get(article_key(article_id))
        return StoredArticle.model_validate_json(raw) if raw else None

    async def epoch(self) -> int:
        return int(await self._redis.get(EPOCH_KEY) or 0)

    async def live_many(self, article_ids: list[str]) -> dict[str, EnrichedArticle]:
        """The live articles among `article_ids`; withdrawn and unknown ones are left out."""
        if not article_ids:
            return {}
        raws = await self._redis.mget([article_key(i) for i in article_ids])
        return live_of(cast(list[bytes | None], raws))

    async def read(
        self, article_ids: list[str], listings: Iterable[ListingRequest]
    ) -> tuple[int, dict[str, EnrichedArticle], dict[ListingRequest, tuple[list[str], int]]]:
        """The epoch, then the live articles among `article_ids` and the listing pages, in one
        round trip.

        Redis runs a pipeline's commands in order, so everything here was read
        after the epoch was: if the epoch is unchanged later, nothing read moved.
        """
        ids = list(dict.fromkeys(article_ids))
        wanted = list(dict.fromkeys(listings))
        commands: list[Command] = [("GET", EPOCH_KEY)]
        # GETs, not MGET: a cluster pipeline refuses MGET
        commands += [("GET", article_key(article_id)) for article_id in ids]
        for request in wanted:
            start = (request.page - 1) * request.size
            key = section_key(request.slug)
            commands += [("ZREVRANGE", key, start, start + request.size - 1), ("ZCARD", key)]
        replies = await send(self._redis, commands)
        epoch = int(replies[0] or 0)
        articles = live_of(replies[1 : len(ids) + 1])
        rest = replies[len(ids) + 1 :]
        pages = {
            request: ([i.decode() for i in rest[2 * n]], int(rest[2 * n + 1]))
            for n, request in enumerate(wanted)
        }
        return epoch, articles, pages

    async def put_live(self, enriched: EnrichedArticle) -> Applied:
        """Store a live version and list it in its section, unless a newer one is stored."""
        return (await self.put_many([enriched]))[enriched.article.id]

    async def put_withdrawn(self, article_id: str, version: int) -> Applied:
        """Replace the article by a tombstone and take it out of every listing."""
        return (await self.put_many([Withdrawal(article_id, version)]))[article_id]

    async def put_many(self, changes: list[EnrichedArticle | Withdrawal]) -> dict[str, Applied]:
        """Apply one change per article in one optimistic transaction (three round trips).

        Each change is version-guarded on its own; one that a newer stored
        version supersedes is skipped and reported as not applied.
        """
        by_id = {change_id(change): change for change in changes}
        keys = [article_key(article_id) for article_id in by_id]

        async def attempt(pipe: Pipeline) -> dict[str, Applied]:
            # Read after WATCH on another connection (a cluster pipeline refuses MGET):
            # EXEC still fails if any key changed after the WATCH, so what was read is current.
            raws = await self._redis.mget(keys)
            results: dict[str, Applied] = {}
            pipe.multi()
            for (article_id, change), raw in zip(by_id.items(), raws):
                # Parsed once while the same bytes: a refreshed article was read to render it.
                previous = parse_stored(raw) if raw else None
                applied = supersedes(previous, change_version(change))
                results[article_id] = Applied(applied, previous)
                if applied:
                    self._write(pipe, change, previous)
            if any(result.applied for result in results.values()):
                pipe.incr(EPOCH_KEY)
                await pipe.execute()
            else:
                await pipe.reset()
            return results

        return await watched(self._redis, keys, attempt) if keys else {}

    def _write(
        self, pipe: Pipeline, change: EnrichedArticle | Withdrawal, previous: StoredArticle | None
    ) -> None:
        if isinstance(change, Withdrawal):
            self._write_withdrawn(pipe, change, previous)
        else:
            self._write_live(pipe, change, previous)

    def _write_live(
        self, pipe: Pipeline, enriched: EnrichedArticle, previous: StoredArticle | None
    ) -> None:
        article_id = enriched.article.id
        section, *also_in = listings_of(self.section_of, enriched)
        stored = StoredArticle(
            article_id=article_id,
            version=enriched.version,
            status="live",
            section=section,
            also_in=also_in,
            enriched=enriched,
        )
        stored.left = listings_left(previous, stored.listings, enriched.version)
        score = published_ts(enriched)
        for gone in set(previous.listings if previous else ()) - set(stored.listings):
            pipe.zrem(section_key(gone), article_id)
        pipe.set(article_key(article_id), stored.model_dump_json())
        pipe.srem(WITHDRAWN_KEY, article_id)
        for listing in stored.listings:
            pipe.zadd(section_key(listing), {article_id: score})
        pipe.zadd(LATEST_KEY, {article_id: score})
        breaking.record_live(pipe, enriched)

    @staticmethod
    def _write_withdrawn(
        pipe: Pipeline, withdrawal: Withdrawal, previous: StoredArticle | None
    ) -> None:
        tombstone = StoredArticle(
            article_id=withdrawal.article_id,
            version=withdrawal.version,
            status="withdrawn",
            language=language_of(previous),
            left=listings_left(previous, [], withdrawal.version),
        )
        for listing in previous.listings if previous else ():
            pipe.zrem(section_key(listing), withdrawal.article_id)
        pipe.zrem(LATEST_KEY, withdrawal.article_id)
        pipe.set(article_key(withdrawal.article_id), tombstone.model_dump_json())
        pipe.sadd(WITHDRAWN_KEY, withdrawal.article_id)
        pipe.hdel(LINKS_SHOWN_KEY, withdrawal.article_id)
        breaking.record_withdrawn(pipe, withdrawal.article_id)

    async def refresh_reads(
        self,
        relinked: list[str],
        maybe_linked: list[str],
        sections: Iterable[str],
        changed: list[str],
    ) -> "RefreshReads":
        """What a batch's purge needs, in one round trip: the links the re-linked articles'
        fragments were last purged for, which of `maybe_linked` are live, the sections'
        sizes, every fragment that showed a changed article, and the epoch (read after the
        batch's change: what a purge on a cache of its own raises the fence to)."""
        slugs = list(dict.fromkeys(sections))
        members = list(dict.fromkeys(changed))
        commands: list[Command] = [("GET", EPOCH_KEY)]
        commands += [("HMGET", LINKS_SHOWN_KEY, *relinked)] if relinked else []
        commands += [("GET", article_key(i)) for i in maybe_linked]
        commands += [("ZCARD", section_key(slug)) for slug in slugs]
        commands += [("SMEMBERS", shown_in_key(i)) for i in members]
        replies = list(await send(self._redis, commands))
        epoch = int(replies.pop(0) or 0)
        shown = links_shown_of(relinked, replies.pop(0)) if relinked else {}
        live = live_of(replies[: len(maybe_linked)]).keys()
        rest = replies[len(maybe_linked) :]
        return RefreshReads(
            links_shown=shown,
            live={i for i in maybe_linked if i in live},
            asked=set(maybe_linked),
            section_sizes=dict(zip(slugs, map(int, rest[: len(slugs)]))),
            dependents={m.decode() for found in rest[len(slugs) :] for m in found},
            epoch=epoch,
        )

    async def record_links_shown(self, shown: dict[str, tuple[int, list[str]]]) -> None:
        """After their purges: these articles' fragments show these lists, or are cold."""
        if shown:
            await self._redis.hset(
                LINKS_SHOWN_KEY,
                mapping={i: json.dumps([version, ids]) for i, (version, ids) in shown.items()},
            )

    async def is_withdrawn(self, article_id: str) -> bool:
        return bool(await self._redis.sismember(WITHDRAWN_KEY, article_id))

    async def latest(self, count: int, since_ts: float = float("-inf")) -> list[str]:
        """Ids of the newest live articles of every section, published at or after `since_ts`."""
        ids = await self._redis.zrevrangebyscore(LATEST_KEY, "+inf", since_ts, start=0, num=count)
        return [i.decode() for i in cast(list[bytes], ids)]

    async def section_size(self, slug: str) -> int:
        return int(await self._redis.zcard(section_key(slug)))

    async def section_sizes(self, slugs: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(slugs))
        if not wanted:
            return {}
        sizes = await send(self._redis, [("ZCARD", section_key(slug)) for slug in wanted])
        return dict(zip(wanted, map(int, sizes)))

    async def record_shows(self, fragment_name: str, shows: list[str]) -> None:
        """Point every shown article at this fragment, and forget the ones it no longer shows."""
        await self.record_shows_many({fragment_name: shows})

    async def record_shows_many(
        self,
        shows: dict[str, list[str]],
        if_epoch: int | None = None,
        store: Sequence[tuple[str, bytes | str]] = (),
    ) -> bool:
        """`record_shows` for many fragments in one atomic step (a Lua script).

        With `if_epoch`, nothing is recorded and False is returned when the
        epoch moved since: an article changed while the fragments were read.
        `store`: cache keys and values ("" drops the key) written in the same
        step, when the fragment cache is this Redis.
        """
        if not shows and not store:
            return if_epoch is None or await self.epoch() == if_epoch
        args: list[str | int | bytes] = [
            "" if if_epoch is None else str(if_epoch),
            shown_in_key(""),
            len(shows),
        ]
        for name, ids in shows.items():
            unique = list(dict.fromkeys(ids))
            args += [name, len(unique), *unique]
        args += [value for _, value in store]
        keys = [EPOCH_KEY, *(shows_key(name) for name in shows), *(key for key, _ in store)]
        return bool(await self._record_shows_script(keys=keys, args=args))

    async def dependents(self, article_id: str) -> set[str]:
        """Names of every fragment that showed this article when it was last rendered."""
        return await self.dependents_many([article_id])

    async def dependents_many(self, article_ids: Iterable[str]) -> set[str]:
        """Every fragment that showed any of these articles, in one round trip."""
        keys = [shown_in_key(article_id) for article_id in dict.fromkeys(article_ids)]
        if not keys:
            return set()
        found = await send(self._redis, [("SMEMBERS", key) for key in keys])
        return {m.decode() for members in found for m in members}


@dataclass(frozen=True)
class RefreshReads:
    """`ArticleStore.refresh_reads`: what a batch's purge reads, read at once."""

    links_shown: dict[str, tuple[int, list[str]]]
    live: set[str]  # the live articles among those asked about
    asked: set[str]
    section_sizes: dict[str, int]
    dependents: set[str]
    epoch: int


def links_shown_of(
    article_ids: list[str], raws: list[bytes | None]
) -> dict[str, tuple[int, list[str]]]:
    found = {}
    for article_id, raw in zip(article_ids, raws):
        if raw:
            version, ids = json.loads(raw)
            found[article_id] = (int(version), [str(i) for i in ids])
    return found


@lru_cache(maxsize=PARSED_CACHE_SIZE)
def parse_stored(raw: bytes) -> StoredArticle:
    """A stored article, parsed once while it stays the same bytes (treat it as read-only).

    Recent stories are read again by every batch that shows them (related
    blocks, listings, home); validating their JSON each time was the largest
    cost of a read.
    """
    return StoredArticle.model_validate_json(raw)


def live_of(raws: Iterable[bytes | None]) -> dict[str, EnrichedArticle]:
    """The live articles among stored ones; withdrawn and unknown ones are left out."""
    found: dict[str, EnrichedArticle] = {}
    for raw in raws:
        if raw:
            stored = parse_stored(raw)
            if stored.status == "live" and stored.enriched:
                found[stored.article_id] = stored.enriched
    return found


async def watched(
    redis: RedisClient, keys: list[str], attempt: Callable[[Pipeline], Awaitable[T]]
) -> T:
    """Run `attempt` in an optimistic transaction on `keys`, again if another writer won."""
    for _ in range(MAX_WATCH_RETRIES):
        async with redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(*keys)
                return await attempt(cast(Pipeline, pipe))  # a cluster's: the same commands
            except WatchError:
                continue
    raise RuntimeError(f"too much contention on {keys}")


class CacheUnavailable(RedisConnectionError):
    """The fragment cache's Redis does not answer; the article store (the log's) may well.

    A connection error still (every outage rule holds), but its own type, so
    that readers are told which store is down and pages can do without it.
    """


class FragmentCache:
    """Rendered fragments, in the cache's Redis.

    A store is conditional on the epoch its fragments were read at, in one
    step (`store`), against a fence: the log's epoch itself when the cache
    shares the log's Redis (`shares_log`), else the cache's own fence, which a
    writer's purge raises to its epoch (`purge(..., epoch=)`).
    """

    def __init__(self, redis: RedisClient, shares_log: bool = False) -> None:
        self._redis = redis
        self.shares_log = shares_log
        self._fence = EPOCH_KEY if shares_log else FENCE_KEY
        self._store_script = STORE_FRAGMENTS_LUA.register(redis)
        self._fence_script = FENCE_FRAGMENTS_LUA.register(redis)

    async def get(self, name: str) -> StoredFragment | None:
        try:
            raw = await self._redis.get(fragment_key(name))
        except (RedisConnectionError, RedisTimeoutError) as error:
            raise CacheUnavailable(str(error)) from error
        return StoredFragment.model_validate_json(raw) if raw else None

    async def put(self, fragment: StoredFragment) -> None:
        await self._redis.set(fragment_key(fragment.name), fragment.model_dump_json())

    async def purge(self, names: set[str], epoch: int | None = None) -> None:
        """Drop the fragments; with `epoch` (a writer's, read after its change), on a cache
        of its own, raise the fence to it in the same step."""
        if epoch is not None and not self.shares_log:
            keys = [self._fence, *(fragment_key(name) for name in names)]
            await self._fence_script(keys=keys, args=[epoch])
        elif names:
            await self._redis.delete(*[fragment_key(name) for name in names])

    async def store(
        self, fragments: dict[str, StoredFragment | None], if_epoch: int | None = None
    ) -> bool:
        """Keep the rendered fragments and drop the ones with nothing to show, in one round trip.

        With `if_epoch`, nothing is written and False is returned when the
        fence is past it (one script): an article changed, and its writer may
        have purged already.
        """
        if not fragments:
            return True
        if if_epoch is not None:
            pairs = encoded(fragments)
            keys = [self._fence, *(key for key, _ in pairs)]
            args = [str(if_epoch), *(value for _, value in pairs)]
            return bool(await self._store_script(keys=keys, args=args))
        await send(
            self._redis,
            [
                ("DEL", key) if value == "" else ("SET", key, value)
                for key, value in encoded(fragments)
            ],
        )
        return True


def encoded(fragments: dict[str, StoredFragment | None]) -> list[tuple[str, str]]:
    """Each fragment's cache key and stored JSON; "" for one with nothing to show (dropped)."""
    return [
        (fragment_key(name), "" if fragment is None else fragment.model_dump_json())
        for name, fragment in fragments.items()
    ]


class LiveFragments:
    """A cached fragment's stored bytes, unless its article is withdrawn (render's fast path).

    The tombstone is checked with every read: a purge may not have followed it
    yet (render stopped between the tombstone and the purge). When the cache
    and the log share one Redis (`shared`), the check and the read are one
    script, one round trip; on two Redis servers, two commands at once.
    They go on lanes (`khabar_shared.lane`: one connection each, shared by every
    request) where a lane can be had, else through redis-py.
    """

    def __init__(self, log: RedisClient, cache: RedisClient, shared: bool) -> None:
        self._log = log
        self._cache = cache
        self._script = LIVE_FRAGMENT_LUA.register(log) if shared else None
        self._log_lane = lane_for(log)
        self._cache_lane = None if shared else lane_for(cache)
        if self._log_lane is None or (not shared and self._cache_lane is None):
            self._log_lane = self._cache_lane = None

    async def get(self, name: str, article_id: str) -> bytes | None:
        key = fragment_key(name)
        if self._log_lane is None:
            return await self._get_by_client(key, article_id)
        if self._script is not None:
            packed = pack([("EVALSHA", self._script.sha, 2, key, WITHDRAWN_KEY, article_id)])
            try:
                return cast(bytes | None, await self._log_lane.call_packed(packed))
            except NoScriptError:  # Redis lost its scripts (a restart, a flush): load it again
                return await self._get_by_client(key, article_id)
        assert self._cache_lane is not None
        # Both on their way before either is awaited: one round trip's wait, not two.
        raw_sent = await self._cache_lane.send_now("GET", key)
        try:
            withdrawn_sent = await self._log_lane.send_now("SISMEMBER", WITHDRAWN_KEY, article_id)
        except BaseException:
            raw_sent.cancel()  # nobody will read it; its reply is skipped when it comes
            raise
        replies: tuple[Any, Any] = await asyncio.gather(
            raw_sent, withdrawn_sent, return_exceptions=True
        )
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
            lane_reply(reply)
        raw, withdrawn = replies
        return None if withdrawn else cast(bytes | None, raw)

    async def _get_by_client(self, key: str, article_id: str) -> bytes | None:
        if self._script is not None:
            found = await self._script(keys=[key, WITHDRAWN_KEY], args=[article_id])
            return cast(bytes | None, found)
        raw, withdrawn = await asyncio.gather(
            self._cache.get(key), self._log.sismember(WITHDRAWN_KEY, article_id)
        )
        return None if withdrawn else cast(bytes | None, raw)

    async def aclose(self) -> None:
        for lane in (self._log_lane, self._cache_lane):
            if lane is not None:
                await lane.aclose()


def make_fragment(
    name: str, html: str, shows: list[str], surrogate_keys: list[str]
) -> StoredFragment:
    return StoredFragment(
        name=name,
        html=html,
        etag=etag_of(html),
        shows=shows,
        surrogate_keys=surrogate_keys,
        rendered_at=datetime.now(UTC),
    )


def etag_of(html: str) -> str:
    return '"' + hashlib.sha256(html.encode()).hexdigest()[:20] + '"'
