"""`khabar keys`: the ingest API keys (create, list, revoke).

Keys live hashed in the Redis at `KHABAR_REDIS_URL`; a new key is printed
once, at creation, and can't be shown again.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from khabar_cli.main import app
from khabar_ingest.auth import ApiKey, KeyName, KeyNameTaken, create_key, list_keys, revoke_key
from khabar_ingest.push.destinations import check_time_zone
from khabar_ingest.settings import IngestSettings
from khabar_shared.redis_helpers import RedisClient, connect

T = TypeVar("T")
keys_app = typer.Typer(
    help="Ingest API keys: each has a name (the newsroom tool) and a scope.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
console = Console()


def with_redis(work: Callable[[RedisClient], Awaitable[T]]) -> T:
    async def run() -> T:
        redis = connect(IngestSettings().redis_url)
        try:
            return await work(redis)
        finally:
            await redis.aclose()

    return asyncio.run(run())


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Who holds the key, e.g. 'cms' or 'afp-wire'.")],
    scope: Annotated[str, typer.Option(help="write (post and withdraw) or read.")] = "write",
    time_zone: Annotated[
        str | None,
        typer.Option(
            help="IANA zone for times sent without an offset (default: KHABAR_SITE_TIME_ZONE)."
        ),
    ] = None,
) -> None:
    """Make a new key and print it (once: only its hash is kept)."""
    if scope not in ("write", "read"):
        raise typer.BadParameter("scope must be 'write' or 'read'", param_hint="--scope")
    KeyName(name=name)  # refuses names that would be awkward in logs and URLs
    if time_zone is not None:
        try:
            check_time_zone(time_zone)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--time-zone") from error
    try:
        key, record = with_redis(lambda redis: create_key(redis, name, scope, time_zone))  # type: ignore[arg-type]
    except KeyNameTaken as taken:
        console.print(f"[red]{taken}[/red]")
        raise typer.Exit(1) from taken
    console.print(
        f"Created {record.scope} key [bold]{record.name}[/bold]. Keep it safe; "
        "it is not shown again:"
    )
    console.print(key, markup=False, highlight=False, soft_wrap=True)


@keys_app.command("list")
def list_command() -> None:
    """Names, scopes and creation times of the stored keys (never the keys)."""
    keys: list[ApiKey] = with_redis(list_keys)
    table = Table("name", "scope", "created")
    for key in keys:
        table.add_row(key.name, key.scope, key.created_at.isoformat() if key.created_at else "")
    console.print(table)


@keys_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Remove the key with this name; requests with it get 401 at once."""
    removed = with_redis(lambda redis: revoke_key(redis, name))
    if not removed:
        console.print(f"[red]No key named {name!r}.[/red]")
        raise typer.Exit(1)
    console.print(f"Revoked {name!r}.")
