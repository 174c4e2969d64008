"""The edge's VCL (edge/khabar.vcl) under varnishtest: each edge/tests/*.vtc must pass."""

import shutil
import subprocess
from pathlib import Path

import pytest

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
