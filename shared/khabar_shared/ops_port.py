"""Operations routes answer on the operations port only, never on the public one.

`/metrics`, `/readyz`, `/asyncapi` and the API documents (`/docs`,
`/openapi.json`) tell a stranger how the service is built and, for
`/metrics`, cost Redis commands per request. Each HTTP service listens on two
ports in one process (`serve`): the public port, published to readers or
newsroom tools, and an operations port for Prometheus, probes and operators,
never published. One app serves both; this middleware answers 404 for an
operations route asked on the public port (`scope["server"]` is the local
address the connection came in on). `/healthz` answers on both: it says
nothing and costs nothing, and container health checks use the public port.
"""

import json
from typing import Any

from khabar_shared.problems import PROBLEM_JSON, Problem

OPS_PATHS = frozenset(
    (
        "/metrics",
        "/readyz",
        "/asyncapi",
        "/asyncapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/search-nodes",
    )
)


def is_ops_path(path: str) -> bool:
    return path in OPS_PATHS


class OpsPortMiddleware:
    """404 for operations routes on `public_port`; everything else passes."""

    def __init__(self, app: Any, public_port: int, ops_port: int) -> None:
        self.app = app
        self.public_port = public_port
        # 0: no operations port, the operations routes stay on the public one.
        self.enabled = ops_port > 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            self.enabled
            and scope["type"] == "http"
            and is_ops_path(scope["path"])
            and _local_port(scope) == self.public_port
        ):
            await _not_found(send)
            return
        await self.app(scope, receive, send)


def _local_port(scope: dict[str, Any]) -> int | None:
    server = scope.get("server")
    return server[1] if server else None


async def _not_found(send: Any) -> None:
    found = Problem(
        status=404,
        title="Not Found",
        detail="Operations routes answer on the operations port only.",
    )
    body = json.dumps(found.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
