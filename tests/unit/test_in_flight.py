"""`send_in_order`: batches a few at a time, one article's changes never reordered.

The sends are fakes whose ends the test controls, so each check sees exactly
which batches were in flight together (the real posting is tested against
a real ingest in tests/integration/test_ingest_editorial.py).
"""

import asyncio
from collections.abc import Iterator

import pytest

from khabar_cli.in_flight import batch_uris, send_in_order


class Sends:
    """Records which batches were in flight when each started; each ends when released."""

    def __init__(self, count: int) -> None:
        self.started: list[int] = []
        self.running: set[int] = set()
        self.running_when_started: dict[int, set[int]] = {}
        self.release = [asyncio.Event() for _ in range(count)]

    async def send(self, index: int) -> None:
        self.running_when_started[index] = set(self.running)
        self.started.append(index)
        self.running.add(index)
        await self.release[index].wait()
        self.running.discard(index)


async def finish_in(sends: Sends, order: list[int], run: asyncio.Task[None]) -> None:
    """Release the batches one by one in `order`, letting the scheduler move after each."""
    for index in order:
        for _ in range(20):
            if index in sends.running or run.done():
                break
            await asyncio.sleep(0)
        sends.release[index].set()
        await asyncio.sleep(0)
    await asyncio.wait_for(run, timeout=5)


async def test_a_batch_waits_for_an_earlier_one_with_the_same_uri() -> None:
    uris = [frozenset({"a"}), frozenset({"b"}), frozenset({"a", "c"}), frozenset({"d"})]
    sends = Sends(len(uris))
    run = asyncio.create_task(
        send_in_order(range(len(uris)), uris.__getitem__, sends.send, in_flight=2)
    )
    await finish_in(sends, [1, 0, 2, 3], run)
    assert sends.started == [0, 1, 2, 3]
    assert sends.running_when_started[1] == {0}  # independent batches do overlap
    assert 0 not in sends.running_when_started[2]  # 'a' was still in batch 0: it waited


async def test_never_more_than_in_flight_at_once() -> None:
    uris = [frozenset({str(index)}) for index in range(7)]
    sends = Sends(len(uris))
    run = asyncio.create_task(
        send_in_order(range(len(uris)), uris.__getitem__, sends.send, in_flight=3)
    )
    await finish_in(sends, [2, 0, 1, 3, 4, 5, 6], run)
    assert sends.started == list(range(7))
    assert max(len(running) for running in sends.running_when_started.values()) == 2
    assert sends.running_when_started[2] == {0, 1}


async def test_a_failed_send_stops_the_rest_and_is_raised() -> None:
    started: list[int] = []

    async def send(index: int) -> None:
        started.append(index)
        await asyncio.sleep(0)
        if index == 1:
            raise RuntimeError("batch 1 refused")
        await asyncio.sleep(1)

    uris = [frozenset({str(index)}) for index in range(6)]
    with pytest.raises(ExceptionGroup) as raised:
        await send_in_order(range(len(uris)), uris.__getitem__, send, in_flight=2)
    assert [str(error) for error in raised.value.exceptions] == ["batch 1 refused"]
    assert started == [0, 1]


async def test_batches_are_read_only_as_they_are_sent() -> None:
    """A lazy source of batches (a file read as it goes) is never read ahead of the sends."""
    read: list[int] = []

    def batches() -> Iterator[int]:
        for index in range(5):
            read.append(index)
            yield index

    sends = Sends(5)
    run = asyncio.create_task(
        send_in_order(batches(), lambda index: frozenset({str(index)}), sends.send, in_flight=2)
    )
    for _ in range(10):
        await asyncio.sleep(0)
    assert read == [0, 1, 2]  # two in flight, the third read and waiting for a free slot
    await finish_in(sends, [0, 1, 2, 3, 4], run)
    assert read == [0, 1, 2, 3, 4]


def test_batch_uris_takes_string_uris_of_documents_and_envelopes() -> None:
    documents = [
        {"uri": "urn:a"},
        {"uri": 7},
        "not an object",
        {"headline": "no uri"},
        {"uri": "urn:b"},
        {"article": {"uri": "urn:c"}, "base_version": 2},
        {"article": "not an object"},
    ]
    assert batch_uris(documents) == {"urn:a", "urn:b", "urn:c"}
