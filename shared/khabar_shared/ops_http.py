"""`/healthz`, `/readyz` and `/metrics` for every service, in two flavours.

Services with a reader-facing HTTP API (ingest, search, render) are FastAPI
apps and include `fastapi_ops_router`; enrich, which only consumes, serves
the same routes through FastStream's own ASGI wrapper (`faststream_ops_routes`).
`/metrics` reads the lag of the consumer groups named in the readiness checks
at scrape time; FastAPI services add `HttpMetricsMiddleware` for HTTP numbers.
FastAPI is imported lazily: it is an optional extra (`khabar-shared[http]`).
"""

import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from khabar_shared import metrics
from khabar_shared.freshness import Freshness
from khabar_shared.health import Check, GroupCheck, run_checks
from khabar_shared.logging import get_logger
from khabar_shared.metrics import REGISTRY
from khabar_shared.names import metrics_lease_key
from khabar_shared.problems import PROBLEM_JSON, FieldProblem, Problem, ProblemError
from khabar_shared.redis_helpers import hold_lease, read_group_stats
from khabar_shared.settings import default_consumer_name

if TYPE_CHECKING:
    from fastapi import APIRouter


# More of what `/readyz` found, beside the checks (search: each node as its pool sees it).
Detail = Callable[[], dict[str, Any]]


async def readiness(
    checks: dict[str, Check], detail: Detail | None = None
) -> tuple[int, dict[str, Any]]:
    results = await run_checks(checks)
    ready = all(result == "ok" for result in results.values())
    body: dict[str, Any] = {"ready": ready, "checks": results}
    if detail is not None:
        body.update(detail())
    return (200 if ready else 503), body


log = get_logger(__name__)


# A replica keeps exporting a stream's gauges while it is scraped at least this often; when it
# stops (it died), another takes over at its next scrape after this long.
REPORTER_LEASE_MS = 90_000
REPORTER = default_consumer_name()  # this process, as the holder of reporter leases
STATS_FRESHNESS = Freshness()


async def refresh_stream_stats(checks: dict[str, Check], me: str = REPORTER) -> None:
    """Read lag and pending numbers of the groups this service checks, for this scrape
    (unless read in the last second: the scrape reports that snapshot).

    Every replica of every consumer could export them; each group's gauges and each
    stream's are exported by the one replica holding their lease, so sums count them once."""
    for check in checks.values():
        if not isinstance(check, GroupCheck):
            continue
        if not STATS_FRESHNESS.due((me, id(check.redis), check.stream, check.group)):
            continue
        try:
            stats = await read_group_stats(check.redis, check.stream, check.group)
            group = await hold_lease(
                check.redis,
                metrics_lease_key(f"{check.stream}:{check.group}"),
                me,
                REPORTER_LEASE_MS,
            )
            stream = await hold_lease(
                check.redis, metrics_lease_key(check.stream), me, REPORTER_LEASE_MS
            )
        except (RedisError, OSError) as error:
            log.warning("stream_stats_unreadable", stream=check.stream, error=str(error))
            continue
        if stats is not None:
            metrics.STREAM_STATS.update(stats, group=group, stream=stream)


def metrics_payload() -> bytes:
    return generate_latest(REGISTRY)


class HttpMetricsMiddleware:
    """Counts HTTP requests and times them, by route template (not raw path).

    `app.add_middleware(HttpMetricsMiddleware)`; unmatched paths are counted as
    `unmatched`, so a crawler cannot blow up the number of series.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_and_note(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            record_http(
                scope.get("method", "GET"), route, status["code"], time.perf_counter() - started
            )


def record_http(method: str, route: str, status: int, seconds: float) -> None:
    """One answered request, by route template (for answers made outside the middleware too)."""
    requests, duration = _http_series(method, route, status)
    requests.inc()
    duration.observe(seconds)


@lru_cache(maxsize=4096)
def _http_series(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The labelled series of one kind of answer, looked up once: routes and statuses are few."""
    return (
        metrics.HTTP_REQUESTS.labels(method=method, route=route, status=str(status)),
        metrics.HTTP_SECONDS.labels(method=method, route=route),
    )


def install_problem_handlers(app: Any) -> None:
    """Answer `ProblemError` and request validation errors as problem documents."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    @app.exception_handler(ProblemError)
    async def on_problem(_: Request, error: ProblemError) -> JSONResponse:
        return JSONResponse(
            error.problem.body(), status_code=error.problem.status, media_type=PROBLEM_JSON
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        found = validation_problem(error.errors())
        return JSONResponse(found.body(), status_code=400, media_type=PROBLEM_JSON)


def validation_problem(errors: Any) -> Problem:
    """The 400 problem naming every parameter FastAPI's validation refused."""
    fields = [
        FieldProblem(
            pointer=".".join(str(part) for part in item["loc"][1:]) or "request",
            detail=item["msg"],
        )
        for item in errors
    ]
    names = ", ".join(field.pointer for field in fields)
    return Problem(
        status=400, title="Bad Request", detail=f"Invalid parameter: {names}", errors=fields
    )


def fastapi_ops_router(checks: dict[str, Check], detail: Detail | None = None) -> "APIRouter":
    from fastapi import APIRouter, Response
    from fastapi.responses import JSONResponse

    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Not in the API document: it answers on the operations port only (`ops_port.py`).
    @router.get(
        "/readyz",
        summary="Redis, Meilisearch and consumer groups reachable",
        include_in_schema=False,
    )
    async def readyz() -> JSONResponse:
        status, body = await readiness(checks, detail)
        return JSONResponse(body, status_code=status)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics_route() -> Response:
        await refresh_stream_stats(checks)
        return Response(metrics_payload(), media_type=CONTENT_TYPE_LATEST)

    return router


def faststream_ops_routes(checks: dict[str, Check]) -> list[tuple[str, Any]]:
    from faststream.asgi import AsgiResponse, get
    from faststream.asgi.response import JSONResponse

    @get
    async def healthz(scope: Any) -> AsgiResponse:
        return JSONResponse({"status": "ok"})

    @get
    async def readyz(scope: Any) -> AsgiResponse:
        status, body = await readiness(checks)
        return JSONResponse(body, status_code=status)

    @get
    async def metrics_route(scope: Any) -> AsgiResponse:
        await refresh_stream_stats(checks)
        return AsgiResponse(metrics_payload(), 200, {"Content-Type": CONTENT_TYPE_LATEST})

    return [("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics_route)]
