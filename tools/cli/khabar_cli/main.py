"""`khabar`: one entry point for operators; each command lives in its own module."""

import typer

app = typer.Typer(
    name="khabar",
    help="Operate khabar: pipeline status, imports, index rebuilds, dead letters, replays, keys.",
    no_args_is_help=True,
)

# Each command module registers itself on `app` when imported.
from khabar_cli import commands  # noqa: E402,F401
