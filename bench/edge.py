"""The edge (issue 22): cached pages at the edge and fragments at render, beside the smallest origin.

    .venv/bin/python -m bench.edge --articles 1000 --seconds 5

Starts its own Redis, one render process that purges the edge, and varnishd
with `edge/khabar.vcl`; publishes `--articles` real articles through the
enriched stream, then in one run:

- cached page hits through the edge (home, sections, every article page,
  assembled by ESI) beside the smallest ASGI server serving the same bytes
  from Redis (`bench.minimal_origin`: uvicorn + starlette + redis.asyncio,
  one process), `--connections` connections, with wrk;
- render as the edge's origin, serving article fragments from its cache,
  beside the same minimal server serving the same fragment bytes;
- withdrawal → gone at the edge: `--changes` withdrawals at `--rate` a
  second, each timed from its event until the edge answers 410 for the
  article and its section's listing no longer shows it (p50, p99);
- the edge's hit ratio during a replay of `--replay` reader requests (home,
  sections, articles by a Zipf law), from varnishstat. Searches are not
  replayed: the edge passes them to search uncached by design.

Needs Debian's `wrk` (apt-get install wrk). Prints tables; it is not a test.

Two runs on a 2-core machine shared with five other engineers' test runs
(load average 8 to 14, so every server was starved of CPU and the ratios are
rough): 500 articles, 4 s each: edge 428 req/s (p50 41 ms) beside the
minimal origin's 529 (0.81x); render's cached fragments 357 beside 720
(0.50x); Zipf replay hit ratio 97.2 %; 20 withdrawals at 10/s gone from page
and listing at the edge p50 0.24 s, p99 0.48 s. At load 14 with 300
articles: edge 552 vs 334 (1.65x), render 127 vs 347 (0.37x), withdrawals
p50 4.3 s, p99 5.1 s.
"""

import argparse
import asyncio
import os
import random
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis
from rich.console import Console
from rich.table import Table

from bench.harness import load_articles, percentile
from bench.render import enriched_events, render_throughput
from khabar_dev.edge import start_edge
from khabar_dev.processes import (
    REPO_ROOT,
    ProcessGroup,
    free_port,
    start_redis,
    start_service,
    wait_until,
)
from khabar_shared.events import EnrichedEvent, encode_event
from khabar_shared.names import ENRICHED_STREAM

WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, paths: list[str], connections: int, seconds: int, work: Path) -> dict[str, float]:
    """Requests/s and latency percentiles (ms) of wrk cycling through `paths`."""
    (work / "paths.txt").write_text("\n".join(paths) + "\n")
    (work / "paths.lua").write_text(WRK_SCRIPT)
    done = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(work / "paths.lua"),
            url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "WRK_PATHS": str(work / "paths.txt")},
        check=True,
    )
    found = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))}
    for share, value, unit in re.findall(
        r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\b", done.stdout, re.MULTILINE
    ):
        found[f"p{share}"] = float(value) * UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    found["errors"] = float(errors.group(1)) if errors else 0.0
    return found


def copy_to_minimal(source: str, paths: list[str], redis_url: str) -> None:
    """The bytes `source` answers for each path, kept where the minimal origin serves them."""
    client = redis.Redis.from_url(redis_url)
    with httpx.Client(base_url=source, timeout=30) as http:
        for path in paths:
            client.set(f"bench:origin:{path}", http.get(path).content)


