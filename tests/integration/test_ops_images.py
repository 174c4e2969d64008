"""Each Dockerfile's builder stage, replayed without Docker: copy what it copies,
run its `uv sync` lines (offline, from uv's cache), and look at the venv it made."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "enrich", "search", "render")
# A dependency only one service has: the others' images must not carry it.
OWN_DEPENDENCY = {"ingest": "feedparser", "search": "meilisearch", "render": "nh3"}


def builder_stage(dockerfile: Path) -> list[str]:
    lines = re.sub(r"\\\n\s*", " ", dockerfile.read_text()).splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith("AS builder"))
    end = next(i for i, line in enumerate(lines) if line.endswith("AS runtime"))
    return [line.strip() for line in lines[start:end] if line.strip()]


def copy_into(source: Path, target: Path, into_folder: bool) -> None:
    """`COPY source target` as Docker does it ("dir/" targets receive the source by name)."""
    destination = target / source.name if into_folder and source.is_file() else target
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(
            source, destination, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    else:
        shutil.copy(source, destination)


def replay_builder(service: str, workdir: Path, dockerfile: Path | None = None) -> Path:
    venv = workdir / "venv"
    uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    for line in builder_stage(dockerfile or ROOT / f"services/{service}/Dockerfile"):
        if line.startswith("COPY "):
            *sources, target = line.split()[1:]
            for source in sources:
                copy_into(ROOT / source, workdir / "src" / target, target.endswith("/"))
        elif line.startswith("RUN uv sync"):
            argv = [uv, *line.split()[2:], "--offline"]
            env = {
                "PATH": "/usr/bin:/bin",
                "HOME": str(Path.home()),
                "UV_PYTHON_DOWNLOADS": "never",
                "UV_PROJECT_ENVIRONMENT": str(venv),
                "UV_PYTHON": shutil.which("python3.11") or "python3.11",
            }
            done = subprocess.run(
                argv, cwd=workdir / "src", env=env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0 and "offline" in done.stderr.lower():
                pytest.skip(f"uv's cache lacks a locked package: {done.stderr[-300:]}")
            assert done.returncode == 0, done.stderr
    return venv


@pytest.mark.parametrize("service", SERVICES)
def test_image_holds_its_service_and_only_its_dependencies(service: str, tmp_path: Path) -> None:
    venv = replay_builder(service, tmp_path)
    python = str(venv / "bin/python")
    assert (venv / "bin" / f"khabar-{service}").exists()
    imported = subprocess.run(
        [python, "-c", f"import khabar_{service}.app, khabar_shared.meili_setup"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    shipped = ROOT / f"services/{service}/khabar_{service}/lua"
    scripts = sorted(p.stem for p in shipped.glob("*.lua"))
    listing = (
        "from khabar_shared.lua import ScriptRegistry; "
        f"r = ScriptRegistry('khabar_{service}'); print(*[n for n in r.names() if r[n].source])"
    )
    loaded = subprocess.run([python, "-c", listing], capture_output=True, text=True, check=False)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == scripts, "the image holds the service's Lua scripts"
    for other in SERVICES:
        if other != service:
            found = subprocess.run(
                [python, "-c", f"import khabar_{other}"], capture_output=True, check=False
            )
            assert found.returncode != 0, f"khabar_{other} leaked into the {service} image"
    for owner, dependency in OWN_DEPENDENCY.items():
        found = subprocess.run(
            [python, "-c", f"import {dependency}"], capture_output=True, check=False
        )
        assert (found.returncode == 0) == (owner == service), f"{dependency} in {service}"


def test_the_cli_image_holds_the_tool_and_no_consumer(tmp_path: Path) -> None:
    venv = replay_builder("cli", tmp_path, ROOT / "tools/cli/Dockerfile")
    python = str(venv / "bin/python")
    assert (venv / "bin/khabar").exists()
    shown = subprocess.run(
        [str(venv / "bin/khabar"), "--help"], capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0, shown.stderr
    assert all(command in shown.stdout for command in ("status", "import", "reindex", "trim"))
    for other in ("enrich", "render"):
        found = subprocess.run(
            [python, "-c", f"import khabar_{other}"], capture_output=True, check=False
        )
        assert found.returncode != 0, f"khabar_{other} leaked into the cli image"
