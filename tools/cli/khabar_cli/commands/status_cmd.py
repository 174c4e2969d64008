"""`khabar status`: does the pipeline keep up? One block per stream and consumer group,
and one per search node (its lag, when it last applied a batch, whether its Meilisearch
answers). Blocks wrap to the terminal: every figure shows at 80 columns."""

from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer
from redis.exceptions import ResponseError
from rich.console import Console, Group, RenderableType
from rich.text import Text

from khabar_cli.blocks import figures, indented, red_if
from khabar_cli.commands.feeds_cmd import feeds_blocks
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


def down_text(url: str, down: bool) -> Text:
    return Text(f"{url} (down)", style="red") if down else Text(url)


def status_blocks(stats: list[GroupStats], stuck_after_s: float) -> Group:
    """One block per stream and group: its name, then its figures, then its consumers.

    Blocks rather than a table: a row of eight columns did not fit 80 columns (nor a pipe,
    which rich treats as 80 wide) and rich cut its figures to "…"; a block wraps instead.
    """
    lines: list[RenderableType] = [Text("khabar streams", style="bold")]
    for row in stats:
        stuck = row.oldest_pending_age_s > stuck_after_s
        consumers = ", ".join(f"{name}:{count}" for name, count in sorted(row.consumers.items()))
        lines += [
            Text.assemble((row.stream, "bold"), "  group ", (row.group, "bold")),
            indented(
                figures(
                    ("length", str(row.length)),
                    ("lag", "?" if row.lag is None else str(row.lag)),
                    ("pending", str(row.pending)),
                    ("oldest pending", red_if(stuck, age_text(row.oldest_pending_age_s))),
                    ("dead letters", red_if(row.dead_letters > 0, str(row.dead_letters))),
                )
            ),
            indented(figures(("consumers (pending)", consumers or "(none)"))),
        ]
    return Group(*lines)


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
) -> Group:
    """One block per search node: its name, group and Meilisearch, then its figures."""
    lines: list[RenderableType] = [Text("search nodes", style="bold")]
    for node in nodes:
        applied = node.last_applied_at
        lines += [
            Text.assemble(
                "node ",
                (node.node, "bold"),
                "  group ",
                (node.group, "bold"),
                "  ",
                down_text(node.meili_url, node.node in down),
            ),
            indented(
                figures(
                    ("lag", "?" if node.lag is None else str(node.lag)),
                    ("pending", "?" if node.pending is None else str(node.pending)),
                    (
                        "last applied",
                        "never"
                        if applied is None
                        else f"{age_text((now - applied).total_seconds())} ago",
                    ),
                    ("last event", node.last_applied_event or "-"),
                )
            ),
        ]
    return Group(*lines)


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
    console.print(status_blocks(stats, stuck_after), "")
    nodes = with_log_redis(freshness)
    down = not_answering(nodes)
    if nodes:
        console.print(nodes_table(nodes, datetime.now(UTC), down), "")
    feeds = with_log_redis(list_feeds)
    if feeds:
        console.print(feeds_blocks(feeds))
    if down:
        urls = ", ".join(f"node {n.node} at {n.meili_url}" for n in nodes if n.node in down)
        fail(f"Meilisearch does not answer: {urls}", EXIT_PROBLEMS)
