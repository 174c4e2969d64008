"""Every third-party module a package imports is declared by it (or by a workspace package it
depends on): an image built from its locked dependencies alone can import all of its code."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(
    path.parent
    for path in [
        *ROOT.glob("services/*/pyproject.toml"),
        ROOT / "shared/pyproject.toml",
        *ROOT.glob("tools/*/pyproject.toml"),
    ]
)


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> list[tuple[str, list[str]]]:
    """(name, extras) of each requirement string."""
    found = []
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?", requirement)
        assert match, requirement
        extras = [e.strip() for e in (match.group(2) or "").split(",") if e.strip()]
        found.append((normal(match.group(1)), extras))
    return found


def project(name: str) -> dict:
    for path in PACKAGES:
        data = tomllib.loads((path / "pyproject.toml").read_text())["project"]
        if normal(data["name"]) == name:
            return data
    raise KeyError(name)


def declared(name: str, extras: list[str] | tuple[str, ...] = ()) -> set[str]:
    """The distributions `name` declares, through the workspace packages it depends on."""
    data = project(name)
    requirements = list(data.get("dependencies", []))
    for extra in extras:
        requirements += data.get("optional-dependencies", {}).get(extra, [])
    found: set[str] = set()
    for dependency, its_extras in requirement_names(requirements):
        found.add(dependency)
        if dependency.startswith("khabar-"):
            found |= declared(dependency, its_extras)
    return found


def imported_modules(package_dir: Path) -> set[str]:
    modules: set[str] = set()
    for source in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and not m.startswith("khabar")}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda path: path.name)
def test_every_imported_module_is_declared(package: Path) -> None:
    name = normal(tomllib.loads((package / "pyproject.toml").read_text())["project"]["name"])
    provided = packages_distributions()
    # A package's own extras count: it imports them lazily, where they are needed.
    allowed = declared(name, list(project(name).get("optional-dependencies", {})))
    missing = {
        module: provided.get(module, ["?"])
        for module in imported_modules(package)
        if not {normal(d) for d in provided.get(module, [])} & allowed
    }
    assert not missing, f"{name} imports modules it does not declare: {missing}"
