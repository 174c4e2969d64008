"""`khabar search-nodes`: list the search nodes, and retire one for good.

A node retired by hand used to keep its consumer group, which holds `khabar
trim` back for ever, and its registration, which `khabar status` and every
search process's pool keep asking about. `retire` removes the registration,
the group, the node's version guard and its traces. Stop the node's search
process first: while it runs, retiring is refused (it would register again).
"""

import re
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from khabar_cli.main import app, with_log_redis
from khabar_search.nodes import NODE_NAME_PATTERN, SearchNode
from khabar_shared.names import FIRST_SEARCH_NODE
from khabar_shared.redis_helpers import RedisClient
from khabar_shared.search_nodes import (
    RUNNING_WITHIN_MS,
    Retirement,
    freshness,
    has_group,
    registered,
    retire,
    running_consumers,
)

console = Console()
nodes_app = typer.Typer(help="Search nodes: list them, retire one for good.", no_args_is_help=True)
app.add_typer(nodes_app, name="search-nodes")


def refusal(node: str, known: list[str], running: list[str], force: bool) -> str | None:
    """Why retiring `node` is refused, or None. The rules, apart from Redis."""
    if running:
        return (
            f"node {node}'s indexer is running ({', '.join(running)} read within "
            f"{RUNNING_WITHIN_MS // 1000} s): stop its search process first"
        )
    if force:
        return None
    if node == FIRST_SEARCH_NODE:
        return (
            "node 1 is the node every search process falls back to and keeps the names "
            "a single node always had; pass --force to retire it anyway"
        )
    if known == [node]:
        return "it is the last search node; pass --force to retire it anyway"
    return None


@nodes_app.command("list")
def list_nodes() -> None:
    """Every registered node: its Meilisearch, lag and pending events."""
    rows = with_log_redis(freshness)
    table = Table("node", "group", "meilisearch", "lag", "pending", "last applied")
    for row in rows:
        table.add_row(
            row.node,
            row.group,
            row.meili_url,
            "-" if row.lag is None else str(row.lag),
            "-" if row.pending is None else str(row.pending),
            row.last_applied_at.isoformat(timespec="seconds") if row.last_applied_at else "never",
        )
    console.print(table)


@nodes_app.command("retire")
def retire_node(
    node: Annotated[str, typer.Argument(help="The node's name (KHABAR_SEARCH_NODE), e.g. 3.")],
    force: Annotated[
        bool, typer.Option("--force", help="Retire node 1, or the last node, all the same.")
    ] = False,
) -> None:
    """Remove a search node for good: its registration, consumer group, version guard and traces.

    Stop the node's search process first (a running indexer is refused, --force or
    not). Node 1 and the last node are refused without --force. Safe to run again:
    an interrupted retirement is finished by the next run."""
    if not re.match(NODE_NAME_PATTERN, node):
        raise typer.BadParameter(f"not a node name: {node!r}", param_hint="NODE")
    search_node = SearchNode(node)

    async def work(redis: RedisClient) -> Retirement | None:
        known = list(await registered(redis))
        if node not in known and not await has_group(redis, node):
            console.print(f"no search node {node} (registered: {', '.join(known) or 'none'})")
            return None
        refused = refusal(node, known, await running_consumers(redis, node), force)
        if refused:
            console.print(f"[red]refused[/red]: {refused}")
            raise typer.Exit(1)
        return await retire(redis, node, search_node.key_patterns)

    done = with_log_redis(work)
    if done is None:
        raise typer.Exit(1)
    console.print(
        f"retired node {node}: registration {'removed' if done.unregistered else 'already gone'}, "
        f"group {search_node.group} {'destroyed' if done.group_destroyed else 'already gone'}, "
        f"{done.keys_deleted} keys deleted"
    )
