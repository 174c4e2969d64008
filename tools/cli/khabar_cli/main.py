"""`khabar`: one entry point for operators; each command lives in its own module.

Every command reads the same `KHABAR_*` variables as the services (at least
`KHABAR_REDIS_URL`, and `KHABAR_REDIS_CLUSTER` for a cluster).
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from khabar_cli.failures import KhabarGroup
from khabar_shared.redis_helpers import RedisClient, connect
from khabar_shared.settings import CommonSettings

T = TypeVar("T")

app = typer.Typer(
    name="khabar",
    cls=KhabarGroup,  # an outage ends in one line and a documented exit code, not a traceback
    help=(
        "Operate khabar: pipeline status, imports, index rebuilds, dead letters, replays, "
        "retention, keys and article traces.\n\n"
        "Talks to the Redis at KHABAR_REDIS_URL (default redis://127.0.0.1:6379/0). "
        "Start with `khabar status`; `khabar COMMAND --help` explains each command.\n\n"
        "Exit codes: 0 done; 1 done, but something was refused, lost or not found; "
        "2 wrong usage; 3 a service it needs is down; 4 credentials refused."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def with_log_redis(work: Callable[[RedisClient], Awaitable[T]]) -> T:
    """Run `work` with a client for the log's Redis (or cluster), then close it."""

    async def run() -> T:
        settings = CommonSettings()
        redis = connect(settings.redis_url, settings.redis_cluster)
        try:
            return await work(redis)
        finally:
            await redis.aclose()

    return asyncio.run(run())


# Each command module registers itself on `app` when imported.
from khabar_cli import commands  # noqa: F401
