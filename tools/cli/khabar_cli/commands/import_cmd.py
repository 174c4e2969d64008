"""`khabar import`: files and feeds into ingest, through the batch API.

    khabar import samples/articles.ar.jsonl.gz https://example.com/rss.xml --key $KEY

Reads each source (ninjs .json, JSON lines, corpus .jsonl.gz, RSS/Atom files
or URLs; see `khabar_ingest.formats.sources`), posts the documents in
batches to `POST /v1/articles/batch`, two batches in flight (see
`khabar_cli.in_flight`: one article's changes keep their order), shows a
progress bar and ends with a summary: accepted, embargoed, unchanged, and
rejected with the reasons.
"""

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from khabar_cli.in_flight import batch_uris, send_in_order
from khabar_cli.main import app
from khabar_ingest.formats.sources import SourceItem, read_source

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


def read_all(sources: list[str], feeds: httpx.Client) -> tuple[list[SourceItem], list[str]]:
    """The items of every source, and the sources that could not be read at all (each also
    an item with the reason, so the summary names it; the other sources are imported)."""
    items: list[SourceItem] = []
    unreadable: list[str] = []
    for source in sources:
        try:
            data = fetch(source, feeds)
        except (OSError, httpx.HTTPError) as error:
            unreadable.append(source)
            items.append(SourceItem(where=source, problem=f"could not read the source: {error}"))
            continue
        items.extend(read_source(source, data))
    return items, unreadable


def fetch(source: str, feeds: httpx.Client) -> bytes:
    if source.startswith(("http://", "https://")):
        return feeds.get(source, follow_redirects=True, timeout=30).raise_for_status().content
    return Path(source).read_bytes()


async def post_batches(items: list[SourceItem], client: httpx.AsyncClient, batch_size: int,
                       in_flight: int) -> Tally:
    tally = Tally()
    readable = []
    for item in items:
        if item.document is None:
            tally.rejected(item.problem or "unreadable", item.where)
        else:
            readable.append(item)
    batches = [readable[start:start + batch_size] for start in range(0, len(readable), batch_size)]
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("import", total=len(readable))

        async def post(index: int) -> None:
            chunk = batches[index]
            body = orjson.dumps([item.document for item in chunk])
            answer = await client.post("/v1/articles/batch", content=body, headers=JSON,
                                       timeout=120)
            if answer.status_code in (401, 403):
                console.print(f"[red]{answer.json().get('detail', answer.text)}[/red]")
                raise typer.Exit(2)
            if answer.status_code != 200:
                for item in chunk:
                    tally.rejected(f"batch refused: {answer.status_code} {answer.text[:120]}",
                                   item.where)
            else:
                tally.add_answer(answer.json(), [item.where for item in chunk])
            progress.advance(task, len(chunk))

        try:
            uris = [batch_uris(item.document for item in batch) for batch in batches]
            await send_in_order(uris, post, in_flight)
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
    )] = 2,
) -> None:
    """Post articles from files and feeds to ingest; prints what happened to each.

    Exits 1 when a source could not be read (the others are imported), 2 when ingest
    refuses the key or cannot be reached."""
    url = ingest_url or os.environ.get("KHABAR_INGEST_URL", "http://127.0.0.1:8001")
    token = key or os.environ.get("KHABAR_INGEST_KEY") or os.environ.get(
        "KHABAR_BOOTSTRAP_INGEST_KEY", "")
    if not token:
        raise typer.BadParameter("give --key or set KHABAR_INGEST_KEY", param_hint="--key")
    headers = {"Authorization": f"Bearer {token}"}
    # Feeds are fetched by a client of their own: ingest's key must never go to a feed's host.
    with httpx.Client(headers={"User-Agent": "khabar-import"}) as feeds:
        items, unreadable = read_all(sources, feeds)
    tally = asyncio.run(post_all(items, url, headers, batch_size, in_flight))
    print_summary(tally)
    if unreadable:
        console.print(f"[red]{len(unreadable)} source(s) could not be read: "
                      f"{', '.join(unreadable)}[/red]")
        raise typer.Exit(1)


async def post_all(items: list[SourceItem], url: str, headers: dict[str, str], batch_size: int,
                   in_flight: int) -> Tally:
    limits = httpx.Limits(max_connections=in_flight)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:
        return await post_batches(items, client, batch_size, in_flight)
