"""When the indexer asks Meilisearch whether a task is done (`meili_documents.TaskClock`)."""

from itertools import islice, pairwise

import pytest

from khabar_search.meili_documents import (
    FIRST_POLL_S,
    MAX_POLL_S,
    MAX_TYPICAL_S,
    TaskClock,
)


def first(clock: TaskClock, count: int) -> list[float]:
    return list(islice(clock.pauses(), count))


def test_before_any_task_it_asks_at_once_then_soon_and_less_and_less_often() -> None:
    pauses = first(TaskClock(), 12)
    assert pauses[:3] == [0.0, FIRST_POLL_S, FIRST_POLL_S * 1.5]
    assert pauses[-1] == MAX_POLL_S


def test_after_tasks_it_sleeps_through_most_of_the_typical_time_then_asks_in_steps() -> None:
    """A small batch on a busy machine took 0.4 s: asked every 5 ms growing to 50 ms, that
    was a dozen asks per task; now the first ask is near the typical end, and steps of a
    tenth of it follow."""
    clock = TaskClock()
    clock.took(0.4)
    pauses = first(clock, 6)
    assert pauses[0] == pytest.approx(0.24)
    assert pauses[1] == pytest.approx(0.04)
    assert all(later >= earlier for earlier, later in pairwise(pauses[1:]))
    asks_within_typical, waited = 0, 0.0
    for pause in clock.pauses():
        waited += pause
        if waited > 0.4:
            break
        asks_within_typical += 1
    assert asks_within_typical <= 5


def test_the_typical_time_follows_the_tasks_and_a_long_one_is_capped() -> None:
    clock = TaskClock()
    clock.took(0.4)
    for _ in range(30):
        clock.took(0.1)
    assert clock.typical_s == pytest.approx(0.1, rel=0.05)
    clock.took(120.0)  # queued behind a reindex
    assert first(clock, 1)[0] <= 0.6 * MAX_TYPICAL_S
