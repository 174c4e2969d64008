"""`GET /media/{media_id}`: pictures pushed to ingest's assets URL, served to readers.

Ingest verified each file by decoding it and wrote its type beside it
(`<media_id>.json`); only files so described are served, with that type and
`nosniff`, so a browser never guesses a file into something else.
"""

import json
import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from khabar_shared.problems import problem

_MEDIA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def media_router(media_dir: Path, max_age_s: int) -> APIRouter:
    router = APIRouter()

    @router.get("/media/{media_id}", summary="A picture pushed by the newsroom")
    async def media_file(media_id: str) -> FileResponse:
        path = media_dir / media_id
        described = Path(f"{path}.json")
        if (
            not _MEDIA_ID.match(media_id)
            or media_id.endswith(".json")
            or not path.is_file()
            or not described.is_file()
        ):
            raise problem(404, "Not Found", f"No media file '{media_id}'.")
        mime_type = json.loads(described.read_text())["mime_type"]
        return FileResponse(
            path,
            media_type=mime_type,
            headers={
                "Cache-Control": f"public, max-age={max_age_s}",
                "X-Content-Type-Options": "nosniff",
                "Surrogate-Key": f"media:{media_id}",
            },
        )

    return router
