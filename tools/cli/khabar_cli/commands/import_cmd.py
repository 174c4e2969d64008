"""`khabar import`: files and feeds into ingest, through the batch API.

    khabar import samples/articles.ar.jsonl.gz https://example.com/rss.xml --key $KEY

Reads each source (ninjs .json, JSON lines, corpus .jsonl.gz, RSS/Atom files
or URLs; see `khabar_ingest.formats.sources`), posts the documents in
batches to `POST /v1/articles/batch`, three batches in flight (see
`khabar_cli.in_flight`: one article's changes keep their order), shows
progress and ends with a summary: accepted, embargoed, unchanged, and
rejected with the reasons. Files of JSON lines are read as the batches go,
so memory stays flat whatever their size.
"""

import asyncio
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from khabar_cli.in_flight import IN_FLIGHT, batch_uris, send_in_order
from khabar_cli.main import app
from khabar_cli.settings import ImportSettings
from khabar_ingest.formats.sources import SourceItem, read_file, read_source

console = Console()
JSON = {"Content-Type": "application/json"}


class Tally:
    """What happened to the documents: counts by outcome, and each reason for refusing
    with how often it came and where it came first (file:line, file#/index or feed entry)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.first_at: dict[str, str] = {}

    def rejected(self, reason: str, where: str) -> None:
        self.counts["rejected"] += 1
        reason = reason[:160]
        self.reasons[reason] += 1
        self.first_at.setdefault(reason, where)

    def add_answer(self, answer: dict[str, Any], wheres: list[str]) -> None:
        """One batch's answer; `wheres[i]` is where the batch's item i came from."""
        for item in answer["items"]:
            if item["outcome"] != "rejected":
                self.counts[item["outcome"]] += 1
                continue
            problem = item.get("problem") or {}
            errors = problem.get("errors") or [{"pointer": "", "detail": problem.get("title", "")}]
            self.rejected("; ".join(f"{e['pointer'] or '/'} {e['detail']}" for e in errors[:3]),
                          wheres[item["index"]])


class Sources:
    """The items of every source, read as they are needed: a file of JSON lines is read
    line by line while earlier batches are posted, so an archive of any size fits."""

    def __init__(self, sources: list[str], feeds: httpx.Client) -> None:
        self._sources = sources
        self._feeds = feeds
        self.unreadable: list[str] = []  # sources that broke off or could not be opened

    def __iter__(self) -> Iterator[SourceItem]:
        for source in self._sources:
            try:
                yield from self._items_of(source)
            except (OSError, EOFError, zlib.error, httpx.HTTPError) as error:
                # What was read before the error is imported; the summary names the source.
                self.unreadable.append(source)
                yield SourceItem(where=source, problem=f"could not read the source: {error}")

    def _items_of(self, source: str) -> Iterator[SourceItem]:
        if source.startswith(("http://", "https://")):
            answer = self._feeds.get(source, follow_redirects=True, timeout=30)
            yield from read_source(source, answer.raise_for_status().content)
        else:
            yield from read_file(Path(source))


def batches_of(
    items: Iterable[SourceItem], size: int, tally: Tally
) -> Iterator[list[SourceItem]]:
    """The readable items in batches of `size`; the unreadable ones go straight to the tally."""
    batch: list[SourceItem] = []
    for item in items:
        if item.document is None:
            tally.rejected(item.problem or "unreadable", item.where)
            continue
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def uris_of(batch: list[SourceItem]) -> frozenset[str]:
    return batch_uris(item.document for item in batch)


async def post_batches(items: Iterable[SourceItem], client: httpx.AsyncClient, batch_size: int,
                       in_flight: int) -> Tally:
    tally = Tally()
    columns = (TextColumn("importing"), BarColumn(), TextColumn("{task.completed} articles"),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("import", total=None)  # the sources are read as they go

        async def post(batch: list[SourceItem]) -> None:
            body = orjson.dumps([item.document for item in batch])
            answer = await client.post("/v1/articles/batch", content=body, headers=JSON,
                                       timeout=120)
            if answer.status_code in (401, 403):
                console.print(f"[red]{answer.json().get('detail', answer.text)}[/red]")
                raise typer.Exit(2)
            if answer.status_code != 200:
                for item in batch:
                    tally.rejected(f"batch refused: {answer.status_code} {answer.text[:120]}",
                                   item.where)
            else:
                tally.add_answer(answer.json(), [item.where for item in batch])
            progress.advance(task, len(batch))

        try:
            await send_in_order(batches_of(items, batch_size, tally), uris_of, post, in_flight)
        except* typer.Exit as exits:
            raise exits.exceptions[0] from None
        except* httpx.TransportError as failures:
            console.print(f"[red]could not reach ingest at {client.base_url}: "
                          f"{failures.exceptions[0]!r}[/red]")
            raise typer.Exit(2) from None
    return tally


def print_summary(tally: Tally) -> None:
    table = Table("outcome", "articles")
    for outcome in ("accepted", "embargoed", "unchanged", "rejected"):
        table.add_row(outcome, str(tally.counts[outcome]))
    console.print(table)
    if tally.reasons:
        reasons = Table("rejected because", "count", "first at")
        for reason, count in tally.reasons.most_common(15):
            reasons.add_row(reason, str(count), tally.first_at[reason])
        console.print(reasons)


@app.command("import")
def import_command(
    sources: Annotated[list[str], typer.Argument(help="Files or feed URLs.")],
    ingest_url: Annotated[str, typer.Option(help="Ingest's base URL.")] = "",
    key: Annotated[str, typer.Option(help="A write key (default: $KHABAR_INGEST_KEY).")] = "",
    batch_size: Annotated[int, typer.Option(min=1, max=500)] = 200,
    in_flight: Annotated[int, typer.Option(
        min=1, max=8, help="Batches posted at once (one article's changes keep their order).",
    )] = IN_FLIGHT,
) -> None:
    """Post articles from files and feeds to ingest; prints what happened to each.

    Exits 1 when a source could not be read (the others are imported), 2 when ingest
    refuses the key or cannot be reached."""
    settings = ImportSettings()
    url = ingest_url or settings.ingest_url
    token = key or settings.ingest_key or settings.bootstrap_ingest_key
    if not token:
        raise typer.BadParameter("give --key or set KHABAR_INGEST_KEY", param_hint="--key")
    headers = {"Authorization": f"Bearer {token}"}
    # Feeds are fetched by a client of their own: ingest's key must never go to a feed's host.
    with httpx.Client(headers={"User-Agent": "khabar-import"}) as feeds:
        items = Sources(sources, feeds)
        tally = asyncio.run(post_all(items, url, headers, batch_size, in_flight))
    print_summary(tally)
    if items.unreadable:
        console.print(f"[red]{len(items.unreadable)} source(s) could not be read: "
                      f"{', '.join(items.unreadable)}[/red]")
        raise typer.Exit(1)


async def post_all(items: Iterable[SourceItem], url: str, headers: dict[str, str],
                   batch_size: int, in_flight: int) -> Tally:
    limits = httpx.Limits(max_connections=in_flight)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:
        return await post_batches(items, client, batch_size, in_flight)
