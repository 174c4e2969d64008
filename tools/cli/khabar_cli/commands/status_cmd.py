"""`khabar status`: does the pipeline keep up? One row per stream and consumer group,
and one per search node (its lag, when it last applied a batch, whether its Meilisearch
answers)."""

from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer
from redis.exceptions import ResponseError
from rich.console import Console
from rich.table import Table

from khabar_cli.commands.feeds_cmd import feeds_table
from khabar_cli.failures import EXIT_PROBLEMS, fail
from khabar_cli.main import app, with_log_redis
from khabar_ingest.watch.registry import list_feeds
from khabar_shared.names import GROUPS_BY_STREAM
from khabar_shared.redis_helpers import GroupStats, RedisClient, read_group_stats
from khabar_shared.search_nodes import NodeFreshness, freshness

console = Console()

# How long a node's Meilisearch may take to answer its health check before it counts as down.
HEALTH_TIMEOUT_S = 3.0


async def all_group_stats(redis: RedisClient) -> list[GroupStats]:
    """Every group on every khabar stream: the expected ones and any other found there."""
    found: list[GroupStats] = []
    for stream, expected in GROUPS_BY_STREAM.items():
        try:
            present = [g["name"].decode() for g in await redis.xinfo_groups(stream)]
        except ResponseError:  # the stream does not exist yet
            present = []
        for group in dict.fromkeys([*expected, *present]):
            stats = await read_group_stats(redis, stream, group)
            found.append(stats or GroupStats(stream, group, 0, None, 0, 0.0, 0, {}))
    return found


def age_text(seconds: float) -> str:
    if seconds <= 0:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def status_table(stats: list[GroupStats], stuck_after_s: float) -> Table:
    table = Table(title="khabar streams", header_style="bold")
    table.add_column("stream", no_wrap=True)
    table.add_column("group", no_wrap=True)
    for column in ("length", "lag", "pending", "oldest pending", "dead letters"):
        table.add_column(column, justify="right")
    table.add_column("consumers (pending)")
    for row in stats:
        stuck = row.oldest_pending_age_s > stuck_after_s
        consumers = ", ".join(f"{name}:{count}" for name, count in sorted(row.consumers.items()))
        table.add_row(
            row.stream,
            row.group,
            str(row.length),
            "?" if row.lag is None else str(row.lag),
            str(row.pending),
            f"[red]{age_text(row.oldest_pending_age_s)}[/red]"
            if stuck
            else age_text(row.oldest_pending_age_s),
            f"[red]{row.dead_letters}[/red]" if row.dead_letters else "0",
            consumers or "(none)",
        )
    return table


def not_answering(nodes: list[NodeFreshness]) -> frozenset[str]:
    """The nodes whose Meilisearch does not answer its health check. A dead node's lag only
    grows, slowly at a quiet hour: its lag alone would not say it is down."""
    down: set[str] = set()
    with httpx.Client(timeout=HEALTH_TIMEOUT_S) as client:
        for node in nodes:
            try:
                client.get(f"{node.meili_url.rstrip('/')}/health").raise_for_status()
            except httpx.HTTPError:
                down.add(node.node)
    return frozenset(down)


def nodes_table(
    nodes: list[NodeFreshness], now: datetime, down: frozenset[str] = frozenset()
) -> Table:
    table = Table(title="search nodes", header_style="bold")
    for column in ("node", "group", "meilisearch"):
        table.add_column(column, no_wrap=True)
    for column in ("lag", "pending", "last applied", "last event"):
        table.add_column(column, justify="right")
    for node in nodes:
        applied = node.last_applied_at
        table.add_row(
            node.node,
            node.group,
            f"[red]{node.meili_url} (down)[/red]" if node.node in down else node.meili_url,
            "?" if node.lag is None else str(node.lag),
            "?" if node.pending is None else str(node.pending),
            "never" if applied is None else f"{age_text((now - applied).total_seconds())} ago",
            node.last_applied_event or "-",
        )
    return table


@app.command()
def status(
    stuck_after: Annotated[
        float, typer.Option(help="Seconds after which a pending event is shown in red as stuck.")
    ] = 60.0,
) -> None:
    """Per stream and consumer group: length, lag, pending, oldest pending age, dead letters.

    [bold]lag[/bold]: events on the stream the group has not read yet.
    [bold]pending[/bold]: read but not acked (being handled, or left by a dead consumer
    until another claims it after KHABAR_CLAIM_IDLE_MS).
    [bold]dead letters[/bold]: events that failed KHABAR_MAX_DELIVERIES times; see
    `khabar dead-letters list`.
    """
    stats = with_log_redis(all_group_stats)
    console.print(status_table(stats, stuck_after))
    nodes = with_log_redis(freshness)
    down = not_answering(nodes)
    if nodes:
        console.print(nodes_table(nodes, datetime.now(UTC), down))
    feeds = with_log_redis(list_feeds)
    if feeds:
        console.print(feeds_table(feeds))
    if down:
        urls = ", ".join(f"node {n.node} at {n.meili_url}" for n in nodes if n.node in down)
        fail(f"Meilisearch does not answer: {urls}", EXIT_PROBLEMS)
