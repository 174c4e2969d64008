"""The smallest ASGI origin: a path's bytes from Redis (uvicorn + starlette + redis.asyncio).

What `bench.edge` sets the edge and render beside: the same bytes, with no
work but one GET. `BENCH_REDIS_URL` names the Redis; keys are `bench:origin:<path>`.
"""

import os

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

REDIS = aioredis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))


async def serve(request: Request) -> Response:
    body = await REDIS.get(f"bench:origin:{request.url.path}")
    if body is None:
        return Response(status_code=404)
    return Response(body, media_type="text/html; charset=utf-8")


app = Starlette(routes=[Route("/{path:path}", serve)])
