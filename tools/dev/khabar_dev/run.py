"""`make run`: the whole system on this machine, in the foreground.

Reuses a Redis that answers at KHABAR_REDIS_URL (else starts one with an
append-only file), reuses a Meilisearch that answers at KHABAR_MEILI_URL
(else starts the pinned binary), creates the search keys, starts the four
services and the edge (varnishd, the readers' one address), loads the sample
and says where to look. With `KHABAR_SEARCH_NODES=2` (or more) it also starts
one more Meilisearch per search node, on the next free ports after the first's,
each with its own search process indexing it (README, "Search nodes").
Ctrl-C or SIGTERM stops
everything it started; anything it started that dies (a service, the edge, a
Redis or a Meilisearch) is started again, on the same data (`supervisor.py`),
and nothing it started outlives it. A port it needs that is taken is named
before anything starts.
"""

import asyncio
import atexit
import secrets
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode, urlparse

from khabar_dev.edge import start_edge
from khabar_dev.processes import (
    OPS_PORT_SERVICES,
    SERVICES,
    ProcessGroup,
    http_ok,
    launch_service,
    redis_answers,
    run_cache_redis,
    run_meili,
    run_redis,
    start_service,
    start_services,
)
from khabar_dev.sample import load_sample
from khabar_dev.settings import RunSettings
from khabar_dev.supervisor import Supervisor, check_ports, port_in_use
from khabar_shared.logging import configure_logging, get_logger
from khabar_shared.meili_setup import provision_keys

log = get_logger("khabar.run")


def master_key(settings: RunSettings) -> str:
    """The operator's key: from the environment, else made once and kept in the data dir."""
    if settings.meili_master_key.get_secret_value():
        return settings.meili_master_key.get_secret_value()
    path = settings.data_dir / "meili-master-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def ensure_redis(settings: RunSettings, group: ProcessGroup, supervisor: Supervisor) -> str:
    if redis_answers(settings.redis_url):
        log.info("redis_reused", url=settings.redis_url)
        return settings.redis_url
    port = urlparse(settings.redis_url).port or 6379
    supervisor.start("redis", lambda: run_redis(group, settings.data_dir / "redis", port))
    log.info("redis_started", port=port)
    return settings.redis_url


def ensure_cache_redis(settings: RunSettings, group: ProcessGroup, supervisor: Supervisor) -> str:
    if redis_answers(settings.cache_redis_url):
        log.info("cache_redis_reused", url=settings.cache_redis_url)
        return settings.cache_redis_url
    port = urlparse(settings.cache_redis_url).port or 6380
    supervisor.start(
        "cache-redis",
        lambda: run_cache_redis(
            group, settings.data_dir / "cache-redis", port, settings.cache_redis_maxmemory
        ),
    )
    log.info(
        "cache_redis_started",
        port=port,
        maxmemory=settings.cache_redis_maxmemory,
        policy="allkeys-lru",
    )
    return settings.cache_redis_url


def ensure_meili(
    settings: RunSettings, group: ProcessGroup, supervisor: Supervisor, key: str
) -> str:
    if http_ok(f"{settings.meili_url}/health"):
        log.info("meilisearch_reused", url=settings.meili_url)
        return settings.meili_url
    port = urlparse(settings.meili_url).port or 7700
    supervisor.start(
        "meilisearch", lambda: run_meili(group, settings.data_dir / "meilisearch", port, key)
    )
    url = f"http://127.0.0.1:{port}"
    log.info("meilisearch_started", url=url)
    return url


def service_env(
    settings: RunSettings,
    redis_url: str,
    meili_url: str,
    ingest_key: str,
    index_key: str,
    search_key: str,
    push_secret: str = "",
    edge_token: str = "",
) -> dict[str, str]:
    env = {
        "KHABAR_REDIS_URL": redis_url,
        "KHABAR_MEILI_URL": meili_url,
        "KHABAR_MEILI_INDEX_KEY": index_key,
        "KHABAR_MEILI_SEARCH_KEY": search_key,
        "KHABAR_BOOTSTRAP_INGEST_KEY": ingest_key,
        "KHABAR_BOOTSTRAP_PUSH_SECRET": push_secret,
        "KHABAR_MEDIA_DIR": str(settings.data_dir / "media"),
        # Through the edge, like the pages that show the media.
        "KHABAR_MEDIA_BASE_URL": f"http://127.0.0.1:{settings.edge_port}/media",
        "KHABAR_LOG_FORMAT": settings.log_format,
        # Readers' addresses are the edge's; render purges it by surrogate key.
        "KHABAR_SITE_BASE_URL": f"http://127.0.0.1:{settings.edge_port}",
        "KHABAR_EDGE_PURGE_URL": f"http://127.0.0.1:{settings.edge_port}/",
        "KHABAR_EDGE_PURGE_TOKEN": edge_token,
        # The edge reaches search from loopback and names the reader in X-Forwarded-For;
        # without this every reader would share the edge's rate-limit bucket.
        "KHABAR_TRUSTED_PROXIES": "127.0.0.1",
    }
    # launch_service adds the rest of the environment and keeps each secret
    # (the master key: none) to the services that need it.
    return env


