"""How `khabar` fails: one line naming what is down (or refused) and where, and an exit code.

Exit codes (the README's "Exit codes" lists them too):

- 0: done.
- 1: done, but something was refused, lost, unreadable or not found (the output says what).
- 2: wrong usage (an unknown option, a bad value; typer's own code).
- 3: a service the command needs is down or unreachable (Redis, Meilisearch, ingest).
- 4: a service refused the command's credentials (Redis password, Meilisearch or ingest key).

Every command runs inside `KhabarGroup.invoke`, so a Redis or Meilisearch outage met
anywhere in any command ends the same way instead of in a traceback.
"""

import re
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer
from meilisearch.errors import MeilisearchApiError, MeilisearchCommunicationError
from redis.exceptions import AuthenticationError, AuthorizationError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from typer.core import TyperGroup

from khabar_search.meili_documents import MeiliUnavailable

EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_REFUSED = 4


def shown_url(url: str) -> str:
    """`url` without its password (a Redis URL may carry one)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def cause(error: BaseException) -> str:
    """The short reason inside a client's error text ("Connection refused", not 300 chars)."""
    text = str(error)
    errno = re.search(r"\[Errno -?\d+\] ([^\"')(]+)", text)
    if errno:
        return errno.group(1).strip()
    return text.splitlines()[0][:160] if text else type(error).__name__


def fail(line: str, code: int) -> NoReturn:
    """Print `line` on stderr and leave with `code`."""
    typer.secho(f"khabar: {line}", fg="red", err=True)
    raise typer.Exit(code)


def redis_where() -> str:
    from khabar_shared.settings import CommonSettings

    return f"{shown_url(CommonSettings().redis_url)} (KHABAR_REDIS_URL)"


def meili_where() -> str:
    from khabar_shared.settings import CommonSettings

    return f"{CommonSettings().meili_url} (KHABAR_MEILI_URL)"


def explain(error: BaseException) -> tuple[str, int] | None:
    """The line and exit code for an outage or refusal, or None for any other error."""
    if isinstance(error, (AuthenticationError, AuthorizationError)):
        return f"Redis at {redis_where()} refused the credentials: {cause(error)}", EXIT_REFUSED
    if isinstance(error, (RedisConnectionError, RedisTimeoutError, RedisClusterException)):
        return f"Redis is down at {redis_where()}: {cause(error)}", EXIT_UNAVAILABLE
    if isinstance(error, MeilisearchCommunicationError | MeiliUnavailable):
        return f"Meilisearch is down at {meili_where()}: {cause(error)}", EXIT_UNAVAILABLE
    if isinstance(error, MeilisearchApiError) and error.code in (
        "invalid_api_key",
        "missing_authorization_header",
    ):
        return (
            f"Meilisearch at {meili_where()} refused the key KHABAR_MEILI_INDEX_KEY: "
            f"{error.message}"
        ), EXIT_REFUSED
    return None


class KhabarGroup(TyperGroup):
    """The `khabar` command group: turns outages anywhere below it into one line and a code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:  # only the outages `explain` knows are caught; others rise
            found = explain(error) or explain_group(error)
            if found is None:
                raise
            fail(*found)


def explain_group(error: BaseException) -> tuple[str, int] | None:
    """An outage inside an ExceptionGroup (asyncio's TaskGroup wraps what its tasks raise)."""
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            if (found := explain(inner) or explain_group(inner)) is not None:
                return found
    return None
