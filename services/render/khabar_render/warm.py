"""The warm lane: re-renders purged fragments after the batch that purged them was acked.

Freshness never depends on it. Everything queued here was purged from the
cache before its batch was acked, so a reader who asks first gets a fresh
render on demand. The lane only keeps the cache warm, and it renders each
fragment once however often it was purged meanwhile: an older article re-linked
by five new stories in a burst, home and the first listing pages after every
batch. Rendering them inline cost the consumer more than the new articles did
when batches were small.

It yields to the consumer: one chunk at a time, a few fragments at a time
under the lock the consumer holds while it applies a batch (so a render never
reads half of a batch, and a batch never waits for a whole chunk), and
while the consumer is busy it takes at most a share of the time. Home and the
first listing pages, purged by almost every batch and asked for most, go
first once they are due.

They are due `coalesce_s` after the first batch that purged them since they
were last rendered: at a steady trickle every one-article batch purges home
and its listings, and rendering them again after each batch repeated the same
work for every article, though no reader may ask for them in between. Held
for a short window, the batches of that window cost one render of each. A
reader who asks meanwhile gets a fresh render on demand (the cache never
holds them stale), and a crash loses nothing but the warmth: what the lane
held was purged before its batches were acked.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from khabar_render.renderer import Renderer
from khabar_shared.logging import get_logger

log = get_logger(__name__)

# While the consumer is busy (a batch ended less than this ago), the lane waits
# at least this long between chunks, and BUSY_WAIT_FACTOR times what the last
# chunk took: it takes at most a quarter of the time from a busy consumer.
PAUSE_S = 0.1
BUSY_WAIT_FACTOR = 3.0
# Fragments kept waiting; past that they stay cold until a reader asks for them.
MAX_PENDING = 20_000
# A chunk is rendered this many fragments at a time, each slice under the lock: a
# batch (a withdrawal on its way to the edge) waits for one slice, never a whole chunk.
LOCK_SLICE = 8


class WarmLane:
    def __init__(
        self,
        renderer: Renderer,
        chunk: int,
        pause_s: float = PAUSE_S,
        max_pending: int = MAX_PENDING,
        lock_slice: int = LOCK_SLICE,
        coalesce_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._renderer = renderer
        self._coalesce_s = coalesce_s
        self._clock = clock
        # When the hot fragments queued now are due: the first purge of them plus `coalesce_s`.
        self._hot_due = 0.0
        self._chunk = max(1, chunk)
        self._slice = max(1, lock_slice)
        self._pause_s = pause_s
        self._max_pending = max_pending
        # Insertion-ordered sets; hot ones (home, first listing pages) are taken first.
        self._hot: dict[str, None] = {}
        self._pending: dict[str, None] = {}
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()
        self._busy_until = 0.0
        self._next_chunk_at = 0.0

    @property
    def pending(self) -> int:
        return len(self._hot) + len(self._pending)

    def add(self, names: Iterable[str], hot: bool = False) -> None:
        """Queue fragments to render again; past `max_pending` they stay cold until asked for."""
        queue = self._hot if hot else self._pending
        if hot and not self._hot:
            self._hot_due = self._clock() + self._coalesce_s
        for name in names:
            if self.pending >= self._max_pending:
                log.warning("warm_lane_full", pending=self.pending)
                break
            queue[name] = None
        if self.pending:
            self._wakeup.set()

    def discard(self, names: Iterable[str]) -> None:
        """Drop fragments the consumer has just rendered itself."""
        for name in names:
            self._hot.pop(name, None)
            self._pending.pop(name, None)

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Keep the lane out while the consumer applies a batch."""
        async with self._lock:
            yield
        self._busy_until = time.monotonic() + self._pause_s

    async def run(self) -> None:
        """Render what is pending, chunk by chunk, until cancelled."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self.pending:
                if not self._pending and not self._hot_is_due():
                    # Only hot fragments left, not due yet: the batches meanwhile join them.
                    await asyncio.sleep(max(0.0, self._hot_due - self._clock()))
                    continue
                await self._pace()
                await self.render_chunk()

    async def render_chunk(self) -> int:
        """Render the next chunk; a failure leaves those fragments cold, never stale."""
        hot = [*self._hot] if self._hot_is_due() else []
        chunk = [*hot, *self._pending][: self._chunk]
        self.discard(chunk)
        if not chunk:
            return 0
        took = 0.0
        for start in range(0, len(chunk), self._slice):
            piece = chunk[start : start + self._slice]
            async with self._lock:
                started = time.monotonic()
                try:
                    await self._renderer.refresh_many(piece)
                except Exception as error:  # noqa: BLE001 - the lane must outlive a bad fragment or a Redis blip
                    log.warning("warm_lane_chunk_failed", error=str(error), fragments=len(piece))
                took += time.monotonic() - started
        self._next_chunk_at = time.monotonic() + max(self._pause_s, BUSY_WAIT_FACTOR * took)
        return len(chunk)

    def _hot_is_due(self) -> bool:
        return self._clock() >= self._hot_due

    async def _pace(self) -> None:
        """While the consumer is busy, wait out the share it leaves us; when idle, go on."""
        if time.monotonic() < self._busy_until:
            await asyncio.sleep(max(0.0, self._next_chunk_at - time.monotonic()))
