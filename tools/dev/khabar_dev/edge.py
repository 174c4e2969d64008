"""The edge on this machine: varnishd in front of render and search (`make run`, tests, bench).

`edge/local.vcl.in` is filled in with the origins' ports and the purge token
and written beside varnishd's working directory; the rules it includes are
`edge/khabar.vcl`, the same file compose and the varnishtest cases use.
"""

import hashlib
import shutil
import socket
import string
import tempfile
from collections.abc import Sequence
from pathlib import Path

from khabar_dev.processes import REPO_ROOT, ManagedProcess, ProcessGroup, wait_until
from khabar_dev.settings import EdgeThrottleSettings

EDGE_DIR = REPO_ROOT / "edge"
# Cache memory of the local edge: the whole sample's pages fit many times over.
EDGE_STORAGE = "malloc,256m"
# A request line longer than varnishd reads (http_req_size, 32k by default) is answered with
# a reset connection; read up to 64k, khabar.vcl answers a target over 8192 with 414. The
# client workspace holds the request read, so it grows with it. Compose passes the same.
REQUEST_LIMITS = ("-p", "http_req_size=64k", "-p", "workspace_client=128k")
# varnishd's own default mask, then what it writes for every answer that nothing of ours reads:
# a record per header sent (RespHeader, ~16 an answer), per VCL sub entered and left
# (VCL_call, VCL_return), per header unset, the answer's protocol and reason, the hit.
# Kept: what varnishncsa's default line needs (ReqStart, ReqMethod, ReqURL, ReqProtocol,
# ReqHeader, RespStatus, ReqAcct, Timestamp), what our tests and benches query (BackendOpen,
# the backend side, ReqHeader xkey-purge), grouping (Begin, End, Link), VCL_Log, errors.
# An operator who needs one back: `varnishadm -n <dir> param.set vsl_mask +RespHeader`.
# Compose passes the same.
VSL_MASK_DEFAULT = (
    "-Debug,-ObjProtocol,-ObjStatus,-ObjReason,-ObjHeader,-VCL_trace,-ExpKill,-WorkThread,"
    "-Hash,-VfpAcct,-H2RxHdr,-H2RxBody,-H2TxHdr,-H2TxBody,-VdpAcct"
)
VSL_MASK_UNREAD = (
    "-RespHeader,-RespUnset,-ReqUnset,-RespProtocol,-RespReason,-VCL_call,-VCL_return,-Hit"
)
VSL_MASK = ("-p", f"vsl_mask={VSL_MASK_DEFAULT},{VSL_MASK_UNREAD}")
# A Unix socket's path must fit in sockaddr_un (108 bytes on Linux).
SOCKET_PATH_MAX = 100


