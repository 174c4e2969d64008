"""`khabar import`: files and feeds into ingest, through the batch API.

    khabar import samples/articles.ar.jsonl.gz https://example.com/rss.xml --key $KEY

Reads each source (ninjs .json, JSON lines, corpus .jsonl.gz, RSS/Atom files
or URLs; see `khabar_ingest.formats.sources`), posts the documents in
batches to `POST /v1/articles/batch`, three batches in flight (see
`khabar_cli.in_flight`: one article's changes keep their order), shows
progress and ends with a summary: accepted, embargoed, unchanged, rejected
and lost, and a table of the refusals. Files of JSON lines are read as the
batches go, so memory stays flat whatever their size.

A batch that meets a connection error, a 5xx or a 429 is sent again after a
growing pause (`--retries` times); ingest answers a repeated article as
"unchanged", so a batch that was half applied before the failure is safe to
send again. A batch still failing after that is counted as lost.
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

from khabar_cli.failures import EXIT_PROBLEMS, EXIT_REFUSED, EXIT_UNAVAILABLE, fail
from khabar_cli.in_flight import IN_FLIGHT, batch_uris, send_in_order
from khabar_cli.main import app
from khabar_cli.settings import ImportSettings
from khabar_ingest.formats.sources import SourceItem, read_file, read_source

console = Console()
JSON = {"Content-Type": "application/json"}


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FIRST_PAUSE_S = 0.5
LONGEST_PAUSE_S = 8.0


class Tally:
    """What happened to the documents: counts by outcome, and each reason for refusing
    (or losing) with how often it came and where it came first (file:line, file#/index
    or feed entry)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.reasons: Counter[tuple[str, str, str]] = Counter()  # (outcome, field, reason)
        self.first_at: dict[tuple[str, str, str], str] = {}

    def rejected(self, reason: str, where: str, field: str = "", outcome: str = "rejected") -> None:
        self.counts[outcome] += 1
        key = (outcome, field, reason[:160])
        self.reasons[key] += 1
        self.first_at.setdefault(key, where)

    def lost(self, reason: str, where: str) -> None:
        self.rejected(reason, where, outcome="lost")

    @property
    def failed(self) -> int:
        """Documents refused or lost: any makes the import exit 1."""
        return self.counts["rejected"] + self.counts["lost"]

    def add_answer(self, answer: dict[str, Any], wheres: list[str]) -> None:
        """One batch's answer; `wheres[i]` is where the batch's item i came from."""
        for item in answer["items"]:
            if item["outcome"] != "rejected":
                self.counts[item["outcome"]] += 1
                continue
            problem = item.get("problem") or {}
            errors = problem.get("errors") or [{"pointer": "", "detail": problem.get("title", "")}]
            self.rejected(
                "; ".join(e["detail"] for e in errors[:3]),
                wheres[item["index"]],
                field=" ".join(e["pointer"] or "/" for e in errors[:3]),
            )


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


def batches_of(items: Iterable[SourceItem], size: int, tally: Tally) -> Iterator[list[SourceItem]]:
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


class KeyRefused(Exception):
    """Ingest answered 401 or 403: the key is wrong, revoked or read-only."""


class IngestDown(Exception):
    """Ingest could not be reached, even after the retries."""


def pause_before(attempt: int, answer: httpx.Response | None) -> float:
    """Seconds to wait before attempt `attempt + 1`: doubling, or what Retry-After asks."""
    pause = min(LONGEST_PAUSE_S, FIRST_PAUSE_S * 2**attempt)
    if answer is not None and (after := answer.headers.get("Retry-After", "")).isdigit():
        pause = min(LONGEST_PAUSE_S, float(after))
    return pause


async def send_with_retries(client: httpx.AsyncClient, body: bytes, retries: int) -> httpx.Response:
    """POST one batch; a connection error, 5xx or 429 is tried again up to `retries` times.
    Returns the last answer (possibly still a 5xx); raises IngestDown when every try met a
    connection error."""
    for attempt in range(retries + 1):
        answer: httpx.Response | None = None
        try:
            answer = await client.post(
                "/v1/articles/batch", content=body, headers=JSON, timeout=120
            )
        except httpx.TransportError as error:
            if attempt == retries:
                raise IngestDown(f"{error!r}") from error
        else:
            if answer.status_code not in RETRY_STATUSES or attempt == retries:
                return answer
        await asyncio.sleep(pause_before(attempt, answer))
    raise AssertionError("unreachable")


