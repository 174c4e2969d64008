"""Superdesk packages as curated lists: each member article carries its package.

A package (a `composite` item) names its members in `associations`, in the order its
editor set. The log is the record, so the package travels there inside its members:
each live member article gets `extra.story_package = {guid, headline, members}` (the
members' article ids, in Superdesk's order), and render shows a "story package" block
on every member's page from it.

What ingest keeps to do that, in Redis: each package's last members (`package:<guid>`)
and, per member, the package it is in (`package-of:<article id>`), under one hash tag. A push of the
package, a new version of it, or its withdrawal (`pubstatus: canceled`) restates the
members it changes: a new version of each member ingest holds, with the package set, or
removed for those that left it. A member pushed later gets the package when it comes.

The record is written before the members are restated; if ingest stops between the two,
Superdesk, having no answer, pushes the package again, and the restatement is repeated
(a member whose package is already right is answered "unchanged").
"""

from typing import Any

import orjson

from khabar_ingest.store import ArticleStore
from khabar_shared import failpoints
from khabar_shared.events import Article
from khabar_shared.pipeline import Command, send
from khabar_shared.redis_helpers import RedisClient

PACKAGE_FIELD = "story_package"
# One hash tag: a package's record and its members' are written in one transaction,
# which a Redis Cluster takes only within one slot.
_PACKAGE = "khabar:{push-packages}:package:"
_PACKAGE_OF = "khabar:{push-packages}:package-of:"

Package = dict[str, Any]  # {"guid", "headline", "members"}

RECORDED = failpoints.point("ingest.package_recorded", "package recorded, members not restated")


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def with_package(article: Article, package: Package | None) -> Article:
    """The article with its package set (or removed, for None)."""
    extra = {k: v for k, v in article.extra.items() if k != PACKAGE_FIELD}
    if package is not None:
        extra[PACKAGE_FIELD] = package
    return article.model_copy(update={"extra": extra})


def restatement(article: Article, package: Package | None) -> Article:
    """A held article again, only its package changed: its last editor's note is not a new one."""
    return with_package(article, package).model_copy(update={"editor_note": ""})


class StoryPackages:
    def __init__(self, redis: RedisClient, store: ArticleStore) -> None:
        self._redis = redis
        self._store = store

    async def package_of(self, article_id: str) -> Package | None:
        """The package an article is a member of, as its members carry it."""
        guid = await self._redis.get(_PACKAGE_OF + article_id)
        if guid is None:
            return None
        raw = await self._redis.get(_PACKAGE + text(guid))
        return orjson.loads(raw) if raw else None

    async def record(self, guid: str, package: Package | None) -> list[str]:
        """Keep the package's members (None: it was withdrawn); the ids that left it."""
        raw = await self._redis.get(_PACKAGE + guid)
        before: list[str] = orjson.loads(raw)["members"] if raw else []
        members = package["members"] if package else []
        left = [i for i in before if i not in members]
        owners = await self._redis.mget([_PACKAGE_OF + i for i in left]) if left else []
        commands: list[Command] = []
        if package is None:
            commands.append(("DEL", _PACKAGE + guid))
        else:
            commands.append(("SET", _PACKAGE + guid, orjson.dumps(package)))
        for member in members:
            commands.append(("SET", _PACKAGE_OF + member, guid))
        for member, owner in zip(left, owners, strict=True):
            if owner is not None and text(owner) == guid:
                commands.append(("DEL", _PACKAGE_OF + member))
        await send(self._redis, commands, transaction=True)
        failpoints.check(RECORDED)
        return left

    async def restated(self, article_ids: list[str], package: Package | None) -> list[Article]:
        """The live articles among `article_ids` ingest holds, with `package` (None: without)."""
        found = []
        for article_id in article_ids:
            state = await self._store.current(article_id)
            if state is not None and state.status == "usable":
                found.append(restatement(state.article, package))
        return found
