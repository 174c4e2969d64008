"""Search nodes: each Meilisearch node fed from the log by its own indexer, readers spread over
them.

Real processes: ingest, enrich, and one search process per node, each with its
own real Meilisearch (node 1 on the session's, the others started here).
"""

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from khabar_dev.processes import (
    ManagedProcess,
    ProcessGroup,
    free_port,
    http_ok,
    ops_url,
    start_meili,
    start_service,
    start_services,
)
from khabar_shared.meili_setup import provision_keys
from khabar_shared.names import ENRICHED_STREAM, SEARCH_GROUP
from tests.conftest import DATABASES, Servers, service_env
from tests.support import eventually, real_articles, to_ninjs

ARTICLES = 24
WITHDRAWN = 6
pytestmark = pytest.mark.slow


@dataclass
class Node:
    name: str
    meili_url: str
    search: ManagedProcess
    search_url: str
    meili_log: Path | None = None
    meili: ManagedProcess | None = None  # None: the session's Meilisearch (never killed here)

    @property
    def ops(self) -> str:
        return ops_url(self.search, int(self.search_url.rsplit(":", 1)[1]))


@dataclass
class Nodes:
    servers: Servers
    env: dict[str, str]
    ingest_url: str
    ingest_key: str
    group: ProcessGroup
    base: Path
    nodes: dict[str, Node] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)
    withdrawn: set[str] = field(default_factory=set)

    def add_node(self, name: str) -> Node:
        """A new Meilisearch and a search process indexing it as node `name`."""
        data = self.base / f"meili-{name}"
        meili_url = start_meili(self.group, data, free_port(), self.servers.meili_master_key)
        meili = self.group.processes[-1]
        # Keys made from one master key and fixed uids are the same on every node.
        assert provision_keys(meili_url, self.servers.meili_master_key) == self.servers.meili_keys
        node = self.start_search(name, meili_url)
        node.meili, node.meili_log = meili, data / "meilisearch.log"
        return node

    def start_search(self, name: str, meili_url: str) -> Node:
        port = free_port()
        env = {**self.env, "KHABAR_SEARCH_NODE": name, "KHABAR_MEILI_URL": meili_url}
        process = start_service(self.group, "search", env, port, name=f"search-{name}")
        node = Node(name, meili_url, process, f"http://127.0.0.1:{port}")
        self.nodes[name] = node
        return node

    def ids_in(self, node: Node) -> set[str]:
        answer = httpx.get(
            f"{node.meili_url}/indexes/{self.env['KHABAR_MEILI_INDEX']}/documents",
            params={"limit": 1000, "fields": "id"},
            headers={"Authorization": f"Bearer {self.servers.meili_master_key}"},
            timeout=10,
        )
        if answer.status_code == 404:
            return set()
        answer.raise_for_status()
        return {document["id"] for document in answer.json()["results"]}


