"""Render's purge requests to the edge on one kept-alive connection (a real local server)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from khabar_render.purge import EdgePurger
from khabar_shared.outages import DependencyUnavailable

Answer = Callable[[int], bytes]  # the n-th request's answer (n counted over every connection)


class Edge:
    """An HTTP server that records each request head and the connection it came on."""

    def __init__(self, answer: Answer, close_after: int = 0) -> None:
        self.answer = answer
        self.close_after = close_after  # close each connection after this many answers (0: never)
        self.requests: list[tuple[int, str]] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection, answered = self.connections, 0
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                self.requests.append((connection, head))
                writer.write(self.answer(len(self.requests)))
                await writer.drain()
                answered += 1
                if answered == self.close_after:
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()


@asynccontextmanager
async def edge_server(answer: Answer, close_after: int = 0) -> AsyncIterator[tuple[Edge, str]]:
    edge = Edge(answer, close_after)
    server = await asyncio.start_server(edge.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield edge, f"http://127.0.0.1:{port}/"
    finally:
        server.close()


def synthetic(status: int = 200, body: bytes = b"<p>purged</p>") -> Answer:
    return lambda _: f"HTTP/1.1 {status} OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


async def test_purges_go_one_after_another_on_one_connection_with_the_keys_and_token() -> None:
    async with edge_server(synthetic()) as (edge, url):
        purger = EdgePurger(url, "secret")
        await purger.purge(["article:a", "home"])
        await purger.purge(["article:b"])
        await purger.aclose()
    assert [connection for connection, _ in edge.requests] == [1, 1]
    first = edge.requests[0][1]
    assert first.startswith("PURGE / HTTP/1.1\r\n")
    assert "xkey-purge: article:a home\r\n" in first
    assert "Authorization: Bearer secret\r\n" in first
    assert purger.is_closed


async def test_a_chunked_answer_is_read_whole_and_the_connection_kept() -> None:
    def chunked(_: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"

    async with edge_server(chunked) as (edge, url):
        purger = EdgePurger(url, "t")
        for key in ("a", "b", "c"):
            await purger.purge([f"article:{key}"])
        await purger.aclose()
    assert [connection for connection, _ in edge.requests] == [1, 1, 1]


async def test_a_connection_the_edge_closed_while_idle_is_opened_again_without_a_failure() -> None:
    async with edge_server(synthetic(), close_after=1) as (edge, url):
        purger = EdgePurger(url, "t")
        await purger.purge(["article:a"])
        await asyncio.sleep(0.05)  # the edge has closed it meanwhile
        await purger.purge(["article:b"])
        await purger.aclose()
    assert [connection for connection, _ in edge.requests] == [1, 2]


async def test_an_edge_that_refuses_the_purge_leaves_the_batch_to_be_tried_again() -> None:
    async with edge_server(synthetic(403, b"<p>no</p>")) as (edge, url):
        purger = EdgePurger(url, "wrong")
        with pytest.raises(DependencyUnavailable):
            await purger.purge(["article:a"])
        await purger.aclose()
    assert len(edge.requests) == 3  # three tries, each answered


async def test_an_answer_that_is_not_http_fails_the_purge() -> None:
    async with edge_server(lambda _: b"SSH-2.0-OpenSSH\r\n\r\n") as (_, url):
        purger = EdgePurger(url, "t")
        with pytest.raises(DependencyUnavailable):
            await purger.purge(["article:a"])
        await purger.aclose()


async def test_an_edge_that_is_down_fails_the_purge() -> None:
    async with edge_server(synthetic()) as (_, url):
        pass  # closed: nothing listens there any more
    purger = EdgePurger(url, "t")
    with pytest.raises(DependencyUnavailable):
        await purger.purge(["article:a"])
    await purger.aclose()
