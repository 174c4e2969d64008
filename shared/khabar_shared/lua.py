"""Lua scripts: `.lua` files in a package's `lua/` folder, found through one registry.

Each script is a file of its own, `<package>/lua/<name>.lua`, shipped with its
package (package data). Its leading comment says what it takes (KEYS, ARGV)
and returns; that comment stays in the file and is not sent to Redis.

A script runs the same on one Redis and on a Redis Cluster when every key it
touches is passed in KEYS and carries one hash tag (see `names.py`). It is
sent one of three ways, each right for both:

- `register(redis)`: redis-py's script object, called on a client: EVALSHA,
  the source loaded when Redis lacks it;
- `khabar_shared.pipeline.queue(pipe, ...)`: that object queued on a
  pipeline (a cluster pipeline refuses EVALSHA: it gets EVAL of the same
  source);
- `command(keys, args)`: EVAL's parts, for code that packs its own commands
  (Redis caches the compiled script by its source all the same).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from redis.commands.core import AsyncScript

from khabar_shared.redis_helpers import RedisClient


@dataclass(frozen=True, slots=True)
class LuaScript:
    """One script: its name (`package:name`) and the source sent to Redis."""

    name: str
    source: str

    def register(self, redis: RedisClient) -> AsyncScript:
        """The script on a client, one Redis or a cluster (EVALSHA, loading it when missing)."""
        return redis.register_script(self.source)

    def command(self, keys: Sequence[Any], args: Sequence[Any]) -> tuple[Any, ...]:
        """EVAL with its keys and arguments, as one command's parts."""
        return ("EVAL", self.source, len(keys), *keys, *args)


def body(text: str) -> str:
    """A script file's text without its leading comment (and blank lines)."""
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines) and (lines[start].startswith("--") or not lines[start].strip()):
        start += 1
    return "".join(lines[start:])


class ScriptRegistry:
    """A package's scripts, each read once, when first asked for (a missing file fails then)."""

    def __init__(self, package: str) -> None:
        self._package = package
        self._scripts: dict[str, LuaScript] = {}

    def __getitem__(self, name: str) -> LuaScript:
        script = self._scripts.get(name)
        if script is None:
            path = files(self._package).joinpath("lua", f"{name}.lua")
            script = LuaScript(f"{self._package}:{name}", body(path.read_text(encoding="utf-8")))
            self._scripts[name] = script
        return script

    def names(self) -> list[str]:
        """Every script the package ships (none without a `lua/` folder)."""
        folder = files(self._package).joinpath("lua")
        if not folder.is_dir():
            return []
        return sorted(
            p.name.removesuffix(".lua") for p in folder.iterdir() if p.name.endswith(".lua")
        )
