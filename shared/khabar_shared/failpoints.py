"""Failpoints: named places between two writes of a handler where a test can stop it.

A handler declares its points once, at import (`point("render.stored")`), and
passes them as it goes (`await hit(RENDER_STORED)`). Nothing is armed in
production: `hit` is one lookup in an empty dict. Tests arm a point in process
(`arm`), or a service is started with `KHABAR_FAILPOINTS=render.stored:1,...`
(`CommonSettings.failpoints`, read by `configure`), and the next pass through
an armed point raises `FailpointHit`, as a crash or a failed write would stop
the handler there. `declared()` lists every point, so a test walks them all and
a new write needs no new test, only a new point.
"""

from dataclasses import dataclass

_DECLARED: dict[str, str] = {}
# Point name -> passes left that fail (a negative count fails every time).
_ARMED: dict[str, int] = {}
# Point name -> passes still let through before the armed ones fail (to stop mid-batch).
_SKIPPED: dict[str, int] = {}


class FailpointHit(RuntimeError):
    """The handler stopped at an armed failpoint."""


@dataclass(frozen=True)
class Failpoint:
    name: str


def point(name: str, doc: str = "") -> Failpoint:
    """Declare a failpoint (at import): `name` is `<service>.<what was just written>`."""
    _DECLARED[name] = doc
    return Failpoint(name)


def declared(prefix: str = "") -> list[str]:
    """Every declared point whose name starts with `prefix`, in declaration order."""
    return [name for name in _DECLARED if name.startswith(prefix)]


def arm(name: str, times: int = 1, after: int = 0) -> None:
    """Make `times` passes through `name` fail (`times < 0`: every pass), once `after` passes
    went through (e.g. to stop a batch after its second article)."""
    if name not in _DECLARED:
        raise KeyError(f"no failpoint {name!r}; declared: {', '.join(_DECLARED)}")
    _ARMED[name] = times
    _SKIPPED[name] = after


def disarm_all() -> None:
    _ARMED.clear()
    _SKIPPED.clear()


def configure(spec: str) -> None:
    """Arm points from a setting: `name[:times],...`; an empty spec arms nothing.

    Every service reads the one setting (compose and `make run` pass it to all), so a
    point of a service this process is not (`search.settled` read by render) is passed
    over; an unknown point of its own service is still refused, as a typo.
    """
    services = {declared_name.partition(".")[0] for declared_name in _DECLARED}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, times = item.partition(":")
        if name.partition(".")[0] in services:
            arm(name, int(times or 1))


def check(failpoint: Failpoint) -> None:
    """Raise `FailpointHit` if `failpoint` is armed (and count the pass)."""
    if not _ARMED:
        return
    left = _ARMED.get(failpoint.name)
    if left is None or left == 0:
        return
    if _SKIPPED.get(failpoint.name, 0) > 0:
        _SKIPPED[failpoint.name] -= 1
        return
    _ARMED[failpoint.name] = left - 1 if left > 0 else left
    raise FailpointHit(f"failpoint {failpoint.name}")
