"""Ingest's HTTP API: newsroom tools post articles here.

Every request is authenticated, bounded in size, parsed and validated before
anything is written; a change is then appended by `ArticleStore` in one
transaction. Errors are RFC 9457 problem documents naming what is wrong.
"""

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse

from khabar_ingest.auth import ApiKey, KeyRing, bearer_token
from khabar_ingest.formats.ninjs import InvalidArticle, parse_ninjs
from khabar_ingest.problems import invalid_article
from khabar_ingest.settings import IngestSettings
from khabar_ingest.store import (
    Acceptance,
    ArticleStore,
    HistoryEntry,
    StoreResult,
    VersionConflict,
)
from khabar_shared.events import Article
from khabar_shared.health import redis_check
from khabar_shared.logging import get_logger
from khabar_shared.ops_http import fastapi_ops_router, install_problem_handlers
from khabar_shared.problems import Problem, ProblemError
from khabar_shared.problems import problem as fail
from khabar_shared.redis_helpers import connect

log = get_logger(__name__)

def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    redis = connect(settings.redis_url)
    store = ArticleStore(redis, settings.idempotency_ttl_s)
    keyring = KeyRing(redis, settings.bootstrap_ingest_key.get_secret_value())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await redis.aclose()

    app = FastAPI(
        title="khabar ingest",
        version="1",
        description="Newsroom tools post IPTC ninjs articles; each change becomes one event.",
        lifespan=lifespan,
    )
    app.include_router(fastapi_ops_router({"redis": redis_check(redis)}))

    install_problem_handlers(app)

    async def caller(authorization: Annotated[str | None, Header()] = None) -> ApiKey:
        token = bearer_token(authorization)
        if token is None:
            raise fail(401, "Unauthorized", "Send 'Authorization: Bearer <key>'.")
        key = await keyring.lookup(token)
        if key is None:
            raise fail(401, "Unauthorized", "The API key is not known.")
        return key

    async def writer(key: Annotated[ApiKey, Depends(caller)]) -> ApiKey:
        if not key.can_write:
            raise fail(403, "Forbidden", f"The key '{key.name}' may read but not write.")
        return key

    @app.post("/v1/articles", status_code=202, response_model=Acceptance)
    async def post_article(
        request: Request,
        key: Annotated[ApiKey, Depends(writer)],
        x_correlation_id: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
        if_match: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        document = await read_json_body(request, settings.max_body_bytes)
        article = parse_article(document)
        result = await accept(store, article, key, x_correlation_id, if_match, idempotency_key)
        return acceptance_response(result)

    @app.get("/v1/articles/{article_id}")
    async def get_article(article_id: str, _: Annotated[ApiKey, Depends(caller)]) -> dict[str, Any]:
        state = await store.current(article_id)
        if state is None:
            raise fail(404, "Not Found", f"No article with id '{article_id}'.")
        return {
            "article_id": state.article_id,
            "version": state.version,
            "status": state.status,
            "updated_at": state.updated_at,
            "headline": state.article.headline,
            "last_event_id": state.answer.event_id,
        }

    @app.get("/v1/articles/{article_id}/history", response_model=list[HistoryEntry])
    async def get_history(
        article_id: str, _: Annotated[ApiKey, Depends(caller)]
    ) -> list[HistoryEntry]:
        history = await store.history(article_id)
        if not history:
            raise fail(404, "Not Found", f"No article with id '{article_id}'.")
        return history

    @app.delete("/v1/articles/{article_id}", status_code=202, response_model=Acceptance)
    async def withdraw_article(
        article_id: str,
        key: Annotated[ApiKey, Depends(writer)],
        x_correlation_id: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        state = await store.current(article_id)
        if state is None:
            raise fail(404, "Not Found", f"No article with id '{article_id}'.")
        withdrawn = state.article.model_copy(update={"pubstatus": "canceled"})
        result = await accept(store, withdrawn, key, x_correlation_id, None, None)
        return acceptance_response(result)

    return app


async def read_json_body(request: Request, max_bytes: int) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in {"application/json", "application/ninjs+json"}:
        raise fail(415, "Unsupported Media Type",
                   f"Send 'Content-Type: application/json', not '{content_type or 'none'}'.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise fail(413, "Content Too Large", f"The body is over {max_bytes} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise fail(413, "Content Too Large", f"The body is over {max_bytes} bytes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise fail(400, "Invalid UTF-8",
                   f"The body is not valid UTF-8 (byte {error.start}).") from error
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise fail(400, "Malformed JSON", f"The body is not JSON: {error}") from error


def parse_article(document: Any) -> Article:
    try:
        return parse_ninjs(document)
    except InvalidArticle as invalid:
        raise ProblemError(Problem(**invalid_article(invalid).body())) from invalid


async def accept(
    store: ArticleStore,
    article: Article,
    key: ApiKey,
    correlation_id: str | None,
    if_match: str | None,
    idempotency: str | None,
) -> StoreResult:
    base_version = parse_if_match(if_match)
    try:
        result = await store.accept(
            article,
            submitted_by=key.name,
            correlation_id=correlation_id or str(uuid.uuid4()),
            base_version=base_version,
            idempotency=idempotency,
        )
    except VersionConflict as conflict:
        raise fail(409, "Conflict",
                   f"The change is based on version {base_version}, "
                   f"but the article is at version {conflict.current_version}.",
                   current_version=conflict.current_version) from conflict
    log.info("article_accepted" if result.appended else "article_unchanged",
             article_id=result.acceptance.article_id, version=result.acceptance.version,
             event_id=result.acceptance.event_id,
             correlation_id=result.acceptance.correlation_id, key_name=key.name)
    return result


def parse_if_match(if_match: str | None) -> int | None:
    """`If-Match: "3"` (or 3): the version the client based its change on."""
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise fail(400, "Bad If-Match", "If-Match must hold the article version, e.g. \"3\".")
    return int(value)


def acceptance_response(result: StoreResult) -> JSONResponse:
    acceptance = result.acceptance
    return JSONResponse(
        acceptance.model_dump(mode="json"),
        status_code=202,
        headers={
            "Location": f"/v1/articles/{acceptance.article_id}",
            "ETag": f'"{acceptance.version}"',
            "X-Correlation-ID": acceptance.correlation_id,
            "Idempotent-Replayed": "false" if result.appended else "true",
        },
    )
