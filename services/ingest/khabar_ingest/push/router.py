"""The Superdesk HTTP push routes: the resource URL and the assets URL.

- `POST /v1/push/superdesk`: one item as Superdesk's ninjs formatter writes
  it, signed `x-superdesk-signature: sha1=<HMAC-SHA1 of the body>`.
- `GET /v1/push/superdesk/assets/{media_id}`: 200 when the file is held,
  404 otherwise (Superdesk asks before uploading, without a signature).
- `POST /v1/push/superdesk/assets`: multipart `media_id`, `media`,
  `mime_type`, `filemeta`, signed like the items; 201 Created.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from khabar_ingest.body import parse_json_body, read_raw_body
from khabar_ingest.formats.errors import FieldError, InvalidArticle
from khabar_ingest.formats.ids import article_id_from_uri
from khabar_ingest.formats.ninjs import Limits, Reading, read_ninjs
from khabar_ingest.openapi import ASSET_REQUEST_BODY, PROBLEM_CODES, PUSH_REQUEST_BODY
from khabar_ingest.problems import invalid_article
from khabar_ingest.store import Change
from khabar_shared.events import Article
from khabar_shared.logging import get_logger

from . import superdesk
from .destinations import Destination, PushSecrets
from .items import PushedItems
from .media import MediaRefused, MediaStore, check_media_id, decode_payload, verify_image
from .multipart import NotMultipart, parse_form
from .packages import Package, StoryPackages, with_package
from .problems import (
    MISSING_SIGNATURE,
    WRONG_SIGNATURE,
    bad_signature,
    media_not_held,
    media_problem,
)
from .signature import SIGNATURE_HEADER, signer_of

log = get_logger(__name__)

# Accepts changes as the article routes do: (changes, path, who, time zone note) → the answer.
Accept = Callable[[list[Change], str, str, dict[str, Any]], Awaitable[JSONResponse]]


@dataclass(frozen=True, kw_only=True)
class PushConfig:
    """What the push routes need from ingest's settings."""

    limits: Limits
    max_body_bytes: int
    max_json_depth: int
    max_media_bytes: int
    max_media_pixels: int
    media_base_url: str  # without a trailing '/'


