"""`make run`'s small supervisor: processes restarted when they die, never left behind.

- Every process the run started is supervised: the services, the edge, and the
  log's Redis, the cache's Redis and each Meilisearch it started (one it reused
  is not its to restart). Each is started again with its own arguments and
  data dir, so the log's append-only file and each search index come back whole.
- Watching a child's exit also reaps it: none is left a zombie.
- A process that exits is logged and started again after a backoff (1 s,
  doubling to 30 s; back to 1 s once it stayed up a minute), while the others
  keep serving.
- Children never outlive the runner: each is started with the kernel's
  parent-death signal (PR_SET_PDEATHSIG, SIGTERM), so even a `kill -9` of the
  runner stops them; a normal exit, Ctrl-C or SIGTERM stops them in order
  (and `atexit` does, should anything else end the runner).
- Before anything starts, every port the run will bind is checked: one taken
  is named in one clear line, with the setting that moves it.
"""

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from khabar_dev.processes import ManagedProcess
from khabar_shared.logging import get_logger

log = get_logger("khabar.run")

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
# A process that stayed up this long is healthy again: its next crash restarts at once.
STABLE_AFTER_S = 60.0
POLL_S = 0.5


class PortTaken(SystemExit):
    """Raised before anything starts; its message is the one line the operator reads."""


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(wanted: dict[str, tuple[int, str]]) -> None:
    """`wanted`: what binds -> (port, setting that moves it). Raise `PortTaken` for the first
    taken."""
    for what, (port, setting) in wanted.items():
        if port_in_use(port):
            raise PortTaken(
                f"khabar run: port {port} ({what}) is already in use; stop what "
                f"holds it (`ss -ltnp 'sport = :{port}'`) or set {setting}."
            )


@dataclass
class Supervised:
    name: str
    start: Callable[[], ManagedProcess]
    process: ManagedProcess
    started_at: float = field(default_factory=time.monotonic)
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None
    restarts: int = 0


@dataclass
class Supervisor:
    services: dict[str, Supervised] = field(default_factory=dict)

    def add(self, name: str, start: Callable[[], ManagedProcess], process: ManagedProcess) -> None:
        self.services[name] = Supervised(name, start, process)

    def start(self, name: str, start: Callable[[], ManagedProcess]) -> ManagedProcess:
        """`start()` now, and again whenever what it started dies."""
        process = start()
        self.add(name, start, process)
        return process

    def run(self, stopped: Callable[[], bool]) -> None:
        """Keep every service running until `stopped()`."""
        while not stopped():
            self.tick(time.monotonic())
            time.sleep(POLL_S)

    def tick(self, now: float) -> None:
        for service in self.services.values():
            if service.restart_at is not None:
                if now >= service.restart_at:
                    self._restart(service, now)
            elif service.process.process.poll() is not None:
                self._schedule(service, now)

    def _schedule(self, service: Supervised, now: float) -> None:
        if now - service.started_at >= STABLE_AFTER_S:
            service.backoff_s = FIRST_BACKOFF_S
        service.restart_at = now + service.backoff_s
        log.error(
            "service_exited_restarting",
            service=service.name,
            code=service.process.process.returncode,
            restart_in_s=service.backoff_s,
            log=str(service.process.log_path or ""),
        )
        service.backoff_s = min(service.backoff_s * 2, MAX_BACKOFF_S)

    def _restart(self, service: Supervised, now: float) -> None:
        service.restart_at = None
        service.restarts += 1
        try:
            service.process = service.start()
        # Cannot even start, or it exited or never answered while starting: try again later.
        except (OSError, RuntimeError) as error:
            log.error("service_start_failed", service=service.name, error=str(error))
            self._schedule(service, now)
            return
        service.started_at = now
        log.info(
            "service_restarted",
            service=service.name,
            pid=service.process.process.pid,
            restarts=service.restarts,
        )
