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
in flight, asks Meilisearch how its queue is doing; and it asks when the
node's tasks are typically done (`TaskClock`), not every few milliseconds.

Errors keep the meaning the indexer and the consumer give them: Meilisearch
not answering, slow past the timeout, or answering 5xx is an outage
(`MeiliUnavailable`, a `ConnectionError`); any other refusal or a failed task
is the batch's own fault (`MeiliTaskFailed`).
"""

import asyncio
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import aiohttp
import orjson

# How often a task's state is asked for: from the first pause, growing to the longest.
FIRST_POLL_S = 0.005
MAX_POLL_S = 0.05
TASK_TIMEOUT_S = 600.0
PENDING = ("enqueued", "processing")
# A wait first sleeps this share of the shortest of the node's recent tasks (`TaskClock`), then
# asks every `ASK_SHARE` of their median, at most every `MAX_POLL_S` as before: the asks it
# skips are those a task of that node was never done by, and it is never later to see one done.
FIRST_ASK_SHARE = 0.6
ASK_SHARE = 0.1
# How many of the node's last tasks count, and the most one counts for (a task queued behind a
# reindex must not make the next waits oversleep).
RECENT_TASKS = 8
MAX_TYPICAL_S = 1.0
MAX_SENT_NOTED = 10_000


class MeiliTaskFailed(RuntimeError):
    pass


class MeiliUnavailable(ConnectionError):
    """Meilisearch did not answer, or answered with a server error."""


class TaskClock:
    """How long the node's tasks take, from being sent to being seen done, and when to ask.

    A wait that asks soon and then less and less often (5 ms, growing to 50 ms) asked
    about a task a dozen times or more while a small batch of a steady trickle indexed on
    a busy machine, each ask an HTTP round trip for search and Meilisearch both. The
    tasks of one node take much the same time from one batch to the next, so a wait first
    sleeps through a share of the shortest recent one, then asks in even steps.
    """

    def __init__(self) -> None:
        self._recent: deque[float] = deque(maxlen=RECENT_TASKS)

    def pauses(self) -> Iterator[float]:
        """The pauses before each ask, the first counted from when the task was sent."""
        if not self._recent:
            yield 0.0
            pause = FIRST_POLL_S
            while True:
                yield pause
                pause = min(pause * 1.5, MAX_POLL_S)
        recent = sorted(min(took, MAX_TYPICAL_S) for took in self._recent)
        yield FIRST_ASK_SHARE * recent[0]
        step = min(MAX_POLL_S, max(FIRST_POLL_S, ASK_SHARE * recent[len(recent) // 2]))
        while True:
            yield step

    def took(self, seconds: float) -> None:
        """A task was seen done `seconds` after it was sent."""
        self._recent.append(seconds)


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
        self.clock = TaskClock()
        self._sent_at: dict[int, float] = {}  # each task waited for: when it was sent

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
        """Until the task is done, asking when tasks are typically done (`TaskClock`)."""
        loop = asyncio.get_running_loop()
        sent_at = self._sent_at.pop(task_uid, loop.time())
        deadline = sent_at + TASK_TIMEOUT_S
        ask_at = sent_at
        for pause in self.clock.pauses():
            ask_at = max(ask_at + pause, loop.time())
            if ask_at > loop.time():
                await asyncio.sleep(ask_at - loop.time())
            task = await self._request("GET", f"/tasks/{task_uid}")
            if task["status"] not in PENDING:
                break
            if loop.time() > deadline:
                raise MeiliUnavailable(f"task {task_uid} still {task['status']}")
        self.clock.took(loop.time() - sent_at)
        if task["status"] != "succeeded":
            raise MeiliTaskFailed(
                f"meilisearch task {task_uid} {task['status']}: {task.get('error')}"
            )

    async def _enqueue(self, path: str, body: Sequence[Any]) -> int:
        answer = await self._request("POST", path, orjson.dumps(body))
        task_uid = int(answer["taskUid"])
        if len(self._sent_at) >= MAX_SENT_NOTED:  # tasks sent and never waited for
            self._sent_at.clear()
        self._sent_at[task_uid] = asyncio.get_running_loop().time()
        return task_uid

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
