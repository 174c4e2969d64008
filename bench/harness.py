"""What every benchmark starts with: real servers and services on free ports, real articles."""

import asyncio
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from khabar_dev.corpus import ANT, SAMPLE_AR, corpus_file
from khabar_dev.edge import start_edge
from khabar_dev.processes import (
    SERVICES,
    ProcessGroup,
    free_port,
    start_cache_redis,
    start_meili,
    start_redis,
    start_service,
    start_services,
)
from khabar_dev.settings import EdgeThrottleSettings
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.events import Article
from khabar_shared.meili_setup import MeiliKeys, provision_keys

CORPUS_AR = corpus_file(ANT)


def corpus_path() -> Path:
    """The full corpus when it sits beside the repo, else the bundled sample."""
    return CORPUS_AR if CORPUS_AR.exists() else SAMPLE_AR


def load_articles(count: int) -> list[Article]:
    return [a for a in iter_corpus(corpus_path(), limit=count * 2) if a.headline][:count]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def child_pids(pid: int) -> list[int]:
    """Every live descendant of `pid` (varnishd's work happens in the child it forks)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and of every live descendant."""
    total = 0.0
    for each in (pid, *child_pids(pid)):
        try:
            total += cpu_seconds(each)
        except OSError:  # exited meanwhile
            pass
    return total


@dataclass
class BenchSystem:
    redis_url: str
    meili_url: str
    master_key: str
    keys: MeiliKeys
    ports: dict[str, int]
    ingest_key: str
    index: str
    group: ProcessGroup = field(repr=False)
    # Search node name -> its Meilisearch (node "1" is `meili_url`).
    search_nodes: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    base: Path | None = None
    cache_redis_url: str = ""  # the fragment cache's own Redis, when the run has one

    @property
    def meili_master_key(self) -> str:
        return self.master_key

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def cpu_by_process(self) -> dict[str, float]:
        """CPU seconds used so far by each process of the run (redis, meilisearch, services,
        the edge with the worker process it forks)."""
        return {
            managed.name: tree_cpu_seconds(managed.process.pid)
            for managed in self.group.processes
            if managed.process.poll() is None
        }

    def add_search_node(self, name: str) -> str:
        """One more Meilisearch and a search process indexing it as node `name`."""
        assert self.base is not None
        meili = start_meili(self.group, self.base / f"meili-{name}", free_port(), self.master_key)
        self.group.processes[-1].name = f"meilisearch-{name}"
        provision_keys(meili, self.master_key)  # the same keys: same master key, same uids
        port = free_port()
        env = {**self.env, "KHABAR_SEARCH_NODE": name, "KHABAR_MEILI_URL": meili}
        start_service(
            self.group, "search", env, port, self.base / f"search-{name}.log", f"search-{name}"
        )
        self.ports[f"search-{name}"] = port
        self.search_nodes[name] = meili
        return meili


@contextmanager
def running_system(
    services: tuple[str, ...] = SERVICES,
    extra_env: dict[str, str] | None = None,
    search_nodes: int = 1,
    edge: bool = False,
    cache_maxmemory: str = "",
) -> Iterator[BenchSystem]:
    """Redis, Meilisearch and `services`; with `search_nodes` > 1 a Meilisearch and a search
    process per extra node; with `edge` the edge in front, purged by render; with
    `cache_maxmemory`, the fragment cache in a Redis of its own of that size (as `make run`
    and compose ship it)."""
    group = ProcessGroup()
    with tempfile.TemporaryDirectory(prefix="khabar-bench-") as tmp:
        base = Path(tmp)
        try:
            master_key = secrets.token_hex(16)
            redis_url = start_redis(group, base / "redis", free_port())
            cache_url = (
                start_cache_redis(group, base / "cache-redis", free_port(), cache_maxmemory)
                if cache_maxmemory
                else ""
            )
            meili_url = start_meili(group, base / "meili", free_port(), master_key)
            keys = provision_keys(meili_url, master_key)
            ingest_key = secrets.token_urlsafe(16)
            index = "articles"
            env = {
                "KHABAR_REDIS_URL": redis_url,
                "KHABAR_MEILI_URL": meili_url,
                "KHABAR_MEILI_INDEX": index,
                "KHABAR_MEILI_INDEX_KEY": keys.index_key,
                "KHABAR_MEILI_SEARCH_KEY": keys.search_key,
                "KHABAR_BOOTSTRAP_INGEST_KEY": ingest_key,
                "KHABAR_LOG_LEVEL": "WARNING",
                **({"KHABAR_CACHE_REDIS_URL": cache_url} if cache_url else {}),
                **(extra_env or {}),
            }
            ports = {service: free_port() for service in services}
            edge_token = secrets.token_urlsafe(16)
            if edge:
                ports["edge"] = free_port()
                env["KHABAR_EDGE_PURGE_URL"] = f"http://127.0.0.1:{ports['edge']}/"
                env["KHABAR_EDGE_PURGE_TOKEN"] = edge_token
            start_services(group, env, {s: p for s, p in ports.items() if s in services}, base)
            if edge:
                edge_work = base / "edge"
                start_edge(
                    group,
                    edge_work,
                    ports["edge"],
                    ports["render"],
                    ports["search"],
                    edge_token,
                    # The bench's readers all come from one address: not rationed.
                    throttle=EdgeThrottleSettings.off(),
                )
            system = BenchSystem(
                redis_url, meili_url, master_key, keys, ports, ingest_key, index, group
            )
            system.search_nodes, system.env, system.base = {"1": meili_url}, env, base
            system.cache_redis_url = cache_url
            for number in range(2, search_nodes + 1):
                system.add_search_node(str(number))
            yield system
        finally:
            group.stop_all()


class KeepAliveClient:
    """One HTTP/1.1 keep-alive connection that sends a request and reads the answer.

    httpx's connection pool costs more CPU than the services themselves once 16
    or more requests are in flight (a render run measured 366 pages/s at 16
    clients and 108 at 64 through httpx, against 1,340 and 1,495 through this
    client), and the load generator shares the machine's cores with what it
    measures: so benchmarks use the leanest client that speaks to the services.
    They answer with a Content-Length, or chunked (the edge, streaming a page it assembles).
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._reader, self._writer = reader, writer
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())

    @classmethod
    async def open(
        cls, host: str, port: int, headers: dict[str, str] | None = None
    ) -> "KeepAliveClient":
        """A connection whose every request carries `headers`."""
        return cls(*await asyncio.open_connection(host, port), headers=headers)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, bytes]:
        """The answer's status, head (lowercased) and body; `headers` for this request only."""
        length = f"Content-Length: {len(body)}\r\n" if body or method != "GET" else ""
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._writer.write(
            (
                f"{method} {path} HTTP/1.1\r\nHost: khabar\r\n{self._headers}{extra}{length}\r\n"
            ).encode()
            + body
        )
        head = (await self._reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head.split(b" ", 2)[1])
        if b"\r\ntransfer-encoding: chunked" in head:
            return status, head, await self._read_chunked()
        size = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.startswith(b"content-length:")
            ),
            0,
        )
        return status, head, await self._reader.readexactly(size)

    async def _read_chunked(self) -> bytes:
        """A chunked body (the edge streams a page it is still assembling)."""
        body = b""
        while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += (await self._reader.readexactly(size + 2))[:-2]
        await self._reader.readuntil(b"\r\n")  # no trailers are sent
        return body

    async def get(self, path: str) -> tuple[int, bytes]:
        status, _, body = await self.request("GET", path)
        return status, body

    def close(self) -> None:
        self._writer.close()
