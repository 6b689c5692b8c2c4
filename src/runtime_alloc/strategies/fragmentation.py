"""FragmentationStrategy: place each task where the GPU fragmentation grows least (FGD, plus).

After "Beware of Fragmentation" (Weng et al., USENIX ATC'23, FGD), on the library's devices
(:mod:`runtime_alloc.devices`). A *target workload* is a set of pod shapes m (millicpu,
memory, device milli) with popularity weights w_m (p_m = w_m / W, W = Σ w_m). A shape asks a
share of one device (count 1, milli < 1000), k whole devices (count k, milli 1000) or no
device (cpu-only); :mod:`.fragmentation_shapes` reads a request's shape and a given
workload. The formula is in :mod:`.fragmentation_formula` (shared with the fill
experiment); in short, for a runner with free cpu c, free memory b and free milli f_d::

    frag_m(n) = Σ f_d over devices with f_d < milli_m    if n can host m
              = Σ f_d over all devices                    otherwise (and for cpu-only m)
    F(n)      = Σ_m p_m · frag_m(n)
    ΔF        = F(n after placement) - F(n before)

where "n can host m" means c >= cpu_m, b >= memory_m and at least count_m devices have
f_d >= milli_m. The placement is the device pick the allocator makes
(:func:`runtime_alloc.devices.pick`, best fit), so the score is that of the move that will
happen. Three methods:

* ``"plus"`` (the default): R = ``floor(100 · sigmoid(-ΔF / 1000))`` (FGD's rounded score),
  the highest R winning; ties of a share or a cpu-only request go to the runner left with the
  least free device milli, then the least capable, the least stranded and the least free cpu,
  ties of whole devices to the runner registered first. The score is the plus key
  (:func:`.fragmentation_formula.plus_key`), one integer below 2**53, lowest wins. A runner
  without devices of ``kind`` has R = 50 (nothing to fragment), so a cpu-only request goes
  to the runner without devices left with the least free cpu.
* ``"fgd"``: the score is ΔF, lowest wins (0.0 without devices of ``kind``).
* ``"fgd-rounded"`` (``rounded=True``): FGD's artifact, R itself, highest wins (50.0 without
  devices), ties to the first runner: the fill experiment's ``fgd``
  (:mod:`runtime_alloc.simulation.fill_fragmentation`), a second implementation of FGD;
  tests/strategies/test_fragmentation.py holds their decisions equal.

**Learned workload** (``shapes=None``): the requests of the last ``window`` decisions
(default K = 1000), by count; the shapes covering ``popularity`` (95 %) of them, ten at a
time by decreasing count, as FGD takes its typical pods. With ``plus`` the requests are
grouped by (cpu, device milli, count), each group with the lower median of its memory, and
every group asking two devices or more is kept too. A decision is recognised as a run of
``score`` calls with one request object that visits each runner at most once, so
``explain`` counts as a decision. The shape table is rebuilt every ``max(1, K // 10)``
requests: O(K log K) each time, O(K) memory.

Worked example (method ``fgd``): shapes {500m: 1, 1 whole GPU: 1} (p = 0.5 each, cpu and
memory 0), a request of 300m on runner A with 2 GPUs used [0, 0] or runner B with 1 GPU used
[600]:

* A before: free [1000, 1000]: both shapes fit with no small device, F = 0. Best fit
  puts 300m on device 0 -> free [700, 1000]: 500m fits (0 stranded), one GPU fits
  (700 stranded), F = 0.5·0 + 0.5·700 = 350; ΔF = 350.
* B before: free [400]: 500m cannot be hosted (400), one GPU neither (400),
  F = 400. After: free [100], F = 100; ΔF = 100 - 400 = -300. B wins.

With ``plus`` the same: R = floor(100 · sigmoid(-0.35)) = 41 on A, floor(100 · sigmoid(0.3))
= 57 on B.

```pycon
>>> from runtime_alloc import Allocator, Runner
>>> fleet = [Runner.parse("B", "cpu=8", devices={"gpu": 1}),
...          Runner.parse("A", "cpu=8", devices={"gpu": 2})]
>>> fgd = FragmentationStrategy({"gpu=500m": 1, "gpu=1": 1}, method="fgd")
>>> alloc = Allocator(fleet, strategy=fgd, backend="python")
>>> alloc.allocate("t0", "gpu=600m").runner
'B'
>>> small = Resources.parse("gpu=300m", device_kinds={"gpu"})
>>> [alloc.strategy.score(s, small) for s in alloc.snapshot().runners]
[-300.0, 350.0]
>>> plus = FragmentationStrategy({"gpu=500m": 1, "gpu=1": 1})
>>> [100 - (int(plus.score(s, small)) >> 46) for s in alloc.snapshot().runners]
[57, 41]

```

Runtime complexity: per runner scored O(devices + |shapes| · devices) on a cache miss,
O(devices) on a hit (F is memoised by (free cpu, free memory, device use), bounded at 2**16
entries; with integer weights F is computed by thresholds,
:class:`.fragmentation_formula.ShapeTable`). On the python backend a decision scans every
feasible runner, O(N · |shapes| · devices); with ``plus``, the ``numpy`` and ``auto``
backends use the strategy's class index (:meth:`FragmentationStrategy.class_index`,
:mod:`runtime_alloc.backends.fragmentation_index`), which scores each class of equal runner
states once and only the classes whose bound can still win.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runtime_alloc._units import _show
from runtime_alloc.devices import DEVICE_MILLI, pick
from runtime_alloc.errors import InvalidArgumentError
from runtime_alloc.resources import Resources
from runtime_alloc.runners import RunnerState
from runtime_alloc.strategies.fragmentation_formula import (
    ShapeTable,
    capability,
    fragmentation,
    plus_key,
    plus_shapes,
    rounded_score,
    take_typical,
    top_of,
)
from runtime_alloc.strategies.fragmentation_shapes import (
    MAX_POPULARITY as MAX_POPULARITY,  # noqa: PLC0414 (an explicit re-export)
)
from runtime_alloc.strategies.fragmentation_shapes import (
    WorkloadShape,
    read_shapes,
    shape_of,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["METHODS", "FragmentationStrategy", "fragmentation"]

#: FGD's defaults: shapes covering 95 % of requests, taken ten at a time.
POPULARITY = 0.95
#: Entries of the F memo before it is cleared.
_MEMO_LIMIT = 1 << 16
#: The scoring methods: ``plus`` (the default), FGD's ΔF and FGD's rounded score.
METHODS = ("plus", "fgd", "fgd-rounded")


class FragmentationStrategy:
    """Fragmentation-aware placement: the feasible runner whose fragmentation grows least.

    See the module docstring for the formula, the worked example and the cost.

    Args:
        shapes: the target workload, request (text like ``"cpu=1,gpu=500m"`` or a
            :class:`Resources` with device milli) -> popularity (a positive number);
            None learns it from the last ``window`` requests.
        kind: the device kind fragmentation is measured on.
        window: K, the requests remembered when learning (1 to 1,000,000).
        popularity: the share of remembered requests the learned shapes cover, in (0, 1].
        method: ``"plus"`` (FGD's rounded score with the tie rules of
            :mod:`.fragmentation_formula`, the default), ``"fgd"`` (ΔF, lowest wins) or
            ``"fgd-rounded"`` (FGD's artifact, ``floor(100·sigmoid(-ΔF/1000))``, highest wins).
        rounded: True is ``method="fgd-rounded"`` (kept from earlier versions).

    Raises:
        InvalidArgumentError: naming the argument and its value.
        InvalidResourcesError: a shape that is not a request (or asks 1500m of a device).
    """

    def __init__(
        self,
        shapes: Mapping[str | Resources, float] | None = None,
        *,
        kind: str = "gpu",
        window: int = 1000,
        popularity: float = POPULARITY,
        method: str = "plus",
        rounded: bool = False,
    ) -> None:
        if not isinstance(kind, str) or not kind:
            msg = f"kind must be a device kind name like 'gpu', got {_show(kind)}"
            raise InvalidArgumentError(msg)
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 10**6:
            msg = f"window must be an integer from 1 to 1000000, got {_show(window)}"
            raise InvalidArgumentError(msg)
        ok = isinstance(popularity, (int, float)) and not isinstance(popularity, bool)
        if not ok or not 0 < popularity <= 1:
            msg = f"popularity must be a number in (0, 1], got {_show(popularity)}"
            raise InvalidArgumentError(msg)
        if not isinstance(rounded, bool):
            msg = f"rounded must be True or False, got {_show(rounded)}"
            raise InvalidArgumentError(msg)
        if method not in METHODS:
            msg = f"method must be one of {', '.join(METHODS)}, got {_show(method)}"
            raise InvalidArgumentError(msg)
        if rounded:
            method = "fgd-rounded"
        self.kind = kind
        self.window = window
        self.popularity = float(popularity)
        self.method = method
        self.rounded = method == "fgd-rounded"
        self.plus = method == "plus"
        self.name = "FragmentationStrategy"
        self.maximize = self.rounded
        #: bumped whenever the shapes change (cached scores are then stale)
        self.generation = 0
        self._memo: dict[tuple[int, int, tuple[int, ...]], Any] = {}
        self._capable: dict[tuple[int, int, int], int] = {}
        self._given = shapes is not None
        self._seen: deque[tuple[int, int, int, int]] = deque()
        self._counts: Counter[tuple[int, int, int, int]] = Counter()
        self._last: object = None
        self._visited: Any = set()
        self._since = 0
        self._shapes: tuple[WorkloadShape, ...] = ()
        self._total: int | float = 0
        self._table: ShapeTable | None = None
        if shapes is not None:
            self._set_shapes(read_shapes(shapes, self.kind))

    def _set_shapes(self, shapes: tuple[WorkloadShape, ...]) -> None:
        """Take ``shapes`` as the workload (integer weights: F by thresholds). O(|shapes|)."""
        self._shapes = shapes
        self._total = sum(s[4] for s in shapes)
        exact = all(isinstance(s[4], int) for s in shapes)
        self._table = ShapeTable(shapes) if exact else None
        self._memo.clear()
        self._capable.clear()
        self.generation += 1

    @property
    def shapes(self) -> tuple[tuple[int, int, int, int, float], ...]:
        """The target workload now: ``(millicpu, memory_bytes, milli, count, weight)`` each.

        Runtime complexity: O(1).
        """
        return self._shapes

    @property
    def learned(self) -> bool:
        """True when the target workload is learned from the requests scored. O(1)."""
        return not self._given

    def __repr__(self) -> str:
        learned = "" if self._given else f"learned, window={self.window}, "
        return (
            f"FragmentationStrategy({learned}kind={self.kind!r}, method={self.method!r}, "
            f"shapes={len(self._shapes)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"name": ..., "weights": {}}`` (the snapshot form of a strategy). O(1)."""
        return {"name": self.name, "weights": {}}

    def class_index(self, states: Iterable[RunnerState]) -> Any:  # noqa: ANN401
        """The backend that scores runners by class (the ``numpy`` and ``auto`` backends' pick).

        None for the ``fgd`` methods (they take the python scan). See
        :mod:`runtime_alloc.backends.fragmentation_index`. O(N log N).
        """
        if not self.plus:
            return None
        from runtime_alloc.backends.fragmentation_index import FragmentationIndex  # noqa: PLC0415

        return FragmentationIndex(states, self)

    # ------------------------------------------------------------------ learning

    def _observe(self, request: Resources, runner: str) -> None:
        """Count ``request`` once per decision (see "Learned workload"). O(1) amortised."""
        if request is self._last and runner not in self._visited:
            self._visited.add(runner)
            return
        self.begin(request, {runner})

    def begin(self, request: Resources, visited: Any) -> None:  # noqa: ANN401
        """Start a decision for ``request``: count its shape, relearn when due. O(1) amortised.

        ``visited`` stands for the runners scored in it (it must support ``in`` and ``add``).
        """
        self._last = request
        self._visited = visited
        shape = shape_of(request, self.kind)
        self._seen.append(shape)
        self._counts[shape] += 1
        if len(self._seen) > self.window:
            old = self._seen.popleft()
            self._counts[old] -= 1
            if not self._counts[old]:
                del self._counts[old]
        self._since += 1
        if self._since >= max(1, self.window // 10) or not self._shapes:
            self._relearn()

    def _relearn(self) -> None:
        """Rebuild the shape table from the remembered requests. O(K log K)."""
        if self.plus:
            self._set_shapes(tuple(plus_shapes(self._counts, self.popularity)))
        else:
            ranked = sorted(self._counts.items(), key=lambda item: (item[1], item[0]), reverse=True)
            taken = take_typical(ranked, self.popularity)
            self._set_shapes(tuple((*shape, n) for shape, n in taken))
        self._since = 0

    # ------------------------------------------------------------------ scoring

    def _f(self, cpu_free: int, memory_free: int, used: tuple[int, ...]) -> Any:  # noqa: ANN401
        key = (cpu_free, memory_free, used)
        memo = self._memo
        value = memo.get(key)
        if value is None:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            table = self._table
            value = memo[key] = (
                table(cpu_free, memory_free, used)
                if table is not None
                else fragmentation(cpu_free, memory_free, used, self._shapes)
            )
        return value

    def f_of(self, state: RunnerState) -> Any:  # noqa: ANN401
        """F of ``state`` now (unnormalised; 0 without devices of the kind). O(|shapes|·devices)."""
        devices = state.devices._data  # noqa: SLF001
        used = devices.get(self.kind) if devices else None
        if used is None:
            return 0
        cap, res = state.runner.capacity, state.reserved
        return self._f(cap.millicpu - res.millicpu, cap.memory_bytes - res.memory_bytes, used)

    def capable(self, state: RunnerState) -> int:
        """The plus key's capability k of ``state``'s runner (0 to 100). O(|shapes|), memoised."""
        devices = state.runner.devices.get(self.kind, 0)
        if not devices or not self._total:
            return 0
        cap = state.runner.capacity
        key = (cap.millicpu, cap.memory_bytes, devices)
        value = self._capable.get(key)
        if value is None:
            value = self._capable[key] = capability(
                cap.millicpu, cap.memory_bytes, devices, self._shapes
            )
        return value

    def score(self, state: RunnerState, request: Resources) -> float:
        """The score of placing ``request`` on ``state`` with the allocator's device pick.

        Counts the request when learning (see "Learned workload"), then :meth:`key`.
        Runtime complexity: O(|shapes| · devices), O(devices) when F is memoised.
        """
        if not self._given:
            name = state.runner.name
            if request is self._last and name not in self._visited:
                self._visited.add(name)  # the decision under way (the common case, inlined)
            else:
                self._observe(request, name)
        return self.key(state, request)

    def key(self, state: RunnerState, request: Resources) -> float:
        """:meth:`score` without counting the request (the class index calls it).

        Runtime complexity: O(|shapes| · devices), O(devices) when F is memoised.
        """
        devices = state.devices._data  # noqa: SLF001 (FrozenMap's dict: a cheaper get)
        used = devices.get(self.kind) if devices else None
        cap = state.runner.capacity
        res = state.reserved
        cpu_free = cap.millicpu - res.millicpu
        asked = request.extended.get(self.kind, 0)
        if used is None or not self._total:
            if self.plus:
                left = cpu_free - request.millicpu
                return plus_key(50, asked < DEVICE_MILLI, 0, 0, left, cap.millicpu, 0)
            return 50.0 if self.rounded else 0.0
        memory_free = cap.memory_bytes - res.memory_bytes
        before = self._f(cpu_free, memory_free, used)
        chosen = pick(used, asked)
        after_used = used
        if chosen:
            changed = list(used)
            for index, milli in chosen:
                changed[index] += milli
            after_used = tuple(changed)
        after = self._f(cpu_free - request.millicpu, memory_free - request.memory_bytes, after_used)
        delta = (after - before) / self._total
        if self.plus:
            size = len(used) * DEVICE_MILLI
            return plus_key(
                top_of(delta),
                asked < DEVICE_MILLI,
                size - sum(after_used),
                size,
                cpu_free - request.millicpu,
                cap.millicpu,
                self.capable(state),
            )
        if not self.rounded:
            return float(delta)
        return rounded_score(delta)
