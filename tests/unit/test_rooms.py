"""Each kind of code in its own room: what the runtime packages must not hold."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = [ROOT / "shared/khabar_shared", *(ROOT / "services").glob("*/khabar_*")]


def modules(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*.py"))


def test_runtime_packages_hold_no_data_building_scripts() -> None:
    """A `__main__` block is a service's entry point (main.py) or the deployment's one-shot setup;
    scripts that rebuild data files live in tools/dev, measurements in bench/."""
    allowed = {"main.py", "meili_setup.py"}
    scripts = [
        str(p.relative_to(ROOT))
        for p in modules(*RUNTIME)
        if p.name not in allowed and '__name__ == "__main__"' in p.read_text()
    ]
    assert scripts == []


def test_environment_is_read_only_in_settings_modules() -> None:
    """Configuration comes through each package's settings.py (a child process's environment
    is passed on, not read)."""
    folders = [*RUNTIME, ROOT / "tools/cli/khabar_cli", ROOT / "tools/dev/khabar_dev"]
    readers = [
        str(p.relative_to(ROOT))
        for p in modules(*folders)
        if p.name != "settings.py"
        and ("os.environ.get" in p.read_text() or "os.getenv" in p.read_text())
    ]
    assert readers == []


# What only the shared transport modules may say: the Redis protocol and the connections it goes
# on. `pipeline` packs and sends batches of commands; `lane` (render's cached reads) shares one
# connection among many callers, packing with `pipeline.pack`; `redis_connection` is the
# services' connection class (its write path).
WIRE_WORDS = ("hiredis", "pack_command", "send_packed_command", "read_response", "connection_pool")
PIPELINE = ROOT / "shared/khabar_shared/pipeline.py"
WIRE_MODULES = {
    PIPELINE,
    ROOT / "shared/khabar_shared/lane.py",
    ROOT / "shared/khabar_shared/redis_connection.py",
}


def test_the_redis_protocol_is_spoken_only_by_the_shared_transport_modules() -> None:
    """One transport: the services send commands through `khabar_shared.pipeline` (or read
    through `khabar_shared.lane`), never pack them or drive a connection themselves."""
    folders = [*RUNTIME, ROOT / "tools/cli/khabar_cli", ROOT / "tools/dev/khabar_dev"]
    speaking = [
        f"{p.relative_to(ROOT)}: {word}"
        for p in modules(*folders)
        if p not in WIRE_MODULES
        for word in WIRE_WORDS
        if word in p.read_text()
    ]
    assert speaking == []


def test_one_redis_or_a_cluster_is_asked_only_in_the_shared_modules() -> None:
    """Which client `connect` gave (or which pipeline) is the pipeline module's question alone;
    domain code never branches on it."""
    asking = [
        str(p.relative_to(ROOT))
        for p in modules(*RUNTIME)
        if p != PIPELINE and re.search(r"isinstance\([^)]*Cluster", p.read_text())
    ]
    assert asking == []


def test_event_json_is_written_only_by_the_shared_codec() -> None:
    """Lua fills in what Redis decides (type, version, corrections) where the codec marked it
    (`events.draft_article_event`); it never writes an event's own keys, nor its entry's."""
    keys = ("schema_version", '"article":', '"corrections":', '"enriched":', "'correlation_id'")
    writing = [
        f"{p.relative_to(ROOT)}: {key}"
        for folder in RUNTIME
        for p in sorted(folder.rglob("*.lua"))
        for key in keys
        if key in p.read_text()
    ]
    assert writing == []


def test_scripts_are_lua_files_found_through_the_one_registry() -> None:
    """Every script is `<package>/lua/<name>.lua`, loaded by `khabar_shared.lua.ScriptRegistry`
    (which knows one Redis and a cluster alike); no package reads or registers one itself."""
    astray = [
        str(p.relative_to(ROOT))
        for folder in RUNTIME
        for p in sorted(folder.rglob("*.lua"))
        if p.parent.name != "lua"
    ]
    registering = [
        str(p.relative_to(ROOT))
        for p in modules(*RUNTIME)
        if p.name != "lua.py" and "register_script(" in p.read_text()
    ]
    assert astray == registering == []


# A Lua table with a record's fields, made to be encoded: `{version = ..., event_id = ...}`.
RECORD_TABLE = re.compile(r"[{,]\s*(event_id|accepted_at|correlation_id|status|fields)\s*=")


def test_records_are_drafted_by_ingest_not_by_lua() -> None:
    """The answer, history and embargo records are laid out by their models in Python
    (`store.record_drafts`); a script writes in what Redis decides and stores them."""
    building = [
        f"{p.relative_to(ROOT)}: {found}"
        for folder in RUNTIME
        for p in sorted(folder.rglob("*.lua"))
        for found in [
            *RECORD_TABLE.findall(p.read_text()),
            *re.findall(r"cjson\.encode\(\{", p.read_text()),
            # A record decoded, changed and encoded again (the one value encoded is accept's
            # event, a string, escaped to go inside the embargo record).
            *re.findall(r"cjson\.encode\((?!data\))[^)]*\)", p.read_text()),
        ]
    ]
    assert building == []


# Where a plain redis-py pipeline is the right tool, and why.
REDIS_PY_PIPELINES = {
    # WATCH: an optimistic transaction reads in immediate mode on its pinned connection.
    "services/render/khabar_render/store.py": 1,
    # HGETALL: redis-py's callback makes its reply a dict on one Redis and a cluster alike.
    "services/render/khabar_render/breaking.py": 1,
    # A registered script queued per entry (`pipeline.queue`): EVALSHA, where `send` would
    # carry the script's source once for each of a trim's entries.
    "services/ingest/khabar_ingest/store.py": 1,
}


def test_the_services_and_shared_send_their_pipelines_through_the_shared_module() -> None:
    """Their commands go through `khabar_shared.pipeline` (packed by hiredis, one write), but
    where a redis-py pipeline is the right tool (above). The shared consumer's acks and dead
    letters are every consumer's hot path."""
    folders = [*(ROOT / "services").glob("*/khabar_*"), ROOT / "shared/khabar_shared"]
    found = {
        str(p.relative_to(ROOT)): p.read_text().count(".pipeline(")
        for p in modules(*folders)
        if p != PIPELINE and ".pipeline(" in p.read_text()
    }
    assert found == REDIS_PY_PIPELINES


