"""What `/openapi.json` says beyond what FastAPI infers.

- The request bodies: ninjs documents are read by hand (to answer 400/413/415
  before any parsing), so their schema is declared here: a permissive object
  with the fields khabar reads, every other field allowed and kept, each text
  field with the length limit the service runs with (`ninjs_schema`).
- Every refusal is `application/problem+json` with the `ProblemDetails`
  schema; FastAPI's default 422 "HTTPValidationError" is never sent, so it is
  removed.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from khabar_ingest.batch import BASE_VERSION_LIMIT, MAX_IDEMPOTENCY_KEY_CHARS
from khabar_ingest.formats.ninjs import Limits
from khabar_ingest.problems import PROBLEM_MEDIA_TYPE, ProblemDetails
from khabar_shared.sections import MAX_SLUG_CHARS

_STRING = {"type": "string"}
_LIST = {"type": "array", "items": {"type": "object", "additionalProperties": True}}

NINJS_SCHEMA: dict[str, Any] = {
    "title": "NinjsDocument",
    "description": "An IPTC ninjs 1.x, 2.x or 3.x document. Unknown fields are kept verbatim.",
    "type": "object",
    "additionalProperties": True,
    "properties": {
        "uri": _STRING | {"description": "The newsroom's id of the article (required)."},
        "type": _STRING | {"enum": ["text", "composite"]},
        "version": _STRING,
        "versioncreated": _STRING | {"format": "date-time"},
        "firstcreated": _STRING | {"format": "date-time"},
        "embargoed": _STRING
        | {"format": "date-time", "description": "Held until this time, then published."},
        "pubstatus": _STRING | {"enum": ["usable", "withheld", "canceled"]},
        "urgency": {"type": "integer", "minimum": 1, "maximum": 9},
        "language": _STRING | {"description": "BCP 47, e.g. 'ar' or 'en-GB'."},
        "headline": _STRING,
        "headlines": _LIST,
        "byline": _STRING,
        "description_text": _STRING,
        "description_html": _STRING,
        "descriptions": _LIST,
        "body_html": _STRING,
        "body_text": _STRING,
        "bodies": _LIST,
        "subject": _LIST,
        "subjects": _LIST,
        "place": _LIST,
        "associations": {"type": ["object", "array"]},
        "category": _STRING,
        "source": _STRING,
        "url": _STRING,
        "editor_note": _STRING | {"description": "A public correction note, kept in history."},
    },
}

CLEANING = (
    "Careless characters are cleaned, not refused: in one-line fields line breaks "
    "and tabs fold into one space and other control characters are removed; in bodies, "
    "leads and notes control characters other than tab and line breaks are removed. "
    "The 202 answer lists each cleaning under `cleaned`, by JSON pointer."
)


def _limited(chars: int, what: str = "characters") -> dict[str, Any]:
    return _STRING | {"maxLength": chars, "description": f"At most {chars} {what}."}


def ninjs_schema(limits: Limits) -> dict[str, Any]:
    """`NINJS_SCHEMA` with the service's own limits on every text field khabar reads."""
    line = _limited
    picture_text = {
        "description_text": line(limits.max_caption_chars),
        "caption": line(limits.max_caption_chars),
        "alt_text": line(limits.max_alt_chars),
        "creditline": line(limits.max_credit_chars),
        "copyrightnotice": line(limits.max_credit_chars),
        "byline": line(limits.max_credit_chars),
        "renditions": {
            "type": ["object", "array"],
            "description": "Each with an http(s) `href` "
            f"(at most {limits.max_uri_chars} characters) "
            f"and a `mimetype` of at most {limits.max_mimetype_chars}.",
        },
    }
    picture = {
        "type": "object",
        "additionalProperties": True,
        "properties": picture_text,
        "description": "The featured picture (`featuremedia`, else the first picture). "
        "Without `alt_text` the caption stands in, so it must then fit "
        f"{limits.max_alt_chars} characters.",
    }
    subject = {
        "type": "object",
        "additionalProperties": True,
        "properties": {
            name: line(limits.max_subject_chars)
            for name in ("name", "code", "uri", "literal", "scheme", "rel")
        },
    }
    properties = {
        **NINJS_SCHEMA["properties"],
        "uri": line(limits.max_uri_chars)
        | {
            "description": "The newsroom's id of the article "
            f"(required), at most {limits.max_uri_chars} characters."
        },
        "headline": line(limits.max_headline_chars),
        "byline": line(limits.max_byline_chars),
        "source": line(limits.max_byline_chars),
        "description_text": line(limits.max_lead_chars),
        "description_html": line(limits.max_lead_chars, "characters once tags are removed"),
        "body_html": _STRING | {"description": f"At most {limits.max_body_bytes} bytes of UTF-8."},
        "body_text": _STRING | {"description": f"At most {limits.max_body_bytes} bytes of UTF-8."},
        "subject": {"type": "array", "maxItems": limits.max_list_items, "items": subject},
        "subjects": {"type": "array", "maxItems": limits.max_list_items, "items": subject},
        "place": {"type": "array", "maxItems": limits.max_list_items, "items": subject},
        "category": line(MAX_SLUG_CHARS),
        "url": line(limits.max_uri_chars),
        "editor_note": line(limits.max_editor_note_chars)
        | {
            "description": "A public correction note, kept in history; at most "
            f"{limits.max_editor_note_chars} characters."
        },
        "associations": {
            "type": ["object", "array"],
            "additionalProperties": picture,
            "items": picture,
        },
    }
    return NINJS_SCHEMA | {
        "properties": properties,
        "description": NINJS_SCHEMA["description"] + " " + CLEANING,
    }


