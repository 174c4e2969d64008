"""How often a number read from Redis for `/metrics` is read again: at most once a second.

Each scrape used to run several Redis commands per consumer group (XINFO,
XPENDING, XLEN), so a flood of `/metrics` requests was a flood of Redis
work. The numbers are gauges a scraper reads every few seconds: one read per
second serves every scrape in that second.
"""

import time
from collections.abc import Callable, Hashable

STATS_MAX_AGE_S = 1.0


class Freshness:
    """Says whether a key's value is due to be read again; at most once per `max_age_s`.

    A key is marked read when `due` says yes, before the read finishes, so
    requests arriving meanwhile do not read it too.
    """

    def __init__(
        self, max_age_s: float = STATS_MAX_AGE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age_s = max_age_s
        self._clock = clock
        self._read_at: dict[Hashable, float] = {}

    def due(self, key: Hashable) -> bool:
        now = self._clock()
        last = self._read_at.get(key)
        if last is not None and now - last < self.max_age_s:
            return False
        self._read_at[key] = now
        return True
