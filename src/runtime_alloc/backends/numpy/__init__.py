"""``backend="numpy"``: the python scan's decisions, found without scanning every runner.

Modules: :mod:`.backend` (the :class:`NumpyBackend` and its index upkeep), :mod:`.choosing`
(scoring, and which index answers a request), :mod:`.columns` (the runner table: one numpy
column per quantity, a *row* per runner, rows grouped in *blocks*; :mod:`.table_views`, its name
views), :mod:`.block_bounds` (the per-block summaries and their upkeep), :mod:`.blocks` (the
block search), :mod:`.shape_classes` and :mod:`.shape_groups` (the per-shape r-class heaps),
:mod:`.compiled_index` and :mod:`._kernels` (``index="compiled"``: the class index's answers
from per-shape segment trees searched by numba kernels; the optional ``fast`` extra),
:mod:`.batch` (placing a run of identical requests at once), :mod:`.extended_index` (requests
for extended resources and devices), :mod:`.device_classes`, :mod:`.device_groups` and
:mod:`.device_build` (its per-shape class heaps for device requests, and their bulk build) and
:mod:`.extended_chunks` (its chunks of the rows declaring them), :mod:`.feasibility` (the
feasibility test, one kernel per data representation), :mod:`.checks` (consistency checks for
tests) and :mod:`.diagnose` (the table's columns fed to the one failure diagnosis of
:mod:`runtime_alloc._diagnosis`).

Why the answers are exact. Every index below rests on these lemmas; code cites
them as "(lemma N)".

1. **Same arithmetic.** Every score, scalar or vector, is the specification of
   :mod:`runtime_alloc.strategies._scoring`: ``float(w*(reserved+request)) /
   float(capacity)`` per scored dimension, summed left to right from cpu, then
   divided by ``float(weight_sum)``. numpy's int64 -> float64 conversion and its
   IEEE float64 division and addition round exactly as Python's ``float``,
   ``/`` and ``+``; adding the exact ``0.0`` of an unscored dimension (capacity
   stored as ``inf``) changes nothing. So a vectorized score equals the python
   scan's score bit for bit.
2. **Same tie-break.** Ties go to the runner registered first: every index
   compares (score, registration sequence), never a row number.
3. **Monotone rounding.** Each float operation rounds monotonically, so the
   float score is non-decreasing in every reserved amount and every request
   amount, and non-increasing in every capacity. Hence the float score of a
   block's least reserved amounts over its largest capacities bounds every
   float score in the block exactly (the blocks' near-tie test), and the score
   of a runner after its k-th identical task never decreases in k (the batch
   plan).
4. **Small rounding error.** A score of feasible runners is at most 1 per
   dimension and is computed in at most ~10 float operations, so it lies within
   1e-14 relative of the real-valued score. A real-valued bound that misses the
   best float score by the relative slack 1e-9 therefore holds no winner, even
   on a tie (the blocks' ``amin + q . gmin`` bounds, the class index's group
   bounds).
5. **Shapes rank alike.** Runners of one shape (capacity and labels) share
   their scored dimensions, so the real-valued score is ``(K(r) + B(q)) / W``:
   the order of runners inside a shape does not depend on the request, and a
   key window of ``1e-10 * (1 + 2W)`` around the best feasible key contains
   every runner that can win (the argument is written out in
   :mod:`.shape_classes`; it holds as well for the device classes of
   :mod:`.device_classes`, whose shapes also fix the capacity of each
   requested extended resource).
6. **Bounds from extrema.** For a set of rows with scores
   ``fl(fl(sum_d fl(w_d*(r_d+q_d)) / c_d) / W)`` (lemma 1), take per dimension
   the least ``r_d`` and the largest ``c_d``, and the largest ``W``: by lemma 3
   (and since ``fl(x / W)`` does not increase in ``W`` for ``x >= 0``) that one
   float is at most every row's float score, even when no single row attains
   it; the most ``r_d`` over the least ``c_d`` and ``W`` bounds them from
   above. An unscored dimension (capacity ``inf``) adds an exact 0.0 either
   way. So a chunk whose bound is worse than a row's score, or equal while
   every runner of the chunk registered later, holds no winner (the extended
   index of :mod:`.extended_index`, the blocks' exact near-tie test).
"""

from __future__ import annotations

from runtime_alloc.backends.numpy.backend import MAX_SHAPES, NumpyBackend

__all__ = ["MAX_SHAPES", "NumpyBackend"]
