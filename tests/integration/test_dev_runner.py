"""`make run` as a supervisor: the real runner, its real children, real kills.

A service, or a Redis or Meilisearch the runner started, killed with SIGKILL is started again
(on its data) while the others keep
serving; a runner killed with SIGKILL leaves no child behind; a port already
taken is named in one line before anything starts; the edge's shared-memory
log is on tmpfs.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from khabar_dev.processes import (
    OPS_PORT_SERVICES,
    REPO_ROOT,
    SERVICES,
    free_port,
    http_ok,
    redis_answers,
)
from tests.conftest import Servers
from tests.support import eventually

DB = 14


def runner_env(
    servers: Servers, data: Path, ports: dict[str, int], cache_port: int | None = None
) -> dict[str, str]:
    cache_port = cache_port or free_port()
    env = {
        **os.environ,
        "KHABAR_REDIS_URL": servers.redis_url.rsplit("/", 1)[0] + f"/{DB}",
        "KHABAR_MEILI_URL": servers.meili_url,
        "KHABAR_MEILI_MASTER_KEY": servers.meili_master_key,
        "KHABAR_MEILI_INDEX": f"articles_runner_{os.getpid()}",
        "KHABAR_CACHE_REDIS_URL": f"redis://127.0.0.1:{cache_port}/0",
        "KHABAR_DATA_DIR": str(data),
        "KHABAR_LOAD_SAMPLE": "false",
    }
    env.update(
        {f"KHABAR_{s.upper()}_PORT": str(port) for s, port in ports.items() if s in SERVICES}
    )
    env.update({f"KHABAR_{s.upper()}_OPS_PORT": str(ports[f"{s}_ops"]) for s in OPS_PORT_SERVICES})
    env["KHABAR_EDGE_PORT"] = str(ports["edge"])
    return env


def start_runner(env: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    with open(output, "wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "khabar_dev.run"],
            env=env,
            cwd=REPO_ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_running(process: subprocess.Popen[bytes], output: Path) -> None:
    """Until the runner says where to look; it must not have died on the way."""
    eventually(
        lambda: b"khabar is running" in output.read_bytes() or process.poll() is not None,
        timeout_s=180,
        interval_s=0.5,
    )
    assert process.poll() is None, output.read_text()


def children(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid`: their pid and command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found[int(entry.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def service_pid(runner: int, service: str) -> int | None:
    return next((p for p, cmd in children(runner).items() if f"khabar-{service}" in cmd), None)


@pytest.fixture
def ports() -> dict[str, int]:
    names = (*SERVICES, *(f"{s}_ops" for s in OPS_PORT_SERVICES), "cache", "edge")
    return {name: free_port() for name in names}


@pytest.fixture(autouse=True)
def edge_shm_removed(tmp_path: Path) -> Iterator[None]:
    """make run keeps the edge's working directory on tmpfs, one per data dir; a test's data
    dir goes with the test, so its directory on tmpfs goes too (set up before any runner, so
    torn down after it stopped)."""
    yield
    link = tmp_path / "data" / "edge" / "varnishd"
    if link.is_symlink():
        shutil.rmtree(link.resolve(), ignore_errors=True)


@pytest.fixture
def runner(
    servers: Servers, tmp_path: Path, ports: dict[str, int]
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    output = tmp_path / "run.out"
    process = start_runner(runner_env(servers, tmp_path / "data", ports, ports["cache"]), output)
    try:
        wait_until_running(process, output)
        yield process, output
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


@pytest.mark.timeout(400)
def test_a_killed_service_is_restarted_and_a_killed_runner_leaves_no_child(
    runner: tuple[subprocess.Popen[bytes], Path], ports: dict[str, int]
) -> None:
    process, output = runner
    render = service_pid(process.pid, "render")
    assert render is not None, children(process.pid)
    os.kill(render, signal.SIGKILL)
    # The others keep serving meanwhile.
    assert httpx.get(f"http://127.0.0.1:{ports['ingest']}/healthz", timeout=10).status_code == 200
    eventually(lambda: b"service_restarted" in output.read_bytes(), timeout_s=60)
    eventually(lambda: service_pid(process.pid, "render") not in (None, render), timeout_s=30)
    eventually(
        lambda: http_ok(f"http://127.0.0.1:{ports['render_ops']}/readyz"),
        timeout_s=120,
        interval_s=0.5,
    )
    assert process.poll() is None
    assert b"service_exited_restarting" in output.read_bytes()

    before = children(process.pid)
    assert len(before) == len(SERVICES) + 2  # and the cache's Redis and the edge
    assert any("redis-server" in cmd for cmd in before.values())
    assert any("varnishd" in cmd for cmd in before.values())
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    eventually(lambda: not any(alive(pid) for pid in before), timeout_s=30, interval_s=0.2)


@pytest.mark.timeout(120)
def test_a_taken_port_is_named_in_one_line_before_anything_starts(
    servers: Servers, tmp_path: Path, ports: dict[str, int]
) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", ports["render"]))
    holder.listen()
    output = tmp_path / "run.out"
    try:
        process = start_runner(runner_env(servers, tmp_path / "data", ports), output)
        code = process.wait(90)
    finally:
        holder.close()
    text = output.read_text()
    assert code != 0
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert f"port {ports['render']} (render)" in lines[0] and "KHABAR_RENDER_PORT" in lines[0]
    assert not (tmp_path / "data" / "logs").exists()  # nothing was started


@pytest.mark.timeout(400)
def test_the_fragment_cache_is_its_own_bounded_evicting_redis(
    runner: tuple[subprocess.Popen[bytes], Path], ports: dict[str, int]
) -> None:
    cache = redis.Redis(port=ports["cache"])
    config = cache.config_get("maxmemory*")
    assert config["maxmemory-policy"] == "allkeys-lru" and int(config["maxmemory"]) > 0
    render = service_pid(runner[0].pid, "render")
    environ = Path(f"/proc/{render}/environ").read_bytes().split(b"\0")
    assert f"KHABAR_CACHE_REDIS_URL=redis://127.0.0.1:{ports['cache']}/0".encode() in environ


@pytest.mark.timeout(400)
def test_the_edge_keeps_its_shared_memory_log_on_tmpfs(
    runner: tuple[subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    """varnishd writes a record per request into memory-mapped files: kept off the data dir's disk.

    The data dir keeps the name varnishstat and varnishlog are given (`-n`).
    """
    name = (tmp_path / "data" / "edge" / "varnishd").resolve(strict=False)
    link = tmp_path.resolve() / "data" / "edge" / "varnishd"
    assert link.is_symlink(), "the edge's working directory is on the data dir's disk"
    assert name.parent == Path("/dev/shm")
    edge = next(cmd for cmd in children(runner[0].pid).values() if "varnishd" in cmd)
    assert f"-n {link} " in edge
    stat = subprocess.run(
        ["varnishstat", "-n", str(link), "-1", "-f", "MAIN.uptime"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "MAIN.uptime" in stat.stdout


@pytest.mark.timeout(400)
def test_two_search_nodes_each_with_its_meilisearch_and_indexer(
    servers: Servers, tmp_path: Path, ports: dict[str, int]
) -> None:
    from typer.testing import CliRunner

    from khabar_cli.main import app

    env = {**runner_env(servers, tmp_path / "data", ports), "KHABAR_SEARCH_NODES": "2"}
    redis.Redis.from_url(env["KHABAR_REDIS_URL"]).flushdb()
    output = tmp_path / "run.out"
    process = start_runner(env, output)
    try:
        wait_until_running(process, output)
        first_meili = int(servers.meili_url.rsplit(":", 1)[1])
        nodes = redis.Redis.from_url(env["KHABAR_REDIS_URL"]).hgetall("khabar:search:nodes")
        assert set(nodes) == {b"1", b"2"}
        second = int(nodes[b"2"].decode().rsplit(":", 1)[1])
        assert second > first_meili and http_ok(f"{nodes[b'2'].decode()}/health")
        assert service_pid(process.pid, "search") is not None
        started = children(process.pid).values()
        assert sum("meilisearch" in cmd for cmd in started) == 1  # node 1's was already there
        assert sum("khabar-search" in cmd for cmd in started) == 2
        status = CliRunner().invoke(
            app, ["status"], env={"KHABAR_REDIS_URL": env["KHABAR_REDIS_URL"], "COLUMNS": "250"}
        )
        assert status.exit_code == 0, status.output
        rows = [line for line in status.output.splitlines() if "http://127.0.0.1:" in line]
        assert len(rows) == 2 and any("search-2" in row for row in rows), status.output
        readers_reach_either_search_process_through_the_edge(process.pid, ports["edge"])
        # Node 2's Meilisearch is the runner's own: killed, it is reaped and back on its data.
        keys = meili_key_uids(nodes[b"2"].decode(), servers.meili_master_key)
        killed = server_pid(process.pid, "meilisearch", second)
        assert killed is not None, children(process.pid)
        os.kill(killed, signal.SIGKILL)
        eventually(lambda: not Path(f"/proc/{killed}").exists(), timeout_s=30)
        eventually(lambda: http_ok(f"{nodes[b'2'].decode()}/health"), timeout_s=120)
        assert meili_key_uids(nodes[b"2"].decode(), servers.meili_master_key) == keys
        assert "service=meilisearch-2" in output.read_text()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


def node_of(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [v for v in environ if v.startswith(b"KHABAR_SEARCH_NODE=")]
    return found[0].split(b"=", 1)[1].decode() if found else "1"


def readers_reach_either_search_process_through_the_edge(runner: int, edge_port: int) -> None:
    """Either node's search process stopped (not answering, not dead): the edge's probe takes
    it out and every reader's search is answered by the other."""
    edge = f"http://127.0.0.1:{edge_port}"
    searches = {node_of(p): p for p, cmd in children(runner).items() if "khabar-search" in cmd}
    assert set(searches) == {"1", "2"}

    def answered() -> bool:
        try:
            found = httpx.get(f"{edge}/v1/search", params={"q": "مصر"}, timeout=3)
        except httpx.TimeoutException:
            return False
        return found.status_code == 200

    for stopped in searches.values():
        os.kill(stopped, signal.SIGSTOP)
        try:
            # Until its probe takes it out, every other search in turn waits on it.
            eventually(lambda: all(answered() for _ in range(4)), timeout_s=60, interval_s=0.2)
            assert all(answered() for _ in range(10))
        finally:
            os.kill(stopped, signal.SIGCONT)
        eventually(lambda: all(answered() for _ in range(4)), timeout_s=30)


