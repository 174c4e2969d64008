"""RFC 9457 problem details: the body of every 4xx answer ingest gives.

Each helper returns a `ProblemDetails` (a `khabar_shared.problems.Problem`
with the response headers that belong to it: `WWW-Authenticate` on 401,
`Accept-Post` on 415, `Retry-After` on 429). The HTTP layer raises
`details.error()` and `install_ingest_problem_handler` answers it; that is the
one way ingest refuses a request.

Status codes: 400 when the body is not JSON at all (or not UTF-8), 422 when it
is JSON but not an acceptable article (every field problem listed in
`errors`, each with its JSON Pointer), 409 for a stale `If-Match` (with
`current_version`), 412 for `If-Match: *` when there is no such article, 422
for an `Idempotency-Key` reused with other content.
"""

from datetime import datetime
from typing import Any

from pydantic import Field

from khabar_shared.problems import PROBLEM_JSON, FieldProblem, Problem, ProblemError

from .formats.errors import InvalidArticle, MalformedDocument

PROBLEM_MEDIA_TYPE = PROBLEM_JSON
_TYPE_BASE = "urn:khabar:problem:"


class ProblemDetails(Problem):
    """A problem document plus the headers sent with it (never part of the body)."""

    headers: dict[str, str] = Field(default_factory=dict, exclude=True)

    def body(self) -> dict[str, Any]:
        """The JSON object to send: empty optional members left out."""
        data = self.model_dump(mode="json", exclude_none=True)
        if not data.get("errors"):
            data.pop("errors", None)
        if not data.get("detail"):
            data.pop("detail", None)
        return data

    def error(self) -> ProblemError:
        """The exception to raise while answering a request."""
        return ProblemError(self)


def install_ingest_problem_handler(app: Any) -> None:
    """Answer `ProblemError` with its body *and* headers (the shared handler drops headers)."""
    from fastapi import Request
    from fastapi.responses import JSONResponse
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from starlette.exceptions import HTTPException

    @app.exception_handler(ProblemError)
    async def on_problem(_: Request, error: ProblemError) -> JSONResponse:
        return problem_response(error.problem)

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def on_redis_down(request: Request, error: Exception) -> JSONResponse:
        # Nothing was written (each change is one script run): the client may simply retry.
        return problem_response(service_unavailable(request.url.path))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, error: HTTPException) -> JSONResponse:
        # Unknown paths and wrong methods get a problem document too.
        details = ProblemDetails(
            title=str(error.detail),
            status=error.status_code,
            instance=request.url.path,
            headers=dict(error.headers or {}),
        )
        return problem_response(details)


