"""The embargo releaser: appends held changes when their time comes.

It runs inside every ingest process. The schedule lives in Redis, so a
restart loses nothing (anything that fell due while ingest was down is
released at start), and the release script's own check means two replicas
never release one change twice.
"""

import asyncio
from datetime import UTC, datetime

from khabar_ingest.store import ArticleStore
from khabar_shared.logging import get_logger

log = get_logger(__name__)


async def release_due(store: ArticleStore) -> int:
    """Release every change due now; how many this process appended."""
    released = 0
    while True:
        due = await store.due_embargoes(datetime.now(UTC))
        if not due:
            return released
        appended = 0
        for article_id in due:
            entry = await store.release(article_id)
            if entry is not None:
                appended += 1
                log.info("embargo_released", article_id=article_id, stream_id=entry)
        released += appended
        if appended == 0:
            # Due by our clock but not yet by Redis's (or another replica took them).
            return released


async def run_releaser(store: ArticleStore, poll_s: float) -> None:
    """Forever: release what is due, then sleep until the next release or `poll_s`."""
    while True:
        try:
            await release_due(store)
            next_at = await store.next_release()
        except Exception as error:  # noqa: BLE001 - Redis away: keep trying, never die
            log.warning("embargo_release_failed", error=str(error))
            next_at = None
        wait = poll_s
        if next_at is not None:
            wait = min(poll_s, max(0.01, (next_at - datetime.now(UTC)).total_seconds()))
        await asyncio.sleep(wait)
