"""`khabar replay`: deliver a stream again, from an event on, to one consumer group.

How: `XGROUP SETID` moves that group's last-delivered id back to just before
START. The group then reads START and everything after it again; the other
groups of the stream are untouched, and nothing is copied. Redis cannot bound
such a re-delivery at an end id without touching the other groups (copies with
XADD would reach every group), so a replay always runs to the stream's end.
That is safe: consumers' version guards skip what they already applied, so a
replay only costs work. Use it after fixing a bug that applied events wrongly
(e.g. a wrong render template: replay `khabar:{enriched}:events` to `render`).
"""

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from khabar_cli.main import app, with_log_redis
from khabar_shared.names import GROUPS_BY_STREAM
from khabar_shared.redis_helpers import RedisClient, read_entries

console = Console()


def previous_id(message_id: str) -> str:
    """The largest id smaller than `message_id` (`ms-seq`), so SETID re-delivers `message_id`."""
    ms, _, seq = message_id.partition("-")
    if seq and int(seq) > 0:
        return f"{ms}-{int(seq) - 1}"
    if int(ms) == 0:
        return "0"
    return f"{int(ms) - 1}-18446744073709551615"


def start_id(start: str) -> str:
    """An entry id as given, or an ISO date/time turned into the first id at that moment."""
    if start in ("0", "-"):
        return "0-0"
    if start.replace("-", "").isdigit():
        return start if "-" in start else f"{start}-0"
    moment = datetime.fromisoformat(start)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{int(moment.timestamp() * 1000)}-0"


async def rewind(redis: RedisClient, stream: str, group: str, start: str, dry_run: bool) -> int:
    """Rewind `group` so it reads again from `start`; returns how many entries that is."""
    groups = {g["name"].decode() for g in await redis.xinfo_groups(stream)}
    if group not in groups:
        raise typer.BadParameter(f"no group '{group}' on {stream} (has: {sorted(groups)})")
    count = 0
    cursor = start
    while True:
        page = await read_entries(redis, stream, cursor, count=1000)
        count += len(page)
        if len(page) < 1000:
            break
        cursor = "(" + page[-1][0].decode()
    if not dry_run:
        # Tell Redis how much the group has read, so its lag reads `count` at once.
        added = int((await redis.xinfo_stream(stream))["entries-added"])
        await redis.xgroup_setid(
            stream,
            group,
            previous_id(start) if start != "0-0" else "0",
            entries_read=max(0, added - count),
        )
    return count


@app.command()
def replay(
    stream: Annotated[
        str, typer.Argument(help=f"The stream, e.g. {' or '.join(GROUPS_BY_STREAM)}.")
    ],
    group: Annotated[str, typer.Argument(help="The one consumer group to re-deliver to.")],
    start: Annotated[
        str,
        typer.Option(
            "--from",
            help="First entry to deliver again: an id (1712345678901-0), an ISO time "
            "(2026-03-01T09:00), or 0 for the whole stream.",
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Deliver STREAM again to GROUP only, from --from to the stream's end.

    Other groups are not affected. Events already applied are skipped by the
    consumers' version guards, so replaying too much is harmless, only slower.
    """
    first = start_id(start)
    count = with_log_redis(lambda redis: rewind(redis, stream, group, first, dry_run=True))
    console.print(
        f"{count} event(s) from {first} on {stream} would be delivered again to group '{group}'."
    )
    if dry_run:
        return
    if not yes and not typer.confirm("Go ahead?"):
        raise typer.Exit(1)
    with_log_redis(lambda redis: rewind(redis, stream, group, first, dry_run=False))
    console.print(f"Group '{group}' rewound; its consumers are reading from {first}.")
