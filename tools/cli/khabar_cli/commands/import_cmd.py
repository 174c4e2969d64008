"""`khabar import`: files and feeds into ingest, through the batch API.

    khabar import samples/articles.ar.jsonl.gz https://example.com/rss.xml --key $KEY

Reads each source (ninjs .json, JSON lines, corpus .jsonl.gz, RSS/Atom files
or URLs; see `khabar_ingest.formats.sources`), posts the documents in
batches to `POST /v1/articles/batch`, shows a progress bar and ends with a
summary: accepted, embargoed, unchanged, and rejected with the reasons.
"""

import os
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from khabar_cli.main import app
from khabar_ingest.formats.sources import SourceItem, read_source

console = Console()


class Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()

    def rejected(self, reason: str) -> None:
        self.counts["rejected"] += 1
        self.reasons[reason[:160]] += 1

    def add_answer(self, answer: dict[str, Any]) -> None:
        for item in answer["items"]:
            if item["outcome"] != "rejected":
                self.counts[item["outcome"]] += 1
                continue
            problem = item.get("problem") or {}
            errors = problem.get("errors") or [{"pointer": "", "detail": problem.get("title", "")}]
            self.rejected("; ".join(f"{e['pointer'] or '/'} {e['detail']}" for e in errors[:3]))


def read_all(sources: list[str], client: httpx.Client) -> list[SourceItem]:
    items: list[SourceItem] = []
    for source in sources:
        if source.startswith(("http://", "https://")):
            data = client.get(source, follow_redirects=True, timeout=30).raise_for_status().content
        else:
            data = Path(source).read_bytes()
        items.extend(read_source(source, data))
    return items


def post_batches(items: list[SourceItem], client: httpx.Client, batch_size: int) -> Tally:
    tally = Tally()
    documents = []
    for item in items:
        if item.document is None:
            tally.rejected(item.problem or "unreadable")
        else:
            documents.append(item.document)
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("import", total=len(documents))
        for start in range(0, len(documents), batch_size):
            chunk = documents[start:start + batch_size]
            answer = client.post("/v1/articles/batch", json=chunk, timeout=120)
            if answer.status_code in (401, 403):
                console.print(f"[red]{answer.json().get('detail', answer.text)}[/red]")
                raise typer.Exit(2)
            if answer.status_code != 200:
                for _ in chunk:
                    tally.rejected(f"batch refused: {answer.status_code} {answer.text[:120]}")
            else:
                tally.add_answer(answer.json())
            progress.advance(task, len(chunk))
    return tally


def print_summary(tally: Tally) -> None:
    table = Table("outcome", "articles")
    for outcome in ("accepted", "embargoed", "unchanged", "rejected"):
        table.add_row(outcome, str(tally.counts[outcome]))
    console.print(table)
    if tally.reasons:
        reasons = Table("rejected because", "count")
        for reason, count in tally.reasons.most_common(15):
            reasons.add_row(reason, str(count))
        console.print(reasons)


@app.command("import")
def import_command(
    sources: Annotated[list[str], typer.Argument(help="Files or feed URLs.")],
    ingest_url: Annotated[str, typer.Option(help="Ingest's base URL.")] = "",
    key: Annotated[str, typer.Option(help="A write key (default: $KHABAR_INGEST_KEY).")] = "",
    batch_size: Annotated[int, typer.Option(min=1, max=500)] = 200,
) -> None:
    """Post articles from files and feeds to ingest; prints what happened to each."""
    url = ingest_url or os.environ.get("KHABAR_INGEST_URL", "http://127.0.0.1:8001")
    token = key or os.environ.get("KHABAR_INGEST_KEY") or os.environ.get(
        "KHABAR_BOOTSTRAP_INGEST_KEY", "")
    if not token:
        raise typer.BadParameter("give --key or set KHABAR_INGEST_KEY", param_hint="--key")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers) as client:
        items = read_all(sources, client)
        tally = post_batches(items, client, batch_size)
    print_summary(tally)
