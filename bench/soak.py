"""Soak run: a steady rate of publishes, updates and withdrawals for minutes, all services up.

Not a pass/fail timing test. It reports:

- throughput: changes ingest accepted per second, events each group acked per second;
- lag over time: every second, per consumer group, the entries not yet read
  (XINFO GROUPS `lag`) and read but not acked (`pending`); plotted to
  `artifacts/soak-lag.png`;
- memory: resident set size of every process at the start and at the end;
- the invariants once the pipeline drained: every live article indexed once at
  its latest version, every fragment current, nothing pending, no dead letters.

    .venv/bin/python -m bench.soak --minutes 3 --rate 12
"""

import argparse
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from rich.console import Console
from rich.table import Table

from bench.harness import BenchSystem, corpus_path, running_system
from khabar_dev.checks import (
    Accepted,
    check_fragments,
    check_index,
    corpus_documents,
    dead_letters,
    group_state,
    meili_idle,
    settled,
    updated,
)
from khabar_dev.processes import REPO_ROOT
from khabar_shared.names import GROUPS_BY_STREAM

console = Console()
ARTIFACTS = REPO_ROOT / "artifacts"


@dataclass
class Sample:
    t: float
    lag: dict[str, int]
    pending: dict[str, int]
    read: dict[str, int]


@dataclass
class Sampler:
    """Every second, each group's lag, pending and entries read, on its own thread."""

    client: redis.Redis
    started: float
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.samples.append(self.take())

    def take(self) -> Sample:
        lag, pending, read = {}, {}, {}
        for stream, groups in GROUPS_BY_STREAM.items():
            if not self.client.exists(stream):
                continue
            for info in self.client.xinfo_groups(stream):
                name = info["name"].decode()
                if name in groups:
                    lag[name] = int(info.get("lag") or 0)
                    pending[name] = int(info["pending"])
                    read[name] = int(info.get("entries-read") or 0)
        return Sample(time.monotonic() - self.started, lag, pending, read)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory(system: BenchSystem) -> dict[str, float]:
    return {
        managed.name: rss_mb(managed.process.pid)
        for managed in system.group.processes
        if managed.process.poll() is None
    }


def drive(
    system: BenchSystem, seconds: float, rate: float, rng: random.Random, accepted: Accepted
) -> dict[str, int]:
    """Publishes, updates and withdrawals at `rate` per second for `seconds`."""
    documents = iter(corpus_documents(corpus_path(), int(seconds * rate) + 10))
    live: dict[str, dict[str, Any]] = {}
    counts = dict.fromkeys(("publish", "update", "withdraw", "refused"), 0)
    rounds = itertools.count(1)
    headers = {"Authorization": f"Bearer {system.ingest_key}"}
    start = time.monotonic()
    with httpx.Client(base_url=system.url("ingest"), headers=headers, timeout=30) as client:
        for step in itertools.count():
            due = start + step / rate
            if due - start >= seconds:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            roll = rng.random()
            if roll < 0.6 or len(live) < 20:
                kind, document = "publish", next(documents)
                response = client.post("/v1/articles", json=document)
            elif roll < 0.9:
                kind = "update"
                article_id = rng.choice(list(live))
                document = updated(live[article_id], next(rounds))
                response = client.post("/v1/articles", json=document)
            else:
                kind, article_id = "withdraw", rng.choice(list(live))
                document = live.pop(article_id)
                response = client.delete(f"/v1/articles/{article_id}")
            if response.status_code != 202:
                counts["refused"] += 1
                continue
            counts[kind] += 1
            answer = response.json()
            accepted.record(answer, None if kind == "withdraw" else document["headline"])
            if kind != "withdraw":
                live[answer["article_id"]] = document
    return counts


