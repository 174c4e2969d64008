"""Redis as a batch's next article must see it, while the batch's writes still wait.

A batch sends every article's index reads and writes to Redis at once (see
`handler.py`), and keeps its other writes (final docs, copies, links, trims)
until its end. Each article must still see Redis exactly as the articles
before it in the batch left it. The view holds what those articles wrote, and,
for the batch's own articles, their docs as they were before the batch (later
articles' index writes may already have run in Redis); a key the view does not
hold is read from Redis, where nothing of this batch has touched it yet.
"""

import math
from collections.abc import Awaitable, Sequence
from typing import Any

from khabar_shared.pipeline import Command, KeyReader

# A value the view holds: the bytes written, or None for a key deleted.
Value = bytes | None


class BatchView:
    def __init__(self, reader: KeyReader, before: dict[str, Value] | None = None) -> None:
        self._reader = reader  # Redis, for the keys the view does not hold
        self._values: dict[str, Value] = dict(before or {})
        # The copies and links of articles published up to this time were trimmed (see
        # `copies.TRIM_SCRIPT`); those written since are in `_values`.
        self._trimmed_until = -math.inf
        self._published: dict[str, float] = {}  # of the keys written with a publication time

    def write(self, key: str, value: Value, published: float | None = None) -> None:
        self._values[key] = value
        if published is not None:
            self._published[key] = published

    def trim(self, until: float) -> None:
        """Copies and links of articles published at or before `until` are gone."""
        self._trimmed_until = max(self._trimmed_until, until)
        for key, published in self._published.items():
            if published <= until:
                self._values[key] = None

    def seen(self, key: str, published: float | None = None) -> tuple[bool, Value]:
        """(True, value) when the batch decided the key's value; (False, None) when Redis holds it
        as it was before the batch. `published`: the article's, for a trimmed copy or links."""
        if key in self._values:
            return True, self._values[key]
        if published is not None and published <= self._trimmed_until:
            return True, None
        return False, None

    async def command(self, command: Command) -> Any:
        """A read-only command's reply from Redis as it is before the batch (the caller sees
        through the view what the batch changed)."""
        return await (await self._reader.send_command(command))

    async def read(self, keys: Sequence[str], published: Sequence[float | None]) -> list[Value]:
        """The values of `keys` (all of one slot) as the batch sees them: Redis is asked only for
        those the view does not hold, in one command, and not at all when it holds every one."""
        return await (await self.start_read(keys, published))

    async def start_read(
        self, keys: Sequence[str], published: Sequence[float | None]
    ) -> Awaitable[list[Value]]:
        """`read`, its question to Redis (if any) already sent when this returns: the caller may
        work while it travels, then await the values."""
        values: list[Value] = []
        missing: dict[int, str] = {}
        for position, (key, when) in enumerate(zip(keys, published, strict=True)):
            known, value = self.seen(key, when)
            values.append(value)
            if not known:
                missing[position] = key
        reply = await self._reader.send_mget(list(missing.values())) if missing else None
        return self._values_with(values, missing, reply)

    @staticmethod
    async def _values_with(
        values: list[Value], missing: dict[int, str], reply: Awaitable[list[Value]] | None
    ) -> list[Value]:
        if reply is not None:
            for position, value in zip(missing, await reply, strict=True):
                values[position] = value
        return values
