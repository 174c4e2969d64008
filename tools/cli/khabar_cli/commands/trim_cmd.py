"""`khabar trim`: a retention policy for the streams that never drops an unacked event.

For each stream the safe point is the oldest entry some group still needs:
per group, its oldest pending (delivered, not acked) entry, or else the first
entry it has not been delivered yet; the stream's safe point is the oldest of
those. `XTRIM MINID` then removes only entries older than both the safe point
and the retention age. A stream with no group is left alone.

Within that range the streams are compacted, not cut (`compaction.py`): the
latest event of every live article stays at its id, so `khabar reindex` and
`khabar replay` still find every live article at its latest version.

The article events stream is the record the index, fragments and tags are
rebuilt from: keep it long (the default keeps 365 days). A withdrawn article
whose latest event is trimmed keeps that event in its state (see
`khabar_ingest.store`), so it can still be read.
"""

import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated

import typer
from pydantic import BaseModel
from redis.exceptions import ResponseError
from rich.console import Console
from rich.table import Table

from khabar_cli.compaction import compact_before
from khabar_cli.main import app, with_log_redis
from khabar_cli.retention import trim_histories
from khabar_ingest.store import keep_events
from khabar_shared.names import ARTICLE_EVENTS_STREAM, GROUPS_BY_STREAM, dead_letter_stream
from khabar_shared.redis_helpers import RedisClient, read_entries

console = Console()


class TrimPlan(BaseModel):
    stream: str
    safe_min_id: str | None  # None: no group, nothing is trimmed
    held_by: str | None  # the group that holds the safe point back
    min_id: str | None
    removable: int


def id_parts(message_id: str) -> tuple[int, int]:
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


def next_id(message_id: str) -> str:
    ms, seq = id_parts(message_id)
    return f"{ms}-{seq + 1}"


async def group_needs_from(redis: RedisClient, stream: str, group: dict) -> str:
    """The oldest id this group still needs: its oldest pending, else its next undelivered."""
    summary = await redis.xpending(stream, group["name"])
    if summary["pending"]:
        oldest = summary["min"]
        return oldest.decode() if isinstance(oldest, bytes) else str(oldest)
    last = group["last-delivered-id"]
    return next_id(last.decode() if isinstance(last, bytes) else str(last))


async def plan_stream(redis: RedisClient, stream: str, keep_ms: int) -> TrimPlan:
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream
        groups = []
    if not groups:
        return TrimPlan(stream=stream, safe_min_id=None, held_by=None, min_id=None, removable=0)
    needs = {g["name"].decode(): await group_needs_from(redis, stream, g) for g in groups}
    held_by, safe = min(needs.items(), key=lambda item: id_parts(item[1]))
    age_limit = f"{max(0, int(time.time() * 1000) - keep_ms)}-0"
    min_id = min(safe, age_limit, key=id_parts)
    removable = await count_before(redis, stream, min_id)
    return TrimPlan(
        stream=stream, safe_min_id=safe, held_by=held_by, min_id=min_id, removable=removable
    )


async def count_before(redis: RedisClient, stream: str, min_id: str) -> int:
    count, cursor = 0, "-"
    while True:
        page = await read_entries(redis, stream, cursor, f"({min_id}", 1000)
        count += len(page)
        if len(page) < 1000:
            return count
        cursor = "(" + page[-1][0].decode()


async def apply(redis: RedisClient, plans: list[TrimPlan]) -> tuple[int, int]:
    """Trim each planned stream; (entries removed, live articles' latest events kept)."""
    removed = kept = 0
    for plan in plans:
        if not (plan.min_id and plan.removable):
            continue
        if plan.stream not in GROUPS_BY_STREAM:  # dead letters: by age only
            removed += int(await redis.xtrim(plan.stream, minid=plan.min_id, approximate=False))
            continue
        # A withdrawn article's last event stays readable (GET, and a second DELETE).
        hook = partial(keep_events, redis) if plan.stream == ARTICLE_EVENTS_STREAM else None
        gone, stayed = await compact_before(redis, plan.stream, plan.min_id, hook)
        removed, kept = removed + gone, kept + stayed
    return removed, kept


@app.command()
def trim(
    keep_days: Annotated[
        float, typer.Option(help="Keep at least this many days of every stream.")
    ] = 365.0,
    dead_letters: Annotated[
        bool,
        typer.Option(help="Trim dead-letter streams to --keep-days instead of --dead-letter-days."),
    ] = False,
    dead_letter_days: Annotated[
        float, typer.Option(help="Keep this many days of dead letters.")
    ] = 90.0,
    history_days: Annotated[
        float,
        typer.Option(
            help="Keep this many days of each article's history (its newest entry always stays)."
        ),
    ] = 365.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the plan.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Remove stream entries older than --keep-days that every group has acked."""
    keep_ms = int(keep_days * 86_400_000)

    async def plan_all(redis: RedisClient) -> list[TrimPlan]:
        plans = [await plan_stream(redis, stream, keep_ms) for stream in GROUPS_BY_STREAM]
        # Dead letters have a retention of their own.
        dead_keep_ms = keep_ms if dead_letters else int(dead_letter_days * 86_400_000)
        cutoff = f"{max(0, int(time.time() * 1000) - dead_keep_ms)}-0"
        for stream in GROUPS_BY_STREAM:
            dead = dead_letter_stream(stream)
            plans.append(
                TrimPlan(
                    stream=dead,
                    safe_min_id=cutoff,
                    held_by="(age)",
                    min_id=cutoff,
                    removable=await count_before(redis, dead, cutoff),
                )
            )
        return plans

    plans = with_log_redis(plan_all)
    table = Table(title="trim plan", header_style="bold")
    for column in (
        "stream",
        "oldest id still needed",
        "held by group",
        "trim before",
        "entries removed",
    ):
        table.add_column(column)
    for plan in plans:
        table.add_row(
            plan.stream,
            plan.safe_min_id or "(no group: kept)",
            plan.held_by or "",
            plan.min_id or "",
            str(plan.removable),
        )
    console.print(table)
    total = sum(plan.removable for plan in plans)
    history_cut = datetime.now(UTC) - timedelta(days=history_days)
    console.print(
        f"histories: entries accepted before {history_cut:%Y-%m-%d %H:%M} UTC go "
        "(each article keeps its newest)"
    )
    if dry_run:
        return
    if not yes and not typer.confirm(f"Remove {total} stream entries and old history entries?"):
        raise typer.Exit(1)
    removed, kept = with_log_redis(lambda redis: apply(redis, plans)) if total else (0, 0)
    console.print(
        f"{removed} entries removed; {kept} kept (the latest event of each live "
        "article, which every rebuild reads)."
    )
    histories = with_log_redis(lambda redis: trim_histories(redis, history_cut))
    console.print(f"{histories} history entries removed.")
