"""Where a withdrawal's time goes on its way to the edge (issue 22), stage by stage.

    .venv/bin/python -m bench.withdrawal_trace --articles 300 --changes 30 --rate 10

The same system as `bench.edge` (Redis, render purging the edge, search, and
varnishd with `edge/khabar.vcl`), without its throughput runs. Each
withdrawal is timed from its event on the enriched stream to:

- purge: the edge received render's PURGE naming the article (varnishlog's
  Start timestamp of that request; render's consumer read, stored and purged
  its own copies first);
- 410 sent: the edge first answered 410 for the article's page (varnishlog:
  what the edge did, whatever the polling client took to see it);
- page: the polling client got 410 for the article's page;
- listing: the article's section listing, through the edge, no longer shows it
  (`bench.edge`'s figure: both page and listing).

Each victim's page and listing are polled every 20 ms, on connections of their
own (the harness's lean client), as `bench.edge` does. Prints p50/p99 of
each stage and the load average. It is not a test.
"""

import argparse
import asyncio
import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import redis

from bench.edge import warm, withdrawal
from bench.harness import KeepAliveClient, load_articles, percentile, running_system
from bench.render import enriched_events, render_throughput
from khabar_dev.edge import start_edge
from khabar_dev.processes import free_port
from khabar_dev.settings import EdgeThrottleSettings
from khabar_shared.events import encode_event
from khabar_shared.names import ENRICHED_STREAM

XKEY = re.compile(r"ReqHeader\s+xkey-purge: (.*)$", re.MULTILINE)
START = re.compile(r"Timestamp\s+Start: ([0-9.]+)")
RESP = re.compile(r"Timestamp\s+Resp: ([0-9.]+)")
GONE = re.compile(r"ReqURL\s+/articles/(\S+)")


def purges_seen(log: Path) -> dict[str, float]:
    """Article id -> when the first PURGE naming it reached the edge (epoch seconds)."""
    first: dict[str, float] = {}
    for record in log.read_text().split("\n*"):
        keys = next((m.group(1).split() for m in XKEY.finditer(record)), [])
        started = START.search(record)
        for key in keys:
            if started and key.startswith("article:"):
                first.setdefault(key.removeprefix("article:"), float(started.group(1)))
    return first


def gone_served(log: Path) -> dict[str, float]:
    """Article id -> when the edge first answered 410 for its page (epoch seconds)."""
    first: dict[str, float] = {}
    for record in log.read_text().split("\n*"):
        page, answered = GONE.search(record), RESP.search(record)
        if page and answered and "RespStatus     410" in record:
            article_id = page.group(1)
            first[article_id] = min(first.get(article_id, 1e12), float(answered.group(1)))
    return first


async def time_stages(
    edge: str, redis_url: str, victims: list[tuple[str, str]], rate: float
) -> dict[str, dict[str, float]]:
    """Per article: when its event was added, and when the poller saw page and listing change."""
    client = redis.asyncio.Redis.from_url(redis_url)
    parts = urlsplit(edge)
    found: dict[str, dict[str, float]] = {}

    async def one(article_id: str, listing: str, delay: float) -> None:
        page_client = await KeepAliveClient.open(parts.hostname or "", parts.port or 80)
        listing_client = await KeepAliveClient.open(parts.hostname or "", parts.port or 80)
        await asyncio.sleep(delay)
        times = found[article_id] = {"event": time.time()}
        await client.xadd(ENRICHED_STREAM, encode_event(withdrawal(article_id)))
        while "page" not in times or "listing" not in times:
            (status, _), (_, shown) = await asyncio.gather(
                page_client.get(f"/articles/{article_id}"), listing_client.get(listing)
            )
            now = time.time()
            if status == 410:
                times.setdefault("page", now)
            if article_id.encode() not in shown:
                times.setdefault("listing", now)
            await asyncio.sleep(0.02)
        page_client.close()
        listing_client.close()

    try:
        await asyncio.gather(*(one(i, listing, n / rate) for n, (i, listing) in enumerate(victims)))
    finally:
        await client.aclose()
    return found