def plot(samples: list[Sample], path: Path, load_s: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({g for s in samples for g in s.lag})
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    for group in groups:
        ts = [s.t for s in samples if group in s.lag]
        top.plot(ts, [s.lag[group] for s in samples if group in s.lag], label=group)
        bottom.plot(ts, [s.pending[group] for s in samples if group in s.pending], label=group)
    for axis, title in ((top, "lag: entries not yet read"), (bottom, "pending: read, not acked")):
        axis.axvline(load_s, color="grey", linestyle="--", linewidth=1)
        axis.set_ylabel("entries")
        axis.set_title(title, fontsize=10)
        axis.legend(loc="upper left")
        axis.grid(alpha=0.3)
    bottom.set_xlabel("seconds since start (dashed: load stops)")
    figure.suptitle("khabar soak: consumer-group lag over time")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def report(
    counts: dict[str, int],
    samples: list[Sample],
    load_s: float,
    drained_s: float,
    rss_start: dict[str, float],
    rss_end: dict[str, float],
    checks: dict[str, str],
) -> dict[str, Any]:
    load = [s for s in samples if s.t <= load_s]
    first, last = samples[0], samples[-1]
    handled = {
        g: (last.read.get(g, 0) - first.read.get(g, 0)) / max(last.t - first.t, 1e-9)
        for g in last.read
    }
    summary = {
        "load_seconds": round(load_s, 1),
        "drain_seconds": round(drained_s, 1),
        "accepted": counts,
        "accepted_per_s": round(
            sum(counts[k] for k in ("publish", "update", "withdraw")) / load_s, 2
        ),
        "read_per_s_by_group_avg_over_run": {g: round(v, 2) for g, v in handled.items()},
        "max_lag": {g: max((s.lag.get(g, 0) for s in load), default=0) for g in last.lag},
        "max_pending": {
            g: max((s.pending.get(g, 0) for s in load), default=0) for g in last.pending
        },
        "rss_mb_start": {k: round(v, 1) for k, v in rss_start.items()},
        "rss_mb_end": {k: round(v, 1) for k, v in rss_end.items()},
        "checks": checks,
    }
    table = Table(title="khabar soak")
    table.add_column("figure")
    table.add_column("value")
    for key, value in summary.items():
        table.add_row(key, json.dumps(value, ensure_ascii=False))
    console.print(table)
    return summary


def check(system: BenchSystem, accepted: Accepted, client: redis.Redis) -> dict[str, str]:
    results: dict[str, str] = {}
    for name, probe in (
        ("index", lambda: check_index(system, accepted)),
        ("fragments", lambda: check_fragments(system, accepted)),
        ("pending", lambda: _assert(all(s["pending"] == 0 for s in group_state(client).values()))),
        ("dead letters", lambda: _assert(not any(dead_letters(client).values()))),
    ):
        try:
            probe()
            results[name] = "ok"
        except AssertionError as error:
            results[name] = f"FAILED: {str(error)[:300]}"
    return results


def _assert(condition: bool) -> None:
    assert condition


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=12.0, help="changes per second")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--claim-idle-ms", default="5000")
    parser.add_argument("--plot", type=Path, default=ARTIFACTS / "soak-lag.png")
    parser.add_argument("--json", type=Path, default=ARTIFACTS / "soak.json")
    args = parser.parse_args()

    with running_system(extra_env={"KHABAR_CLAIM_IDLE_MS": args.claim_idle_ms}) as system:
        client = redis.Redis.from_url(system.redis_url)
        started = time.monotonic()
        sampler = Sampler(client, started)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        rss_start = memory(system)
        accepted = Accepted()
        counts = drive(system, args.minutes * 60, args.rate, random.Random(args.seed), accepted)
        load_s = time.monotonic() - started
        rss_end = memory(system)
        while not (settled(client) and meili_idle(system)):
            if time.monotonic() - started - load_s > 600:
                break
            time.sleep(0.5)
        drained_s = time.monotonic() - started - load_s
        time.sleep(1.5)
        sampler.stop.set()
        thread.join()
        checks = check(system, accepted, client)
        plot(sampler.samples, args.plot, load_s)
        summary = report(counts, sampler.samples, load_s, drained_s, rss_start, rss_end, checks)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        console.print(f"plot: {args.plot}  figures: {args.json}")


if __name__ == "__main__":
    main()
