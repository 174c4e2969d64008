"""Ingest's HTTP API: newsroom tools post articles here.

Every request is authenticated, bounded in size, parsed and validated before
anything is written; a change is then appended by `ArticleStore` atomically.
Every refusal is an RFC 9457 problem document built in `problems.py`.

Routes: `POST /v1/articles`, `POST /v1/articles/batch`,
`GET|DELETE /v1/articles/{id}`, `GET /v1/articles/{id}/history`, and the
operations routes (`/healthz`, `/readyz`, `/metrics`).
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo

import httpx
import orjson
from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from khabar_ingest.article_body import read_article
from khabar_ingest.auth import ApiKey, KeyRing
from khabar_ingest.batch import MAX_IDEMPOTENCY_KEY_CHARS, BatchAnswer, batch_documents, run_batch
from khabar_ingest.body import read_json_body
from khabar_ingest.embargo import run_releaser
from khabar_ingest.formats.ninjs import FieldCleaned
from khabar_ingest.newsml_message import NewsMessage, accept_message
from khabar_ingest.openapi import NINJS_REQUEST_BODY, PROBLEM_CODES, problem_openapi
from khabar_ingest.problems import (
    ProblemDetails,
    bad_header,
    conflict,
    forbidden,
    idempotency_key_reused,
    install_ingest_problem_handler,
    no_current_article,
    not_found,
    older_than_stored,
    unauthorized,
)
from khabar_ingest.push.destinations import PushSecrets
from khabar_ingest.push.items import PushedItems
from khabar_ingest.push.media import MediaStore
from khabar_ingest.push.packages import StoryPackages
from khabar_ingest.push.router import PushConfig, push_router
from khabar_ingest.settings import IngestSettings
from khabar_ingest.store import (
    Acceptance,
    ArticleState,
    ArticleStatus,
    ArticleStore,
    Change,
    HistoryEntry,
    IdempotencyMismatch,
    Outcome,
    StaleCopy,
    StoreResult,
    VersionConflict,
)
from khabar_ingest.trace import trace_router
from khabar_ingest.watch.poller import FeedPoller, run_poller
from khabar_shared import failpoints
from khabar_shared.collector import settle_collector
from khabar_shared.events import Article
from khabar_shared.health import redis_check
from khabar_shared.logging import get_logger
from khabar_shared.ops_http import (
    HttpMetricsMiddleware,
    fastapi_ops_router,
    install_problem_handlers,
)
from khabar_shared.ops_port import OpsPortMiddleware
from khabar_shared.redis_helpers import connect
from khabar_shared.sections import use_sections

log = get_logger(__name__)
bearer = HTTPBearer(auto_error=False, description="An ingest API key: `Bearer <key>`.")


class ArticleView(BaseModel):
    """`GET /v1/articles/{id}`: where an article stands."""

    article_id: str
    version: int
    published_version: int
    status: ArticleStatus
    updated_at: datetime
    embargoed_until: datetime | None = None
    headline: str
    last_event_id: str


class PostAnswer(Acceptance):
    """A POST's 202 answer: the acceptance, and what careless text was cleaned in this request."""

    cleaned: list[FieldCleaned] | None = Field(
        default=None,
        description="Each field ingest cleaned (a tab in the headline, a stray "
        "control character in the body), by JSON pointer; absent when nothing was.",
    )


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    failpoints.configure(settings.failpoints)
    use_sections(settings.sections_file)  # how newsroom categories are filed
    redis = connect(settings.redis_url)
    store = ArticleStore(redis, settings.idempotency_ttl_s)
    keyring = KeyRing(redis, settings.bootstrap_ingest_key.get_secret_value(), settings.key_cache_s)
    limits = settings.limits

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        settle_collector()
        releaser = asyncio.create_task(run_releaser(store, settings.embargo_poll_s))
        feed_client = httpx.AsyncClient(
            timeout=settings.feed_timeout_s,
            follow_redirects=True,
            headers={"User-Agent": "khabar-ingest feed watcher"},
        )
        poller = FeedPoller(
            redis, store, feed_client, settings.max_feed_bytes, settings.feed_max_backoff_s
        )
        watcher = asyncio.create_task(run_poller(poller, settings.feed_poll_s))
        yield
        for task in (releaser, watcher):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await feed_client.aclose()
        await redis.aclose()

    app = FastAPI(
        title="khabar ingest",
        version="1",
        description="Newsroom tools post IPTC ninjs articles; each change becomes one event.",
        lifespan=lifespan,
    )
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(
        OpsPortMiddleware, public_port=settings.ingest_port, ops_port=settings.ingest_ops_port
    )
    app.include_router(fastapi_ops_router({"redis": redis_check(redis)}))
    install_problem_handlers(app)
    install_ingest_problem_handler(app)
    app.openapi = lambda: problem_openapi(app, limits)  # type: ignore[method-assign]

    async def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiKey:
        key = await keyring.lookup(credentials.credentials) if credentials else None
        if key is None:
            raise unauthorized(request.url.path).error()
        return key

    async def writer(request: Request, key: Annotated[ApiKey, Depends(caller)]) -> ApiKey:
        if not key.can_write:
            raise forbidden(key.name, "write articles", request.url.path).error()
        return key

    app.include_router(
        trace_router(redis), dependencies=[Depends(caller)], responses=PROBLEM_CODES["get"]
    )

    async def accept_pushed(
        changes: list[Change], path: str, who: str, note: dict[str, Any]
    ) -> JSONResponse:
        results = []
        for change in changes:  # one at a time: a package's members keep Superdesk's order
            results += answer_or_raise(await store.accept_many([change]), change, path)
        return accepted_answer(results, ApiKey(name=who, scope="write"), note)

    push_secrets = PushSecrets(
        redis, settings.bootstrap_push_secret.get_secret_value(),
        settings.push_secrets_key.get_secret_value(), settings.key_cache_s, settings.site_time_zone,
    )  # fmt: skip
    push_config = PushConfig(
        limits=limits, max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth, max_media_bytes=settings.max_media_bytes,
        max_media_pixels=settings.max_media_pixels,
        media_base_url=settings.media_base_url.rstrip("/"),
    )  # fmt: skip
    app.include_router(
        push_router(
            push_config,
            push_secrets,
            PushedItems(redis, settings.push_item_ttl_s),
            MediaStore(settings.media_dir),
            accept_pushed,
            StoryPackages(redis, store),
        )
    )

    @app.post(
        "/v1/articles", status_code=202, response_model=PostAnswer, tags=["articles"],
        summary="Publish, update, correct, embargo or withdraw one article",
        openapi_extra={"requestBody": NINJS_REQUEST_BODY},
        responses={
            **PROBLEM_CODES["post"], 202: {"description": "Accepted (or repeated)."},
            200: {"description": "A NewsML-G2 newsMessage of several text items: answered "
                  "per item, as a batch.", "model": BatchAnswer},
        },
    )  # fmt: skip
    async def post_article(
        request: Request,
        key: Annotated[ApiKey, Depends(writer)],
        x_correlation_id: Annotated[str | None, Header(max_length=200)] = None,
        idempotency_key: Annotated[str | None, Header(max_length=MAX_IDEMPOTENCY_KEY_CHARS)] = None,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        path = request.url.path
        if_version = parse_if_match(if_match, path)
        zone = key.time_zone or settings.site_time_zone
        reading = await read_article(request, settings, limits, zone)
        if isinstance(reading, NewsMessage):  # several items: answered per item, as a batch
            if if_version is not None:
                raise bad_header(
                    "If-Match", "names one article's version; this newsMessage holds several", path
                ).error()
            answer = await accept_message(
                store, reading, key.name, x_correlation_id or str(uuid.uuid4()), limits, zone
            )
            return Response(answer.json(), media_type="application/json")
        base_version = await base_for(store, if_version, reading.article.id, path)
        change = Change(
            article=reading.article, submitted_by=key.name,
            correlation_id=x_correlation_id or str(uuid.uuid4()),
            base_version=base_version, idempotency=idempotency_key,
        )  # fmt: skip
        result = answer_or_raise(await store.accept_many([change]), change, path)[0]
        return acceptance_response(
            result, key, zone_note(zone, reading.zoned_fields) | cleaned_note(reading.cleaned)
        )

    @app.post(
        "/v1/articles/batch", response_model=BatchAnswer, response_class=JSONResponse,
        tags=["articles"],
        summary="Many articles at once: a JSON array or {\"items\": [...]}; answered per item",
        description="An item is a ninjs document, or `{\"article\": {...}, \"base_version\": 3, "
                    "\"idempotency_key\": \"...\"}` to say per item what a single POST says in "
                    "`If-Match` and `Idempotency-Key`.",
        openapi_extra={"requestBody": NINJS_REQUEST_BODY | {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/NinjsBatch"}}}}},
        responses=PROBLEM_CODES["batch"],
    )  # fmt: skip
    async def post_batch(
        request: Request,
        key: Annotated[ApiKey, Depends(writer)],
        x_correlation_id: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Response:
        body = await read_json_body(request, settings.max_batch_bytes, settings.max_json_depth + 2)
        items = batch_documents(body.document, settings.max_batch_items, request.url.path)
        correlation_id = x_correlation_id or str(uuid.uuid4())
        answer = await run_batch(
            store,
            items,
            key.name,
            correlation_id,
            limits,
            body.unicode_checked,
            ZoneInfo(key.time_zone or settings.site_time_zone),
        )
        log.info(
            "batch_accepted", key_name=key.name, correlation_id=correlation_id, **answer.counts
        )
        # Written here, not validated against the response model (see BatchReply).
        return Response(answer.json(), media_type="application/json")

    @app.get(
        "/v1/articles/{article_id}", response_model=ArticleView, tags=["articles"],
        summary="The current version and status of an article", responses=PROBLEM_CODES["get"],
    )  # fmt: skip
    async def get_article(
        request: Request, article_id: str, _: Annotated[ApiKey, Depends(caller)]
    ) -> ArticleView:
        state = await existing(store, article_id, request.url.path)
        return ArticleView(
            article_id=state.article_id, version=state.version,
            published_version=state.published_version, status=state.status,
            updated_at=state.updated_at, embargoed_until=state.embargoed_until,
            headline=state.article.headline, last_event_id=state.answer.event_id,
        )  # fmt: skip

    @app.get(
        "/v1/articles/{article_id}/history", response_model=list[HistoryEntry],
        tags=["articles"], summary="Every version: when, by whom, with editors' notes",
        responses=PROBLEM_CODES["get"],
    )  # fmt: skip
    async def get_history(
        request: Request, article_id: str, _: Annotated[ApiKey, Depends(caller)]
    ) -> list[HistoryEntry]:
        history = await store.history(article_id)
        if not history:
            raise not_found(article_id, request.url.path).error()
        return history

    @app.delete(
        "/v1/articles/{article_id}", status_code=202, response_model=Acceptance,
        tags=["articles"], summary="Withdraw an article (as pubstatus 'canceled')",
        responses={**PROBLEM_CODES["delete"], 202: {"description": "Withdrawn (or already)."}},
    )  # fmt: skip
    async def withdraw_article(
        request: Request,
        article_id: str,
        key: Annotated[ApiKey, Depends(writer)],
        x_correlation_id: Annotated[str | None, Header(max_length=200)] = None,
        idempotency_key: Annotated[str | None, Header(max_length=MAX_IDEMPOTENCY_KEY_CHARS)] = None,
        if_match: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        path = request.url.path
        if_version = parse_if_match(if_match, path)
        state = await existing(store, article_id, path)  # 404 first: RFC 9110 13.2.1
        base_version = None if isinstance(if_version, str) else if_version  # `*`: it exists
        change = Change(
            article=withdrawn(state.article), submitted_by=key.name,
            correlation_id=x_correlation_id or str(uuid.uuid4()),
            base_version=base_version, idempotency=idempotency_key,
            newer_only=False,  # a kill is never refused as old (a stored time in the future)
        )  # fmt: skip
        result = answer_or_raise(await store.accept_many([change]), change, path)[0]
        return acceptance_response(result, key)

    return app


async def existing(store: ArticleStore, article_id: str, path: str) -> ArticleState:
    state = await store.current(article_id)
    if state is None:
        raise not_found(article_id, path).error()
    return state


async def base_for(
    store: ArticleStore, if_version: int | Literal["*"] | None, article_id: str, path: str
) -> int | None:
    """The version a change must be based on: `*` asks only that the article exist (states are
    never deleted, so one found now is there when the change is stored)."""
    if not isinstance(if_version, str):
        return if_version
    if await store.current(article_id) is None:
        raise no_current_article(article_id, path).error()
    return None


def withdrawn(article: Article) -> Article:
    """The article as a withdrawal: canceled now, no embargo (a kill is never held)."""
    return article.model_copy(
        update={"pubstatus": "canceled", "embargoed": None, "versioncreated": datetime.now(UTC)}
    )


def zone_note(zone: str, zoned_fields: list[str]) -> dict[str, Any]:
    """What the answer says when times without an offset were read in `zone`."""
    if not zoned_fields:
        return {}
    return {"time_zone_applied": zone, "fields_read_in_time_zone": sorted(zoned_fields)}


def cleaned_note(cleaned: list[FieldCleaned]) -> dict[str, Any]:
    """What the answer says when careless text of the request was cleaned, by pointer."""
    return {"cleaned": [item.model_dump() for item in cleaned]} if cleaned else {}


def refusal(outcome: Outcome, change: Change, path: str) -> ProblemDetails | None:
    """The problem a store outcome amounts to, or None when the change was accepted."""
    if isinstance(outcome, VersionConflict):
        return conflict(
            change.article.id, f"If-Match names version {change.base_version}, not the latest.",
            current_version=outcome.current_version, instance=path,
        )  # fmt: skip
    if isinstance(outcome, StaleCopy):
        return older_than_stored(
            change.article.id, outcome.sent, outcome.stored, outcome.current_version,
            f'If-Match: "{outcome.current_version}" with POST /v1/articles', path,
        )  # fmt: skip
    if isinstance(outcome, IdempotencyMismatch):
        return idempotency_key_reused(outcome.key, path)
    return None


def answer_or_raise(outcomes: list[Outcome], change: Change, path: str) -> list[StoreResult]:
    results = []
    for outcome in outcomes:
        problem = refusal(outcome, change, path)
        if problem is not None:
            raise problem.error()
        assert isinstance(outcome, StoreResult)
        results.append(outcome)
    return results


# `If-Match: *`: any current version will do, but there must be one (RFC 9110 13.1.1).
ANY_VERSION: Final = "*"


def parse_if_match(if_match: str | None, path: str) -> int | Literal["*"] | None:
    """`If-Match: "3"` (or 3): the version the client based its change on; `*`: any."""
    if if_match is None:
        return None
    if if_match.strip() == ANY_VERSION:
        return ANY_VERSION
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 12:
        raise bad_header("If-Match", 'must hold the article version, e.g. "3"', path).error()
    return int(value)


def accepted_answer(results: list[StoreResult], key: ApiKey, note: dict[str, Any]) -> JSONResponse:
    """One change's answer as `acceptance_response`; several (a package's) as a list."""
    if len(results) == 1:
        return acceptance_response(results[0], key, note)
    answers = [acceptance_response(result, key).body for result in results]
    return JSONResponse(
        {"accepted": [orjson.loads(bytes(a)) for a in answers], **note}, status_code=202
    )


def acceptance_response(
    result: StoreResult, key: ApiKey, note: dict[str, Any] | None = None
) -> JSONResponse:
    acceptance = result.answer()
    log.info(
        "article_unchanged" if result.replayed else "article_accepted",
        article_id=acceptance.article_id,
        version=acceptance.version,
        status=acceptance.status,
        event_id=acceptance.event_id,
        correlation_id=acceptance.correlation_id,
        key_name=key.name,
    )
    return JSONResponse(
        acceptance.model_dump(mode="json") | (note or {}),
        status_code=202,
        headers={
            "Location": f"/v1/articles/{acceptance.article_id}",
            "ETag": f'"{acceptance.version}"',
            "X-Correlation-ID": acceptance.correlation_id,
            "Idempotent-Replayed": "true" if result.replayed else "false",
        },
    )