@pytest.fixture(scope="module")
def nodes(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    base = tmp_path_factory.mktemp("search-nodes")
    ingest_key = secrets.token_urlsafe(24)
    env = service_env(servers, next(DATABASES), ingest_key, f"articles_{secrets.token_hex(4)}")
    # Taken out at once when behind: these tests publish little.
    env.update({"KHABAR_SEARCH_MAX_LAG": "0", "KHABAR_SEARCH_NODE_CHECK_S": "0.3"})
    env["KHABAR_RATE_LIMIT_PER_MINUTE"] = "0"  # the readers here are one address
    redis.Redis.from_url(env["KHABAR_REDIS_URL"]).flushdb()
    group = ProcessGroup()
    try:
        ports = {"ingest": free_port(), "enrich": free_port()}
        start_services(group, env, ports, base)
        found = Nodes(servers, env, f"http://127.0.0.1:{ports['ingest']}", ingest_key, group, base)
        found.start_search("1", servers.meili_url)
        found.add_node("2")
        yield found
    finally:
        group.stop_all()


async def publish_and_withdraw(system: Nodes) -> None:
    headers = {"Authorization": f"Bearer {system.ingest_key}"}
    async with httpx.AsyncClient(base_url=system.ingest_url, headers=headers, timeout=30) as client:
        for record in real_articles(ARTICLES):
            answer = await client.post("/v1/articles", json=to_ninjs(record))
            assert answer.status_code == 202, answer.text
            system.live.add(answer.json()["article_id"])
        for article_id in sorted(system.live)[:WITHDRAWN]:
            answer = await client.delete(f"/v1/articles/{article_id}")
            assert answer.status_code in (200, 202), answer.text
            system.withdrawn.add(article_id)
    system.live -= system.withdrawn


def test_every_node_holds_the_whole_index_and_withdrawals_leave_every_node(nodes: Nodes) -> None:
    asyncio.run(publish_and_withdraw(nodes))
    for node in nodes.nodes.values():
        eventually(lambda node=node: nodes.ids_in(node) == nodes.live, timeout_s=90)
        assert not nodes.ids_in(node) & nodes.withdrawn
    client = redis.Redis.from_url(nodes.env["KHABAR_REDIS_URL"])
    groups = {g["name"].decode() for g in client.xinfo_groups(ENRICHED_STREAM)}
    assert {SEARCH_GROUP, "search-2"} <= groups


async def read_under_load(url: str, seconds: float, kill_after_s: float, kill: object) -> list:
    """Readers asking at once for `seconds`; `kill` is called after `kill_after_s`."""
    statuses: list[int] = []
    stop = asyncio.Event()

    async def reader(client: httpx.AsyncClient, n: int) -> None:
        while not stop.is_set():
            answer = await client.get(
                "/v1/search", params={"q": ["مصر", "الحكومة", "العالم"][n % 3]}
            )
            statuses.append(answer.status_code)

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        tasks = [asyncio.create_task(reader(client, n)) for n in range(6)]
        await asyncio.sleep(kill_after_s)
        await asyncio.to_thread(kill)  # type: ignore[arg-type]
        await asyncio.sleep(seconds - kill_after_s)
        stop.set()
        await asyncio.gather(*tasks)
    return statuses


def test_a_node_killed_under_reader_load_costs_no_reader_an_error(nodes: Nodes) -> None:
    eventually(lambda: nodes.ids_in(nodes.nodes["2"]) == nodes.live, timeout_s=90)
    # The readers ask node 2's own search process, and node 2's Meilisearch dies.
    victim = nodes.nodes["2"]
    assert victim.meili is not None
    statuses = asyncio.run(read_under_load(victim.search_url, 6.0, 2.0, victim.meili.kill))
    assert len(statuses) > 20
    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    seen = httpx.get(f"{victim.ops}/search-nodes", timeout=5).json()
    assert {n["node"]: n["ready"] for n in seen} == {"1": True, "2": False}


def test_a_process_whose_own_node_is_down_stays_ready_while_another_node_serves(
    nodes: Nodes,
) -> None:
    # Node 2's Meilisearch was killed above; node 1 serves node 2's readers.
    victim = nodes.nodes["2"]
    assert victim.meili is not None and victim.meili.process.poll() is not None
    answer = httpx.get(f"{victim.ops}/readyz", timeout=5)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ready"] and body["checks"]["search_nodes"] == "ok"
    seen = {n["node"]: (n["healthy"], n["ready"]) for n in body["search_nodes"]}
    assert seen == {"1": (True, True), "2": (False, False)}
    assert body["node"] == "2"  # its own, down


def test_a_node_added_later_catches_up_from_the_log_and_joins(nodes: Nodes) -> None:
    late = nodes.add_node("3")
    first = nodes.nodes["1"]

    def joined() -> bool:
        states = {n["node"]: n for n in httpx.get(f"{first.ops}/search-nodes", timeout=5).json()}
        return "3" in states and states["3"]["ready"]

    eventually(joined, timeout_s=90)
    # Ready means caught up: the whole index, withdrawals included, replayed from the log.
    assert nodes.ids_in(late) == nodes.live
    assert late.meili_log is not None
    before = late.meili_log.read_text().count("/multi-search")
    for _ in range(6):
        answer = httpx.get(f"{first.search_url}/v1/search", params={"q": "مصر"}, timeout=10)
        assert answer.status_code == 200
    # Node 1's readers now take node 3 in turn.
    assert late.meili_log.read_text().count("/multi-search") > before


def khabar(env: dict[str, str], *args: str, exit_code: int = 0) -> str:
    from typer.testing import CliRunner

    from khabar_cli.main import app

    cli_env = {name: value for name, value in env.items() if name.startswith("KHABAR_")}
    result = CliRunner().invoke(app, list(args), env={**cli_env, "COLUMNS": "250"})
    assert result.exit_code == exit_code, result.output + repr(result.exception)
    return result.output


def test_status_and_an_articles_trace_show_every_nodes_freshness(nodes: Nodes) -> None:
    article_id = min(nodes.live)
    client = redis.Redis.from_url(nodes.env["KHABAR_REDIS_URL"])
    eventually(lambda: client.hexists("khabar:trace:search-3:" + article_id, "1"), timeout_s=60)
    # An earlier test of this module may have left a node's Meilisearch killed: status names it.
    down = {name for name, node in nodes.nodes.items() if not http_ok(f"{node.meili_url}/health")}
    status = khabar(nodes.env, "status", exit_code=1 if down else 0)
    assert "search nodes" in status
    for name, node in nodes.nodes.items():
        lines = status.splitlines()
        # A node's block: its name, group and Meilisearch, then its figures on the next line.
        at = next(n for n, line in enumerate(lines) if node.meili_url in line)
        row = " ".join(lines[at : at + 2])
        assert f"search-{name}" in row or name == "1", row
        assert "never" not in row, row  # every node applied a batch
        assert ("(down)" in row) == (name in down), row
    trace = httpx.get(
        f"{nodes.ingest_url}/v1/articles/{article_id}/trace",
        headers={"Authorization": f"Bearer {nodes.ingest_key}"},
        timeout=10,
    ).json()
    stages = {stage["stage"]: stage for stage in trace["versions"][0]["stages"]}
    assert {"search", "search-2", "search-3"} <= set(stages)
    assert stages["search-3"]["applied_at"] is not None
    freshness = {node["node"]: node for node in trace["search_nodes"]}
    assert set(freshness) == {"1", "2", "3"}
    assert freshness["3"]["lag"] == 0 and freshness["3"]["last_applied_at"]


def test_reindex_rebuilds_one_node_while_the_others_serve(nodes: Nodes) -> None:
    late = nodes.nodes["3"]
    damaged = sorted(nodes.live)[:3]
    answer = httpx.post(
        f"{late.meili_url}/indexes/{nodes.env['KHABAR_MEILI_INDEX']}/documents/delete-batch",
        json=damaged,
        headers={"Authorization": f"Bearer {nodes.servers.meili_master_key}"},
        timeout=10,
    )
    answer.raise_for_status()
    eventually(lambda: not nodes.ids_in(late) & set(damaged), timeout_s=30)
    before = nodes.ids_in(nodes.nodes["1"])
    output = khabar(nodes.env, "reindex", "--node", "3")
    assert "node 3" in output
    assert nodes.ids_in(late) == nodes.live
    assert nodes.ids_in(nodes.nodes["1"]) == before == nodes.live


def test_a_node_that_falls_behind_is_taken_out_and_comes_back_after_catching_up(
    nodes: Nodes,
) -> None:
    import os
    import signal

    first, late = nodes.nodes["1"], nodes.nodes["3"]

    def state_of_3() -> dict:
        seen = httpx.get(f"{first.ops}/search-nodes", timeout=5).json()
        return next(node for node in seen if node["node"] == "3")

    eventually(lambda: state_of_3()["ready"], timeout_s=60)
    os.kill(late.search.process.pid, signal.SIGSTOP)  # node 3's indexer stops taking events
    try:
        headers = {"Authorization": f"Bearer {nodes.ingest_key}"}
        newer = real_articles(ARTICLES + 2)[ARTICLES:]
        for record in newer:
            answer = httpx.post(
                f"{nodes.ingest_url}/v1/articles", json=to_ninjs(record), headers=headers
            )
            assert answer.status_code == 202, answer.text
            nodes.live.add(answer.json()["article_id"])
        eventually(lambda: not state_of_3()["ready"] and state_of_3()["behind"], timeout_s=60)
        answer = httpx.get(f"{first.search_url}/v1/search", params={"q": "مصر"}, timeout=10)
        assert answer.status_code == 200
    finally:
        os.kill(late.search.process.pid, signal.SIGCONT)
    eventually(lambda: state_of_3()["ready"], timeout_s=90)
    assert nodes.ids_in(late) == nodes.live  # back only once it caught up


def test_retiring_a_stopped_node_removes_its_registration_group_and_keys(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from khabar_cli.main import app
    from khabar_shared import search_nodes

    cli_env = {n: v for n, v in nodes.env.items() if n.startswith("KHABAR_")}

    def retire(*args: str) -> tuple[int, str]:
        done = CliRunner().invoke(app, ["search-nodes", "retire", *args], env=cli_env)
        return done.exit_code, done.output

    client = redis.Redis.from_url(nodes.env["KHABAR_REDIS_URL"])

    def traces(group: str) -> list[bytes]:
        return list(client.scan_iter(match=f"khabar:trace:{group}:*", count=1000))

    late = nodes.nodes["3"]
    eventually(lambda: traces("search-3") and client.exists("khabar:{search-3}:versions"))
    # Its indexer still runs: refused, --force or not.
    code, output = retire("3", "--force")
    assert code == 1 and "running" in output, output
    late.search.kill()
    late.search.process.wait(30)
    monkeypatch.setattr(search_nodes, "RUNNING_WITHIN_MS", 500)
    eventually(lambda: not asyncio.run(running_in_a_moment(nodes.env, "3")), timeout_s=10)
    # Node 1's own rule, whether or not its indexer read in the last moment (it reads every
    # couple of seconds: under a 500 ms bound it sometimes counts as running, sometimes not).
    monkeypatch.setattr(search_nodes, "RUNNING_WITHIN_MS", 0)
    code, output = retire("1")
    assert code == 1 and "--force" in output, output
    # A retirement interrupted after its first write (the registration) is finished by the next.
    client.hdel("khabar:search:nodes", "3")
    others = {
        "khabar:{search-2}:versions": client.exists("khabar:{search-2}:versions"),
        "node 1's versions": client.exists("khabar:{search}:versions"),
        "search-2 traces": len(traces("search-2")),
        "search traces": len(traces("search")),
    }
    code, output = retire("3")
    assert code == 0, output
    assert "group search-3 destroyed" in output, output
    assert b"3" not in client.hkeys("khabar:search:nodes")
    assert b"3" not in client.hkeys("khabar:search:nodes:applied")
    groups = {g["name"].decode() for g in client.xinfo_groups(ENRICHED_STREAM)}
    assert "search-3" not in groups and {SEARCH_GROUP, "search-2"} <= groups
    assert not client.exists("khabar:{search-3}:versions", "khabar:{search-3}:claimed-entries")
    assert traces("search-3") == []
    # Every other node's keys, and the aliases all nodes share, are left alone.
    assert others == {
        "khabar:{search-2}:versions": client.exists("khabar:{search-2}:versions"),
        "node 1's versions": client.exists("khabar:{search}:versions"),
        "search-2 traces": len(traces("search-2")),
        "search traces": len(traces("search")),
    }
    assert all(others.values()), others
    # Readers' pools forget it.
    first = nodes.nodes["1"]
    eventually(
        lambda: "3" not in {n["node"] for n in httpx.get(f"{first.ops}/search-nodes").json()}
    )
    code, output = retire("3")
    assert code == 1 and "no search node 3" in output, output
    del nodes.nodes["3"]


async def running_in_a_moment(env: dict[str, str], node: str) -> list[str]:
    from khabar_shared.redis_helpers import connect
    from khabar_shared.search_nodes import running_consumers

    redis_client = connect(env["KHABAR_REDIS_URL"])
    try:
        return await running_consumers(redis_client, node)
    finally:
        await redis_client.aclose()