async def post_batches(
    items: Iterable[SourceItem],
    client: httpx.AsyncClient,
    batch_size: int,
    in_flight: int,
    retries: int,
    tally: Tally,
) -> None:
    columns = (
        TextColumn("importing"),
        BarColumn(),
        TextColumn("{task.completed} articles"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("import", total=None)  # the sources are read as they go

        async def post(batch: list[SourceItem]) -> None:
            answer = await send_with_retries(
                client, orjson.dumps([item.document for item in batch]), retries
            )
            if answer.status_code in (401, 403):
                raise KeyRefused(answer.json().get("detail", answer.text))
            if answer.status_code in RETRY_STATUSES:
                for item in batch:
                    tally.lost(
                        f"ingest answered {answer.status_code} after {retries} retries", item.where
                    )
            elif answer.status_code != 200:
                for item in batch:
                    tally.rejected(
                        f"batch refused: {answer.text[:120]}",
                        item.where,
                        field=str(answer.status_code),
                    )
            else:
                tally.add_answer(answer.json(), [item.where for item in batch])
            progress.advance(task, len(batch))

        try:
            await send_in_order(batches_of(items, batch_size, tally), uris_of, post, in_flight)
        except* (KeyRefused, IngestDown) as failures:
            raise failures.exceptions[0] from None


def print_summary(tally: Tally) -> None:
    table = Table("outcome", "articles")
    for outcome in ("accepted", "embargoed", "unchanged", "rejected", "lost"):
        table.add_row(outcome, str(tally.counts[outcome]))
    console.print(table)
    if tally.reasons:
        reasons = Table(
            "outcome",
            "first at",
            "field",
            "reason",
            "count",
            title="refused or lost",
            title_justify="left",
        )
        for key, count in tally.reasons.most_common(30):
            outcome, field, reason = key
            reasons.add_row(outcome, tally.first_at[key], field, reason, str(count))
        if len(tally.reasons) > 30:
            reasons.caption = f"and {len(tally.reasons) - 30} other reasons"
        console.print(reasons)


@app.command("import")
def import_command(
    sources: Annotated[list[str], typer.Argument(help="Files or feed URLs.")],
    ingest_url: Annotated[str, typer.Option(help="Ingest's base URL.")] = "",
    key: Annotated[str, typer.Option(help="A write key (default: $KHABAR_INGEST_KEY).")] = "",
    batch_size: Annotated[int, typer.Option(min=1, max=500)] = 200,
    in_flight: Annotated[
        int,
        typer.Option(
            min=1,
            max=8,
            help="Batches posted at once (one article's changes keep their order).",
        ),
    ] = IN_FLIGHT,
    retries: Annotated[
        int,
        typer.Option(
            min=0,
            max=20,
            help="Tries again after a connection error, 5xx or 429, pausing "
            "0.5 s, 1 s, 2 s … up to 8 s between tries.",
        ),
    ] = 5,
) -> None:
    """Post articles from files and feeds to ingest; prints what happened to each.

    Exits 0 when every document was accepted, embargoed or unchanged; 1 when any was
    refused or lost, or a source could not be read (the rest is imported); 3 when ingest
    cannot be reached (after the retries); 4 when it refuses the key."""
    settings = ImportSettings()
    url = ingest_url or settings.ingest_url
    token = key or settings.ingest_key or settings.bootstrap_ingest_key
    if not token:
        raise typer.BadParameter("give --key or set KHABAR_INGEST_KEY", param_hint="--key")
    headers = {"Authorization": f"Bearer {token}"}
    tally = Tally()
    # Feeds are fetched by a client of their own: ingest's key must never go to a feed's host.
    with httpx.Client(headers={"User-Agent": "khabar-import"}) as feeds:
        items = Sources(sources, feeds)
        try:
            asyncio.run(post_all(items, url, headers, batch_size, in_flight, retries, tally))
        except KeyRefused as refused:
            fail(f"ingest at {url} refused the key: {refused}", EXIT_REFUSED)
        except IngestDown as down:
            print_summary(tally)
            fail(f"ingest is down at {url} (--ingest-url): {down}", EXIT_UNAVAILABLE)
    print_summary(tally)
    if items.unreadable:
        console.print(
            f"[red]{len(items.unreadable)} source(s) could not be read: "
            f"{', '.join(items.unreadable)}[/red]"
        )
    if tally.failed or items.unreadable:
        raise typer.Exit(EXIT_PROBLEMS)


async def post_all(
    items: Iterable[SourceItem],
    url: str,
    headers: dict[str, str],
    batch_size: int,
    in_flight: int,
    retries: int,
    tally: Tally,
) -> None:
    limits = httpx.Limits(max_connections=in_flight)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:
        await post_batches(items, client, batch_size, in_flight, retries, tally)
