"""FragmentationStrategy: place each task where the GPU fragmentation grows least (FGD).

After "Beware of Fragmentation" (Weng et al., USENIX ATC'23, FGD), on the
library's devices (:mod:`runtime_alloc.devices`). A *target workload* is a set of
pod shapes m (millicpu, memory, device milli) with popularity weights w_m
(p_m = w_m / W, W = Σ w_m). A shape asks a share of one device (count 1, milli
< 1000), k whole devices (count k, milli 1000) or no device (cpu-only).

For a runner n with free cpu c, free memory b and free milli f_d per device d::

    frag_m(n) = Σ f_d over devices with f_d < milli_m    if n can host m
              = Σ f_d over all devices                    otherwise (and for cpu-only m)
    F(n)      = Σ_m p_m · frag_m(n)
    score     = F(n after placement) - F(n before)        (lowest wins)

where "n can host m" means c >= cpu_m, b >= memory_m and at least count_m devices
have f_d >= milli_m (FGD checks cpu only: give shapes memory 0 for its measure).
The placement is the device pick the allocator makes (:func:`runtime_alloc.devices.pick`,
best fit), so the score is that of the move that will happen. Ties go to the runner
registered first (the allocator's rule; FGD's "first node in name order").
A runner without devices of ``kind`` scores 0.0: a cpu-only request that lands on
a GPU runner scores how many GPUs it strands there (FGD scores those too), so it
goes to a runner without GPUs or to a GPU runner it does not harm, the first such.

With integer weights (pod counts, as learned) the score is
``(Σ_m w_m·frag_m(after) - Σ_m w_m·frag_m(before)) / W`` in exact integer
arithmetic then one division, so equal increases tie exactly.

``rounded=True`` scores as FGD's artifact does, ``floor(100 · sigmoid(-score/1000))``,
highest wins (many ties, to the first runner): the fill experiment's ``fgd``
(:mod:`runtime_alloc.simulation.fill_strategies`). That is a second implementation of
the same formula; tests/strategies/test_fragmentation.py holds their decisions equal.

**Learned workload** (``shapes=None``): the shapes of the last ``window`` requests
the strategy scored (default K = 1000), by count; the shapes covering ``popularity``
(95 %) of them, ten at a time by decreasing count, as FGD takes its typical pods. A
decision is recognised as a run of ``score`` calls with one request object that
visits each runner at most once, so ``explain`` counts as a decision. The shape table
is rebuilt every ``max(1, K // 10)`` requests: O(K) each time, O(10) per decision
amortised, O(K) memory.

Worked example: shapes {500m: 1, 1 whole GPU: 1} (p = 0.5 each, cpu and memory 0), a
request of 300m on runner A with 2 GPUs used [0, 0] or runner B with 1 GPU used [600]:

* A before: free [1000, 1000]: both shapes fit with no small device, F = 0. Best fit
  puts 300m on device 0 -> free [700, 1000]: 500m fits (0 stranded), one GPU fits
  (700 stranded), F = 0.5·0 + 0.5·700 = 350; score 350.
* B before: free [400]: 500m cannot be hosted (400), one GPU neither (400),
  F = 400. After: free [100], F = 100; score 100 - 400 = -300. B wins.

(The 600m got to B by a tie: on A it leaves [400, 1000], F = 0.5·400 + 0.5·400 = 400,
on B [400], F = 400: both +400, and B is registered first.)

```pycon
>>> from runtime_alloc import Allocator, Runner
>>> fleet = [Runner.parse("B", "cpu=8", devices={"gpu": 1}),
...          Runner.parse("A", "cpu=8", devices={"gpu": 2})]
>>> alloc = Allocator(fleet, strategy=FragmentationStrategy({"gpu=500m": 1, "gpu=1": 1}))
>>> alloc.allocate("t0", "gpu=600m").runner, alloc.allocate("t1", "gpu=300m").runner
('B', 'B')
>>> small = Resources.parse("gpu=100m", device_kinds={"gpu"})
>>> [alloc.strategy.score(s, small) for s in alloc.snapshot().runners]
[-100.0, 450.0]

```

(B, used [900]: F = 100 before, 0 after; A: [0, 0] -> free [900, 1000], F = 0.5·0 +
0.5·900 = 450.)

Runtime complexity: per runner scored O(devices + |shapes| · devices) on a cache miss,
O(devices) on a hit (F is memoised by (free cpu, free memory, device use), bounded
at 2**16 entries); a decision scans every feasible runner (the python scan on every
backend, as for any strategy without a LinearScore): O(N · |shapes| · devices).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

from runtime_alloc._units import _show
from runtime_alloc.devices import DEVICE_MILLI, check_device_request, pick
from runtime_alloc.errors import InvalidArgumentError, InvalidResourcesError
from runtime_alloc.resources import Resources
from runtime_alloc.runners import RunnerState

__all__ = ["FragmentationStrategy", "fragmentation"]

#: FGD's defaults: shapes covering 95 % of requests, taken ten at a time.
POPULARITY = 0.95
_STEP = 10
#: The largest popularity weight a shape may have (keeps every sum a finite float).
MAX_POPULARITY = 10**15
#: Entries of the F memo before it is cleared.
_MEMO_LIMIT = 1 << 16

# (millicpu, memory_bytes, milli per device, device count, weight)
_Shape = tuple[int, int, int, int, float]


def fragmentation(
    cpu_free: int, memory_free: int, used: tuple[int, ...], shapes: tuple[_Shape, ...]
) -> float:
    """Σ_m w_m · frag_m of a runner (see the module docstring), unnormalised.

    Args:
        cpu_free: free millicpu.
        memory_free: free memory bytes.
        used: milli used per device.
        shapes: ``(millicpu, memory_bytes, milli, count, weight)`` per shape.

    Returns:
        The weighted sum, an exact integer (as a float or int) when the weights are ints.

    Runtime complexity: O(|shapes| · devices).

    >>> fragmentation(0, 0, (300, 0), ((0, 0, 500, 1, 1), (0, 0, 1000, 1, 1)))
    700
    """
    free = [DEVICE_MILLI - u for u in used]
    total = sum(free)
    out: Any = 0
    for cpu, memory, milli, count, weight in shapes:
        amount = total
        if milli and cpu_free >= cpu and memory_free >= memory:
            big = 0
            small = 0
            for f in free:
                if f >= milli:
                    big += 1
                else:
                    small += f
            if big >= count:
                amount = small
        out += weight * amount
    return out  # type: ignore[no-any-return]


def _shape_of(request: Resources, kind: str) -> tuple[int, int, int, int]:
    milli = request.extended.get(kind, 0)
    if milli <= 0:
        return (request.millicpu, request.memory_bytes, 0, 0)
    if milli <= DEVICE_MILLI:
        return (request.millicpu, request.memory_bytes, milli, 1)
    return (request.millicpu, request.memory_bytes, DEVICE_MILLI, milli // DEVICE_MILLI)


def _check_weight(key: object, weight: object) -> int | float:
    number = isinstance(weight, (int, float)) and not isinstance(weight, bool)
    if not number or not 0 < weight <= MAX_POPULARITY:  # type: ignore[operator]
        msg = (
            f"shapes[{key!r}] must be a positive finite number up to {MAX_POPULARITY:g} "
            f"(a popularity), got {_show(weight)}"
        )
        raise InvalidArgumentError(msg)
    return weight  # type: ignore[return-value]


class FragmentationStrategy:
    """Fragmentation-aware placement: the feasible runner whose F grows least wins.

    See the module docstring for the formula, the worked example and the cost.

    Args:
        shapes: the target workload, request (text like ``"cpu=1,gpu=500m"`` or a
            :class:`Resources` with device milli) -> popularity (a positive number);
            None learns it from the last ``window`` requests.
        kind: the device kind fragmentation is measured on.
        window: K, the requests remembered when learning (1 to 1,000,000).
        popularity: the share of remembered requests the learned shapes cover, in (0, 1].
        rounded: score as FGD's artifact (``floor(100·sigmoid(-ΔF/1000))``, highest wins).

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
        self.kind = kind
        self.window = window
        self.popularity = float(popularity)
        self.rounded = rounded
        self.name = "FragmentationStrategy"
        self.maximize = rounded
        self._memo: dict[tuple[int, int, tuple[int, ...]], Any] = {}
        self._given = shapes is not None
        self._seen: deque[tuple[int, int, int, int]] = deque()
        self._counts: Counter[tuple[int, int, int, int]] = Counter()
        self._last: object = None
        self._visited: set[str] = set()
        self._since = 0
        self._shapes: tuple[_Shape, ...] = ()
        self._total: int | float = 0
        if shapes is not None:
            self._shapes = self._read_shapes(shapes)
            self._total = sum(s[4] for s in self._shapes)

    def _read_shapes(self, shapes: object) -> tuple[_Shape, ...]:
        if not isinstance(shapes, Mapping) or not shapes:
            msg = (
                f"shapes must be a non-empty mapping of request to popularity, got {_show(shapes)}"
            )
            raise InvalidArgumentError(msg)
        merged: dict[tuple[int, int, int, int], Any] = {}
        for key, weight in shapes.items():
            if isinstance(key, str):
                request = Resources.parse(key, device_kinds={self.kind})
            elif isinstance(key, Resources):
                request = key
            else:
                msg = f"shapes keys must be request text or Resources, got {_show(key)}"
                raise InvalidResourcesError(msg)
            check_device_request(request.extended, {self.kind})
            shape = _shape_of(request, self.kind)
            merged[shape] = merged.get(shape, 0) + _check_weight(key, weight)
        return tuple((*shape, weight) for shape, weight in merged.items())

    @property
    def shapes(self) -> tuple[tuple[int, int, int, int, float], ...]:
        """The target workload now: ``(millicpu, memory_bytes, milli, count, weight)`` each."""
        return self._shapes

    def __repr__(self) -> str:
        learned = "" if self._given else f"learned, window={self.window}, "
        return f"FragmentationStrategy({learned}kind={self.kind!r}, shapes={len(self._shapes)})"

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"name": ..., "weights": {}}`` (the snapshot form of a strategy)."""
        return {"name": self.name, "weights": {}}

    # ------------------------------------------------------------------ learning

    def _observe(self, request: Resources, runner: str) -> None:
        """Count ``request`` once per decision (see "Learned workload"). O(1) amortised."""
        if request is self._last and runner not in self._visited:
            self._visited.add(runner)
            return
        self._last = request
        self._visited = {runner}
        shape = _shape_of(request, self.kind)
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
        ranked = sorted(self._counts.items(), key=lambda item: (item[1], item[0]), reverse=True)
        total = sum(self._counts.values())
        taken = covered = 0
        while covered < self.popularity * total and taken < len(ranked):
            block = ranked[taken : taken + _STEP]
            covered += sum(n for _, n in block)
            taken += len(block)
        self._shapes = tuple((*shape, n) for shape, n in ranked[:taken])
        self._total = covered
        self._memo.clear()
        self._since = 0

    # ------------------------------------------------------------------ scoring

    def _f(self, cpu_free: int, memory_free: int, used: tuple[int, ...]) -> Any:  # noqa: ANN401
        key = (cpu_free, memory_free, used)
        memo = self._memo
        value = memo.get(key)
        if value is None:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            value = memo[key] = fragmentation(cpu_free, memory_free, used, self._shapes)
        return value

    def score(self, state: RunnerState, request: Resources) -> float:
        """ΔF of placing ``request`` on ``state`` with the allocator's device pick.

        Runtime complexity: O(|shapes| · devices), O(devices) when F is memoised.
        """
        if not self._given:
            name = state.runner.name
            if request is self._last and name not in self._visited:
                self._visited.add(name)  # the decision under way (the common case, inlined)
            else:
                self._observe(request, name)
        devices = state.devices._data  # noqa: SLF001 (FrozenMap's dict: a cheaper get)
        used = devices.get(self.kind) if devices else None
        if used is None or not self._total:
            return 50.0 if self.rounded else 0.0
        cap = state.runner.capacity
        res = state.reserved
        cpu_free = cap.millicpu - res.millicpu
        memory_free = cap.memory_bytes - res.memory_bytes
        before = self._f(cpu_free, memory_free, used)
        chosen = pick(used, request.extended.get(self.kind, 0))
        after_used = used
        if chosen:
            changed = list(used)
            for index, milli in chosen:
                changed[index] += milli
            after_used = tuple(changed)
        after = self._f(cpu_free - request.millicpu, memory_free - request.memory_bytes, after_used)
        delta = (after - before) / self._total
        if not self.rounded:
            return float(delta)
        x = delta / 1000.0  # FGD: gain = F_before - F_after, score sigmoid(gain / 1000)
        return 0.0 if x > 700.0 else float(math.floor(100.0 / (1.0 + math.exp(x))))
