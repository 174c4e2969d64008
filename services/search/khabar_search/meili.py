"""Writing to Meilisearch: index settings, batched upserts and deletes, task waits, swaps.

The official client is synchronous; its calls run in a worker thread so the
event loop keeps reading streams and answering readers meanwhile. Documents,
sent for every batch, go through `meili_documents` instead: its connections
stay open.
"""

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import meilisearch
from meilisearch.errors import (
    MeilisearchApiError,
    MeilisearchCommunicationError,
    MeilisearchTimeoutError,
)
from meilisearch.models.task import TaskInfo
from requests.exceptions import RequestException

from khabar_search.index_settings import index_settings
from khabar_search.locales import DEFAULT_LANGUAGES
from khabar_search.meili_documents import (
    FIRST_POLL_S,
    MAX_POLL_S,
    PENDING,
    DocumentWriter,
    MeiliTaskFailed,
    MeiliUnavailable,
)
from khabar_shared.logging import get_logger

log = get_logger(__name__)

TASK_TIMEOUT_MS = 600_000

__all__ = ["MeiliTaskFailed", "MeiliWriter", "is_unavailable"]


class MeiliWriter:
    def __init__(
        self,
        url: str,
        key: str,
        index_uid: str,
        prefix_search: bool = False,
        languages: Sequence[str] = DEFAULT_LANGUAGES,
    ) -> None:
        self._client = meilisearch.Client(url, key or None, timeout=30)
        self._documents = DocumentWriter(url, key, timeout_s=30)
        self.index_uid = index_uid
        self.prefix_search = prefix_search
        self.languages = languages

    def for_index(self, index_uid: str) -> "MeiliWriter":
        """A writer on another index of the same server (a rebuild's new index)."""
        other = MeiliWriter.__new__(MeiliWriter)
        other._client, other._documents, other.index_uid, other.prefix_search, other.languages = (
            self._client,
            self._documents,
            index_uid,
            self.prefix_search,
            self.languages,
        )
        return other

    def health(self) -> None:
        """Raise MeilisearchCommunicationError when the server does not answer."""
        self._client.health()

    async def ensure_index(
        self, synonyms: dict[str, list[str]] | None = None, plain: bool = False
    ) -> None:
        """Create the index if needed and apply the settings declared in code.

        `plain=True` leaves Meilisearch's defaults (the raw baseline of benchmarks).
        """
        await asyncio.to_thread(self._ensure_index_sync, synonyms, plain)

    def _ensure_index_sync(self, synonyms: dict[str, list[str]] | None, plain: bool) -> None:
        try:
            self._client.get_index(self.index_uid)
        except MeilisearchApiError as error:
            if error.code != "index_not_found":
                raise
            self._wait(self._client.create_index(self.index_uid, {"primaryKey": "id"}))
        if not plain:
            index = self._client.index(self.index_uid)
            self._wait(
                index.update_settings(index_settings(synonyms, self.prefix_search, self.languages))
            )
        log.info("meili_index_ready", index=self.index_uid)

    async def synonyms(self) -> dict[str, list[str]]:
        index = self._client.index(self.index_uid)
        found: dict[str, list[str]] = await asyncio.to_thread(index.get_synonyms)
        return {word: sorted(spellings) for word, spellings in found.items()}

    async def update_synonyms(self, synonyms: dict[str, list[str]]) -> None:
        """Replace the index's synonyms (Meilisearch reads them per query: nothing is reindexed)."""
        index = self._client.index(self.index_uid)
        await asyncio.to_thread(lambda: self._wait(index.update_synonyms(synonyms)))

    async def apply(self, upserts: list[dict[str, Any]], deletes: list[str]) -> None:
        """Upsert and delete, and return only once Meilisearch says both succeeded."""
        await self._documents.apply(self.index_uid, upserts, deletes)

    async def enqueue(self, upserts: list[dict[str, Any]], deletes: list[str]) -> list[int]:
        """Send upserts and deletes without waiting for them; returns their tasks' uids."""
        return await self._documents.enqueue(self.index_uid, upserts, deletes)

    async def wait_all(self, task_uids: list[int]) -> None:
        """Until the tasks `enqueue` returned are done; raises if one failed."""
        await self._documents.wait_all(task_uids)

    async def aclose(self) -> None:
        """Close the documents' connections (the sync client keeps none)."""
        await self._documents.aclose()

    async def swap_with(self, other_uid: str) -> None:
        """Atomically exchange this index's documents and settings with `other_uid`'s."""
        await asyncio.to_thread(self._swap_sync, other_uid)

    def _swap_sync(self, other_uid: str) -> None:
        # A key limited to some indexes cannot see swap tasks (they belong to no
        # index), so wait for the swap's effect instead: an index's creation
        # time travels with it, so the live uid shows the new index's.
        incoming = self._client.get_raw_index(other_uid)["createdAt"]
        self._client.swap_indexes([{"indexes": [self.index_uid, other_uid]}])
        deadline = time.monotonic() + TASK_TIMEOUT_MS / 1000
        while self._client.get_raw_index(self.index_uid)["createdAt"] != incoming:
            if time.monotonic() > deadline:
                raise MeiliTaskFailed(f"swap of {self.index_uid} and {other_uid} did not happen")
            time.sleep(0.02)
        log.info("meili_indexes_swapped", live=self.index_uid, previous=other_uid)

    async def delete_index(self) -> None:
        await asyncio.to_thread(lambda: self._wait(self._client.delete_index(self.index_uid)))

    async def document_count(self) -> int:
        stats = await asyncio.to_thread(lambda: self._client.index(self.index_uid).get_stats())
        return int(stats.number_of_documents)

    def _wait(self, task: TaskInfo) -> None:
        """Until the task is done, asking soon at first, then less and less often.

        A small batch is done in milliseconds; a big one, or one queued behind
        others, takes seconds, and asking every 10 ms cost both this process
        and Meilisearch CPU per article (bench.pipeline's steady table).
        """
        deadline = time.monotonic() + TASK_TIMEOUT_MS / 1000
        pause = FIRST_POLL_S
        while (done := self._client.get_task(task.task_uid)).status in PENDING:
            if time.monotonic() > deadline:
                raise MeilisearchTimeoutError(f"task {task.task_uid} still {done.status}")
            time.sleep(pause)
            pause = min(pause * 1.5, MAX_POLL_S)
        if done.status != "succeeded":
            raise MeiliTaskFailed(f"meilisearch task {task.task_uid} {done.status}: {done.error}")


UNAVAILABLE = (
    MeiliUnavailable,
    MeilisearchCommunicationError,
    MeilisearchTimeoutError,
    ConnectionError,
    TimeoutError,
    RequestException,
)


def is_unavailable(error: BaseException) -> bool:
    """Meilisearch down, slow past a timeout, or answering with a server error (5xx)."""
    if isinstance(error, MeilisearchApiError):
        return (error.status_code or 0) >= 500
    return isinstance(error, UNAVAILABLE)
