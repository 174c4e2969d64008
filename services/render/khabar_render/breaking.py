"""Breaking news: agencies' headline-only flashes ("عاجل"), in a banner above home and listings.

A flash is an article ingest marked `extra.flash` (see ingest's `formats/flash.py`).
While it is breaking, its headline is shown in a banner at the top of home and of the
first page of every listing it is in. It stops breaking when

- a full article on the same story is stored (enrich gave it the flash's story id, or
  the newsroom sent it as the flash's follow-up: ingest's `extra.follows_up`, from
  Superdesk's `rewrite_of`), or the flash itself comes again with a body;
- `window_s` seconds have passed since the flash was first published (a setting);
- it is withdrawn.

What render keeps for it, in the log Redis, written in the same transaction as the
article itself (`store.py` calls `record_live` and `record_withdrawn`):

- `FLASHES_KEY`: flash id → first published time, for every flash that may be breaking;
- `FLASH_STORY_KEY`: flash id → its story;
- `ANSWERED_KEY`: story (or followed-up article) → published time of a full article on it.

Each render filters them by time and by story, so a fresh render never shows a flash
that stopped breaking. Cached fragments are another matter: the handler purges home and
the listings of the article that changed, which covers a flash's arrival, its withdrawal
(every fragment that showed it) and an answer filed in the same section. A flash that
stops breaking by time, or by an answer filed elsewhere, is purged by the sweeper
(`breaking_sweep.py`), which runs beside the consumer.
"""

import time
from collections.abc import Callable, Iterable

from redis.asyncio.client import Pipeline

from khabar_render.fragments import (
    ENVIRONMENT,
    Fragment,
    Teaser,
    category_of,
    teaser_from_enriched,
)
from khabar_render.site import Site, direction_of
from khabar_shared.events import EnrichedArticle
from khabar_shared.redis_helpers import RedisClient

PREFIX = "khabar:{render}"  # the store's hash tag: written in its transactions
FLASHES_KEY = f"{PREFIX}:breaking:flashes"
FLASH_STORY_KEY = f"{PREFIX}:breaking:story-of"
ANSWERED_KEY = f"{PREFIX}:breaking:answered"
LABELS = {"ar": "عاجل", "en": "Breaking"}


def is_flash(enriched: EnrichedArticle) -> bool:
    return enriched.article.extra.get("flash") is True


def first_published(enriched: EnrichedArticle) -> float:
    article = enriched.article
    return (article.firstcreated or article.versioncreated).timestamp()


def story_of(enriched: EnrichedArticle) -> str:
    return enriched.story_id or enriched.article.id


# ------------------------------------------------------------ writes (the store's transaction)


def record_live(pipe: Pipeline, enriched: EnrichedArticle) -> None:
    """A live version: a flash may be breaking; a full article answers its story's flashes."""
    article_id = enriched.article.id
    if is_flash(enriched):
        pipe.zadd(FLASHES_KEY, {article_id: first_published(enriched)})
        pipe.hset(FLASH_STORY_KEY, article_id, story_of(enriched))
        return
    pipe.zrem(FLASHES_KEY, article_id)
    pipe.hdel(FLASH_STORY_KEY, article_id)
    answered = {story_of(enriched): first_published(enriched)}
    follows_up = enriched.article.extra.get("follows_up")
    if isinstance(follows_up, str) and follows_up:
        answered[follows_up] = first_published(enriched)
    pipe.zadd(ANSWERED_KEY, answered)


def record_withdrawn(pipe: Pipeline, article_id: str) -> None:
    pipe.zrem(FLASHES_KEY, article_id)
    pipe.hdel(FLASH_STORY_KEY, article_id)


# ------------------------------------------------------------------------------------ reads


class BreakingNews:
    """Which flashes are breaking now."""

    def __init__(
        self, redis: RedisClient, window_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis
        self.window_s = window_s
        self.clock = clock  # tests move time on

    async def flashes(self) -> list[tuple[str, float, str, bool]]:
        """Every recorded flash: (id, first published, story, answered), newest first."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(FLASHES_KEY, 0, -1, withscores=True)
            pipe.hgetall(FLASH_STORY_KEY)
            found, stories = await pipe.execute()
        ids = [(raw.decode(), float(score)) for raw, score in found]
        story = {k.decode(): v.decode() for k, v in stories.items()}
        wanted = [story.get(i, i) for i, _ in ids]
        # A flash is answered by a full article on its story, or one that follows it up.
        asked = [*wanted, *(i for i, _ in ids)]
        scores = await self.redis.zmscore(ANSWERED_KEY, asked) if asked else []
        answered = [
            a is not None or b is not None
            for a, b in zip(scores[: len(ids)], scores[len(ids) :], strict=True)
        ]
        return [(i, ts, s, a) for (i, ts), s, a in zip(ids, wanted, answered, strict=True)]

    def is_breaking(self, published: float, answered: bool, now: float) -> bool:
        return not answered and now < published + self.window_s

    async def breaking(self) -> list[str]:
        """Ids of the flashes breaking now, newest first."""
        now = self.clock()
        return [i for i, ts, _, done in await self.flashes() if self.is_breaking(ts, done, now)]


def breaking_in(flashes: Iterable[EnrichedArticle], site: Site, slug: str | None) -> list[Teaser]:
    """The flashes a page shows: all of them on home (`slug` None), else those in the listing."""
    return [
        teaser_from_enriched(flash)
        for flash in flashes
        if slug is None or slug in site.listings_of(category_of(flash))
    ]


def render_banner(flashes: list[Teaser], site: Site) -> Fragment:
    """The banner above a listing; empty when nothing is breaking."""
    if not flashes:
        return Fragment(html="", shows=[])
    lang = site.language
    html = ENVIRONMENT.get_template("breaking.html").render(
        flashes=flashes,
        label=LABELS.get(lang.split("-")[0], LABELS["en"]),
        lang=lang,
        dir=direction_of(lang),
        site=site,
    )
    return Fragment(html=html.strip(), shows=[flash.id for flash in flashes])