def self_socket(work_dir: Path) -> Path:
    """The Unix socket varnishd asks itself on (`khabar_self`): writable by this user alone.

    khabar.vcl trusts a request as the assembly's inner one by this socket, so
    it is not a port a reader could reach. Under a deep work dir (pytest's
    tmp_path) the path moves to the temp dir, named after the work dir.
    """
    path = work_dir / "self.sock"
    if len(str(path)) <= SOCKET_PATH_MAX:
        return path
    digest = hashlib.sha256(str(work_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"khabar-edge-{digest}.sock"


def search_ports_of(search_port: int | Sequence[int]) -> list[int]:
    return [search_port] if isinstance(search_port, int) else list(search_port)


def write_vcl(
    work_dir: Path,
    render_port: int,
    search_port: int | Sequence[int],
    purge_token: str,
    host: str = "127.0.0.1",
    throttle: EdgeThrottleSettings | None = None,
) -> Path:
    """The top-level VCL for origins on `host`, written under `work_dir`.

    `search_port` is one search process's port, or each node's search process's
    ports: readers' searches go round them all, skipping any that is down.
    `throttle`: each client's misses and errors (default: the KHABAR_EDGE_THROTTLE_* settings).
    """
    throttle = throttle or EdgeThrottleSettings()
    template = string.Template((EDGE_DIR / "local.vcl.in").read_text())
    ports = search_ports_of(search_port)
    if not ports:
        raise ValueError("the edge needs at least one search process")
    backends = "".join(
        f'backend search_{number} {{\n    .host = "{host}";\n    .port = "{port}";\n'
        f"    .probe = khabar_search_alive;\n}}\n\n"
        for number, port in enumerate(ports, start=1)
    )
    director = "".join(
        f"    search_nodes.add_backend(search_{number});\n" for number in range(1, len(ports) + 1)
    )
    vcl = template.substitute(
        self_socket=str(self_socket(work_dir)),
        render_host=host,
        render_port=render_port,
        search_backends=backends,
        search_director=director,
        purge_token=purge_token,
        edge_dir=str(EDGE_DIR),
        miss_limit=throttle.misses,
        error_limit=throttle.errors,
        throttle_period=f"{throttle.period_s}s",
        throttle_block=f"{throttle.block_s}s",
    )
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / "edge.vcl"
    path.write_text(vcl)
    path.chmod(0o600)  # it holds the purge token
    return path


# tmpfs, where make run's edge keeps its working directory (below).
SHM_ROOT = Path("/dev/shm")


def varnishd_name(work_dir: Path, shm: bool = False) -> Path:
    """varnishd's working directory (-n): `work_dir / "varnishd"`, as varnishstat names it.

    It holds the shared-memory log, which varnishd writes a record into for
    every request, and the counters, both memory-mapped files. With `shm`
    (make run) they live on tmpfs and `work_dir / "varnishd"` is a link to
    them: under a data dir on disk the kernel keeps writing those pages back,
    disk writes that nobody reads. One directory per data dir, named after
    it, so make run after make run reuses it.
    """
    name = work_dir / "varnishd"
    if not shm or not SHM_ROOT.is_dir():
        return name
    digest = hashlib.sha256(str(work_dir).encode()).hexdigest()[:16]
    target = SHM_ROOT / f"khabar-edge-{digest}"
    target.mkdir(mode=0o700, exist_ok=True)
    if name.is_symlink():
        name.unlink()
    elif name.is_dir():
        shutil.rmtree(name)  # an earlier run's, on disk: varnishd makes it anew each start
    name.symlink_to(target, target_is_directory=True)
    return name


def varnishd_argv(work_dir: Path, vcl: Path, port: int, name: Path | None = None) -> list[str]:
    # `-j none`: varnishd stays the user who started it. Its default jail
    # (as root) reads the VCL as user varnish, which cannot reach a data dir
    # private to us, nor a VCL that holds the purge token and is ours alone.
    return [
        "varnishd",
        "-F",
        "-j",
        "none",
        "-n",
        str(name or work_dir / "varnishd"),
        "-a",
        f"127.0.0.1:{port}",
        "-a",
        f"khabar_self={self_socket(work_dir)}",
        "-f",
        str(vcl),
        "-s",
        EDGE_STORAGE,
        *REQUEST_LIMITS,
        *VSL_MASK,
        "-T",
        "127.0.0.1:0",
    ]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_edge(
    group: ProcessGroup,
    work_dir: Path,
    port: int,
    render_port: int,
    search_port: int | Sequence[int],
    purge_token: str,
    shm: bool = False,
    throttle: EdgeThrottleSettings | None = None,
) -> ManagedProcess:
    """varnishd in the foreground (supervised like the services), listening on `port`.

    `shm`: its shared-memory log on tmpfs (`varnishd_name`), as make run starts it.
    `throttle`: each client's misses and errors (default: the KHABAR_EDGE_THROTTLE_* settings).
    """
    work_dir = work_dir.resolve()
    vcl = write_vcl(work_dir, render_port, search_port, purge_token, throttle=throttle)
    argv = varnishd_argv(work_dir, vcl, port, varnishd_name(work_dir, shm))
    managed = group.start("edge", argv, log_path=work_dir / "varnishd.log")
    wait_until(lambda: listening(port) or managed.process.poll() is not None, 60, "edge")
    if managed.process.poll() is not None:
        raise RuntimeError(
            f"varnishd exited with {managed.process.returncode}; see {work_dir / 'varnishd.log'}"
        )
    return managed
