"""The edge's VCL (edge/khabar.vcl) under varnishtest: each edge/tests/*.vtc must pass."""

import shutil
import subprocess
from pathlib import Path

import pytest

from khabar_dev.edge import write_vcl
from khabar_dev.processes import free_port

EDGE_TESTS = Path(__file__).resolve().parents[2] / "edge" / "tests"
VTC_FILES = sorted(EDGE_TESTS.glob("*.vtc"))


def test_there_are_vcl_tests() -> None:
    assert VTC_FILES, f"no .vtc files under {EDGE_TESTS}"


@pytest.mark.parametrize("vtc", VTC_FILES, ids=[path.name for path in VTC_FILES])
def test_vtc(vtc: Path) -> None:
    varnishtest = shutil.which("varnishtest")
    assert varnishtest, "varnishtest is missing: scripts/bootstrap.sh installs Debian's varnish"
    done = subprocess.run(
        [varnishtest, "-q", "-t", "60", str(vtc)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{vtc.name} failed:\n{done.stdout[-6000:]}{done.stderr[-2000:]}"


def test_throttle_settings_reach_the_edge_and_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KHABAR_EDGE_THROTTLE_* become the VCL's limits (make run's edge), and varnishd takes it."""
    monkeypatch.setenv("KHABAR_EDGE_THROTTLE_MISSES", "7")
    monkeypatch.setenv("KHABAR_EDGE_THROTTLE_ERRORS", "0")
    monkeypatch.setenv("KHABAR_EDGE_THROTTLE_PERIOD_S", "5")
    monkeypatch.setenv("KHABAR_EDGE_THROTTLE_BLOCK_S", "60")
    vcl = write_vcl(tmp_path, free_port(), free_port(), "t0ken").read_text()
    assert 'var.global_set("khabar_throttle_miss_limit", "7");' in vcl
    assert 'var.global_set("khabar_throttle_error_limit", "0");' in vcl
    assert 'var.global_set("khabar_throttle_period", "5s");' in vcl
    assert 'var.global_set("khabar_throttle_block", "60s");' in vcl
    compiled = subprocess.run(
        [
            "varnishd",
            "-j",
            "none",
            "-n",
            str(tmp_path / "n"),
            "-C",
            "-f",
            str(tmp_path / "edge.vcl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    assert "vsthrottle" in compiled.stdout + compiled.stderr
