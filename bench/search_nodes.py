"""Search nodes benchmark (issue 24): readers' queries/s at p99 ≤ 200 ms with 1, 2 and 3 nodes.

    .venv/bin/python -m bench.search_nodes --articles 1000 --seconds 8

One run: Redis, ingest, enrich and search node 1; real articles published
through the pipeline; then readers at rising concurrency against every
search process (each spreads its queries over the nodes that are ready). Node
2 is added (it catches up from the log before it serves), the same load
again; node 3, again. Per setting: the best queries/s whose p99 stays within
200 ms, and CPU milliseconds per query of each Meilisearch and search
process, so the scaling shows in CPU and not only in wall time (on 2 cores
the gain in wall time is bounded: every node shares them). Last, three nodes
at the best concurrency, with node 3's Meilisearch killed halfway: errors,
queries/s and p99 before and after.

Prints tables; it is not a test.
"""

import argparse
import asyncio
import time
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from rich.console import Console
from rich.table import Table

from bench.harness import BenchSystem, KeepAliveClient, load_articles, percentile, running_system
from bench.pipeline import post_all, request_bodies, streams_drained, wait_until
from bench.search import make_queries

console = Console(width=150)
CONCURRENCY = (1, 2, 4, 8, 16, 32)
P99_BUDGET_MS = 200.0


@dataclass
class Level:
    nodes: int
    clients: int
    latencies_ms: list[float]
    errors: int
    qps: float
    cpu_ms: dict[str, float]  # CPU ms per query, by process

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 0.99)


def search_ports(system: BenchSystem) -> list[int]:
    return [port for name, port in system.ports.items() if name.startswith("search")]