def push_router(
    config: PushConfig,
    secrets: PushSecrets,
    items: PushedItems,
    media: MediaStore,
    accept: Accept,
    packages: StoryPackages,
) -> APIRouter:
    router = APIRouter(prefix="/v1/push/superdesk", tags=["superdesk push"])

    async def signed_by(request: Request, body: bytes) -> Destination:
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            raise bad_signature(MISSING_SIGNATURE, request.url.path).error()
        destination = signer_of(header, body, await secrets.candidates())
        if destination is None:
            destination = signer_of(header, body, await secrets.candidates(fresh=True))
        if destination is None:
            log.warning("push_signature_refused", path=request.url.path)
            raise bad_signature(WRONG_SIGNATURE, request.url.path).error()
        return destination

    def media_url(media_id: str) -> str | None:
        return f"{config.media_base_url}/{media_id}" if media.holds(media_id) else None

    @router.post(
        "",
        status_code=202,
        summary="One item from Superdesk's ninjs formatter",
        openapi_extra={"requestBody": PUSH_REQUEST_BODY},
        responses={**PROBLEM_CODES["push"], 202: {"description": "Accepted (or kept)."}},
    )
    async def push_item(
        request: Request,
        x_correlation_id: Annotated[str | None, Header(max_length=200)] = None,
    ) -> JSONResponse:
        path = request.url.path
        body = await read_raw_body(request, config.max_body_bytes)
        destination = await signed_by(request, body)
        document = parse_json_body(body, config.max_json_depth, path).document
        if not isinstance(document, dict):
            raise invalid_article(
                InvalidArticle(
                    [FieldError(pointer="", message="must be a JSON object (one ninjs item)")]
                ),
                path,
            ).error()
        guid = superdesk.identity(document)
        if guid is None:
            raise invalid_article(
                InvalidArticle(
                    [FieldError(pointer="/guid", message="is required: the item's guid (or a uri)")]
                ),
                path,
            ).error()
        zone = destination.time_zone or "UTC"
        correlation_id = x_correlation_id or str(uuid.uuid4())
        kind = superdesk.kind_of(document)
        who = f"push:{destination.name}"
        if kind == "media":
            return await keep_media_item(document, guid, path, destination)
        if kind == "unknown":
            raise invalid_article(
                InvalidArticle(
                    [
                        FieldError(
                            pointer="/type",
                            message=(
                                f"items of type {document.get('type')!r} are not taken: "
                                "khabar takes text, preformatted, picture, graphic, video, audio "
                                "and composite items"
                            ),
                        )
                    ]
                ),
                path,
            ).error()
        readings = await articles_of(document, kind, zone, path)
        articles = [reading.article for reading in readings]
        if kind == "article":
            articles = [with_package(articles[0], await packages.package_of(articles[0].id))]
        if kind == "package":
            members = [m.get("guid") for _, m in superdesk.package_members(document)]
            await items.keep(guid, {"type": "composite", "members": members})
            articles = await package_changes(document, guid, articles)
            if not articles:
                return JSONResponse(
                    {"guid": guid, "kind": "package", "members": members}, status_code=202
                )
        changes = [
            Change(article=article, submitted_by=who, correlation_id=correlation_id)
            for article in articles
        ]
        zoned = sorted({field for reading in readings for field in reading.zoned_fields})
        note = {"time_zone_applied": zone, "fields_read_in_time_zone": zoned} if zoned else {}
        return await accept(changes, path, who, note)

    async def package_changes(
        document: dict[str, Any], guid: str, embedded: list[Article]
    ) -> list[Article]:
        """The members a package changes: those sent whole, the held ones, those that left."""
        member_ids = [
            article_id_from_uri(str(member["guid"]))
            for _, member in superdesk.package_members(document)
            if superdesk.kind_of(member) == "article"
        ]
        package: Package | None = None
        if document.get("pubstatus", "usable") != "canceled":
            package = {
                "guid": guid,
                "headline": document.get("headline") or "",
                "members": member_ids,
            }
        left = await packages.record(guid, package)
        sent = {article.id for article in embedded}
        held = [i for i in member_ids if i not in sent]
        return [
            *(with_package(article, package) for article in embedded),
            *await packages.restated(held, package),
            *await packages.restated(left, None),
        ]

    async def articles_of(
        document: dict[str, Any], kind: str, zone: str, path: str
    ) -> list[Reading]:
        """The text items in `document`: itself, or a package's members sent whole, in order."""
        if kind == "article":
            return [await reading_of(document, zone, path, "")]
        readings = []
        for name, member in superdesk.package_members(document):
            if superdesk.kind_of(member) == "article" and superdesk.is_embedded(member):
                readings.append(await reading_of(member, zone, path, f"/associations/{name}"))
        return readings

    async def reading_of(document: dict[str, Any], zone: str, path: str, where: str) -> Reading:
        earlier = await items.get_many(superdesk.referenced_guids(document))
        ninjs = superdesk.as_ninjs(document, media_url, earlier.get)
        try:
            return read_ninjs(
                ninjs,
                limits=config.limits,
                received_at=datetime.now(UTC),
                naive_zone=ZoneInfo(zone),
            )
        except InvalidArticle as invalid:
            errors = [
                FieldError(pointer=where + e.pointer, message=e.message) for e in invalid.errors
            ]
            raise invalid_article(InvalidArticle(errors), path).error() from invalid

    async def keep_media_item(
        document: dict[str, Any], guid: str, path: str, destination: Destination
    ) -> JSONResponse:
        item = dict(document)
        if isinstance(item.get("renditions"), dict):
            item["renditions"] = superdesk.own_renditions(item["renditions"], media_url)
        await items.keep(guid, item)
        log.info(
            "push_media_item_kept", guid=guid, type=item.get("type"), destination=destination.name
        )
        return JSONResponse(
            {"guid": guid, "kind": "media", "type": item.get("type")}, status_code=202
        )

    @router.get(
        "/assets/{media_id}",
        summary="Whether a media file is held (200) or not (404)",
        responses=PROBLEM_CODES["asset_get"],
    )
    async def asset_held(request: Request, media_id: str) -> JSONResponse:
        try:
            described = media.describe(media_id)
        except MediaRefused:
            described = None
        if described is None:
            raise media_not_held(media_id, request.url.path).error()
        return JSONResponse(
            described.model_dump() | {"href": f"{config.media_base_url}/{media_id}"}
        )

    @router.post(
        "/assets",
        status_code=201,
        summary="Upload one media file (multipart)",
        openapi_extra={"requestBody": ASSET_REQUEST_BODY},
        responses={**PROBLEM_CODES["asset"], 201: {"description": "Stored."}},
    )
    async def upload_asset(request: Request) -> JSONResponse:
        path = request.url.path
        # base64 makes a file a third longer; the rest is the form around it.
        body = await read_raw_body(request, config.max_media_bytes * 4 // 3 + 64 * 1024)
        destination = await signed_by(request, body)
        try:
            record = store_upload(request.headers.get("content-type", ""), body)
        except MediaRefused as refused:
            raise media_problem(
                refused.status, refused.field, refused.message, path
            ).error() from refused
        href = f"{config.media_base_url}/{record.media_id}"
        log.info(
            "push_media_stored",
            media_id=record.media_id,
            mime_type=record.mime_type,
            size=record.size,
            destination=destination.name,
        )
        return JSONResponse(
            record.model_dump() | {"href": href}, status_code=201, headers={"Location": href}
        )

    def store_upload(content_type: str, body: bytes) -> Any:
        try:
            form = parse_form(content_type, body)
        except NotMultipart as error:
            raise MediaRefused(400, "body", str(error)) from error
        if "media_id" not in form:
            raise MediaRefused(422, "media_id", "is required")
        if "media" not in form:
            raise MediaRefused(422, "media", "is required: the file (or its base64)")
        media_id = check_media_id(bytes(form["media_id"].data).decode("utf-8", "replace").strip())
        part = form["media"]
        data = decode_payload(bytes(part.data), is_file=part.filename is not None)
        if len(data) > config.max_media_bytes:
            raise MediaRefused(
                413, "media", f"is {len(data)} bytes; at most {config.max_media_bytes} allowed"
            )
        declared = (
            bytes(form["mime_type"].data).decode("latin-1")
            if "mime_type" in form
            else part.content_type
        )
        mime_type, width, height = verify_image(data, declared, config.max_media_pixels)
        return media.put(media_id, data, mime_type, width, height)

    return router
