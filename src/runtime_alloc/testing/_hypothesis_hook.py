"""The ``hypothesis`` entry point: register runtime_alloc's value types with ``st.from_type``.

Hypothesis calls :func:`setup_hook` when it is imported. The strategies are
resolved lazily, so the hook imports nothing heavy and cannot fail on a
partially installed package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["setup_hook"]


def _lazy(name: str) -> Any:  # noqa: ANN401
    def resolve(_type: type) -> Any:  # noqa: ANN401
        from runtime_alloc.testing import _generators  # noqa: PLC0415 (lazy on purpose)

        return getattr(_generators, name)()

    return resolve


def setup_hook() -> None:
    """Register Resources, Runner, RunnerState, Reservation and FleetSnapshot with hypothesis."""
    from hypothesis import strategies as st  # noqa: PLC0415 (runs inside hypothesis' import)

    from runtime_alloc.reservations import Reservation  # noqa: PLC0415
    from runtime_alloc.resources import Resources  # noqa: PLC0415
    from runtime_alloc.runners import Runner, RunnerState  # noqa: PLC0415
    from runtime_alloc.snapshot import FleetSnapshot  # noqa: PLC0415

    st.register_type_strategy(Resources, _lazy("resources"))
    st.register_type_strategy(Runner, _lazy("_any_runner"))
    st.register_type_strategy(RunnerState, _lazy("runner_states"))
    st.register_type_strategy(FleetSnapshot, _lazy("snapshots"))
    st.register_type_strategy(Reservation, _lazy("reservations"))