async def readers(
    ports: list[int], queries: list[str], clients: int, seconds: float
) -> tuple[list[float], int, float]:
    """`clients` readers, each on its own keep-alive connection to one search process in turn."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def reader(n: int) -> None:
        nonlocal errors
        client = await KeepAliveClient.open("127.0.0.1", ports[n % len(ports)])
        asked = n
        try:
            while time.perf_counter() < deadline:
                path = f"/v1/search?q={quote(queries[asked % len(queries)])}"
                asked += clients
                started = time.perf_counter()
                try:
                    status, _ = await client.get(path)
                except (OSError, asyncio.IncompleteReadError):
                    errors += 1
                    client.close()
                    client = await KeepAliveClient.open("127.0.0.1", ports[n % len(ports)])
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                errors += status != 200
        finally:
            client.close()

    started = time.perf_counter()
    await asyncio.gather(*(reader(n) for n in range(clients)))
    return latencies, errors, len(latencies) / (time.perf_counter() - started)


def node_cpu(system: BenchSystem) -> dict[str, float]:
    return {
        name: seconds
        for name, seconds in system.cpu_by_process().items()
        if name.startswith(("search", "meilisearch"))
    }


async def measure(
    system: BenchSystem, queries: list[str], nodes: int, clients: int, seconds: float
) -> Level:
    before = node_cpu(system)
    latencies, errors, qps = await readers(search_ports(system), queries, clients, seconds)
    after = node_cpu(system)
    asked = max(1, len(latencies))
    cpu = {name: (after[name] - before[name]) * 1000 / asked for name in after if name in before}
    return Level(nodes, clients, latencies, errors, qps, cpu)


async def node_ready(system: BenchSystem, name: str) -> bool:
    """Search process 1 sees node `name` ready (caught up with the log, answering)."""
    ops = next(p.ops_port for p in system.group.processes if p.name == "search")
    async with httpx.AsyncClient(timeout=5) as client:
        seen = (await client.get(f"http://127.0.0.1:{ops}/search-nodes")).json()
    return any(node["node"] == name and node["ready"] for node in seen)


def best(levels: list[Level]) -> Level | None:
    within = [level for level in levels if level.p99 <= P99_BUDGET_MS and not level.errors]
    return max(within, key=lambda level: level.qps, default=None)


def levels_table(levels: list[Level]) -> Table:
    table = Table(title="Readers' /v1/search by number of search nodes")
    for column in ("nodes", "clients", "q/s", "p50 ms", "p99 ms", "errors", "CPU ms per query"):
        table.add_column(column, justify="right" if column != "CPU ms per query" else "left")
    for level in levels:
        cpu = ", ".join(f"{name} {ms:.1f}" for name, ms in sorted(level.cpu_ms.items()))
        table.add_row(
            str(level.nodes),
            str(level.clients),
            f"{level.qps:.0f}",
            f"{percentile(level.latencies_ms, 0.5):.0f}",
            f"{level.p99:.0f}",
            str(level.errors),
            cpu,
        )
    return table


def summary_table(levels: list[Level], nodes: int) -> Table:
    table = Table(title=f"Best q/s with p99 ≤ {P99_BUDGET_MS:.0f} ms")
    for column in ("nodes", "clients", "q/s", "p99 ms", "Meilisearch CPU ms/query (all nodes)"):
        table.add_column(column, justify="right")
    for count in range(1, nodes + 1):
        found = best([level for level in levels if level.nodes == count])
        if found is None:
            table.add_row(str(count), "-", "none within budget", "", "")
            continue
        meili = sum(ms for name, ms in found.cpu_ms.items() if name.startswith("meilisearch"))
        table.add_row(
            str(count), str(found.clients), f"{found.qps:.0f}", f"{found.p99:.0f}", f"{meili:.1f}"
        )
    return table


async def killed_mid_run(
    system: BenchSystem, queries: list[str], clients: int, seconds: float
) -> Table:
    """The readers at `clients` for `seconds`; the last node's Meilisearch killed halfway."""
    ports = search_ports(system)
    victim = next(p for p in system.group.processes if p.name == f"meilisearch-{len(ports)}")
    first = await readers(ports, queries, clients, seconds / 2)
    victim.kill()
    second = await readers(ports, queries, clients, seconds / 2)
    table = Table(title=f"{len(ports)} nodes, {clients} clients, {victim.name} killed halfway")
    for column in ("half", "q/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    for name, (latencies, errors, qps) in (("before", first), ("after", second)):
        table.add_row(
            name,
            f"{qps:.0f}",
            f"{percentile(latencies, 0.5):.0f}",
            f"{percentile(latencies, 0.99):.0f}",
            str(errors),
        )
    return table


async def run(count: int, seconds: float, nodes: int) -> None:
    articles = load_articles(count)
    queries = make_queries(articles, 200)
    console.print(f"{len(articles)} real articles, {len(queries)} queries; starting…")
    env = {"KHABAR_RATE_LIMIT_PER_MINUTE": "0", "KHABAR_LOG_LEVEL": "WARNING"}
    with running_system(services=("ingest", "enrich", "search"), extra_env=env) as system:
        await post_all(system, request_bodies(articles))
        await wait_until(lambda: streams_drained(system))
        levels: list[Level] = []
        for count_nodes in range(1, nodes + 1):
            if count_nodes > 1:
                started = time.perf_counter()
                system.add_search_node(str(count_nodes))
                await wait_until(lambda n=count_nodes: node_ready(system, str(n)))
                console.print(
                    f"node {count_nodes} caught up from the log and joined after "
                    f"{time.perf_counter() - started:.1f} s"
                )
            for clients in CONCURRENCY:
                level = await measure(system, queries, count_nodes, clients, seconds)
                levels.append(level)
                console.print(
                    f"  {count_nodes} node(s), {clients:>2} clients: {level.qps:5.0f} q/s, "
                    f"p99 {level.p99:5.0f} ms, {level.errors} errors"
                )
        console.print(levels_table(levels))
        console.print(summary_table(levels, nodes))
        top = best([level for level in levels if level.nodes == nodes])
        clients = top.clients if top else 8
        console.print(await killed_mid_run(system, queries, clients, 2 * seconds))
    console.print(
        "2 cores shared by every process here (and by other work on the machine): "
        "figures are rough; more nodes cannot add cores, compare CPU per query."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=8.0, help="per concurrency level")
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.articles, args.seconds, args.nodes))


if __name__ == "__main__":
    main()
