"""`khabar trace ARTICLE_ID`: where is my story? The same answer as ingest's /trace."""

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from khabar_cli.commands.status_cmd import nodes_table
from khabar_cli.main import app, with_log_redis
from khabar_ingest.trace import ArticleTrace, read_trace

console = Console()


def trace_table(trace: ArticleTrace) -> Table:
    table = Table(title=f"article {trace.article_id}", header_style="bold")
    for column in (
        "version",
        "status",
        "accepted at",
        *(s.stage for s in trace.versions[0].stages),
        "correlation id",
    ):
        table.add_column(column)
    for version in trace.versions:
        cells = []
        for stage in version.stages:
            if stage.applied_at is not None:
                cells.append(f"[green]+{stage.seconds:.1f}s[/green]")
            else:
                cells.append(f"[red]pending {stage.seconds:.0f}s[/red]")
        table.add_row(
            str(version.version),
            version.status,
            version.accepted_at.strftime("%Y-%m-%d %H:%M:%S"),
            *cells,
            version.correlation_id,
        )
    return table


@app.command()
def trace(
    article_id: Annotated[str, typer.Argument(help="The article id ingest answered with.")],
    versions: Annotated[int, typer.Option(help="How many recent versions.")] = 10,
) -> None:
    """When ingest accepted each recent version, and how long enrich, search and render took.

    "+1.2s" means applied 1.2 seconds after ingest accepted it; "pending 300s"
    means not applied yet, 300 seconds after acceptance: look at `khabar status`
    and `khabar dead-letters list` for that stage.
    """
    found = with_log_redis(lambda redis: read_trace(redis, article_id, versions))
    if found is None:
        console.print(f"[red]No article {article_id}.[/red]")
        raise typer.Exit(1)
    console.print(trace_table(found))
    if found.search_nodes:
        console.print(nodes_table(found.search_nodes, datetime.now(UTC)))