ENRICH = ROOT / "services/enrich/khabar_enrich"
# What writes to Redis or speaks to it: a batch's queued writes, a script, a client.
REDIS_WORDS = ("Writes", "SCRIPTS", "RedisClient", "pipe.add", "khabar_shared.pipeline")


def test_enrichs_memory_and_fanout_hold_no_redis_code() -> None:
    """The process's memory (caches.py) and the choice of whom to refresh (fanout.py) send
    nothing to Redis: the index and the copies (index.py, copies.py) do."""
    speaking = [
        f"{name}: {word}"
        for name in ("caches.py", "fanout.py")
        for word in REDIS_WORDS
        if word in (ENRICH / name).read_text()
    ]
    assert speaking == []


# What a caller may ask of the index besides a batch: reads, in any order.
INDEX_READS = {"candidates_read", "matches", "members_read", "members", "docs_from"}


def test_the_handler_uses_the_index_through_its_batch_not_in_pieces() -> None:
    """A batch's use of the index (its first read, each article's steps, its end or abandonment)
    goes through `RelatedIndex.batch`, whose steps come only in their order: the index offers
    no lifecycle methods a caller could call in the wrong order, and the handler asks it for
    nothing but a batch."""
    tree = ast.parse((ENRICH / "index.py").read_text())
    [index] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "RelatedIndex"]
    offered = {
        f.name
        for f in index.body
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and not f.name.startswith("_")
    }
    asked = set(re.findall(r"self\._index\.(\w+)", (ENRICH / "handler.py").read_text()))
    assert (sorted(offered - INDEX_READS), sorted(asked)) == (["batch"], ["batch"])


def test_settings_classes_live_in_settings_modules() -> None:
    """One settings module per package: what a package reads from the environment is found
    in one place."""
    defining = [
        str(p.relative_to(ROOT))
        for p in modules(*RUNTIME, ROOT / "tools/cli/khabar_cli", ROOT / "tools/dev/khabar_dev")
        if p.name != "settings.py" and re.search(r"class \w+\(BaseSettings\)", p.read_text())
    ]
    assert defining == []
