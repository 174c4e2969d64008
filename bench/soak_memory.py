"""Memory soak: tens of thousands of changes through every service, each Redis's memory over time.

    .venv/bin/python -m bench.soak_memory --changes 50000 --articles 2000

Starts the whole system as `make run` ships it (the fragment cache in a Redis
of its own, bounded, evicting), then sends `--changes` changes of real corpus
articles through ingest's batch endpoint: each of `--articles` articles
published once, corrections of random live ones, and a few withdrawals, never
more than `--max-lag` entries ahead of the slowest consumer group (the run
measures memory in a steady state, not a backlog). Every `--trim-every`
changes it runs `khabar trim --keep-days 0 --yes`, as an operator's cron
would. Every `--every` seconds it samples:

- the log's Redis: its used memory, and what its caches take (every key with
  an expiry: MEMORY USAGE summed, by kind);
- the cache Redis: its used memory.

It prints an ASCII plot of the three and writes a PNG, then the figures:
the caches of the log's Redis must end flat (their growth over the second
half of the run is printed), and the end state is checked (every live article
indexed and rendered at its latest version, nothing pending, no dead letter).
Not a pass/fail test; the machine is shared, so times are rough.
"""

import argparse
import bisect
import itertools
import json
import os
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from rich.console import Console

from bench.harness import BenchSystem, corpus_path, running_system
from bench.soak import ARTIFACTS, check
from khabar_dev.checks import Accepted, corpus_documents, meili_idle, settled, updated
from khabar_dev.processes import REPO_ROOT
from khabar_shared.names import GROUPS_BY_STREAM

console = Console()
BATCH = 50  # changes per POST to the batch endpoint
MB = 1024 * 1024


@dataclass
class MemorySample:
    t: float
    changes: int
    log_used: int  # bytes
    log_caches: int  # bytes held by keys with an expiry
    cache_used: int
    caches_by_kind: Counter[str] = field(default_factory=Counter)


def kind_of(key: bytes) -> str:
    """A key's kind: its name without the part that names one article (or one request)."""
    parts = key.decode(errors="replace").split(":")
    return ":".join(parts[:3]) if len(parts) > 3 else ":".join(parts[:-1]) or parts[0]


def caches_in(client: redis.Redis) -> Counter[str]:
    """Bytes held by every key with an expiry, by kind (MEMORY USAGE, every key counted)."""
    held: Counter[str] = Counter()
    keys = client.scan_iter(count=1000)
    while page := list(itertools.islice(keys, 1000)):
        pipe = client.pipeline(transaction=False)
        for key in page:
            pipe.pttl(key)
        expiring = [key for key, ttl in zip(page, pipe.execute(), strict=True) if ttl > 0]
        pipe = client.pipeline(transaction=False)
        for key in expiring:
            pipe.memory_usage(key, samples=0)
        for key, size in zip(expiring, pipe.execute(), strict=True):
            held[kind_of(key)] += size or 0
    return held