def start_minimal(group: ProcessGroup, redis_url: str, port: int, logs: Path) -> str:
    group.start(
        "minimal",
        [
            str(REPO_ROOT / ".venv/bin/python"),
            "-m",
            "uvicorn",
            "bench.minimal_origin:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, "BENCH_REDIS_URL": redis_url, "PYTHONPATH": str(REPO_ROOT)},
        log_path=logs / "minimal.log",
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(url), 30, "minimal origin")
    return url


def _answers(url: str) -> bool:
    try:
        httpx.get(url + "/", timeout=1)
        return True
    except httpx.HTTPError:
        return False


def withdrawal(article_id: str) -> EnrichedEvent:
    return EnrichedEvent(
        event_id=str(uuid.uuid4()),
        type="article.withdrawn",
        article_id=article_id,
        version=2,
        correlation_id=str(uuid.uuid4()),
        source_event_id=str(uuid.uuid4()),
    )


async def time_withdrawals(
    edge: str, redis_url: str, victims: list[tuple[str, str]], rate: float
) -> list[float]:
    """Seconds from each withdrawal's event until the edge no longer shows the article anywhere."""
    client = redis.asyncio.Redis.from_url(redis_url)
    async with httpx.AsyncClient(base_url=edge, timeout=10) as http:

        async def one(article_id: str, listing: str, delay: float) -> float:
            await asyncio.sleep(delay)
            started = time.perf_counter()
            await client.xadd(ENRICHED_STREAM, encode_event(withdrawal(article_id)))
            while True:
                page, shown = await asyncio.gather(
                    http.get(f"/articles/{article_id}"), http.get(listing)
                )
                if page.status_code == 410 and article_id not in shown.text:
                    return time.perf_counter() - started
                await asyncio.sleep(0.02)

        try:
            return list(
                await asyncio.gather(
                    *(one(i, listing, n / rate) for n, (i, listing) in enumerate(victims))
                )
            )
        finally:
            await client.aclose()


def varnish_counters(work_dir: Path) -> dict[str, int]:
    done = subprocess.run(
        [
            "varnishstat",
            "-n",
            str(work_dir / "varnishd"),
            "-1",
            "-f",
            "MAIN.cache_hit",
            "-f",
            "MAIN.cache_miss",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return {name: int(value) for name, value in re.findall(r"MAIN\.(\w+)\s+(\d+)", done.stdout)}


def replay(edge: str, paths: list[str], requests: int) -> None:
    """Readers: a Zipf law over the pages (home and sections first, as traffic is)."""
    weights = [1 / (rank + 1) for rank in range(len(paths))]
    picks = random.Random(22).choices(paths, weights, k=requests)
    with httpx.Client(base_url=edge, timeout=10) as http:
        for path in picks:
            http.get(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--replay", type=int, default=3000)
    args = parser.parse_args()
    console = Console()
    group = ProcessGroup()
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        work = Path(tmp)
        try:
            redis_url = start_redis(group, work / "redis", free_port())
            render_port, edge_port, token = free_port(), free_port(), uuid.uuid4().hex
            edge = f"http://127.0.0.1:{edge_port}"
            start_service(
                group,
                "render",
                {
                    "KHABAR_REDIS_URL": redis_url,
                    "KHABAR_LOG_LEVEL": "WARNING",
                    "KHABAR_EDGE_PURGE_URL": edge + "/",
                    "KHABAR_EDGE_PURGE_TOKEN": token,
                    "KHABAR_SITE_BASE_URL": edge,
                },
                render_port,
                log_path=work / "render.log",
            )
            render = f"http://127.0.0.1:{render_port}"
            start_edge(group, work / "edge", edge_port, render_port, free_port(), token)
            minimal = start_minimal(group, redis_url, free_port(), work)
            articles = load_articles(args.articles)
            acked, _, _ = asyncio.run(
                render_throughput(
                    redis.asyncio.Redis.from_url(redis_url), enriched_events(articles)
                )
            )
            sections = sorted(
                {
                    httpx.get(f"{render}/articles/{a.id}").status_code and a.category
                    for a in articles[:50]
                }
            )
            pages = [
                "/",
                *(f"/category/{s}" for s in sections),
                *(f"/articles/{a.id}" for a in articles),
            ]
            fragments = [f"/fragments/article/{a.id}" for a in articles]
            copy_to_minimal(edge, pages, redis_url)
            copy_to_minimal(render, fragments, redis_url)
            for path in pages:  # every page in the edge's cache
                httpx.get(edge + path)

            rows = [
                ("edge, cached pages", wrk(edge, pages, args.connections, args.seconds, work)),
                (
                    "minimal origin, same pages",
                    wrk(minimal, pages, args.connections, args.seconds, work),
                ),
                (
                    "render, cached fragments",
                    wrk(render, fragments, args.connections, args.seconds, work),
                ),
                (
                    "minimal origin, same fragments",
                    wrk(minimal, fragments, args.connections, args.seconds, work),
                ),
            ]
            table = Table(
                title=f"GET with wrk, {args.connections} connections, {args.seconds} s each "
                f"({len(pages)} pages, {len(fragments)} fragments)"
            )
            for column in ("server", "requests/s", "p50 ms", "p99 ms", "non-2xx"):
                table.add_column(column)
            for name, found in rows:
                table.add_row(
                    name,
                    f"{found['rps']:,.0f}",
                    f"{found.get('p50', float('nan')):.2f}",
                    f"{found.get('p99', float('nan')):.2f}",
                    f"{found['errors']:.0f}",
                )
            console.print(table)
            console.print(
                f"edge / minimal: {rows[0][1]['rps'] / rows[1][1]['rps']:.2f}x requests/s; "
                f"render / minimal: {rows[2][1]['rps'] / rows[3][1]['rps']:.2f}x; "
                f"render applied {len(articles)} articles in {acked:.1f} s"
            )

            before = varnish_counters(work / "edge")
            replay(edge, pages, args.replay)
            after = varnish_counters(work / "edge")
            hits = after["cache_hit"] - before["cache_hit"]
            misses = after["cache_miss"] - before["cache_miss"]
            console.print(
                f"replay of {args.replay} reader requests (Zipf): hit ratio "
                f"{hits / max(1, hits + misses):.1%} ({hits} hits, {misses} misses, "
                "ESI fragments included)"
            )

            victims = [(a.id, f"/category/{a.category}") for a in articles[-args.changes :]]
            for article_id, listing in victims:
                httpx.get(f"{edge}/articles/{article_id}")
                httpx.get(edge + listing)
            seconds = asyncio.run(time_withdrawals(edge, redis_url, victims, args.rate))
            console.print(
                f"{len(seconds)} withdrawals at {args.rate:g}/s, event → gone from its page "
                f"and listing at the edge: p50 {percentile(seconds, 0.5):.3f} s, "
                f"p99 {percentile(seconds, 0.99):.3f} s, max {max(seconds):.3f} s"
            )
        finally:
            group.stop_all()


if __name__ == "__main__":
    main()