BATCH_ENVELOPE_SCHEMA: dict[str, Any] = {
    "title": "BatchEnvelope",
    "description": "A batch item with what a single POST sends as headers.",
    "type": "object",
    "required": ["article"],
    "additionalProperties": False,
    "properties": {
        "article": {"$ref": "#/components/schemas/NinjsDocument"},
        "base_version": {"type": "integer", "minimum": 0, "maximum": BASE_VERSION_LIMIT - 1,
                         "description":
                         "As If-Match: the version this change is based on (0: a new article); "
                         "a stale one refuses the item with 409 and the current version."},
        "idempotency_key": _STRING | {"minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_CHARS,
                                      "description":
                                      "As the Idempotency-Key header, for this item."},
    },
}  # fmt: skip

_BATCH_ITEM = {
    "anyOf": [
        {"$ref": "#/components/schemas/NinjsDocument"},
        {"$ref": "#/components/schemas/BatchEnvelope"},
    ]
}

NINJS_BATCH_SCHEMA: dict[str, Any] = {
    "title": "NinjsBatch",
    "oneOf": [
        {"type": "array", "items": _BATCH_ITEM},
        {"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "items": _BATCH_ITEM}}},
    ],
}  # fmt: skip

NINJS_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/NinjsDocument"}},
        "application/ninjs+json": {"schema": {"$ref": "#/components/schemas/NinjsDocument"}},
    },
}


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    reasons = {
        400: "Not JSON (or XML), not UTF-8, or a bad header",
        401: "No API key (or push signature), or an unknown one",
        403: "The key may only read", 404: "No such article",
        409: "Stale If-Match, or a versioncreated older than the stored version's "
             "(the answer has current_version)",
        412: "If-Match: * and no such article",
        413: "Body over the size limit",
        415: "Not application/json (nor NewsML-G2 XML where an article is posted)",
        422: "JSON, but not an acceptable article: every bad field named",
        503: "Redis does not answer; nothing was written (see Retry-After)",
    }  # fmt: skip
    return {code: {"model": ProblemDetails, "description": reasons[code]} for code in codes}


PROBLEM_CODES = {
    "post": _problems(400, 401, 403, 409, 412, 413, 415, 422, 503),
    "batch": _problems(400, 401, 403, 413, 415, 422, 503),
    "get": _problems(401, 404, 503),
    "delete": _problems(400, 401, 403, 404, 409, 422, 503),
    "push": _problems(400, 401, 409, 413, 422, 503),
    "asset": _problems(400, 401, 413, 415, 422, 503),
    "asset_get": _problems(404),
}

PUSH_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "description": "One item as Superdesk's ninjs formatter writes it, signed with "
    "`x-superdesk-signature: sha1=<HMAC-SHA1 of the body>`.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": True,
                "properties": {"guid": _STRING, "uri": _STRING, "type": _STRING},
            }
        }
    },
}

ASSET_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "description": "One media file, signed like the items (over the whole multipart body).",
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["media_id", "media"],
                "properties": {
                    "media_id": _STRING
                    | {"description": "Superdesk's id of the rendition's file."},
                    "media": _STRING
                    | {
                        "format": "binary",
                        "description": "The file part, or its base64 as a text field.",
                    },
                    "mime_type": _STRING,
                    "filemeta": _STRING,
                },
            }
        }
    },
}


def problem_openapi(app: FastAPI, limits: Limits | None = None) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["NinjsDocument"] = ninjs_schema(limits or Limits())
    components["NinjsBatch"] = NINJS_BATCH_SCHEMA
    components["BatchEnvelope"] = BATCH_ENVELOPE_SCHEMA
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            _problem_media_types(operation.get("responses", {}))
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema


def _problem_media_types(responses: dict[str, Any]) -> None:
    for code in list(responses):
        content = responses[code].get("content", {})
        schema_ref = str(content.get("application/json", {}).get("schema", {}))
        if code == "422" and "HTTPValidationError" in schema_ref:
            del responses[code]
        elif code.isdigit() and int(code) >= 400 and "application/json" in content:
            responses[code]["content"] = {PROBLEM_MEDIA_TYPE: content.pop("application/json")}