@dataclass
class MemorySampler:
    log: redis.Redis
    cache: redis.Redis
    every_s: float
    started: float
    changes: list[int]  # changes accepted so far, updated by the driver
    samples: list[MemorySample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while True:
            self.samples.append(self.take())
            if self.stop.wait(self.every_s):
                return

    def take(self) -> MemorySample:
        t, sent = time.monotonic() - self.started, self.changes[0]
        by_kind = caches_in(self.log)
        return MemorySample(
            t,
            sent,
            int(self.log.info("memory")["used_memory"]),
            sum(by_kind.values()),
            int(self.cache.info("memory")["used_memory"]),
            by_kind,
        )


def slowest_lag(client: redis.Redis) -> int:
    """Entries the slowest consumer group has not read or not acked yet."""
    behind = 0
    for stream, groups in GROUPS_BY_STREAM.items():
        if not client.exists(stream):
            continue
        for info in client.xinfo_groups(stream):
            if info["name"].decode() in groups:
                behind = max(behind, int(info.get("lag") or 0) + int(info["pending"]))
    return behind


def trim(system: BenchSystem) -> None:
    env = {**os.environ, "KHABAR_REDIS_URL": system.redis_url, "COLUMNS": "200"}
    subprocess.run(
        [str(REPO_ROOT / ".venv/bin/khabar"), "trim", "--keep-days", "0", "--yes"],
        env=env,
        check=True,
        capture_output=True,
    )


def changes(
    documents: list[dict[str, Any]], rng: random.Random
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Publishes interleaved with corrections until every document is out, then corrections and
    a few withdrawals (about one change in a hundred)."""
    unpublished, live, rounds = list(reversed(documents)), [], itertools.count(1)
    while True:
        roll = rng.random()
        if unpublished and (roll < 0.5 or not live):
            document = unpublished.pop()
            live.append(document)
            yield "publish", document
        elif roll < 0.01 and len(live) > 1:
            document = live.pop(rng.randrange(len(live)))
            yield "withdraw", {**document, "pubstatus": "canceled"}
        else:  # a correction of the article as first published (headlines must not grow)
            yield "update", updated(live[rng.randrange(len(live))], next(rounds))


def drive(
    system: BenchSystem,
    args: argparse.Namespace,
    client: redis.Redis,
    sent: list[int],
    accepted: Accepted,
) -> Counter[str]:
    documents = corpus_documents(corpus_path(), args.articles)
    counts: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {system.ingest_key}"}
    plan = changes(documents, random.Random(args.seed))
    next_trim = args.trim_every
    with httpx.Client(base_url=system.url("ingest"), headers=headers, timeout=120) as http:
        while sent[0] < args.changes:
            batch = list(itertools.islice(plan, min(BATCH, args.changes - sent[0])))
            while slowest_lag(client) > args.max_lag:
                time.sleep(0.2)
            answer = http.post("/v1/articles/batch", json=[d for _, d in batch])
            answer.raise_for_status()
            for (kind, document), item in zip(batch, answer.json()["items"], strict=True):
                if item["status"] != 202:
                    counts["refused"] += 1
                    if counts["refused"] > 100:  # the workload is wrong, not the system
                        raise RuntimeError(f"ingest refuses the changes: {item['problem']}")
                    continue
                counts[kind] += 1
                sent[0] += 1
                accepted.record(item, None if kind == "withdraw" else document["headline"])
            if args.trim_every and sent[0] >= next_trim:
                trim(system)
                counts["trims"] += 1
                next_trim += args.trim_every
    return counts


def ascii_chart(title: str, xs: list[float], ys: list[float], width: int = 64) -> str:
    """One series as a few rows of text: time across, the value up (from 0 to its maximum)."""
    height, top = 8, max(max(ys, default=0), 1)
    span = (xs[-1] - xs[0]) or 1
    # Each column shows the last sample taken by its time.
    columns = [
        ys[max(0, bisect.bisect_right(xs, xs[0] + span * c / width) - 1)]
        for c in range(1, width + 1)
    ]
    rows = [f"{title} (max {top / MB:.1f} MB)"]
    for level in range(height, 0, -1):
        rows.append(
            f"{top * level / height / MB:8.1f} |"
            + "".join("#" if v >= top * (level - 0.5) / height else " " for v in columns)
        )
    rows.append(f"{'MB':>8} +{'-' * width}")
    rows.append(f"{'':9}0 s{'':{width - 10}}{xs[-1]:6.0f} s")
    return "\n".join(rows)


def plot_png(samples: list[MemorySample], path: Path, load_s: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 5))
    xs = [s.t / 60 for s in samples]
    for label, values in (
        ("log Redis: used memory", [s.log_used for s in samples]),
        ("log Redis: its caches (keys with an expiry)", [s.log_caches for s in samples]),
        ("cache Redis: used memory", [s.cache_used for s in samples]),
    ):
        axis.plot(xs, [v / MB for v in values], label=label)
    axis.axvline(load_s / 60, color="grey", linestyle="--", linewidth=1)
    axis.set_xlabel(f"minutes (dashed: the last of {samples[-1].changes:,} changes sent)")
    axis.set_ylabel("MB")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left")
    figure.suptitle("khabar memory soak: each Redis over the run")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def figures(samples: list[MemorySample]) -> dict[str, Any]:
    half = next(s for s in samples if s.changes >= samples[-1].changes / 2)
    end = samples[-1]
    return {
        "changes": end.changes,
        "minutes": round(end.t / 60, 1),
        "log_used_mb": {"half": round(half.log_used / MB, 1), "end": round(end.log_used / MB, 1)},
        "log_caches_mb": {
            "half": round(half.log_caches / MB, 2),
            "end": round(end.log_caches / MB, 2),
            "max": round(max(s.log_caches for s in samples) / MB, 2),
            "growth_second_half_mb": round((end.log_caches - half.log_caches) / MB, 2),
        },
        "cache_used_mb": {
            "half": round(half.cache_used / MB, 1),
            "end": round(end.cache_used / MB, 1),
        },
        "log_caches_by_kind_end_kb": {
            k: round(v / 1024) for k, v in end.caches_by_kind.most_common()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=50_000)
    parser.add_argument("--articles", type=int, default=2_000)
    parser.add_argument("--max-lag", type=int, default=1_000)
    parser.add_argument("--trim-every", type=int, default=10_000)
    parser.add_argument("--every", type=float, default=15.0, help="seconds between samples")
    parser.add_argument("--cache-maxmemory", default="256mb")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--plot", type=Path, default=ARTIFACTS / "soak-memory.png")
    parser.add_argument("--json", type=Path, default=ARTIFACTS / "soak-memory.json")
    args = parser.parse_args()

    with running_system(cache_maxmemory=args.cache_maxmemory) as system:
        log = redis.Redis.from_url(system.redis_url)
        sent = [0]
        sampler = MemorySampler(
            redis.Redis.from_url(system.redis_url),
            redis.Redis.from_url(system.cache_redis_url),
            args.every,
            time.monotonic(),
            sent,
        )
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        accepted = Accepted()
        counts = drive(system, args, log, sent, accepted)
        load_s = time.monotonic() - sampler.started
        while not (settled(log) and meili_idle(system)):
            time.sleep(0.5)
        sampler.stop.set()
        thread.join()
        sampler.samples.append(sampler.take())
        checks = check(system, accepted, log)

    samples = sampler.samples
    xs = [s.t for s in samples]
    for title, values in (
        ("log Redis: used memory", [s.log_used for s in samples]),
        ("log Redis: its caches (keys with an expiry)", [s.log_caches for s in samples]),
        ("cache Redis: used memory", [s.cache_used for s in samples]),
    ):
        console.print(ascii_chart(title, xs, [float(v) for v in values]), highlight=False)
    plot_png(samples, args.plot, load_s)
    summary = {"sent": dict(counts), **figures(samples), "checks": checks}
    console.print_json(json.dumps(summary, ensure_ascii=False))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    console.print(f"plot: {args.plot}  figures: {args.json}")


if __name__ == "__main__":
    main()
