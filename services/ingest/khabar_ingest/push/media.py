"""Media files pushed to the assets URL: checked by decoding, kept on `KHABAR_MEDIA_DIR`.

A file is trusted by what Pillow decodes it as, never by its name or the
`mime_type` the sender declares (a declared type that disagrees is refused).
Each file is kept as `<media_id>` beside `<media_id>.json` (its type, size
and pixel dimensions); both are written to a temporary name and renamed, the
description first, so a file that is there is always whole and described.
Render serves them to readers at `/media/<media_id>`.
"""

import base64
import binascii
import io
import os
import re
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel

MEDIA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# What Pillow calls each format it may decode, and the type it is served as.
IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


class MediaRefused(ValueError):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


class MediaFile(BaseModel):
    media_id: str
    mime_type: str
    size: int
    width: int
    height: int


def check_media_id(media_id: str) -> str:
    if not MEDIA_ID.match(media_id) or media_id.endswith(".json"):
        raise MediaRefused(
            422,
            "media_id",
            "must be 1–128 letters, digits, '.', '_' or '-' (Superdesk's media ids are)",
        )
    return media_id


def decode_payload(data: bytes, is_file: bool) -> bytes:
    """The file's bytes: a file part is raw (Superdesk sends it so); a text field is base64."""
    if is_file:
        return data
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError) as error:
        raise MediaRefused(422, "media", "is neither a file part nor base64 text") from error


def verify_image(data: bytes, declared: str | None, max_pixels: int) -> tuple[str, int, int]:
    """(mime type, width, height) of an image Pillow decodes whole, else MediaRefused."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in IMAGE_TYPES:
                raise MediaRefused(
                    415, "media", f"{image.format} files are not taken; send JPEG, PNG, GIF or WebP"
                )
            width, height = image.size
            if width * height > max_pixels:
                raise MediaRefused(
                    413, "media", f"is {width}×{height} pixels; at most {max_pixels} pixels allowed"
                )
            image.load()  # decodes every pixel: a truncated or corrupt file fails here
            mime_type = IMAGE_TYPES[image.format]
    except MediaRefused:
        raise
    except UnidentifiedImageError as error:
        # Pillow's message names its in-memory file (`<_io.BytesIO object at 0x…>`): a
        # process's address, and nothing the sender can act on.
        raise MediaRefused(
            415, "media", "is not an image khabar recognises; send JPEG, PNG, GIF or WebP"
        ) from error
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as error:
        raise MediaRefused(415, "media", f"is not an image that decodes: {error}"[:300]) from error
    base = (declared or "").split(";")[0].strip().lower()
    if (
        base
        and base != "application/octet-stream"
        and base != mime_type
        and not (base == "image/jpg" and mime_type == "image/jpeg")
    ):
        raise MediaRefused(422, "mime_type", f"says {base!r} but the file is {mime_type}")
    return mime_type, width, height


class MediaStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, media_id: str) -> Path:
        return self.directory / check_media_id(media_id)

    def holds(self, media_id: str) -> bool:
        return MEDIA_ID.match(media_id) is not None and self._path(media_id).is_file()

    def describe(self, media_id: str) -> MediaFile | None:
        if not self.holds(media_id):
            return None
        return MediaFile.model_validate_json(Path(f"{self._path(media_id)}.json").read_bytes())

    def put(self, media_id: str, data: bytes, mime_type: str, width: int, height: int) -> MediaFile:
        path = self._path(media_id)
        self.directory.mkdir(parents=True, exist_ok=True)
        record = MediaFile(
            media_id=media_id, mime_type=mime_type, size=len(data), width=width, height=height
        )
        _write_atomically(Path(f"{path}.json"), record.model_dump_json().encode())
        _write_atomically(path, data)
        return record


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