def server_pid(runner: int, program: str, port: int) -> int | None:
    """The runner's child running `program` on `port` (its own, not another engineer's)."""
    return next(
        (
            pid
            for pid, cmd in children(runner).items()
            # Redis retitles itself "redis-server 127.0.0.1:PORT"; Meilisearch keeps its argv.
            if program in cmd and re.search(rf":{port}\b", cmd)
        ),
        None,
    )


def meili_key_uids(url: str, master_key: str) -> set[str]:
    found = httpx.get(f"{url}/keys", headers={"Authorization": f"Bearer {master_key}"}, timeout=10)
    found.raise_for_status()
    return {key["uid"] for key in found.json()["results"]}


@pytest.mark.timeout(400)
def test_a_killed_redis_or_meilisearch_it_started_comes_back_with_its_data(
    servers: Servers, tmp_path: Path, ports: dict[str, int]
) -> None:
    """The runner's own log Redis and Meilisearch, killed with SIGKILL, are reaped and started
    again on the same data: the append-only file's writes and the index's keys are there."""
    redis_port, meili_port = free_port(), free_port()
    env = {
        **runner_env(servers, tmp_path / "data", ports, ports["cache"]),
        "KHABAR_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "KHABAR_MEILI_URL": f"http://127.0.0.1:{meili_port}",
    }
    meili_url = env["KHABAR_MEILI_URL"]
    output = tmp_path / "run.out"
    process = start_runner(env, output)
    try:
        wait_until_running(process, output)
        log = redis.Redis(port=redis_port, socket_timeout=5)
        log.set("probe", "kept")
        keys = meili_key_uids(meili_url, servers.meili_master_key)
        assert keys

        for program, port in (("redis-server", redis_port), ("meilisearch", meili_port)):
            killed = server_pid(process.pid, program, port)
            assert killed is not None, children(process.pid)
            os.kill(killed, signal.SIGKILL)
            # Reaped (no zombie left) and started again, by the runner.
            eventually(lambda k=killed: not Path(f"/proc/{k}").exists(), timeout_s=30)
            eventually(
                lambda p=program, q=port, k=killed: server_pid(process.pid, p, q) not in (None, k),
                timeout_s=60,
            )

        eventually(lambda: redis_answers(f"redis://127.0.0.1:{redis_port}/0"), timeout_s=60)
        assert log.get("probe") == b"kept"
        eventually(lambda: http_ok(f"{meili_url}/health"), timeout_s=120, interval_s=0.5)
        assert meili_key_uids(meili_url, servers.meili_master_key) == keys
        text = output.read_text()
        for name in ("redis", "meilisearch"):
            assert f"service={name}" in text and "service_restarted" in text, text
        assert process.poll() is None
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
