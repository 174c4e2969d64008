"""`khabar keys push`: the secrets Superdesk destinations sign their pushes with.

Each secret is stored encrypted under `KHABAR_PUSH_SECRETS_KEY` (which this
command and ingest must both be given) and printed once, when it is made or
rotated; see `khabar_ingest.push.destinations` for why it is encrypted
rather than hashed.
"""

from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from khabar_cli.commands.keys_cmd import keys_app, with_redis
from khabar_ingest.auth import KeyName
from khabar_ingest.push.destinations import (
    Cipher,
    DestinationNameTaken,
    PushSecretsUnavailable,
    StoredDestination,
    check_time_zone,
    create_destination,
    list_destinations,
    new_encryption_key,
    revoke_destination,
    rotate_destination,
)
from khabar_ingest.settings import IngestSettings

push_app = typer.Typer(
    help="Superdesk push secrets: one per destination, stored encrypted.", no_args_is_help=True
)
keys_app.add_typer(push_app, name="push")
console = Console()


def cipher() -> Cipher:
    try:
        return Cipher.from_setting(IngestSettings().push_secrets_key.get_secret_value())
    except PushSecretsUnavailable as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error


def show_secret(what: str, secret: str) -> None:
    console.print(
        f"{what} Enter it as the destination's 'Secret token' in Superdesk; it is not shown again:"
    )
    console.print(secret, markup=False, highlight=False, soft_wrap=True)


@push_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The Superdesk destination, e.g. 'superdesk-ar'.")],
    time_zone: Annotated[
        str | None,
        typer.Option(
            help="IANA zone for times sent without an offset (default: KHABAR_SITE_TIME_ZONE)."
        ),
    ] = None,
) -> None:
    """Make a push secret for a destination and print it once."""
    KeyName(name=name)
    if time_zone is not None:
        try:
            check_time_zone(time_zone)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--time-zone") from error
    sealer = cipher()
    try:
        secret, record = with_redis(
            lambda redis: create_destination(redis, sealer, name, time_zone)
        )
    except DestinationNameTaken as taken:
        console.print(f"[red]{taken}[/red]")
        raise typer.Exit(1) from taken
    show_secret(f"Created push secret [bold]{record.name}[/bold].", secret)


@push_app.command("rotate")
def rotate(
    name: Annotated[str, typer.Argument(help="The destination's name.")],
    grace_minutes: Annotated[
        int,
        typer.Option(
            min=0, help="How long the old secret keeps working (time to update Superdesk)."
        ),
    ] = 60,
) -> None:
    """Replace a destination's secret; the old one works for --grace-minutes more."""
    sealer = cipher()
    rotated = with_redis(
        lambda redis: rotate_destination(redis, sealer, name, timedelta(minutes=grace_minutes))
    )
    if rotated is None:
        console.print(f"[red]No push destination named {name!r}.[/red]")
        raise typer.Exit(1)
    show_secret(
        f"Rotated [bold]{name}[/bold] (the old secret works for {grace_minutes} min).", rotated[0]
    )


@push_app.command("list")
def list_command() -> None:
    """Destinations, their time zones and dates (never the secrets)."""
    records: list[StoredDestination] = with_redis(list_destinations)
    table = Table("name", "time zone", "created", "rotated", "old secret valid until")
    for record in records:
        table.add_row(
            record.name,
            record.time_zone or "(site's)",
            record.created_at.isoformat(),
            record.rotated_at.isoformat() if record.rotated_at else "",
            record.previous_until.isoformat() if record.previous_until else "",
        )
    console.print(table)


@push_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The destination's name.")]) -> None:
    """Remove a destination's secret; its pushes get 401 (after KHABAR_KEY_CACHE_S)."""
    if not with_redis(lambda redis: revoke_destination(redis, name)):
        console.print(f"[red]No push destination named {name!r}.[/red]")
        raise typer.Exit(1)
    console.print(f"Revoked {name!r}.")


@push_app.command("new-encryption-key")
def encryption_key() -> None:
    """Print a fresh value for KHABAR_PUSH_SECRETS_KEY (give the same to ingest and the CLI)."""
    console.print(new_encryption_key(), markup=False, highlight=False)
