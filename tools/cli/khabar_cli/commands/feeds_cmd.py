"""`khabar feeds`: RSS/Atom feeds that ingest watches (polls), as opposed to `khabar import`.

Every ingest process polls the feeds that are due (a lock per feed keeps
two replicas from polling one feed at once), with conditional GET; each
feed's last result shows here and in `khabar status`.
"""

from typing import Annotated

import typer
from rich.console import Console, Group, RenderableType
from rich.text import Text

from khabar_cli.blocks import figures, indented
from khabar_cli.main import app, with_log_redis
from khabar_ingest.formats.checks import is_web_url, language_problem
from khabar_ingest.watch.registry import WatchedFeed, add_feed, list_feeds, remove_feed

feeds_app = typer.Typer(help="Feeds ingest polls: add, list, remove.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
console = Console()


@feeds_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="The feed's http(s) address.")],
    every: Annotated[int, typer.Option(min=10, help="Seconds between polls.")] = 300,
    language: Annotated[
        str | None,
        typer.Option(help="Language of entries that don't say (default: guessed from the feed)."),
    ] = None,
) -> None:
    """Watch a feed: polled first at once, then every --every seconds."""
    if not is_web_url(url):
        raise typer.BadParameter("must be an absolute http or https address", param_hint="URL")
    if language is not None and language_problem(language):
        raise typer.BadParameter(language_problem(language) or "", param_hint="--language")
    with_log_redis(lambda redis: add_feed(redis, url, every, language))
    console.print(f"Watching {url} every {every}s.")


@feeds_app.command("remove")
def remove(url: Annotated[str, typer.Argument(help="The feed's address, as added.")]) -> None:
    """Stop watching a feed (its articles stay)."""
    if not with_log_redis(lambda redis: remove_feed(redis, url)):
        console.print(f"[red]No watched feed {url!r}.[/red]")
        raise typer.Exit(1)
    console.print(f"No longer watching {url}.")


def feeds_blocks(feeds: list[WatchedFeed]) -> Group:
    """One block per feed (its address, then its last poll's figures): fits 80 columns."""
    lines: list[RenderableType] = [Text("watched feeds", style="bold")]
    for feed in feeds:
        last = feed.last
        result = (
            Text("")
            if last is None
            else (
                Text(f"{last.outcome}: {last.error}", style="red")
                if last.outcome == "failed"
                else Text(f"{last.outcome} ({last.http_status})")
            )
        )
        counts = (
            ""
            if last is None or last.outcome != "fetched"
            else f"{last.accepted} / {last.unchanged} / {last.refused}"
        )
        lines += [
            Text(feed.url, style="bold"),
            indented(
                figures(
                    ("every", f"{feed.interval_s}s"),
                    ("last poll", last.at.isoformat(timespec="seconds") if last else "never"),
                    ("failures", str(feed.failures)),
                )
            ),
            # The result alone on its line: an error's text wraps without hiding a figure.
            indented(figures(("result", result))),
            indented(
                figures(
                    ("accepted / unchanged / refused", counts),
                    ("next", feed.next_at.isoformat(timespec="seconds")),
                )
            ),
        ]
    return Group(*lines)


@feeds_app.command("list")
def list_command() -> None:
    """Each watched feed with its last result and when it is next polled."""
    console.print(feeds_blocks(with_log_redis(list_feeds)))
