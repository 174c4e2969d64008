"""`scripts/bootstrap.sh` reads each of its flags, not only the first (`--test --bench`)."""

import subprocess

from khabar_dev.processes import REPO_ROOT


def test_an_unknown_flag_after_a_known_one_is_refused_before_anything_is_installed() -> None:
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts/bootstrap.sh"), "--test", "--nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "usage" in done.stderr
    assert "==>" not in done.stderr  # nothing was installed or synced
