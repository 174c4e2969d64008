"""The edge (issue 22): cached pages at the edge, fragments at render, beside the smallest origin.

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
  article and its section's listing no longer shows it (p50, p99); a victim
  still shown after `--withdrawal-timeout` seconds is given up on and named
  with what still shows it (`STUCK <id>: still shown at <urls>`), and
  `--hold-when-stuck` keeps varnishd, render and Redis up for a look;
- the edge's hit ratio during a replay of `--replay` reader requests (home,
  sections, articles by a Zipf law, and `--search-share` of them searches
  from the search page, queries by a Zipf law too), from varnishstat: hits
  against misses of what the edge caches (ESI fragments included), and the
  searches it passes to search uncached by design.

Where the time goes: for each wrk run, the CPU seconds used by the server
(varnishd's processes, render, the minimal origin) and by wrk itself, and for
the edge's the origin fetches it made (a cached page must make none).
Search runs with its rate limit off: every replayed reader comes from
127.0.0.1.

Needs Debian's `wrk` (apt-get install wrk). Prints tables; it is not a test.
Under heavy load use `--max-age 600` for the cached-hit comparison: with 30 s
the copies fetched before wrk may expire during its run (the table's origin
fetches say so), and the edge is then measured revalidating, not hitting.

Runs of 2026-12-08, session 15 (the ceiling: what any server can do here for the same bytes),
500 articles, max-age 600, wrk -t2 64 connections 5 s, this file's WRK_SCRIPT over the same 504
paths. Bytes a cached hit answers (body): home 22,106, sections 17,058-18,356, articles
6,551-27,040 (median 14,606), 14,870 on average over wrk's mix; CSS is already its own file
(`/static/site.css`), the pages have no blank lines left, and the body is the story's text. Beside
the edge and the minimal origin, in the same rounds: nginx 1.22 (Debian's nginx-light, 2 workers,
sendfile, keep-alive, no access log) serving the same bodies as static files, and a bare varnishd
(the builtin VCL, in front of that nginx, every page cached). Per request, server CPU + wrk CPU:
- 02:24, load 7-10: edge 21.0-24.9 + 8.9-9.6 us (13.8-44.2k/s), minimal 128-137 + 15-16 us
  (2.1-3.4k/s), nginx 4.7-5.6 + 4.5-5.3 us (48-88k/s).
- 02:41, load 12-21 (edge on this branch's vsl_mask): edge 22.1-23.0 + 10.0-10.4 us (27-34k/s),
  bare varnishd 18.2-19.6 + 9.0-9.9 us (60-64k/s), the same with most log tags off 16.7-17.2 +
  9.2-9.7 us (65-68k/s), minimal 133-139 + 13-16 us (2.0-3.4k/s), nginx 4.8-5.6 + 4.5-5.4 us
  (76-178k/s).
- bare varnishd against nginx alone, 02:29, load 10-13: 17.4-17.9 + 8.3-8.9 us against 5.1-6.0 +
  5.2-6.0 us.
So with every core free, requests/s <= 2 cores / (server + wrk us): ~200k/s for nginx, 73-78k/s
for a bare varnishd with its default log (17.4-19.6 + 8.3-9.9 us), ~62k/s for the edge (22 + 10
us). 10x the minimal origin measured quiet (7.7-7.9k/s, 02:25, the lead's run) is 77-79k/s: at or
past what a varnishd with no VCL of ours does on this machine, and the edge's hit would have to
cost less than that bare varnishd's.
What a hit costs varnishd is its thread per connection (perf, 4 s of the edge under wrk: 59 % in
the kernel, a quarter of all samples the context switch back into the worker that poll() woke;
per request one read, one writev, one poll, one context switch, no futex waits, the same as
the bare varnishd's counts), then the shared-memory log's formatting (printf ~5 %); the VCL's
compiled code and its regexes ~2 %. wrk pays 9-10 us a request against either varnishd and 5
against nginx for the same bytes. Changing the log mask at runtime on one varnishd, rounds ABBA,
load 8-20: varnishd's default mask 23.7-24.7 us a hit (median 24.2), khabar_dev.edge's VSL_MASK
(no RespHeader, RespUnset, ReqUnset, RespProtocol, RespReason, VCL_call, VCL_return, Hit
records) 21.2-24.0 us (median 22.5); timeout_linger 0.05/0.2/1 s the same (no session went to
the waiter), 0 doubles it (47-48 us); workspace_client 64k the same.
Whole `--edge-only --rounds 3` runs, main (7c5c233) and the branch alternating, 02:46-02:51, load
11-13: edge / minimal requests/s 8.68 7.57 8.27x, 10.50 8.43 9.54x, 8.30 13.44 4.13x, 13.31 4.78
20.26x (by server CPU main 5.15-6.80x, branch 5.77-7.43x): the load decides the ratio run by run.

Runs of 2026-12-07/08, session 14 (issue 22's hang: a purge between a page shell's head and its
body; the edge now drops such an object once it is in, khabar_recheck_purge), 500 articles,
max-age 600, `--seconds 2 --replay 300 --changes 100 --withdrawal-timeout 60`, main's VCL and the
branch's in two loops side by side, 23:39-00:37, load 8.6-28 (both loops and other sessions):
- main: 23 runs, 23 finished (no victim stuck in 2,300 withdrawals); withdrawals p50 0.61-7.99 s
  (median 3.95), p99 1.64-11.31 s (median 7.63).
- branch: 23 runs, 23 finished; p50 0.48-6.99 s (median 4.19), p99 1.39-11.71 s (median 7.62).
  The recheck dropped 0-7 objects a run (50 in 17 logged runs), one refetch each; most followed
  purges that did not name them. Seconds, both sides alike, are render's lag under the load.

Runs of 2026-12-08, session 14 (the edge's hit path: 3 regex matches a page hit
where there were 7, each a malloc and a free; X-Forwarded-For rewritten only when a
client sent one; wrk's requests formatted once per thread), 500 articles, max-age 600,
base (b1ec4b1) and branch alternating, load 14-24 (other sessions' work running):
- `--edge-only --rounds 3`, this file on both sides, base / branch / base / branch:
  edge / minimal 12.30 11.05 6.81x, 7.15 9.30 7.44x, 9.23 8.71 10.75x, 8.79 11.36
  9.43x requests/s; by server CPU 6.09 5.52 4.48x, 5.84 6.55 6.58x, 6.30 4.64 5.10x,
  5.62 5.21 5.83x; the edge's CPU per request 36 37 50, 32 32 38, 46 45 43, 48 47 41 us
  (the last at load 23-24, the others 14-20).
- whole runs, each side's own bench, branch / base / branch / base: edge / minimal
  11.53x, 5.88x, 9.21x, 7.74x requests/s; by server CPU 6.24x,
  5.46x, 5.57x, 5.87x; load 23.6, 17.1, 16.3, 15.2.
Counted with uprobes on varnishd (perf stat, the same wrk): per cached page hit, regex
matches 7.0 -> 3.0, jemalloc mallocs 7.0 -> 3.0 (all of them the matches' data),
client.ip formatted 1 -> 0, header sets 6 -> 5; then 2 matches, search's regex behind a
substring test (measured after the runs above). Where a hit's CPU goes (perf, dwarf
call graphs, varnishd under wrk): ~55 % in the kernel (the answer's writev over loopback
~25 %, poll and the context switch between requests ~26 %, the request's read ~9 %),
vcl_recv 9-10 % and vcl_deliver 3.5 % (before), the cache lookup ~4.5 %, the core's
Age/Via/X-Varnish headers ~4.7 %, the shared-memory log ~4-5 % (~90 records' calls a
hit; varnishlog and varnishncsa readers of it in tools and tests need most tags).
ESI is not on the hit path: the assembled page is one object with no filters.

Runs of 2026-12-07, session 13 (render's cached-fragment reads on a lane: one
connection all requests share, `khabar_shared/lane.py`), 500 articles, max-age 600,
base (f86852d) and branch alternating in one sitting, load 10-21 (other sessions'
benches and tests running):
- `--origin-only --rounds 3`: branch render / minimal 2.38, 2.19, 2.07x requests/s
  (3.12, 2.19, 2.26x by server CPU per request), then base 1.22, 0.99, 0.85x (0.90,
  1.24, 1.18x).
- whole runs, branch / base / branch / base: render / minimal 2.14x (CPU 2.23x),
  0.89x (0.93x), 3.01x (2.35x), 0.94x (0.81x); edge / minimal 6.1, 8.1, 10.3, 12.3x;
  withdrawals p50/p99 0.95/2.4, 2.3/2.7, 2.4/3.0, 2.0/2.6 s (at load 14-21 both
  sides alike: the load, not the change, far from session 12's 0.4-0.6 s).
Render's profile after (cProfile by CPU time, cached fragments under wrk): most of
what is left is uvicorn's writing of the head (a regex check of each of the answer's
twelve headers) and the body, 57 % of the fast path, then the HTTP metrics (~10 %);
the read, lane included, ~13 % (under redis-py it was two thirds).

Runs of 2026-12-07, session 12 (inner requests on the khabar_self Unix
socket, fetches overlapped by a purge left uncached, withdrawals polled with
the harness's lean client), 500 articles, max-age 600, same machine:
- 17:34, load 6.3-7.7, before the purge fix and the lean poller: edge 11.4x
  the minimal origin (p99 16 ms vs its p50 40 ms), render 0.84x, hit ratio
  99.9 %; withdrawals p50 0.32 s, p99 524 s: one page kept its pre-withdrawal
  copy at the edge (a fetch in flight across the purge) until purged by hand.
- 18:01, load 8.6-9.5: edge 9.8x (p99 13 ms vs p50 34 ms; CPU 5.8x), render
  0.67x (CPU 0.76x); withdrawals p50 0.42 s, p99 0.64 s.
- 18:07, load 7.1-9.1: edge 10.2x (p99 68 ms vs p50 21 ms; CPU 6.9x), render
  0.77x (CPU 0.79x); withdrawals p50 0.22 s, p99 0.41 s.
After render keeps its fast path's answers by their stored bytes:
- 18:12, load 4.8-7.8: edge 11.4x (p99 34 ms vs p50 43 ms; CPU 6.8x), render
  0.88x (CPU 0.95x); withdrawals p50 0.28 s, p99 0.59 s.
- 18:14, load 7.7-9.5: edge 4.7x (p99 28 ms vs p50 29 ms; CPU 5.7x; the
  edge had 1.5 CPU-seconds in its 5 s), render 0.78x (CPU 0.93x);
  withdrawals p50 0.05 s, p99 0.07 s.
Render's profile before that (py-spy, wrk on cached fragments): a third of its samples in
uvicorn writing the head and the body (two writes per answer, as the minimal
origin's), a fifth in the Lua read through redis-py's Script wrapper, 7 % in
pydantic parsing the stored fragment.

Runs of 2026-12-07, session 11 (the edge caching assembled pages, render's
fast path in one round trip in front of FastAPI), same machine, load 8 to 18,
500 articles, max-age 600, each beside the code before it in the same hour:
- after (load 8-11): edge 4,573 req/s vs minimal 409 (11.2x; p99 46 ms vs
  minimal p50 128 ms), by server CPU per request 96 vs 629 us (6.5x); home
  and sections 4,983 vs 455 (11.0x, CPU 5.4x); render 251 vs 432 (0.58x,
  CPU 962 vs 588 us: 0.61x); replay hit ratio 99.9 %; withdrawals p50
  4.1 s, p99 5.2 s.
- before (load 15-18): edge 1,991 vs 756 (2.6x, CPU 204 vs 547 us: 2.7x);
  home and sections 0.57x (CPU 0.51x); render CPU 0.45x; withdrawals
  p50 5.7 s, p99 7.5 s.
Second pair, 15:31-15:39: after (load 10-11) edge 7,332 vs 782 (9.4x; p99 30 ms
vs p50 69 ms; CPU 86 vs 545 us: 6.3x), home and sections 10.5x (CPU 6.0x),
render 0.77x (CPU 0.71x), withdrawals 3.9/5.5 s; before (load 9-16) edge
3.2x (CPU 3.5x), home and sections 0.37x, render 0.47x (CPU 0.37x),
withdrawals 3.3/4.5 s.
Withdrawals alone (300 articles, 30 at 10/s, runs alternating at load 8-10):
after 4.3/5.9 s (p50/p99; 3.2/5.3 s with the warm lane's lock slice at 64),
before 2.4/4.1 and 4.1/5.6 s: no difference the load's noise lets one see,
and far from 1 s. With max-age 30 (load 9-10), after: withdrawals 2.8/3.8 s.

Earlier runs, session 10:

On a 2-core machine shared with six other engineers (load
average 9 to 20: every process starved of CPU, ratios rough), 500 articles,
5 s each, card includes on:
- max-age 30, load 9: edge 6,135 req/s beside the minimal origin's 1,595
  (3.85x; edge p99 121 ms, minimal p50 36 ms; no origin fetch during the
  run); render's cached fragments 397 beside 1,021 (0.39x); replay hit ratio
  93.7 % (200 searches passed); 20 withdrawals p50 0.54 s, p99 0.66 s.
- max-age 600, load 19: edge 2,288 vs 413 (5.55x; p99 154 ms vs p50 129 ms);
  render 151 vs 561 (0.27x); home and sections alone, edge 279 vs 513
  (0.54x); replay hit ratio 100 %; withdrawals p50 2.6 s, p99 3.4 s.
Where the CPU goes (wrk's own CPU beside the server's, same machine): a cached
object without ESI costs the edge ~27-34 us, an article page (shell and two
includes) ~80 us, a home or section page with an include per card ~500 us
(~85 us when sent whole); render's cached fragment ~2-4x the minimal
origin's, which makes one Redis command where render makes two (the
fragment, and the tombstone check that keeps a withdrawn story from being
served before its purge).
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
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import redis
from rich.console import Console
from rich.table import Table

from bench.harness import (
    CLOCK_TICKS,
    KeepAliveClient,
    load_articles,
    percentile,
    running_system,
)
from bench.render import enriched_events, render_throughput
from bench.search import make_queries
from khabar_dev.edge import start_edge
from khabar_dev.processes import REPO_ROOT, ProcessGroup, free_port, wait_until
from khabar_dev.settings import EdgeThrottleSettings
from khabar_shared.events import EnrichedEvent, encode_event
from khabar_shared.names import ENRICHED_STREAM

# Each request is written once per wrk thread, in init (where wrk has set the Host header),
# not formatted again for every request: wrk shares the machine with the server it
# measures, and its own CPU per request is taken from that server's (the same for both).
WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local requests = {}
function init(args)
  for k, path in ipairs(paths) do requests[k] = wrk.format("GET", path) end
end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return requests[i]
end
"""
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by a process and every process under it (varnishd's child)."""
    parents: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(stat.parent.name)
        parents.setdefault(int(fields[1]), []).append(child)
        used[child] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += used.get(current, 0.0)
        todo += parents.get(current, [])
    return total


def wrk(
    url: str,
    paths: list[str],
    connections: int,
    seconds: int,
    work: Path,
    server_pid: int,
    threads: int = 2,
) -> dict[str, float]:
    """Requests/s, latency percentiles (ms) and CPU seconds (server, wrk) of wrk over `paths`."""
    (work / "paths.txt").write_text("\n".join(paths) + "\n")
    (work / "paths.lua").write_text(WRK_SCRIPT)
    server_before = tree_cpu_seconds(server_pid)
    children_before = os.times()
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
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
    children = os.times()
    found = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1)),
        "requests": float(re.search(r"(\d+) requests in", done.stdout).group(1)),
        "server_cpu": tree_cpu_seconds(server_pid) - server_before,
        "wrk_cpu": (children.children_user - children_before.children_user)
        + (children.children_system - children_before.children_system),
    }
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