def use_rules(edge_work: Path, rules: Path) -> None:
    """The running edge's top-level VCL, including `rules` in place of edge/khabar.vcl."""
    top = (edge_work / "edge.vcl").read_text()
    other = edge_work / "other.vcl"
    other.write_text(re.sub(r'include "[^"]*khabar\.vcl";', f'include "{rules}";', top))
    admin = ["varnishadm", "-n", str(edge_work / "varnishd")]
    subprocess.run([*admin, "vcl.load", "other", str(other)], check=True, capture_output=True)
    subprocess.run([*admin, "vcl.use", "other"], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--max-age", type=int, default=600)
    parser.add_argument(
        "--rules", type=Path, help="another khabar.vcl to run instead (e.g. an older commit's)"
    )
    args = parser.parse_args()
    edge_port, token = free_port(), uuid.uuid4().hex
    edge = f"http://127.0.0.1:{edge_port}"
    env = {
        "KHABAR_EDGE_PURGE_URL": edge + "/",
        "KHABAR_EDGE_PURGE_TOKEN": token,
        "KHABAR_SITE_BASE_URL": edge,
        "KHABAR_CACHE_MAX_AGE_S": str(args.max_age),
    }
    with (
        running_system(("render", "search"), env) as system,
        tempfile.TemporaryDirectory(prefix="bench-trace-") as tmp,
    ):
        work = Path(tmp)
        start_edge(
            system.group,
            work / "edge",
            edge_port,
            system.ports["render"],
            system.ports["search"],
            token,
            # The trace's readers all come from one address: not rationed.
            throttle=EdgeThrottleSettings.off(),
        )
        if args.rules:
            use_rules(work / "edge", args.rules.resolve())
        articles = load_articles(args.articles)
        asyncio.run(
            render_throughput(
                redis.asyncio.Redis.from_url(system.redis_url), enriched_events(articles)
            )
        )
        pages = ["/", *sorted({f"/category/{a.category}" for a in articles})]
        pages += [f"/articles/{a.id}" for a in articles]
        asyncio.run(warm(edge, pages))
        victims = [(a.id, f"/category/{a.category}") for a in articles[-args.changes :]]
        log = work / "purges.log"
        with log.open("w") as out:
            varnishlog = subprocess.Popen(
                [
                    "varnishlog",
                    *("-n", str(work / "edge" / "varnishd")),
                    *("-q", 'ReqMethod eq "PURGE" or RespStatus == 410'),
                    *("-i", "ReqHeader,Timestamp,ReqURL,RespStatus"),
                ],
                stdout=out,
            )
            time.sleep(1)
            load = os.getloadavg()[0]
            try:
                found = asyncio.run(time_stages(edge, system.redis_url, victims, args.rate))
                time.sleep(1)
            finally:
                varnishlog.terminate()
                varnishlog.wait()
        purged, served = purges_seen(log), gone_served(log)
        if os.environ.get("TRACE_KEEP"):
            Path(os.environ["TRACE_KEEP"]).write_text(log.read_text())
        stages: dict[str, list[float]] = {
            "purge": [],
            "410 sent": [],
            "page": [],
            "listing": [],
            "both": [],
        }
        for article_id, times in found.items():
            if article_id in purged:
                stages["purge"].append(purged[article_id] - times["event"])
            if article_id in served:
                stages["410 sent"].append(served[article_id] - times["event"])
            stages["page"].append(times["page"] - times["event"])
            stages["listing"].append(times["listing"] - times["event"])
            stages["both"].append(max(times["page"], times["listing"]) - times["event"])
        print(
            f"{len(found)} withdrawals at {args.rate:g}/s, {args.articles} articles; "
            f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
        )
        for stage, seconds in stages.items():
            if seconds:
                print(
                    f"  event → {stage:8} p50 {percentile(seconds, 0.5):.3f} s  "
                    f"p99 {percentile(seconds, 0.99):.3f} s  max {max(seconds):.3f} s  "
                    f"({len(seconds)})"
                )


if __name__ == "__main__":
    main()
