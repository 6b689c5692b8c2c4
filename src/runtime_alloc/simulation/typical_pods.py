"""The target workload of the fragmentation strategies: "typical pods" and their probabilities.

FGD (Weng et al., USENIX ATC'23) measures a node's fragmentation against the
workload it expects: the most popular pod shapes (cpu, GPUs, milli per GPU,
``gpu_spec``), taken by decreasing count, ten at a time, until they cover 95 %
of the pods, each with its share p_m of the pods taken. ``fgd-plus`` widens
that set in two ways (both off by default, so ``fgd`` stays as published):

* ``memory=True``: each shape also carries a memory need, the lower median of
  the memory its pods ask, so a node whose memory is nearly exhausted counts as
  unable to host the shape (FGD checks cpu only);
* ``multi_gpu=True``: every shape asking two GPUs or more is kept whatever its
  popularity (each with its own count), so the few nodes able to host an
  8-GPU pod count as fragmented once a share lands on them.

Needs numpy (through the pod columns).
"""

from __future__ import annotations

from collections import Counter

import attrs

from runtime_alloc.strategies.fragmentation_formula import take_typical
from runtime_alloc.traces.openb_devices import DevicePods

__all__ = ["POPULARITY", "TypicalPods", "typical_pods"]

#: FGD's default: shapes by popularity, in steps of ten, until they cover 95 % of pods.
POPULARITY = 0.95

_Shape = tuple[int, int, int, str]  # (cpu, milli, count, spec)


def _multi_gpu(shape: _Shape) -> bool:
    return shape[2] >= 2


@attrs.frozen
class TypicalPods:
    """The target workload: pod shapes and their probabilities (summing to 1).

    Attributes:
        cpu: millicores each shape asks.
        count: GPUs (0 for cpu-only shapes).
        milli: milli per GPU (1000 for whole GPUs, 0 for cpu-only shapes).
        spec: allowed GPU models (``a|b``; empty = any).
        p: each shape's probability.
        memory: MiB each shape asks (all 0 when memory is not checked).
    """

    cpu: tuple[int, ...]
    count: tuple[int, ...]
    milli: tuple[int, ...]
    spec: tuple[str, ...]
    p: tuple[float, ...]
    memory: tuple[int, ...] = attrs.field()

    @memory.default
    def _no_memory(self) -> tuple[int, ...]:
        return (0,) * len(self.cpu)


def typical_pods(
    pods: DevicePods,
    popularity: float = POPULARITY,
    *,
    memory: bool = False,
    multi_gpu: bool = False,
) -> TypicalPods:
    """The most popular pod shapes (cpu, GPUs, milli, gpu_spec) covering ``popularity`` of pods.

    Shapes are taken by decreasing count (ties: the larger shape first, as the
    artifact's reversed sort), ten at a time, until they cover the share (the rule
    of :func:`runtime_alloc.strategies.fragmentation_formula.take_typical`, which the
    library's learned workload shares); the probabilities are renormalized over the
    shapes taken.

    Args:
        pods: the pod list.
        popularity: the share of pods the shapes cover, in (0, 1].
        memory: give each shape the lower median of its pods' memory.
        multi_gpu: add every shape asking two GPUs or more not yet taken.

    Runtime complexity: O(P log P).

    >>> import numpy as np
    >>> pods = DevicePods(
    ...     names=("a", "b", "c", "d"),
    ...     cpu=np.array([1000, 1000, 2000, 8000]),
    ...     memory=np.array([10, 30, 5, 90]),
    ...     count=np.array([1, 1, 0, 8]),
    ...     milli=np.array([500, 500, 0, 1000]),
    ...     spec=("", "", "", ""),
    ... )
    >>> t = typical_pods(pods, memory=True)  # a and b share a shape; memory 10 and 30
    >>> t.count, t.p, t.memory
    ((1, 8, 0), (0.5, 0.25, 0.25), (10, 90, 5))
    """
    keys: list[_Shape] = list(
        zip(pods.cpu.tolist(), pods.milli.tolist(), pods.count.tolist(), pods.spec, strict=True)
    )
    shapes = Counter(keys)
    ranked = sorted(shapes.items(), key=lambda item: (item[1], item[0]), reverse=True)
    chosen = take_typical(ranked, popularity, _multi_gpu if multi_gpu else None)
    weight = sum(n for _, n in chosen)
    needs = (0,) * len(chosen)
    if memory:
        asked: dict[_Shape, list[int]] = {}
        for key, mib in zip(keys, pods.memory.tolist(), strict=True):
            asked.setdefault(key, []).append(mib)
        needs = tuple(sorted(asked[s])[(n - 1) // 2] for s, n in chosen)
    return TypicalPods(
        cpu=tuple(s[0] for s, _ in chosen),
        milli=tuple(s[1] for s, _ in chosen),
        count=tuple(s[2] for s, _ in chosen),
        spec=tuple(s[3] for s, _ in chosen),
        p=tuple(n / weight for _, n in chosen),
        memory=needs,
    )
