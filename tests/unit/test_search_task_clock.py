"""When the indexer asks Meilisearch whether a task is done (`meili_documents.TaskClock`)."""

from itertools import islice

import pytest

from khabar_search.meili_documents import (
    FIRST_POLL_S,
    MAX_POLL_S,
    MAX_TYPICAL_S,
    RECENT_TASKS,
    TaskClock,
)


def first(clock: TaskClock, count: int) -> list[float]:
    return list(islice(clock.pauses(), count))


def asks_until(clock: TaskClock, done_s: float) -> tuple[int, float]:
    """How many asks a wait makes for a task done `done_s` after it was sent, and how late
    the last one sees it done."""
    at = 0.0
    for asks, pause in enumerate(clock.pauses(), start=1):
        at += pause
        if at >= done_s:
            return asks, at - done_s
    raise AssertionError("unreachable")


def test_before_any_task_it_asks_at_once_then_soon_and_less_and_less_often() -> None:
    pauses = first(TaskClock(), 12)
    assert pauses[:3] == [0.0, FIRST_POLL_S, FIRST_POLL_S * 1.5]
    assert pauses[-1] == MAX_POLL_S


def test_after_tasks_it_skips_the_asks_no_recent_task_was_done_by() -> None:
    """Small batches on a busy machine took 0.4 to 0.6 s: asked every 5 ms growing to 50 ms,
    that was a dozen asks or more per task; now the first ask is at a share of the shortest
    recent task, and even steps follow, never further apart than before."""
    clock, old = TaskClock(), TaskClock()
    for took in (0.5, 0.4, 0.6, 0.45):
        clock.took(took)
    assert first(clock, 1)[0] == pytest.approx(0.24)
    assert max(first(clock, 20)[1:]) <= MAX_POLL_S
    for done_s in (0.3, 0.45, 0.6, 0.9):
        asks, late = asks_until(clock, done_s)
        old_asks, old_late = asks_until(old, done_s)
        assert asks <= old_asks / 2 if done_s <= 0.45 else asks < old_asks
        assert late <= max(old_late, MAX_POLL_S)


def test_only_recent_tasks_count_and_a_long_one_is_capped() -> None:
    clock = TaskClock()
    clock.took(0.05)
    for _ in range(RECENT_TASKS):
        clock.took(0.4)
    assert first(clock, 1)[0] == pytest.approx(0.24)  # the 0.05 s task is forgotten
    for _ in range(RECENT_TASKS):
        clock.took(120.0)  # queued behind a reindex
    assert first(clock, 1)[0] <= MAX_TYPICAL_S