def ports_to_bind(settings: RunSettings) -> dict[str, tuple[int, str]]:
    """Every port this run will bind, with the setting that moves it (servers only if started)."""
    wanted = {
        service: (getattr(settings, f"{service}_port"), f"KHABAR_{service.upper()}_PORT")
        for service in SERVICES
    }
    if not redis_answers(settings.redis_url):
        wanted["redis"] = (urlparse(settings.redis_url).port or 6379, "KHABAR_REDIS_URL")
    if not redis_answers(settings.cache_redis_url):
        wanted["cache redis"] = (
            urlparse(settings.cache_redis_url).port or 6380,
            "KHABAR_CACHE_REDIS_URL",
        )
    if not http_ok(f"{settings.meili_url}/health"):
        wanted["meilisearch"] = (urlparse(settings.meili_url).port or 7700, "KHABAR_MEILI_URL")
    wanted["edge"] = (settings.edge_port, "KHABAR_EDGE_PORT")
    return wanted


@dataclass(frozen=True)
class ExtraNode:
    """A search node after the first: its Meilisearch and its search process's ports."""

    name: str
    meili_port: int
    search_port: int
    search_ops_port: int


def next_free_port(after: int, taken: set[int]) -> int:
    """The first port above `after` that nothing listens on and this run has not planned."""
    port = after + 1
    while port in taken or port_in_use(port):
        port += 1
    taken.add(port)
    return port


def plan_extra_nodes(settings: RunSettings, taken: set[int]) -> list[ExtraNode]:
    """Nodes 2..KHABAR_SEARCH_NODES, each on the next free ports after the first node's."""
    meili = urlparse(settings.meili_url).port or 7700
    search, ops = settings.search_port, settings.search_ops_port
    nodes = []
    for number in range(2, settings.search_nodes + 1):
        meili = next_free_port(meili, taken)
        search = next_free_port(search, taken)
        ops = next_free_port(ops, taken)
        nodes.append(ExtraNode(str(number), meili, search, ops))
    return nodes


def start_extra_nodes(
    group: ProcessGroup,
    supervisor: Supervisor,
    env: dict[str, str],
    settings: RunSettings,
    key: str,
    log_dir: Path,
) -> list[ExtraNode]:
    """Each extra node's Meilisearch (same master key, so the same search keys) and indexer."""
    taken = {port for port, _ in ports_to_bind(settings).values()}
    nodes = plan_extra_nodes(settings, taken)
    for node in nodes:
        data = settings.data_dir / f"meilisearch-{node.name}"
        meili = f"meilisearch-{node.name}"
        supervisor.start(
            meili,
            lambda d=data, n=node, m=meili: run_meili(  # type: ignore[misc]
                group, d, n.meili_port, key, m
            ),
        )
        url = f"http://127.0.0.1:{node.meili_port}"
        provision_keys(url, key)
        node_env = {**env, "KHABAR_SEARCH_NODE": node.name, "KHABAR_MEILI_URL": url}
        name, logs = f"search-{node.name}", log_dir / f"search-{node.name}.log"
        supervisor.add(
            name,
            lambda n=node, e=node_env, x=name, lp=logs: launch_service(  # type: ignore[misc]
                group, "search", e, n.search_port, lp, x, n.search_ops_port
            ),
            start_service(
                group, "search", node_env, node.search_port, logs, name, node.search_ops_port
            ),
        )
        log.info("search_node_started", node=node.name, meili=url, search_port=node.search_port)
    return nodes


def supervise(
    group: ProcessGroup,
    supervisor: Supervisor,
    env: dict[str, str],
    settings: RunSettings,
    log_dir: Path,
) -> None:
    """Start the services, each under the supervisor that restarts it when it dies."""
    ports = {s: getattr(settings, f"{s}_port") for s in SERVICES}
    ops_ports = {s: getattr(settings, f"{s}_ops_port") for s in OPS_PORT_SERVICES}
    for service, managed in start_services(group, env, ports, log_dir, ops_ports).items():
        supervisor.add(
            service,
            lambda s=service: launch_service(  # type: ignore[misc]
                group, s, env, ports[s], log_dir / f"{s}.log", ops_port=ops_ports.get(s)
            ),
            managed,
        )


