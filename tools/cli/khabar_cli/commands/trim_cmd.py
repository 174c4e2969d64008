"""`khabar trim`: a retention policy for the streams that never drops an unacked event.

For each stream the safe point is the oldest entry some group still needs:
per group, its oldest pending (delivered, not acked) entry, or else the first
entry it has not been delivered yet; the stream's safe point is the oldest of
those. `XTRIM MINID` then removes only entries older than both the safe point
and the retention age. A stream with no group is left alone.

The article events stream is the record the index, fragments and tags are
rebuilt from: keep it long (the default keeps 365 days). An article whose
latest event is trimmed keeps that event in its state (see
`khabar_ingest.store`), so it can still be read and withdrawn.
"""

import time
from typing import Annotated

import typer
from pydantic import BaseModel
from redis.exceptions import ResponseError
from rich.console import Console
from rich.table import Table

from khabar_cli.main import app, with_log_redis
from khabar_ingest.store import keep_latest_events
from khabar_shared.names import ARTICLE_EVENTS_STREAM, GROUPS_BY_STREAM, dead_letter_stream
from khabar_shared.redis_helpers import RedisClient

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
    return TrimPlan(stream=stream, safe_min_id=safe, held_by=held_by, min_id=min_id,
                    removable=removable)


async def count_before(redis: RedisClient, stream: str, min_id: str) -> int:
    count, cursor = 0, "-"
    while True:
        page = await redis.xrange(stream, min=cursor, max=f"({min_id}", count=1000)
        count += len(page)
        if len(page) < 1000:
            return count
        cursor = "(" + page[-1][0].decode()


async def apply(redis: RedisClient, plans: list[TrimPlan]) -> int:
    removed = 0
    for plan in plans:
        if plan.min_id and plan.removable:
            if plan.stream == ARTICLE_EVENTS_STREAM:
                # An article's latest event stays readable (GET, and DELETE's withdrawal).
                await keep_latest_events(redis, plan.min_id)
            removed += int(await redis.xtrim(plan.stream, minid=plan.min_id, approximate=False))
    return removed


@app.command()
def trim(
    keep_days: Annotated[float, typer.Option(
        help="Keep at least this many days of every stream.")] = 365.0,
    dead_letters: Annotated[bool, typer.Option(
        help="Also trim dead-letter streams older than --keep-days.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the plan.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Remove stream entries older than --keep-days that every group has acked."""
    keep_ms = int(keep_days * 86_400_000)

    async def plan_all(redis: RedisClient) -> list[TrimPlan]:
        plans = [await plan_stream(redis, stream, keep_ms) for stream in GROUPS_BY_STREAM]
        if dead_letters:
            for stream in GROUPS_BY_STREAM:
                cutoff = f"{max(0, int(time.time() * 1000) - keep_ms)}-0"
                dead = dead_letter_stream(stream)
                plans.append(TrimPlan(stream=dead, safe_min_id=cutoff, held_by="(age)",
                                      min_id=cutoff,
                                      removable=await count_before(redis, dead, cutoff)))
        return plans

    plans = with_log_redis(plan_all)
    table = Table(title="trim plan", header_style="bold")
    for column in ("stream", "oldest id still needed", "held by group", "trim before",
                   "entries removed"):
        table.add_column(column)
    for plan in plans:
        table.add_row(plan.stream, plan.safe_min_id or "(no group: kept)", plan.held_by or "",
                      plan.min_id or "", str(plan.removable))
    console.print(table)
    total = sum(plan.removable for plan in plans)
    if dry_run or total == 0:
        return
    if not yes and not typer.confirm(f"Remove {total} entries?"):
        raise typer.Exit(1)
    console.print(f"{with_log_redis(lambda redis: apply(redis, plans))} entries removed.")
