"""`khabar dead-letters`: events that failed too often, with their errors; replay or drop them.

A consumer moves an event to `<stream>:dead` after KHABAR_MAX_DELIVERIES failed
deliveries (or at once, when the entry cannot be parsed), acking it on the
source stream so the rest of the stream flows on.

Replay appends a copy of the original entry to its source stream. Every group
of that stream sees the copy; the groups that already applied that version (or
a newer one) skip it by their version guard, so only the group that failed
changes anything. Fix the cause first (deploy the fix), then replay.
"""

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from khabar_cli.main import app, with_log_redis
from khabar_shared.dead_letters import (
    DeadLetter,
    DeadLetterNotFound,
    drop_dead_letter,
    list_dead_letters,
    read_dead_letter,
    replay_dead_letter,
)
from khabar_shared.names import GROUPS_BY_STREAM, dead_letter_stream
from khabar_shared.redis_helpers import RedisClient

dead_app = typer.Typer(
    help="Events that failed too often: list, show, replay, drop.", no_args_is_help=True
)
app.add_typer(dead_app, name="dead-letters")
console = Console()

StreamOption = Annotated[
    str | None,
    typer.Option("--stream", help="Only this source stream (default: every khabar stream)."),
]


def dead_streams(stream: str | None) -> list[str]:
    return [dead_letter_stream(s) for s in ([stream] if stream else GROUPS_BY_STREAM)]


async def read_dead(redis: RedisClient, stream: str | None, count: int) -> list[DeadLetter]:
    return [
        letter
        for dead in dead_streams(stream)
        for letter in await list_dead_letters(redis, dead, count)
    ]


async def find(redis: RedisClient, dead_id: str, stream: str | None) -> DeadLetter | None:
    for dead in dead_streams(stream):
        try:
            return await read_dead_letter(redis, dead, dead_id)
        except DeadLetterNotFound:
            continue
    return None


def dead_time(letter: DeadLetter) -> datetime | None:
    return datetime.fromisoformat(letter.dead_at) if letter.dead_at else None


def event_summary(data: str) -> list[str]:
    """The few fields of the event an operator recognises it by, or why it is unreadable."""
    try:
        event = json.loads(data)
    except ValueError as error:
        return [f"(not JSON: {error})"]
    if not isinstance(event, dict):
        return ["(not a JSON object)"]
    article = event.get("article") or {}
    return [
        f"{name}: {value}"
        for name, value in (
            ("type", event.get("type")),
            ("version", event.get("version")),
            ("headline", article.get("headline")),
            ("language", article.get("language")),
            ("accepted_at", event.get("accepted_at")),
            ("submitted_by", event.get("submitted_by")),
        )
        if value is not None
    ]


def last_line(error: str) -> str:
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1][:100] if lines else ""


@dead_app.command("list")
def list_dead(
    stream: StreamOption = None,
    count: Annotated[int, typer.Option(help="At most this many per stream, oldest first.")] = 50,
) -> None:
    """The dead letters, oldest first: id, group, article, reason, deliveries, last error line."""
    letters = with_log_redis(lambda redis: read_dead(redis, stream, count))
    if not letters:
        console.print("No dead letters.")
        return
    table = Table(title="dead letters", header_style="bold")
    for column in ("id", "stream", "group", "article", "reason", "tries", "dead at", "error"):
        table.add_column(column)
    for letter in letters:
        dead_at = dead_time(letter)
        table.add_row(
            letter.entry_id,
            letter.source_stream,
            letter.group,
            letter.article_id,
            letter.reason,
            str(letter.deliveries),
            dead_at.strftime("%Y-%m-%d %H:%M:%S") if dead_at else "",
            last_line(letter.error),
        )
    console.print(table)


@dead_app.command("show")
def show(
    dead_id: Annotated[str, typer.Argument(help="The id shown by `list`.")],
    stream: StreamOption = None,
) -> None:
    """One dead letter in full: where it came from, its whole error, the original entry."""
    letter = with_log_redis(lambda redis: find(redis, dead_id, stream))
    if letter is None:
        console.print(f"[red]No dead letter {dead_id}.[/red]")
        raise typer.Exit(1)
    console.print(
        f"[bold]{letter.entry_id}[/bold] from {letter.source_stream} "
        f"({letter.source_id}), group {letter.group}"
    )
    console.print(
        f"reason: {letter.reason}, deliveries: {letter.deliveries}, dead at: {dead_time(letter)}"
    )
    console.print("[bold]error[/bold]")
    console.print(letter.error, markup=False, highlight=False)
    console.print("[bold]original entry[/bold]")
    for name, value in letter.original.items():
        if name != "data":
            console.print(f"  {name}: {value}", markup=False, highlight=False)
    data = letter.original.get("data", "")
    console.print(f"  data: {len(data.encode())} bytes of JSON")
    for line in event_summary(data):
        console.print(f"    {line}", markup=False, highlight=False)


@dead_app.command("replay")
def replay(
    dead_id: Annotated[
        str | None, typer.Argument(help="One id from `list`; omit with --all.")
    ] = None,
    all_letters: Annotated[
        bool, typer.Option("--all", help="Every dead letter (of --stream).")
    ] = False,
    stream: StreamOption = None,
) -> None:
    """Put dead letters back on their source stream (after fixing the cause)."""
    letters = select(dead_id, all_letters, stream)

    async def replay_all(redis: RedisClient) -> list[tuple[str, str]]:
        done = []
        with Progress(console=console, disable=len(letters) < 20) as progress:
            task = progress.add_task("replaying", total=len(letters))
            for letter in letters:
                done.append(
                    (
                        letter.entry_id,
                        await replay_dead_letter(redis, letter.dead_stream, letter.entry_id),
                    )
                )
                progress.advance(task)
        return done

    for old, new in with_log_redis(replay_all):
        console.print(f"replayed {old} as {new}")
    console.print(f"{len(letters)} dead letter(s) replayed.")


@dead_app.command("drop")
def drop(
    dead_id: Annotated[
        str | None, typer.Argument(help="One id from `list`; omit with --all.")
    ] = None,
    all_letters: Annotated[
        bool, typer.Option("--all", help="Every dead letter (of --stream).")
    ] = False,
    stream: StreamOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete dead letters for good (the event stays in the source stream's history)."""
    letters = select(dead_id, all_letters, stream)
    if not yes and not typer.confirm(f"Drop {len(letters)} dead letter(s)?"):
        raise typer.Exit(1)

    async def delete(redis: RedisClient) -> int:
        removed = 0
        for letter in letters:
            try:
                await drop_dead_letter(redis, letter.dead_stream, letter.entry_id)
                removed += 1
            except DeadLetterNotFound:
                continue  # already gone (dropped or replayed meanwhile)
        return removed

    console.print(f"{with_log_redis(delete)} dead letter(s) dropped.")


def select(dead_id: str | None, all_letters: bool, stream: str | None) -> list[DeadLetter]:
    if (dead_id is None) == (not all_letters):
        raise typer.BadParameter("give one dead-letter id, or --all")
    if all_letters:
        return with_log_redis(lambda redis: read_dead(redis, stream, count=1_000_000))
    letter = with_log_redis(lambda redis: find(redis, dead_id or "", stream))
    if letter is None:
        console.print(f"[red]No dead letter {dead_id}.[/red]")
        raise typer.Exit(1)
    return [letter]
