"""`khabar aliases`: the Latin–Arabic name pairs search learned from the archive."""

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from khabar_cli.main import app, with_log_redis
from khabar_search.alias_store import AliasStore, LearnedAlias
from khabar_search.aliases import Alias, arabic_form, latin_form
from khabar_shared.redis_helpers import RedisClient

console = Console()
aliases_app = typer.Typer(
    help=(
        'Aliases search learned from glosses such as "نايكي (Nike)": a reader who types '
        "one spelling finds articles that write the other. `list` shows them with the "
        "articles that gave them; `remove` takes a bad one out for good."
    ),
    no_args_is_help=True,
)
app.add_typer(aliases_app, name="aliases")


def aliases_table(found: list[LearnedAlias]) -> Table:
    table = Table(title=f"{len(found)} learned aliases", header_style="bold")
    for column in ("latin", "arabic", "articles", "sources (first few)"):
        table.add_column(column)
    for alias in found:
        table.add_row(alias.latin, alias.arabic, str(alias.count), ", ".join(alias.sources))
    return table


@aliases_app.command("list")
def list_aliases(
    latin: Annotated[str | None, typer.Option(help="Only aliases of this Latin name.")] = None,
) -> None:
    """Every learned alias, the most attested first, with the articles that gave it."""
    found = with_log_redis(lambda redis: AliasStore(redis).learned())
    if latin:
        found = [alias for alias in found if alias.latin == latin_form(latin)]
    console.print(aliases_table(found))


@aliases_app.command("remove")
def remove_alias(
    latin: Annotated[str, typer.Argument(help="The Latin name, as `list` shows it.")],
    arabic: Annotated[str, typer.Argument(help="The Arabic spelling, as `list` shows it.")],
) -> None:
    """Take a bad alias out: search forgets it within a refresh and never learns it again."""
    alias = Alias(latin=latin_form(latin), arabic=arabic_form(arabic.split()))

    async def run(redis: RedisClient) -> bool:
        store = AliasStore(redis)
        known = {(a.latin, a.arabic) for a in await store.learned(include_blocked=True)}
        if (alias.latin, alias.arabic) not in known:
            return False
        await store.remove(alias)
        return True

    if not with_log_redis(run):
        console.print(
            f"[red]No learned alias {alias.latin} ↔ {alias.arabic}.[/red] "
            "`khabar aliases list` shows them."
        )
        raise typer.Exit(1)
    console.print(f"Removed {alias.latin} ↔ {alias.arabic}; search drops it at its next refresh.")
