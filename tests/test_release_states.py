"""release(..., state=...) takes a documented, bounded set of states (issue #14 item 9)."""

from __future__ import annotations

import pytest

from runtime_alloc import RELEASE_STATES, Allocator, Runner
from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.executor.events import COMPLETION_STATES
from runtime_alloc.executor.tasks import TERMINAL_STATES


def alloc_with_task(**kwargs: object) -> Allocator:
    alloc = Allocator([Runner.parse("w", "cpu=2")], **kwargs)  # type: ignore[arg-type]
    alloc.allocate("t", "cpu=1")
    return alloc


@pytest.mark.parametrize("state", ["banana", "SUCCESS", "running", " success"])
def test_an_unknown_state_is_refused_and_changes_nothing(state: str) -> None:
    alloc = alloc_with_task()
    before = alloc.snapshot(), alloc.metrics()
    with pytest.raises(InvalidArgumentError, match=rf"state {state!r} is not a release state; "):
        alloc.release("t", state)
    assert (alloc.snapshot(), alloc.metrics()) == before


def test_the_error_lists_the_valid_states() -> None:
    with pytest.raises(InvalidArgumentError, match="expected one of cancelled, deferred, failed"):
        alloc_with_task().release("t", "banana")


@pytest.mark.parametrize("state", sorted(RELEASE_STATES))
def test_every_documented_state_is_counted(state: str) -> None:
    alloc = alloc_with_task()
    alloc.release("t", state)
    assert alloc.metrics().releases == {state: 1}


def test_the_executor_states_are_accepted() -> None:
    engine_states = {str(s) for s in TERMINAL_STATES} | set(COMPLETION_STATES) | {"requeued"}
    assert engine_states <= RELEASE_STATES


def test_release_states_extends_the_set() -> None:
    alloc = alloc_with_task(release_states=["preempted"])
    assert {"preempted", "success"} <= alloc.release_states
    alloc.release("t", "preempted")
    assert alloc.metrics().releases == {"preempted": 1}
    with pytest.raises(InvalidArgumentError, match="release_states must be an iterable"):
        Allocator(release_states="preempted")
    with pytest.raises(InvalidArgumentError, match="release_states item"):
        Allocator(release_states=[""])
