"""Reading a request body as JSON, refusing what ingest can't read with a problem.

Order of checks: media type (415), size (413, before and while reading),
UTF-8 (400), JSON syntax (400, also NaN/Infinity and absurd numbers; a raw
control character inside a string is read, to be cleaned by field), nesting
depth (422 at the pointer where it goes too deep).

Speed matters here (a batch body is megabytes): msgspec reads the bytes
straight away, with no decoding first, and refuses invalid UTF-8 and lone
surrogates itself. It reads numbers as `json` does (integers of any size
exactly, floats correctly rounded), and faster than orjson on Arabic text
(`bench.ingest`). A body it
refuses (`NaN`, `1e400`, nesting past Python's recursion limit) is read
again by `json`, whose answers (and refusals) are the ones ingest has
always given.
"""

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import msgspec
from fastapi import Request

from khabar_ingest.formats.errors import FieldError, InvalidArticle, pointer
from khabar_ingest.problems import (
    invalid_article,
    invalid_utf8,
    malformed_body,
    payload_too_large,
    unsupported_media_type,
)

JSON_MEDIA_TYPES = ("application/json", "application/ninjs+json")
_DECODER = msgspec.json.Decoder()


@dataclass
class JsonBody:
    document: Any
    # True when no string in `document` can hold a lone surrogate (msgspec refuses them),
    # so the readers may skip looking for them.
    unicode_checked: bool


async def read_json_body(request: Request, max_bytes: int, max_depth: int) -> JsonBody:
    instance = request.url.path
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES:
        raise unsupported_media_type(media_type or None, JSON_MEDIA_TYPES, instance).error()
    body = await read_raw_body(request, max_bytes)
    return parse_json_body(body, max_depth, instance)


async def read_raw_body(request: Request, max_bytes: int) -> bytes:
    """The body's bytes, refused with 413 once it is longer than `max_bytes`."""
    instance = request.url.path
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise payload_too_large(int(declared), max_bytes, instance).error()
    # Chunks joined once at the end: a growing bytearray copied a batch's megabyte several
    # times over as it grew.
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise payload_too_large(None, max_bytes, instance).error()
    return b"".join(chunks)


def parse_json_body(body: bytes, max_depth: int, instance: str) -> JsonBody:
    """`body` read as JSON (see the module's notes), or the problem it amounts to."""
    document = read_fast(body, max_depth, instance)
    if document is None:
        return JsonBody(read_slow(body, max_depth, instance), unicode_checked=False)
    # msgspec refuses lone surrogates: nothing it read needs looking at for them.
    return JsonBody(document, unicode_checked=True)


def read_fast(body: bytes | bytearray, max_depth: int, instance: str) -> Any | None:
    """The document, or None when `json` must read it (see the module's notes)."""
    try:
        document = _DECODER.decode(body)
    except (ValueError, RecursionError):  # msgspec's DecodeError and UnicodeDecodeError too
        return None
    check_depth(document, max_depth, instance)
    return document


def read_slow(body: bytes | bytearray, max_depth: int, instance: str) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise invalid_utf8(error.start, instance).error() from error
    document = parse_json(text, instance)
    check_depth(document, max_depth, instance)
    return document


def check_depth(document: Any, max_depth: int, instance: str) -> None:
    if nests_deeper(document, max_depth):
        too_deep = first_too_deep(document, max_depth) or ""
        problem = FieldError(pointer=too_deep, message=f"nests deeper than {max_depth} levels")
        raise invalid_article(InvalidArticle([problem]), instance).error()


def parse_json(text: str, instance: str) -> Any:
    """`text` as JSON; a raw control character inside a string is taken as if escaped.

    Strict JSON refuses one (a scraped `\x1a` pasted into a headline), and the whole article
    was lost over it with a 400 naming no field. Read leniently, the string reaches the
    ninjs reader like its escaped spelling does: cleaned and listed under `cleaned` by
    pointer, or refused by pointer where a control character is never right (the uri).
    """
    try:
        return json.loads(text, parse_constant=_refuse_constant, strict=False)
    except (ValueError, RecursionError) as error:
        # ValueError covers JSONDecodeError and integers too long to convert.
        raise malformed_body(f"The body is not JSON: {error}", instance).error() from error


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def nests_deeper(value: Any, max_depth: int) -> bool:
    """Whether anything in `value` is nested deeper than `max_depth` (cheap: no paths kept)."""
    children = _children(value)
    if max_depth <= 0:
        return len(children) > 0
    for child in children:
        if type(child) in _CONTAINERS and nests_deeper(child, max_depth - 1):
            return True
    return False


# What a JSON parser builds for objects and arrays (exactly these types: no subclasses).
_CONTAINERS = (dict, list)


def _children(value: Any) -> Collection[Any]:
    if type(value) is dict:
        return value.values()
    return value if type(value) is list else ()


def first_too_deep(document: Any, max_depth: int) -> str | None:
    """The JSON Pointer of the first value nested deeper than `max_depth`, or None."""
    stack: list[tuple[Any, list[str | int]]] = [(document, [])]
    while stack:
        value, path = stack.pop()
        if len(path) > max_depth:
            return pointer(*path)
        if isinstance(value, dict):
            stack.extend((child, [*path, key]) for key, child in value.items())
        elif isinstance(value, list):
            stack.extend((child, [*path, index]) for index, child in enumerate(value))
    return None
