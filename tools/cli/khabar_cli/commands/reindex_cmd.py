"""`khabar reindex`: rebuild the search index from the log and swap it in, without downtime.

With several search nodes, each node is rebuilt on its own (`--node`), while
readers keep searching the others and the node's old index until the swap.
"""

import asyncio
import re

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from khabar_cli.main import app
from khabar_search.meili import MeiliWriter
from khabar_search.nodes import NODE_NAME_PATTERN, SearchNode
from khabar_search.rebuild import RebuildReport, rebuild
from khabar_search.settings import SearchSettings
from khabar_shared.names import ENRICHED_STREAM
from khabar_shared.redis_helpers import RedisClient, connect
from khabar_shared.search_nodes import registered

console = Console()


async def node_url(redis: RedisClient, node: SearchNode, settings: SearchSettings) -> str:
    """Where the node's Meilisearch answers: as it registered, else KHABAR_MEILI_URL."""
    nodes = await registered(redis)
    if node.name in nodes:
        return nodes[node.name]
    if node.name != settings.search_node:
        known = ", ".join(nodes) or "none"
        raise typer.BadParameter(f"no search node '{node.name}' registered (known: {known})")
    return settings.meili_url


async def _run(
    settings: SearchSettings, stream: str, batch_size: int, node: SearchNode
) -> RebuildReport:
    redis = connect(settings.redis_url)
    live = MeiliWriter(
        await node_url(redis, node, settings),
        settings.meili_index_key.get_secret_value(),
        settings.meili_index,
        settings.prefix_search,
        settings.languages,
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        # Both must answer before the progress bars start, so an outage is one line.
        await redis.ping()
        await asyncio.to_thread(live.health)
        with Progress(*columns, console=console) as bar:
            reading = bar.add_task("reading the log (events)", total=None)
            indexing = bar.add_task("indexing live articles", total=None, visible=False)

            def show(stage: str, done: int, total: int | None) -> None:
                if stage == "read":
                    bar.update(reading, completed=done)
                else:
                    bar.update(reading, total=bar.tasks[reading].completed)
                    bar.update(indexing, completed=done, total=total, visible=True)

            return await rebuild(redis, live, stream, batch_size, show, node)
    finally:
        await redis.aclose()


@app.command("reindex")
def reindex(
    batch_size: int = typer.Option(1000, min=1, max=10_000, help="Documents per Meilisearch task."),
    stream: str = typer.Option(ENRICHED_STREAM, help="The enriched stream to replay."),
    node: str = typer.Option(
        "",
        help="The search node to rebuild (as `khabar status` lists them); "
        "default KHABAR_SEARCH_NODE, i.e. node 1.",
    ),
) -> None:
    """Replay the newest version of every live article into a new index and swap it in.

    Readers keep searching the old index until the atomic swap. Uses
    KHABAR_REDIS_URL, KHABAR_MEILI_URL (or the URL `--node` registered),
    KHABAR_MEILI_INDEX and the indexing key KHABAR_MEILI_INDEX_KEY (never the
    master key). Rebuild one node at a time: the others serve readers meanwhile.
    """
    settings = SearchSettings()
    name = node or settings.search_node
    if not re.match(NODE_NAME_PATTERN, name):
        raise typer.BadParameter(f"'{name}' is no node name (lower-case letters, digits, '-')")
    report = asyncio.run(_run(settings, stream, batch_size, SearchNode(name)))
    console.print(
        f"[green]node {name}: index '{report.index}' rebuilt:[/] {report.documents} live articles "
        f"from {report.events} events ({report.caught_up} more caught up during the "
        f"rebuild) in {report.seconds:.1f}s"
    )
