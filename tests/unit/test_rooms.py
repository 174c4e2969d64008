"""Each kind of code in its own room: what the runtime packages must not hold."""

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
