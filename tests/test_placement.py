"""The python scan: its inlined feasibility equals the runner-object kernel is_feasible."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_alloc import EvenSpreadStrategy, MaxPackingStrategy, Resources, Runner, RunnerState
from runtime_alloc._placement import choose, is_feasible

small = st.integers(0, 6)
LABELS = st.frozensets(st.sampled_from(["a", "b"]), max_size=2)
EXTENDED = st.dictionaries(st.sampled_from(["gpu", "fpga"]), st.integers(1, 3), max_size=2)


@st.composite
def fleets(draw):
    states = []
    for i in range(draw(st.integers(1, 8))):
        cap = Resources(draw(small) * 500, draw(small), draw(st.integers(1, 4)), draw(EXTENDED))
        reserved = Resources(
            draw(st.integers(0, cap.millicpu // 500)) * 500,
            draw(st.integers(0, cap.memory_bytes)),
            draw(st.integers(0, cap.slots)),
            {k: draw(st.integers(0, v)) for k, v in cap.extended.items()},
        )
        runner = Runner(f"r{i}", cap, draw(LABELS))
        states.append(RunnerState(runner, reserved, draw(st.booleans())))
    return states


@settings(max_examples=300, deadline=None)
@given(
    fleets(),
    st.builds(Resources, small.map(lambda k: k * 500), small, small, EXTENDED),
    LABELS,
    st.booleans(),
)
def test_inlined_scan_filters_exactly_like_is_feasible(states, request, require, maximize):
    # the built-in strategies take choose's inlined loop; the first feasible runner by
    # is_feasible must be feasible there too, and the scan finds one iff is_feasible does
    strategy = MaxPackingStrategy() if maximize else EvenSpreadStrategy()
    chosen = choose(states, strategy, request, require)
    feasible = [s for s in states if is_feasible(s, request, require)]
    assert (chosen is None) == (not feasible)
    if chosen is not None:
        assert chosen in feasible
        scores = [strategy.score(s, request) for s in feasible]
        best = max(scores) if maximize else min(scores)
        assert chosen == feasible[scores.index(best)]  # best score, earliest on a tie