def problem_response(problem: Problem) -> Any:
    from fastapi.responses import JSONResponse

    headers = problem.headers if isinstance(problem, ProblemDetails) else {}
    return JSONResponse(
        problem.body(), status_code=problem.status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


def invalid_article(error: InvalidArticle, instance: str | None = None) -> ProblemDetails:
    """422: the document is JSON, but these fields are wrong."""
    count = len(error.errors)
    return ProblemDetails(
        type=_TYPE_BASE + "invalid-article",
        title="The article is not valid",
        status=422,
        detail=f"{count} field{'s' if count != 1 else ''} need{'s' if count == 1 else ''} fixing",
        instance=instance,
        errors=[FieldProblem(pointer=e.pointer, detail=e.message) for e in error.errors],
    )


def malformed_body(error: MalformedDocument | str, instance: str | None = None) -> ProblemDetails:
    """400: the body could not be read as JSON at all."""
    return ProblemDetails(
        type=_TYPE_BASE + "malformed-body",
        title="The request body is not JSON",
        status=400,
        detail=str(error)[:500],
        instance=instance,
    )


def invalid_utf8(position: int, instance: str | None = None) -> ProblemDetails:
    """400: the body is not UTF-8 text."""
    return ProblemDetails(
        type=_TYPE_BASE + "invalid-utf8",
        title="The request body is not valid UTF-8",
        status=400,
        detail=f"Invalid UTF-8 at byte {position}.",
        instance=instance,
    )


def bad_header(name: str, detail: str, instance: str | None = None) -> ProblemDetails:
    """400: a request header ingest reads holds something it cannot use."""
    return ProblemDetails(
        type=_TYPE_BASE + "bad-header",
        title=f"Bad {name} header",
        status=400,
        detail=detail,
        instance=instance,
        errors=[FieldProblem(pointer=f"header:{name}", detail=detail)],
    )


def invalid_batch(detail: str, pointer: str = "", instance: str | None = None) -> ProblemDetails:
    """422: the batch is JSON but not a list of articles ingest can take."""
    return ProblemDetails(
        type=_TYPE_BASE + "invalid-batch",
        title="The batch is not valid",
        status=422,
        detail=detail,
        instance=instance,
        errors=[FieldProblem(pointer=pointer, detail=detail)],
    )


def unauthorized(instance: str | None = None) -> ProblemDetails:
    """401: no API key, or one ingest does not know."""
    return ProblemDetails(
        type=_TYPE_BASE + "unauthorized",
        title="An API key is required",
        status=401,
        detail="Send a valid key in the Authorization header: 'Bearer <key>'.",
        instance=instance,
        headers={"WWW-Authenticate": 'Bearer realm="khabar-ingest"'},
    )


def forbidden(key_name: str, action: str, instance: str | None = None) -> ProblemDetails:
    """403: the key is known but may not do this."""
    return ProblemDetails(
        type=_TYPE_BASE + "forbidden",
        title="This key may not do that",
        status=403,
        detail=f"The key {key_name!r} is not allowed to {action}.",
        instance=instance,
    )


def not_found(article_id: str, instance: str | None = None) -> ProblemDetails:
    """404: no article with this id."""
    return ProblemDetails(
        type=_TYPE_BASE + "not-found",
        title="No such article",
        status=404,
        detail=f"There is no article with id {article_id!r}.",
        instance=instance,
    )


def no_current_article(article_id: str, instance: str | None = None) -> ProblemDetails:
    """412: `If-Match: *` asks that the article exist (RFC 9110 13.1.1), and it does not."""
    detail = f"If-Match: * asks for an existing article; there is no article {article_id!r}."
    return ProblemDetails(
        type=_TYPE_BASE + "precondition-failed",
        title="No current article",
        status=412,
        detail=detail,
        instance=instance,
        errors=[FieldProblem(pointer="header:If-Match", detail=detail)],
    )


def conflict(
    article_id: str,
    detail: str,
    *,
    current_version: int | None = None,
    instance: str | None = None,
    pointer: str = "header:If-Match",
) -> ProblemDetails:
    """409: the change clashes with what is stored (a stale If-Match, or a batch item's stale
    `base_version`)."""
    suffix = f" The stored version is {current_version}." if current_version is not None else ""
    extra = {"current_version": current_version} if current_version is not None else {}
    return ProblemDetails(
        type=_TYPE_BASE + "conflict",
        title="The change conflicts with the stored article",
        status=409,
        detail=f"Article {article_id!r}: {detail}{suffix}",
        instance=instance,
        errors=[FieldProblem(pointer=pointer, detail=detail)],
        **extra,
    )


def older_than_stored(
    article_id: str,
    sent: datetime,
    stored: datetime,
    current_version: int,
    force_with: str,
    instance: str | None = None,
) -> ProblemDetails:
    """409: the change's `versioncreated` is older than the stored version's, so it changed
    nothing (an agency's or a retry's old copy); `force_with` says how to replace it anyway."""
    detail = (
        f"versioncreated {sent.isoformat()} is older than the stored version "
        f"{current_version}'s ({stored.isoformat()}); nothing changed. To replace it anyway, "
        f"send {force_with}."
    )
    return ProblemDetails(
        type=_TYPE_BASE + "older-than-stored",
        title="An older copy than the stored version",
        status=409,
        detail=f"Article {article_id!r}: {detail}",
        instance=instance,
        errors=[FieldProblem(pointer="/versioncreated", detail=detail)],
        current_version=current_version,
        stored_versioncreated=stored.isoformat(),
        sent_versioncreated=sent.isoformat(),
    )


def idempotency_key_reused(
    key: str, instance: str | None = None, pointer: str = "header:Idempotency-Key"
) -> ProblemDetails:
    """422: the Idempotency-Key was already used for different content.

    422 rather than 409 because the request itself is wrong (the key names an
    earlier, different request), as the IETF Idempotency-Key draft advises.
    """
    detail = f"Idempotency-Key {key[:80]!r} was already used with different content."
    return ProblemDetails(
        type=_TYPE_BASE + "idempotency-key-reused",
        title="Idempotency-Key reused with different content",
        status=422,
        detail=detail,
        instance=instance,
        errors=[FieldProblem(pointer=pointer, detail=detail)],
    )


def payload_too_large(
    size_bytes: int | None, limit_bytes: int, instance: str | None = None
) -> ProblemDetails:
    """413: the body is bigger than ingest accepts."""
    size = f"{size_bytes} bytes" if size_bytes is not None else "The body"
    return ProblemDetails(
        type=_TYPE_BASE + "payload-too-large",
        title="The request body is too large",
        status=413,
        detail=f"{size} is over the limit of {limit_bytes} bytes.",
        instance=instance,
    )


def unsupported_media_type(
    got: str | None, accepted: tuple[str, ...] = ("application/json",), instance: str | None = None
) -> ProblemDetails:
    """415: the Content-Type is not one ingest reads."""
    return ProblemDetails(
        type=_TYPE_BASE + "unsupported-media-type",
        title="Unsupported media type",
        status=415,
        detail=f"Got {got or 'no Content-Type'}; send {' or '.join(accepted)}.",
        instance=instance,
        headers={"Accept-Post": ", ".join(accepted)},
        errors=[FieldProblem(pointer="header:Content-Type", detail=f"got {got or 'nothing'}")],
    )


def service_unavailable(
    instance: str | None = None, retry_after_seconds: int = 2
) -> ProblemDetails:
    """503: the article log (Redis) does not answer; nothing was written."""
    return ProblemDetails(
        type=_TYPE_BASE + "service-unavailable",
        title="The article log is unavailable",
        status=503,
        detail=f"Redis does not answer; nothing was written. Try again in {retry_after_seconds} s.",
        instance=instance,
        headers={"Retry-After": str(retry_after_seconds)},
    )


def too_many_requests(retry_after_seconds: int, instance: str | None = None) -> ProblemDetails:
    """429: this key is sending faster than it may."""
    return ProblemDetails(
        type=_TYPE_BASE + "too-many-requests",
        title="Too many requests",
        status=429,
        detail=f"Slow down: try again in {retry_after_seconds} seconds.",
        instance=instance,
        headers={"Retry-After": str(retry_after_seconds)},
    )


def unreadable_xml(detail: str, unsafe: bool, instance: str | None = None) -> ProblemDetails:
    """400: an XML body that is not well-formed, or declares a DTD or entities."""
    return ProblemDetails(
        type=_TYPE_BASE + ("unsafe-xml" if unsafe else "malformed-xml"),
        title="The XML body is refused unread" if unsafe else "The request body is not XML",
        status=400,
        detail=detail[:500],
        instance=instance,
    )