def start_minimal(group: ProcessGroup, redis_url: str, port: int, logs: Path) -> tuple[str, int]:
    managed = group.start(
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
    return url, managed.process.pid


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


@dataclass
class Withdrawn:
    """One victim's withdrawal as the poller saw it: how long until gone, or what still showed."""

    article_id: str
    listing: str
    seconds: float | None = None  # None: still shown when the poll gave up
    page_status: int = 0
    listing_shows: bool = True
    reconnects: int = 0  # connections the edge closed while this victim was polled

    def stale_urls(self) -> list[str]:
        urls = [] if self.page_status == 410 else [f"/articles/{self.article_id}"]
        return urls + ([self.listing] if self.listing_shows else [])


@dataclass
class Poller:
    """One URL asked again and again on a keep-alive connection, opened again if the edge
    closes it."""

    host: str
    port: int
    path: str
    client: KeepAliveClient
    reconnects: int = 0

    @classmethod
    async def open(cls, host: str, port: int, path: str) -> "Poller":
        return cls(host, port, path, await KeepAliveClient.open(host, port))

    async def get(self) -> tuple[int, bytes]:
        try:
            return await self.client.get(self.path)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.client.close()
            self.reconnects += 1
            self.client = await KeepAliveClient.open(self.host, self.port)
            return await self.client.get(self.path)

    def close(self) -> None:
        self.client.close()


async def time_withdrawals(
    edge: str, redis_url: str, victims: list[tuple[str, str]], rate: float, timeout: float
) -> list[Withdrawn]:
    """Each withdrawal's event until the edge no longer shows the article anywhere.

    Each victim's page and listing are polled on connections of their own with
    the harness's lean client: with httpx, 60 requests in flight cost the
    polling process more than the edge took to answer them, and the figure was
    the poller's queue as much as the edge's. A victim still shown after
    `timeout` seconds is given up on and reported with what still shows it.
    """
    client = redis.asyncio.Redis.from_url(redis_url)
    parts = urlsplit(edge)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    async def one(article_id: str, listing: str, delay: float) -> Withdrawn:
        found = Withdrawn(article_id, listing)
        # Opened after the wait: the edge closes a connection idle for its timeout_idle (5 s).
        await asyncio.sleep(delay)
        page = await Poller.open(host, port, f"/articles/{article_id}")
        shown_in = await Poller.open(host, port, listing)
        started = time.perf_counter()
        await client.xadd(ENRICHED_STREAM, encode_event(withdrawal(article_id)))
        try:
            while time.perf_counter() - started < timeout:
                (found.page_status, _), (_, shown) = await asyncio.gather(
                    page.get(), shown_in.get()
                )
                found.listing_shows = article_id.encode() in shown
                if found.page_status == 410 and not found.listing_shows:
                    found.seconds = time.perf_counter() - started
                    break
                await asyncio.sleep(0.02)
            found.reconnects = page.reconnects + shown_in.reconnects
            return found
        finally:
            page.close()
            shown_in.close()

    try:
        return list(
            await asyncio.gather(
                *(one(i, listing, n / rate) for n, (i, listing) in enumerate(victims))
            )
        )
    finally:
        await client.aclose()


def report_withdrawals(found: list[Withdrawn], args: argparse.Namespace, console: Console) -> None:
    seconds = [w.seconds for w in found if w.seconds is not None]
    stuck = [w for w in found if w.seconds is None]
    console.print(
        f"{len(found)} withdrawals at {args.rate:g}/s, event → gone from its page "
        f"and listing at the edge: p50 {percentile(seconds, 0.5):.3f} s, "
        f"p99 {percentile(seconds, 0.99):.3f} s, max {max(seconds, default=float('nan')):.3f} s"
        + (f"; {len(stuck)} still shown after {args.withdrawal_timeout:g} s" if stuck else "")
        + f"; connections closed by the edge: {sum(w.reconnects for w in found)}"
    )
    for victim in stuck:
        console.print(
            f"STUCK {victim.article_id}: still shown at {' '.join(victim.stale_urls())} "
            f"(page {victim.page_status})"
        )


COUNTERS = ("cache_hit", "cache_miss", "cache_hitmiss", "cache_hitpass", "s_pass", "backend_req")


def varnish_counters(work_dir: Path) -> dict[str, int]:
    fields = [arg for name in COUNTERS for arg in ("-f", f"MAIN.{name}")]
    done = subprocess.run(
        ["varnishstat", "-n", str(work_dir / "varnishd"), "-1", *fields],
        capture_output=True,
        text=True,
        check=True,
    )
    return {name: int(value) for name, value in re.findall(r"MAIN\.(\w+)\s+(\d+)", done.stdout)}


def zipf(items: list[str], count: int, rng: random.Random) -> list[str]:
    weights = [1 / (rank + 1) for rank in range(len(items))]
    return rng.choices(items, weights, k=count)


def replay(
    edge: str, paths: list[str], queries: list[str], requests: int, search_share: float
) -> dict[str, int]:
    """Readers: a Zipf law over the pages (home and sections first, as traffic is) and searches.

    Returns how many of each kind were answered by status.
    """
    rng = random.Random(22)
    searches = round(requests * search_share)
    picks = zipf(paths, requests - searches, rng)
    picks += [f"/search?q={quote(q)}" for q in zipf(queries, searches, rng)]
    rng.shuffle(picks)
    answered: dict[str, int] = {}
    with httpx.Client(base_url=edge, timeout=10) as http:
        for path in picks:
            kind = "search" if path.startswith("/search") else "page"
            status = http.get(path).status_code
            answered[f"{kind} {status}"] = answered.get(f"{kind} {status}", 0) + 1
    return answered


async def warm(base_url: str, paths: list[str], concurrency: int = 16) -> None:
    todo = iter(paths)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:

        async def worker() -> None:
            for path in todo:
                await http.get(path)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def wait_indexed(meili_url: str, master_key: str, index: str, count: int) -> None:
    """Until search has indexed every article (it reads the same enriched stream as render)."""

    def indexed() -> bool:
        stats = httpx.get(
            f"{meili_url}/indexes/{index}/stats",
            headers={"Authorization": f"Bearer {master_key}"},
            timeout=5,
        )
        found = stats.json() if stats.status_code == 200 else {}
        return found.get("numberOfDocuments", 0) >= count and not found.get("isIndexing")

    wait_until(indexed, 600, "search's index")


def cpu_per_request(found: dict[str, float]) -> float:
    """Microseconds of the server's CPU per answered request."""
    return found["server_cpu"] / max(1.0, found["requests"]) * 1e6


def cpu_ratio(fast: dict[str, float], baseline: dict[str, float]) -> float:
    """How many requests `fast` answers for one of `baseline`'s, CPU for CPU."""
    return cpu_per_request(baseline) / max(1e-9, cpu_per_request(fast))


def print_throughput(
    rows: list[tuple[str, dict[str, float]]], title: str, console: Console
) -> None:
    table = Table(title=title)
    for column in (
        "server",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "non-2xx",
        "server CPU s",
        "server CPU µs/request",
        "wrk CPU s",
    ):
        table.add_column(column)
    for name, found in rows:
        table.add_row(
            name,
            f"{found['rps']:,.0f}",
            f"{found.get('p50', float('nan')):.2f}",
            f"{found.get('p99', float('nan')):.2f}",
            f"{found['errors']:.0f}",
            f"{found['server_cpu']:.1f}",
            f"{cpu_per_request(found):.0f}",
            f"{found['wrk_cpu']:.1f}",
        )
    console.print(table)


def print_replay(
    before: dict[str, int], after: dict[str, int], answered: dict[str, int], console: Console
) -> None:
    seen = {name: after[name] - before[name] for name in COUNTERS}
    hits, misses = seen["cache_hit"], seen["cache_miss"] + seen["cache_hitmiss"]
    console.print(
        f"replay of {sum(answered.values())} reader requests (Zipf; answers {answered}): "
        f"hit ratio {hits / max(1, hits + misses):.1%} of what the edge caches ({hits} hits, "
        f"{misses} misses, ESI fragments included); {seen['s_pass']} searches passed to search "
        f"uncached; {seen['backend_req']} origin fetches in all"
    )


def alternating_rounds(
    args: argparse.Namespace,
    server: tuple[str, str, int],
    minimal: tuple[str, int],
    paths: list[str],
    what: str,
    work: Path,
    console: Console,
    warm_first: bool = False,
) -> None:
    """`server` (label, url, pid) beside the minimal origin over the same `paths`, `--rounds` times.

    Each round runs both with wrk one after the other, so the two figures of a round share
    the machine's load; the ratios of every round are printed at the end.
    """
    label, url, pid = server
    name = label.split(",")[0]
    ratios, cpu_ratios = [], []
    for round_ in range(args.rounds):
        if warm_first:
            asyncio.run(warm(url, paths))
        rows = [
            (label, wrk_run(args, url, paths, work, pid)),
            (f"minimal origin, same {what}", wrk_run(args, minimal[0], paths, work, minimal[1])),
        ]
        print_throughput(
            rows,
            f"round {round_ + 1}: GET with wrk -t{args.threads}, {args.connections} connections, "
            f"{args.seconds} s each ({len(paths)} {what})",
            console,
        )
        ratios.append(rows[0][1]["rps"] / rows[1][1]["rps"])
        cpu_ratios.append(cpu_ratio(rows[0][1], rows[1][1]))
        console.print(
            f"{name} / minimal: {ratios[-1]:.2f}x requests/s, {cpu_ratios[-1]:.2f}x by server CPU "
            f"per request ({name} {cpu_per_request(rows[0][1]):.0f} us, minimal "
            f"{cpu_per_request(rows[1][1]):.0f} us); load average {os.getloadavg()[0]:.1f}"
        )
    by_rps, by_cpu = (" ".join(f"{r:.2f}" for r in found) for found in (ratios, cpu_ratios))
    console.print(
        f"{name} / minimal over {args.rounds} rounds: requests/s {by_rps}x, by CPU {by_cpu}x"
    )


def wrk_run(
    args: argparse.Namespace, url: str, paths: list[str], work: Path, pid: int
) -> dict[str, float]:
    return wrk(url, paths, args.connections, args.seconds, work, pid, args.threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--threads", type=int, default=2, help="wrk's threads (each takes a core when it can)"
    )
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument(
        "--withdrawal-timeout",
        type=float,
        default=60.0,
        help="seconds after which a withdrawal still shown at the edge is reported as stuck",
    )
    parser.add_argument(
        "--hold-when-stuck",
        type=float,
        default=0.0,
        help="seconds to keep the stack up (varnishd, render, Redis) for a look when a "
        "withdrawal is stuck",
    )
    parser.add_argument("--replay", type=int, default=3000)
    parser.add_argument("--search-share", type=float, default=0.1)
    parser.add_argument(
        "--max-age",
        type=int,
        default=30,
        help="render's KHABAR_CACHE_MAX_AGE_S, which also bounds the edge's copies (default 30)",
    )
    parser.add_argument(
        "--no-card-includes",
        action="store_true",
        help="KHABAR_EDGE_CARD_INCLUDES=false: listings and home reach the edge whole",
    )
    parser.add_argument(
        "--origin-only",
        action="store_true",
        help="only render's cached fragments beside the minimal origin's, --rounds times "
        "alternating (no edge rows, replay or withdrawals)",
    )
    parser.add_argument(
        "--edge-only",
        action="store_true",
        help="only the edge's cached pages beside the minimal origin's, --rounds times "
        "alternating (no render rows, replay or withdrawals)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="with --origin-only or --edge-only")
    args = parser.parse_args()
    console = Console()
    edge_port, token = free_port(), uuid.uuid4().hex
    edge = f"http://127.0.0.1:{edge_port}"
    env = {
        "KHABAR_EDGE_PURGE_URL": edge + "/",
        "KHABAR_EDGE_PURGE_TOKEN": token,
        "KHABAR_SITE_BASE_URL": edge,
        "KHABAR_RATE_LIMIT_PER_MINUTE": "0",
        "KHABAR_CACHE_MAX_AGE_S": str(args.max_age),
        "KHABAR_EDGE_CARD_INCLUDES": str(not args.no_card_includes).lower(),
    }
    console.print(
        f"render: max-age {args.max_age} s, card includes "
        f"{'off' if args.no_card_includes else 'on'}; load average {os.getloadavg()[0]:.1f}"
    )
    with (
        running_system(("render", "search"), env) as system,
        tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp,
    ):
        work = Path(tmp)
        render = system.url("render")
        edge_process = start_edge(
            system.group,
            work / "edge",
            edge_port,
            system.ports["render"],
            system.ports["search"],
            token,
            # Every reader of the replay comes from one address: not rationed.
            throttle=EdgeThrottleSettings.off(),
        )
        minimal, minimal_pid = start_minimal(system.group, system.redis_url, free_port(), work)
        articles = load_articles(args.articles)
        acked, _, _ = asyncio.run(
            render_throughput(
                redis.asyncio.Redis.from_url(system.redis_url), enriched_events(articles)
            )
        )
        wait_indexed(system.meili_url, system.master_key, system.index, len(articles))
        render_pid = next(m.process.pid for m in system.group.processes if m.name == "render")
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
        copy_to_minimal(render, fragments, system.redis_url)
        if args.origin_only:
            render_row = ("render, cached fragments", render, render_pid)
            minimal_origin = (minimal, minimal_pid)
            alternating_rounds(
                args, render_row, minimal_origin, fragments, "fragments", work, console
            )
            return
        copy_to_minimal(edge, pages, system.redis_url)
        if args.edge_only:
            edge_row = ("edge, cached pages", edge, edge_process.process.pid)
            alternating_rounds(
                args, edge_row, (minimal, minimal_pid), pages, "pages", work, console, True
            )
            return
        # Every page in the edge's cache just before wrk: render's max-age
        # (KHABAR_CACHE_MAX_AGE_S, 30 s) also bounds the edge's copies.
        asyncio.run(warm(edge, pages))

        def measure(url: str, paths: list[str], pid: int) -> dict[str, float]:
            return wrk(url, paths, args.connections, args.seconds, work, pid, args.threads)

        counters = varnish_counters(work / "edge")
        edge_row = measure(edge, pages, edge_process.process.pid)
        edge_fetches = varnish_counters(work / "edge")["backend_req"] - counters["backend_req"]
        rows = [
            ("edge, cached pages", edge_row),
            ("minimal origin, same pages", measure(minimal, pages, minimal_pid)),
            ("render, cached fragments", measure(render, fragments, render_pid)),
            ("minimal origin, same fragments", measure(minimal, fragments, minimal_pid)),
        ]
        # Home and sections alone: the edge assembles each from an include per card.
        listings = pages[: len(sections) + 1]
        asyncio.run(warm(edge, listings))
        rows += [
            ("edge, home and sections", measure(edge, listings, edge_process.process.pid)),
            ("minimal origin, same pages", measure(minimal, listings, minimal_pid)),
        ]
        print_throughput(
            rows,
            f"GET with wrk -t{args.threads}, {args.connections} connections, {args.seconds} s each "
            f"({len(pages)} pages, {len(fragments)} fragments)",
            console,
        )
        console.print(
            f"edge / minimal: {rows[0][1]['rps'] / rows[1][1]['rps']:.2f}x requests/s "
            f"(edge p99 {rows[0][1].get('p99', 0):.2f} ms against minimal p50 "
            f"{rows[1][1].get('p50', 0):.2f} ms; origin fetches during the edge's run: "
            f"{edge_fetches}); render / minimal: {rows[2][1]['rps'] / rows[3][1]['rps']:.2f}x; "
            f"home and sections, edge / minimal: {rows[4][1]['rps'] / rows[5][1]['rps']:.2f}x; "
            f"render applied {len(articles)} articles in {acked:.1f} s"
        )
        # On a small shared machine wrk and every other process take CPU from the server
        # measured, and a server cheaper per request than wrk itself is held back by wrk:
        # CPU per answered request says what each server costs, whatever else is running.
        console.print(
            f"by server CPU per request (requests one CPU-second answers): edge / minimal "
            f"{cpu_ratio(rows[0][1], rows[1][1]):.2f}x, render / minimal "
            f"{cpu_ratio(rows[2][1], rows[3][1]):.2f}x, home and sections edge / minimal "
            f"{cpu_ratio(rows[4][1], rows[5][1]):.2f}x; load average {os.getloadavg()[0]:.1f}"
        )

        before = varnish_counters(work / "edge")
        answered = replay(edge, pages, make_queries(articles, 200), args.replay, args.search_share)
        print_replay(before, varnish_counters(work / "edge"), answered, console)

        victims = [(a.id, f"/category/{a.category}") for a in articles[-args.changes :]]
        for article_id, listing in victims:
            httpx.get(f"{edge}/articles/{article_id}")
            httpx.get(edge + listing)
        found = asyncio.run(
            time_withdrawals(edge, system.redis_url, victims, args.rate, args.withdrawal_timeout)
        )
        report_withdrawals(found, args, console)
        if any(w.seconds is None for w in found) and args.hold_when_stuck:
            console.print(
                f"holding the stack {args.hold_when_stuck:g} s: edge {edge} (varnishd -n "
                f"{work / 'edge' / 'varnishd'}), logs in {system.base}, redis {system.redis_url}"
            )
            time.sleep(args.hold_when_stuck)


if __name__ == "__main__":
    main()
