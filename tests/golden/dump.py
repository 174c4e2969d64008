"""What a golden check compares: Redis's keys and stream entries, with the run's accidents named.

A golden check runs a fixed sequence of inputs through a service's real code
against a real Redis and holds everything it wrote (every key, every stream
entry, every answer) byte for byte against a file made from the code before a
refactoring. What differs from run to run only by chance (random ids, stream
entry ids, the clock) is replaced by a name given in order of first appearance,
so two runs of the same code give the same file and a change of behaviour shows
as a diff of it.

Set `KHABAR_GOLDEN_WRITE=1` to write the file afresh (only for a change of
behaviour that is meant).
"""

import gzip
import json
import os
import re
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

from redis import Redis

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"

UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ENTRY_ID = re.compile(rb"(?<![\d.])1\d{12}-\d+(?![\d.])")
TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
EPOCH = re.compile(rb"(?<![\d.-])1\d{9}(?:\.\d+|\d{3})?(?![\d-])")


class Namer:
    """Replaces run-to-run accidents by names given in order of first appearance."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self._start, self._end = start.timestamp() - 1, end.timestamp() + 1
        self._names: dict[bytes, bytes] = {}

    def _name(self, kind: str, value: bytes) -> bytes:
        if value not in self._names:
            self._names[value] = f"<{kind}-{len(self._names)}>".encode()
        return self._names[value]

    def _now(self, seconds: float) -> bool:
        return self._start <= seconds <= self._end

    def _timestamp(self, match: re.Match[bytes]) -> bytes:
        try:
            parsed = datetime.fromisoformat(match.group().decode())
        except ValueError:
            return match.group()
        if parsed.tzinfo is None or not self._now(parsed.timestamp()):
            return match.group()
        return b"<now>"

    def _epoch(self, match: re.Match[bytes]) -> bytes:
        value = float(match.group())
        seconds = value / 1000 if value > 1e11 else value
        return b"<now>" if self._now(seconds) else match.group()

    def __call__(self, raw: bytes | str | float | None) -> str | None:
        if raw is None:
            return None
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        if data[:1] == b"x":  # perhaps zlib: what it holds is what matters
            try:
                data = b"zlib:" + zlib.decompress(data)
            except zlib.error:
                pass
        data = UUID.sub(lambda m: self._name("id", m.group()), data)
        data = ENTRY_ID.sub(lambda m: self._name("entry", m.group()), data)
        data = TIMESTAMP.sub(self._timestamp, data)
        data = EPOCH.sub(self._epoch, data)
        return data.decode("utf-8", errors="backslashreplace")


def stream_entries(redis: Redis, stream: str, name: Namer) -> list[dict[str | None, str | None]]:
    """A stream's entries' fields in order (their ids are the clock's)."""
    return [{name(k): name(v) for k, v in fields.items()} for _, fields in redis.xrange(stream)]


def keys(redis: Redis, name: Namer) -> dict[str, Any]:
    """Every key's type, value and whether it expires, by name (streams by their entries)."""
    dump: dict[str, Any] = {}
    for key in sorted(redis.scan_iter(count=1000)):
        kind = redis.type(key).decode()
        value: Any
        if kind == "string":
            value = name(redis.get(key))
        elif kind == "hash":
            value = {name(k): name(v) for k, v in sorted(redis.hgetall(key).items())}
        elif kind == "zset":
            value = [[name(m), s] for m, s in redis.zrange(key, 0, -1, withscores=True)]
        elif kind == "set":
            value = sorted(str(name(m)) for m in redis.smembers(key))
        elif kind == "list":
            value = [name(v) for v in redis.lrange(key, 0, -1)]
        elif kind == "stream":
            value = stream_entries(redis, key.decode(), name)
        else:
            value = kind
        dump[str(name(key))] = {"type": kind, "expires": redis.ttl(key) > 0, "value": value}
    return dict(sorted(dump.items()))


def check(name: str, dump: Any) -> None:
    """Hold `dump` equal to the golden file `name` (written afresh with KHABAR_GOLDEN_WRITE=1)."""
    path = GOLDEN / f"{name}.json.gz"
    text = json.dumps(dump, ensure_ascii=False, indent=1, sort_keys=False) + "\n"
    if os.environ.get("KHABAR_GOLDEN_WRITE") == "1":
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    expected = gzip.decompress(path.read_bytes()).decode()
    if text != expected:
        was, got = GOLDEN / f"{name}.was.json", GOLDEN / f"{name}.got.json"
        was.write_text(expected, encoding="utf-8")
        got.write_text(text, encoding="utf-8")
        raise AssertionError(f"{name}: behaviour changed; diff {was} {got}")
