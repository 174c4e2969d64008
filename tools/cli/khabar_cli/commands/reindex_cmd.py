"""`khabar reindex`: rebuild the search index from the log and swap it in, without downtime."""

import asyncio

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from khabar_cli.main import app
from khabar_search.meili import MeiliWriter
from khabar_search.rebuild import RebuildReport, rebuild
from khabar_search.settings import SearchSettings
from khabar_shared.names import ENRICHED_STREAM
from khabar_shared.redis_helpers import connect

console = Console()


async def _run(settings: SearchSettings, stream: str, batch_size: int) -> RebuildReport:
    redis = connect(settings.redis_url)
    live = MeiliWriter(
        settings.meili_url,
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

            return await rebuild(redis, live, stream, batch_size, show)
    finally:
        await redis.aclose()


@app.command("reindex")
def reindex(
    batch_size: int = typer.Option(1000, min=1, max=10_000, help="Documents per Meilisearch task."),
    stream: str = typer.Option(ENRICHED_STREAM, help="The enriched stream to replay."),
) -> None:
    """Replay the newest version of every live article into a new index and swap it in.

    Readers keep searching the old index until the atomic swap. Uses
    KHABAR_REDIS_URL, KHABAR_MEILI_URL, KHABAR_MEILI_INDEX and the indexing key
    KHABAR_MEILI_INDEX_KEY (never the master key).
    """
    report = asyncio.run(_run(SearchSettings(), stream, batch_size))
    console.print(
        f"[green]index '{report.index}' rebuilt:[/] {report.documents} live articles "
        f"from {report.events} events ({report.caught_up} more caught up during the "
        f"rebuild) in {report.seconds:.1f}s"
    )
