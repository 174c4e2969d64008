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


@pytest.mark.parametrize(
    ("module", "settings_class", "point"),
    [
        ("khabar_enrich.app", "khabar_enrich.settings.EnrichSettings", "enrich.written"),
        ("khabar_search.app", "khabar_search.settings.SearchSettings", "search.settled"),
        ("khabar_render.app", "khabar_render.settings.RenderSettings", "render.purged"),
    ],
)
def test_each_service_arms_the_points_its_setting_names(
    module: str, settings_class: str, point: str
) -> None:
    """KHABAR_FAILPOINTS reaches a running service: its app arms the points at creation
    (enrich never read the setting, so `make run` could not stop it between writes)."""
    import importlib

    settings_module, _, class_name = settings_class.rpartition(".")
    settings = getattr(importlib.import_module(settings_module), class_name)
    importlib.import_module(module).create_app(
        settings(failpoints=f"{point}:1", redis_url="redis://127.0.0.1:1/0")
    )
    with pytest.raises(failpoints.FailpointHit):
        failpoints.check(failpoints.Failpoint(point))
