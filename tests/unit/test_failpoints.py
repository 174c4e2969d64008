"""KHABAR_FAILPOINTS is one setting read by every service: each arms its own points."""

from collections.abc import Iterator

import pytest

from khabar_shared import failpoints

STORED = failpoints.point("unittestsvc.stored", "written, not acked")


@pytest.fixture(autouse=True)
def disarmed() -> Iterator[None]:
    failpoints.disarm_all()
    yield
    failpoints.disarm_all()


def test_a_service_arms_its_own_points_and_passes_over_other_services() -> None:
    failpoints.configure("otherservice.settled:1, unittestsvc.stored:1")
    with pytest.raises(failpoints.FailpointHit):
        failpoints.check(STORED)
    failpoints.check(STORED)  # armed once: the second pass goes through


def test_an_unknown_point_of_its_own_service_is_refused() -> None:
    with pytest.raises(KeyError, match="unittestsvc.stord"):
        failpoints.configure("unittestsvc.stord:1")
