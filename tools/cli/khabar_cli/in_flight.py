"""Batches sent a few at a time, without reordering any one article's changes.

`khabar import` keeps three batches in flight: while ingest parses one, Redis
runs another's scripts and the client reads an answer and sends the next, so
the machine's cores work side by side instead of taking turns (measured in
`bench.ingest`: with two, ingest answered both at about the same time and
then waited for the next bodies). Ingest accepts concurrent batches
independently, so two changes to one article in two batches could land in
either order; a batch that shares an article's uri with a batch still in
flight therefore waits for it to finish. The changes to one article keep the
order of the files.
"""

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

B = TypeVar("B")  # a batch, whatever the caller sends
IN_FLIGHT = 3  # batches at once, by default (see the module's notes)


def batch_uris(documents: Iterable[Any]) -> frozenset[str]:
    """The uris a batch changes (an item without a string uri is refused by ingest anyway)."""
    return frozenset(uri for document in documents if (uri := _uri_of(document)) is not None)


def _uri_of(document: Any) -> str | None:
    """A ninjs document's uri, or that of the article in a batch envelope (`{"article": ...}`,
    see `khabar_ingest.batch`)."""
    if not isinstance(document, dict):
        return None
    if "uri" not in document and isinstance(document.get("article"), dict):
        document = document["article"]
    uri = document.get("uri")
    return uri if isinstance(uri, str) else None


async def send_in_order(
    batches: Iterable[B],
    uris_of: Callable[[B], frozenset[str]],
    send: Callable[[B], Coroutine[Any, Any, None]],
    in_flight: int,
) -> None:
    """`send(batch)` for each batch in order, at most `in_flight` at once, and never while an
    earlier batch with one of its uris is still in flight. `batches` is read one batch at a
    time (it may read files as it goes). A failed send cancels the others and is raised."""
    async with asyncio.TaskGroup() as group:
        running: list[tuple[frozenset[str], asyncio.Task[None]]] = []
        for batch in batches:
            these = uris_of(batch)
            earlier = [task for uris, task in running if uris & these]
            if earlier:
                await asyncio.wait(earlier)
            running = [(uris, task) for uris, task in running if not task.done()]
            if len(running) >= in_flight:
                await asyncio.wait(
                    [task for _, task in running], return_when=asyncio.FIRST_COMPLETED
                )
                running = [(uris, task) for uris, task in running if not task.done()]
            running.append((these, group.create_task(send(batch))))
