"""Meilisearch's document routes and task waits, over connections kept open.

The indexer sends every batch here: add or delete documents, then ask the
task's state until it is done. The official client opens a new HTTP
connection for every call (it calls `requests.get` without a session, and
reads the netrc file each time), and a small batch's task is asked for
several times: at a steady trickle of articles, opening and closing those
connections was most of search's CPU per article, and Meilisearch's own
accepts added to its share. One aiohttp session per event loop keeps them
open, and runs in the loop instead of a worker thread.

The indexer enqueues a batch's tasks and waits for them apart (`enqueue`,
`wait_all`), so that, sending ahead, the next batch is sent while one indexes. Meilisearch
finishes a node's tasks in the order they were enqueued, so a wait first
lets the waits begun before it end: one poller at a time, not one per batch
in flight, asks Meilisearch how its queue is doing.

Errors keep the meaning the indexer and the consumer give them: Meilisearch
not answering, slow past the timeout, or answering 5xx is an outage
(`MeiliUnavailable`, a `ConnectionError`); any other refusal or a failed task
is the batch's own fault (`MeiliTaskFailed`).
"""

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

# How often a task's state is asked for: from the first pause, growing to the longest.
FIRST_POLL_S = 0.005
MAX_POLL_S = 0.05
TASK_TIMEOUT_S = 600.0
PENDING = ("enqueued", "processing")


class MeiliTaskFailed(RuntimeError):
    pass


class MeiliUnavailable(ConnectionError):
    """Meilisearch did not answer, or answered with a server error."""


class DocumentWriter:
    def __init__(self, url: str, key: str, timeout_s: float = 30.0) -> None:
        self._url = url.rstrip("/")
        # Meilisearch gzips every answer a client accepts gzipped; a task's state is a few
        # hundred bytes, asked for several times a batch: compressing it is work on both sides.
        self._headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # The end of the newest wait begun (see `wait_all`), and its loop's.
        self._last_wait: asyncio.Future[None] | None = None

    async def enqueue(
        self, index_uid: str, upserts: Sequence[dict[str, Any]], deletes: Sequence[str]
    ) -> list[int]:
        """Send the upserts, then the deletes; returns their tasks' uids, in that order."""
        tasks = []
        if upserts:
            path = f"/indexes/{index_uid}/documents?primaryKey=id"
            tasks.append(await self._enqueue(path, list(upserts)))
        if deletes:
            tasks.append(
                await self._enqueue(f"/indexes/{index_uid}/documents/delete-batch", deletes)
            )
        return tasks

    async def wait_all(self, task_uids: Sequence[int]) -> None:
        """Until every task is done; raises if one failed.

        Waits begun earlier end first (whatever their outcome): their tasks were
        enqueued earlier, and Meilisearch does not finish a task before the
        ones enqueued before it, so asking about ours meanwhile would be asked
        for nothing.
        """
        loop = asyncio.get_running_loop()
        earlier = self._last_wait
        if earlier is not None and earlier.get_loop() is not loop:
            earlier = None
        mine: asyncio.Future[None] = loop.create_future()
        self._last_wait = mine
        try:
            if earlier is not None:
                await asyncio.shield(earlier)
            for task_uid in task_uids:
                await self.wait(task_uid)
        finally:
            mine.set_result(None)

    async def apply(
        self, index_uid: str, upserts: Sequence[dict[str, Any]], deletes: Sequence[str]
    ) -> None:
        """Upsert and delete, and return only once Meilisearch says both succeeded."""
        await self.wait_all(await self.enqueue(index_uid, upserts, deletes))

    async def wait(self, task_uid: int) -> None:
        """Until the task is done, asking soon at first, then less and less often."""
        deadline = asyncio.get_running_loop().time() + TASK_TIMEOUT_S
        pause = FIRST_POLL_S
        while (task := await self._request("GET", f"/tasks/{task_uid}"))["status"] in PENDING:
            if asyncio.get_running_loop().time() > deadline:
                raise MeiliUnavailable(f"task {task_uid} still {task['status']}")
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, MAX_POLL_S)
        if task["status"] != "succeeded":
            raise MeiliTaskFailed(
                f"meilisearch task {task_uid} {task['status']}: {task.get('error')}"
            )

    async def _enqueue(self, path: str, body: Sequence[Any]) -> int:
        answer = await self._request("POST", path, orjson.dumps(body))
        return int(answer["taskUid"])

    async def _request(self, method: str, path: str, body: bytes | None = None) -> Any:
        try:
            async with self._client().request(method, self._url + path, data=body) as response:
                content = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise MeiliUnavailable(f"{error or type(error).__name__} ({method} {path})") from error
        if response.status >= 500:
            raise MeiliUnavailable(f"meilisearch {method} {path}: {response.status} {content!r}")
        if response.status >= 400:
            raise MeiliTaskFailed(f"meilisearch {method} {path}: {response.status} {content!r}")
        return orjson.loads(content)

    def _client(self) -> aiohttp.ClientSession:
        """The session of the running loop (a CLI or a benchmark may run several loops)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
