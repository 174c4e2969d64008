"""Lua lives in `.lua` files, found through the one registry in shared/."""

import re
from pathlib import Path

import pytest

from khabar_shared.lua import ScriptRegistry, body

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    f"khabar_{service}": ROOT / f"services/{service}/khabar_{service}"
    for service in ("ingest", "enrich", "search", "render")
} | {"khabar_shared": ROOT / "shared/khabar_shared"}


def test_no_python_module_holds_lua() -> None:
    """A Redis call in a Python string is Lua out of its room."""
    holding = [
        str(p.relative_to(ROOT))
        for folder in ("services", "shared", "tools")
        for p in (ROOT / folder).rglob("*.py")
        if "redis.call(" in p.read_text()
    ]
    assert holding == []


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_script_file_loads_without_its_leading_comment(package: str) -> None:
    registry = ScriptRegistry(package)
    files = sorted(p.stem for p in (PACKAGES[package] / "lua").glob("*.lua"))
    assert registry.names() == files and files
    for name in files:
        script = registry[name]
        assert script.name == f"{package}:{name}" and "redis.call" in script.source
        assert not re.match(r"\s*--", script.source), "the file's leading comment stays home"
        assert registry[name] is script  # read once


def test_body_keeps_comments_after_the_first_line_of_code() -> None:
    text = "-- KEYS: 1 a key\n\nlocal x = 1\n-- why\nreturn x\n"
    assert body(text) == "local x = 1\n-- why\nreturn x\n"


def test_a_missing_script_is_named() -> None:
    with pytest.raises(FileNotFoundError, match="nothing.lua"):
        ScriptRegistry("khabar_enrich")["nothing"]


def test_a_command_is_eval_with_its_keys_counted() -> None:
    script = ScriptRegistry("khabar_shared")["mget"]
    assert script.command(["a", "b"], [1]) == ("EVAL", script.source, 2, "a", "b", 1)