def main() -> None:
    settings = RunSettings()
    configure_logging("run", "console")
    check_ports(ports_to_bind(settings))  # one clear line, before anything starts
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    group = ProcessGroup()
    atexit.register(group.stop_all)
    stop = install_stop_handlers()
    # Every process started here is supervised, the servers as well as the services.
    supervisor = Supervisor()
    try:
        key = master_key(settings)
        redis_url = ensure_redis(settings, group, supervisor)
        cache_url = ensure_cache_redis(settings, group, supervisor)
        meili_url = ensure_meili(settings, group, supervisor, key)
        keys = provision_keys(meili_url, key)
        ingest_key = settings.bootstrap_ingest_key.get_secret_value() or secrets.token_urlsafe(24)
        push_secret = settings.bootstrap_push_secret.get_secret_value() or secrets.token_urlsafe(24)
        edge_token = settings.edge_purge_token.get_secret_value() or secrets.token_urlsafe(24)
        env = service_env(
            settings,
            redis_url,
            meili_url,
            ingest_key,
            keys.index_key,
            keys.search_key,
            push_secret,
            edge_token,
        )
        env["KHABAR_CACHE_REDIS_URL"] = cache_url
        log_dir = settings.data_dir / "logs"
        log_dir.mkdir(exist_ok=True)
        supervise(group, supervisor, env, settings, log_dir)
        extra_nodes = start_extra_nodes(group, supervisor, env, settings, key, log_dir)
        # The edge: one more supervised process, readers' searches spread over every node's search.
        search_ports = [settings.search_port, *(node.search_port for node in extra_nodes)]
        supervisor.start(
            "edge",
            lambda: start_edge(
                group,
                settings.data_dir / "edge",
                settings.edge_port,
                settings.render_port,
                search_ports,
                edge_token,
                shm=True,
            ),
        )
        first_id = None
        if settings.load_sample:
            summary = asyncio.run(
                load_sample(f"http://127.0.0.1:{settings.ingest_port}", ingest_key)
            )
            log.info("sample_loaded", **summary.model_dump(exclude={"first_article_id"}))
            first_id = summary.first_article_id
        print_where_to_look(
            settings,
            ingest_key,
            first_id,
            generated_key=not settings.bootstrap_ingest_key.get_secret_value(),
            push_secret=push_secret,
            extra_nodes=extra_nodes,
        )
        supervisor.run(lambda: stop.requested)
    finally:
        group.stop_all()
        log.info("stopped")


def link(base: str, path: str, **query: str) -> str:
    """A URL a terminal can hand to curl: Arabic in the path or the query percent-encoded.

    Raw UTF-8 in a request line is refused with 400 by the edge and by curl's peers, so the
    address printed must be the encoded one (a browser shows it decoded anyway).
    """
    url = base + quote(path, safe="/")
    if query:
        url += "?" + urlencode(query, quote_via=quote)
    return url


def print_where_to_look(
    settings: RunSettings,
    ingest_key: str,
    article_id: str | None,
    generated_key: bool,
    push_secret: str = "",
    extra_nodes: list[ExtraNode] | None = None,
) -> None:
    nodes = ", ".join(
        f"{n.name} at :{n.meili_port} (its search on :{n.search_port})" for n in extra_nodes or []
    )
    push_note = (
        "" if settings.bootstrap_push_secret.get_secret_value() else "   (generated for this run)"
    )
    edge = f"http://127.0.0.1:{settings.edge_port}"
    lines = [
        "",
        f"{edge}/",
        "khabar is running. Readers' one address is the edge above. Look at:",
        f"  home page         {edge}/",
        f"  an article        {link(edge, '/articles/' + article_id)}" if article_id else "",
        f"  search page       {link(edge, '/search', q='السعودية')}",
        f"  search API        {link(edge, '/v1/search', q='ترامب')}",
        (
            # Search's origin declares no `/`: its readers' page is `/search`.
            f"  render, search    http://127.0.0.1:{settings.render_port}/, "
            f"http://127.0.0.1:{settings.search_port}/search  (the origins, for operators)"
        ),
        f"  ingest API docs   http://127.0.0.1:{settings.ingest_ops_port}/docs",
        (
            f"  operations        /metrics, /readyz, /docs on :{settings.ingest_ops_port} "
            f"(ingest), :{settings.search_ops_port} (search), "
            f":{settings.render_ops_port} (render), :{settings.enrich_port} (enrich)"
        ),
        f"  search nodes      1 at {settings.meili_url}, {nodes}  (khabar status: their lag)"
        if nodes
        else "",
        f"  ingest key        {ingest_key}"
        + ("   (generated for this run)" if generated_key else ""),
        f"  Superdesk push    resource URL http://127.0.0.1:{settings.ingest_port}/v1/push/superdesk",
        f"                    assets URL   http://127.0.0.1:{settings.ingest_port}/v1/push/superdesk/assets",
        f"                    secret token {push_secret}{push_note}",
        f"  service logs      {settings.data_dir / 'logs'}/<service>.log  (tail -f to follow)",
        "Ctrl-C stops everything this command started.",
        "",
    ]
    sys.stdout.write("\n".join(line for line in lines if line != "") + "\n")
    sys.stdout.flush()


class StopSignal:
    def __init__(self) -> None:
        self.requested = False


def install_stop_handlers() -> StopSignal:
    stop = StopSignal()

    def request_stop(signum: int, _frame: object) -> None:
        stop.requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop


if __name__ == "__main__":
    main()
