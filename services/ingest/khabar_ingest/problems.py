"""RFC 9457 problem details: the body of every 4xx answer ingest gives.

Framework-free: each helper returns a `ProblemDetails` whose `status` the HTTP
layer uses as the response status; `body()` is the JSON to send with media
type `PROBLEM_MEDIA_TYPE`, and `headers` the response headers that go with it
(`WWW-Authenticate` on 401, `Retry-After` on 429).

Status codes: 400 when the body is not JSON at all, 422 when it is JSON but
not an acceptable article (every field problem listed in `errors`).
"""

from typing import Any

from pydantic import BaseModel, Field

from .formats.errors import InvalidArticle, MalformedDocument

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_BASE = "urn:khabar:problem:"


class ProblemError(BaseModel):
    """One field's problem: where (a JSON Pointer into the request body) and what."""

    pointer: str
    detail: str


class ProblemDetails(BaseModel):
    type: str = "about:blank"
    title: str
    status: int = Field(ge=400, le=599)
    detail: str = ""
    instance: str | None = None
    errors: list[ProblemError] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict, exclude=True)

    def body(self) -> dict[str, Any]:
        """The JSON object to send: empty optional members left out."""
        data = self.model_dump(exclude_none=True)
        if not data["errors"]:
            del data["errors"]
        if not data["detail"]:
            del data["detail"]
        return data


def invalid_article(error: InvalidArticle, instance: str | None = None) -> ProblemDetails:
    """422: the document is JSON, but these fields are wrong."""
    count = len(error.errors)
    return ProblemDetails(
        type=_TYPE_BASE + "invalid-article",
        title="The article is not valid",
        status=422,
        detail=f"{count} field{'s' if count != 1 else ''} need{'s' if count == 1 else ''} fixing",
        instance=instance,
        errors=[ProblemError(pointer=e.pointer, detail=e.message) for e in error.errors],
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


def conflict(
    article_id: str, detail: str, *, current_version: int | None = None, instance: str | None = None
) -> ProblemDetails:
    """409: the change clashes with what is stored (an older versioncreated, a stale If-Match)."""
    suffix = f" The stored version is {current_version}." if current_version is not None else ""
    return ProblemDetails(
        type=_TYPE_BASE + "conflict",
        title="The change conflicts with the stored article",
        status=409,
        detail=f"Article {article_id!r}: {detail}{suffix}",
        instance=instance,
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
