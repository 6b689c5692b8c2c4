"""The base of the fill experiment's per-device strategies (:mod:`.fill_strategies`).

A :class:`FillStrategy` picks, among the feasible nodes, one node (the lowest
:meth:`~FillStrategy.node_score`, first on ties) and the devices on it (a
share on the device it fits best, whole GPUs on the lowest free indexes).
The packing family (:mod:`.fill_packing`) scores nodes in closed form; the
fragmentation family (:mod:`.fill_fragmentation`) overrides the choice; a
:class:`LibraryStrategy` leaves it to the library's :class:`~runtime_alloc.Allocator`
running a shipped strategy, so the fill measures that strategy itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from runtime_alloc.traces.openb import KUBERNETES_MAX_PODS
from runtime_alloc.traces.openb_devices import DEVICE_MILLI

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from runtime_alloc import Strategy
    from runtime_alloc.simulation.fill import FillState

    #: the feasible node indexes; a pod (cpu, memory, count, milli); a node and its devices
    Nodes = npt.NDArray[np.int64]
    Pod = tuple[int, int, int, int]
    Choice = tuple[int, list[int]]

__all__ = ["FillStrategy", "LibraryStrategy"]


class FillStrategy:
    """Base: packing device choice; subclasses score nodes."""

    name: ClassVar[str] = ""

    def start(self, state: FillState) -> None:
        """Called once before the first pod. O(N)."""
        self.state = state
        self.max_cpu = float(state.fleet.cpu.max())
        self.max_gpu = float(state.fleet.devices.max() * DEVICE_MILLI) or 1.0

    def placed(self, state: FillState, node: int) -> None:
        """Called after each placement on ``node``. O(1)."""

    @staticmethod
    def devices(state: FillState, node: int, count: int, milli: int) -> list[int]:
        """Best fit for a share (smallest remainder, lowest index); lowest free indexes else.

        Runtime complexity: O(devices on the node).
        """
        import numpy as np  # noqa: PLC0415

        row = state.dev[node]
        if count == 0:
            return []
        if milli < DEVICE_MILLI:
            left = np.where(row >= milli, row - milli, DEVICE_MILLI + 1)
            return [int(np.argmin(left))]
        return [int(d) for d in np.flatnonzero(row == DEVICE_MILLI)[:count]]

    def node_score(
        self, state: FillState, nodes: npt.NDArray[np.int64], ask: tuple[int, int, int]
    ) -> npt.NDArray[np.float64]:
        """Scores of ``nodes`` for ``ask`` = (cpu, memory, gpu milli); lower is better. O(N)."""
        raise NotImplementedError

    def choose(self, state: FillState, nodes: Nodes, pod: Pod) -> Choice:
        """The node (lowest :meth:`node_score`, first on ties) and :meth:`devices` there.

        ``pod`` is (cpu, memory, count, milli). O(N * D).
        """
        import numpy as np  # noqa: PLC0415

        cpu, memory, count, milli = pod
        best = int(np.argmin(self.node_score(state, nodes, (cpu, memory, count * milli))))
        node = int(nodes[best])
        return node, self.devices(state, node, count, milli)


class LibraryStrategy(FillStrategy):
    """A library strategy (:meth:`library_strategy`) placing the pods through an Allocator.

    The nodes become runners (labels: the GPU model; devices: the GPUs; 110 pod slots)
    registered in node order, so the allocator's ties (the runner registered first) are
    the fill's (the first node); each pod is placed by the allocator with
    ``require_any`` = its ``gpu_spec``, which picks the devices too.
    """

    def __init__(self, backend: str = "auto") -> None:
        self.backend = backend

    def library_strategy(self) -> Strategy:
        """The library strategy to run (called once per fill, in :meth:`start`). O(1)."""
        raise NotImplementedError

    def start(self, state: FillState) -> None:
        """Register every node as a runner. O(N)."""
        from runtime_alloc import Allocator, Resources, Runner  # noqa: PLC0415

        super().start(state)
        fleet = state.fleet
        runners = [
            Runner(
                name,
                Resources(int(fleet.cpu[i]), int(fleet.memory[i]), KUBERNETES_MAX_PODS),
                (fleet.models[fleet.model[i]],) if fleet.model[i] >= 0 else (),
                {"gpu": int(fleet.devices[i])} if fleet.devices[i] else {},
            )
            for i, name in enumerate(fleet.names)
        ]
        self.alloc = Allocator(runners, strategy=self.library_strategy(), backend=self.backend)
        self.row = {name: i for i, name in enumerate(fleet.names)}
        self.tasks = 0

    def choose(self, state: FillState, nodes: Nodes, pod: Pod) -> Choice:  # noqa: ARG002
        """The allocator's runner and devices for ``pod``. As the allocator's decision.

        Runtime complexity: one :meth:`Allocator.try_allocate`, O(N) on the python backend (less on
        numpy).
        """
        from runtime_alloc import Resources  # noqa: PLC0415

        cpu, memory, count, milli = pod
        request = Resources(cpu, memory, 1, {"gpu": count * milli} if count else {})
        spec = state.spec.split("|") if count and state.spec else ()
        self.tasks += 1
        reservation = self.alloc.try_allocate(f"p{self.tasks}", request, require_any=spec)
        if reservation is None:  # the fill found a node: the two feasibility tests disagree
            msg = f"the allocator found no runner for {request} where the fill found one"
            raise AssertionError(msg)
        devices = [index for index, _ in reservation.devices.get("gpu", ())]
        return self.row[reservation.runner], devices
