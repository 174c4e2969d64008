"""How every service starts: its logging first, then its ASGI app under uvicorn.

Uvicorn runs FastAPI apps (ingest, search, render) and FastStream's
`AsgiFastStream` (enrich) alike. `log_config=None` leaves uvicorn's loggers to
ours (one JSON object a line); on SIGTERM uvicorn waits up to
`KHABAR_SHUTDOWN_GRACE_S` for requests and consumers to finish.

`proxy_headers=False`: uvicorn would otherwise take the client's address
from X-Forwarded-For on every connection from 127.0.0.1 (its default
`forwarded_allow_ips`), so any process on the host could claim to be any
reader. Services that need the reader's address behind a proxy read it
themselves from the proxies they are told to trust (search's
`KHABAR_TRUSTED_PROXIES`).

Every service answers 414 to a request target longer than `uri_limit.MAX_TARGET_CHARS`, even
one too long for uvicorn's HTTP parser (`uri_limit.UriLimitedHttpTools`).
"""

import socket
from collections.abc import Callable
from typing import Any, TypeVar

import uvicorn

from khabar_shared.logging import configure_logging
from khabar_shared.settings import CommonSettings
from khabar_shared.uri_limit import UriLengthLimit, UriLimitedHttpTools

SettingsT = TypeVar("SettingsT", bound=CommonSettings)


def serve(
    create_app: Callable[[SettingsT], Any],
    settings: SettingsT,
    *,
    service: str,
    host: str,
    port: int,
    ops_port: int = 0,
) -> None:
    """Configure logging for `service`, build its app from `settings` and serve it until stopped.

    With an `ops_port` the one server also listens there, on `KHABAR_OPS_HOST`
    (see `ops_port.py`: operations routes answer on that port only).
    """
    configure_logging(service, settings.log_format, settings.log_level)
    config = uvicorn.Config(
        UriLengthLimit(create_app(settings)),  # 414 above the limit, on every service
        host=host,
        port=port,
        http=UriLimitedHttpTools,  # 414, not 400, above what httptools parses
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )
    sockets = [config.bind_socket()]
    if ops_port:
        sockets.append(listening_socket(settings.ops_host, ops_port))
    uvicorn.Server(config).run(sockets=sockets)


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn to listen on, as `Config.bind_socket` makes its own."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock
