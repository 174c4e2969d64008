"""The AsyncAPI document of a service's streams, generated from its broker and event models.

FastStream documents each subscriber (stream, consumer group, consumer); our
subscribers take raw batches, so it cannot see the event schema. This module
puts it in: the payload of every message on a known stream is that stream's
event model (`events.py`), as pydantic describes it.

- enrich (FastStream ASGI app): `AsgiFastStream(..., specification=khabar_asyncapi(broker,
  "enrich"), asyncapi_path="/asyncapi")`
- FastAPI services: `app.include_router(asyncapi_router(broker, "search"))` serves
  `/asyncapi` (HTML) and `/asyncapi.json`.
"""

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi.site import get_asyncapi_html
from pydantic import BaseModel

from khabar_shared.events import ArticleEvent, EnrichedEvent
from khabar_shared.names import ARTICLE_EVENTS_STREAM, ENRICHED_STREAM

if TYPE_CHECKING:
    from fastapi import APIRouter
    from faststream.redis import RedisBroker

EVENT_MODELS: dict[str, type[BaseModel]] = {
    ARTICLE_EVENTS_STREAM: ArticleEvent,
    ENRICHED_STREAM: EnrichedEvent,
}
WIRE_FORMAT = (
    "Each stream entry carries the event as JSON in its `data` field, with `type`, "
    "`event_id`, `article_id`, `version` and `correlation_id` copied as flat fields "
    "(see `khabar_shared.events.encode_event`)."
)


@dataclass
class Document:
    """A finished AsyncAPI document, in the shape FastStream's HTML page expects."""

    document: dict[str, Any]

    @property
    def title(self) -> str:
        return str(self.document["info"]["title"])

    def to_jsonable(self) -> dict[str, Any]:
        return self.document

    def to_json(self) -> str:
        return json.dumps(self.document, ensure_ascii=False)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.document, allow_unicode=True, sort_keys=False)


class KhabarAsyncAPI(AsyncAPI):
    def to_specification(self) -> Document:
        return Document(with_event_schemas(super().to_specification().to_jsonable()))


def khabar_asyncapi(broker: "RedisBroker", service: str) -> KhabarAsyncAPI:
    return KhabarAsyncAPI(
        broker,
        title=f"khabar {service}",
        version="1",
        description=f"The streams khabar {service} reads. {WIRE_FORMAT}",
        schema_version="3.0.0",
    )


def with_event_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """Replace each message payload on a known stream by its event model's JSON schema."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for channel in document.get("channels", {}).values():
        model = EVENT_MODELS.get(channel.get("address", ""))
        if model is None:
            continue
        for reference in channel.get("messages", {}).values():
            name = reference["$ref"].rsplit("/", 1)[-1].replace("%7B", "{").replace("%7D", "}")
            message = components.get("messages", {}).get(name)
            if message is not None:
                old = message.get("payload", {}).get("$ref", "").rsplit("/", 1)[-1]
                schemas.pop(old.replace("%7B", "{").replace("%7D", "}"), None)
                message["payload"] = {"$ref": f"#/components/schemas/{model.__name__}"}
                message["description"] = WIRE_FORMAT
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return document


def asyncapi_router(broker: "RedisBroker", service: str) -> "APIRouter":
    from fastapi import APIRouter
    from fastapi.responses import HTMLResponse, JSONResponse

    spec = khabar_asyncapi(broker, service)
    router = APIRouter(tags=["operations"])

    @router.get("/asyncapi.json", summary="AsyncAPI document of the streams this service reads")
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(spec.to_specification().to_jsonable())

    @router.get("/asyncapi", response_class=HTMLResponse, include_in_schema=False)
    async def asyncapi_page() -> HTMLResponse:
        return HTMLResponse(get_asyncapi_html(spec.to_specification()))

    return router
