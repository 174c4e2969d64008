"""One kept-alive HTTP/1.1 connection to an edge replica, for purge requests only.

Render sends the edge a purge after almost every batch. Through httpx each
cost render more CPU than the rest of a small batch's Redis work together
(its pool, transport and model layers for a bodiless request with one
header); a purge needs a request line, two headers and the answer's status.
The answer's body (the edge's synthetic page) is read and dropped, so the
connection stays usable for the next purge.

Requests on one connection go one at a time (a lock): the handler and the
breaking-news sweeper may purge at once. A failure closes the connection; a
connection the edge closed while it was idle is opened again once at no
cost to the caller's retries.
"""

import asyncio
import ssl
from urllib.parse import urlsplit

# Bounds on an answer's head and on the bodies read and dropped (the edge answers
# a purge with a short synthetic page).
MAX_HEAD_BYTES = 16_384
MAX_BODY_BYTES = 1_048_576


class EdgeAnswerError(OSError):
    """The edge answered something that is not HTTP/1.1 as a purge expects it."""


class EdgeConnection:
    """Sends `PURGE`-style requests to one URL over a connection it keeps open."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._tls else 80)
        self._authority = parts.netloc.rpartition("@")[2]
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def request(self, method: str, headers: dict[str, str]) -> int:
        """The status of the answer to a bodiless request with `headers`."""
        async with self._lock:
            async with asyncio.timeout(self._timeout_s):
                if self._writer is not None:
                    try:
                        return await self._exchange(method, headers)
                    except (OSError, asyncio.IncompleteReadError):
                        # Kept open while idle, closed by the edge meanwhile (or broken):
                        # a new connection, once, before the caller counts a failure.
                        self._close()
                return await self._exchange(method, headers)

    async def _exchange(self, method: str, headers: dict[str, str]) -> int:
        try:
            if self._writer is None:
                await self._open()
            assert self._reader is not None and self._writer is not None
            lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            self._writer.write(
                f"{method} {self._target} HTTP/1.1\r\nHost: {self._authority}\r\n"
                f"{lines}Content-Length: 0\r\n\r\n".encode("latin-1")
            )
            await self._writer.drain()
            status, keep_open = await self._read_answer(self._reader)
        except BaseException:
            self._close()  # half a request or answer on it: never used again
            raise
        if not keep_open:
            self._close()
        return status

    async def _open(self) -> None:
        context = ssl.create_default_context() if self._tls else None
        self._reader, self._writer = await asyncio.open_connection(
            self._host, self._port, ssl=context, limit=MAX_HEAD_BYTES
        )

    @staticmethod
    async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
        """The status, and whether the connection may carry another request; the body is
        read and dropped."""
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        except asyncio.LimitOverrunError as error:
            raise EdgeAnswerError("the edge's answer head is too long") from error
        status_line, *header_lines = head.split("\r\n")
        version, _, rest = status_line.partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise EdgeAnswerError(f"not an HTTP/1.1 answer: {status_line[:80]!r}")
        fields: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip().lower()
        if "chunked" in fields.get("transfer-encoding", ""):
            await _drop_chunked(reader)
        elif "content-length" in fields:
            length = int(fields["content-length"])
            if length > MAX_BODY_BYTES:
                raise EdgeAnswerError("the edge's answer body is too long")
            await reader.readexactly(length)
        else:
            return int(rest[:3]), False  # the body runs until the edge closes
        keep_open = version == "HTTP/1.1" and fields.get("connection") != "close"
        return int(rest[:3]), keep_open

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def aclose(self) -> None:
        async with self._lock:
            writer = self._writer
            self._close()
        if writer is not None:
            try:
                await writer.wait_closed()
            except OSError:
                pass


async def _drop_chunked(reader: asyncio.StreamReader) -> None:
    read = 0
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        read += size
        if read > MAX_BODY_BYTES:
            raise EdgeAnswerError("the edge's answer body is too long")
        if size == 0:
            break
        await reader.readexactly(size + 2)
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, if any
        pass
