"""The feasibility test of the numpy backend, once per data representation.

A runner can take a request when it is not draining, has the required labels
and, in every requested dimension, its free amount (capacity minus reserved) is
at least the request. The python scan states this on runner objects
(:func:`runtime_alloc._placement.is_feasible`); the numpy indexes hold the same
quantities in two other shapes, each with its one kernel here:

* **array columns** -- :func:`free_at_least` over per-dimension columns of free
  amounts, used for table rows (``free_usable`` is -1 on a draining row, so the
  draining rule comes with it; :meth:`.NumpyBackend.feasible`, the block
  evaluation of :mod:`.blocks`) and for block bounds (a block's most free amount
  per dimension: some row of the block *may* fit, :func:`.blocks.search`);
  :func:`copies_that_fit` is its multi-copy form for the batch plan;
  :func:`rows_at_least` its stacked form (one 2-D array, one threshold per
  dimension) for the extended index of :mod:`.extended_index`;
* **scalar tuple** -- :func:`reserved_within`: an r-class's reserved tuple
  against the limits ``u = capacity - request`` of its shape (the class index).
  The class index's hot loop keeps this expression unrolled, written exactly as
  :data:`UNROLLED_RESERVED_WITHIN`; tests/backends/numpy/test_feasibility.py
  holds every unrolled copy to the kernel's text and behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "NO_LIMIT",
    "UNROLLED_RESERVED_WITHIN",
    "copies_that_fit",
    "free_at_least",
    "reserved_within",
    "rows_at_least",
]

#: A threshold that every int64 value meets (a row of the stacked form that is not tested).
NO_LIMIT = int(np.iinfo(np.int64).min)

#: The body of :func:`reserved_within`, as the class index writes it inline.
UNROLLED_RESERVED_WITHIN = "r[0] <= u0 and r[1] <= u1 and r[2] <= u2"


def free_at_least(free: Sequence[Any], amounts: Sequence[int]) -> Any:  # noqa: ANN401
    """Return the bool array of rows whose free amount is >= the amount in every dimension.

    Args:
        free: per dimension, an int64 array of free amounts (all the same length;
            -1 marks a row that can take nothing).
        amounts: per dimension, the requested amount (same order as ``free``).

    Runtime complexity: O(len(free) * rows) numpy work.
    """
    ok = free[0] >= amounts[0]
    for column, amount in zip(free[1:], amounts[1:], strict=True):
        ok &= column >= amount
    return ok


def rows_at_least(values: Any, thresholds: Any) -> Any:  # noqa: ANN401
    """Return the bool array over columns of ``values`` that meet every row's threshold.

    :func:`free_at_least` on stacked columns: ``values`` is an int64 array of
    shape ``(dimensions, n)``, ``thresholds`` an int64 array of shape
    ``(dimensions, 1)`` (:data:`NO_LIMIT` where a row is not tested).

    Runtime complexity: O(dimensions * n) numpy work, in two operations.
    """
    return (values >= thresholds).all(axis=0)


def copies_that_fit(free: Sequence[Any], amounts: Sequence[int], room: Any) -> Any:  # noqa: ANN401
    """Lower ``room`` (int64 array, in place) to how many copies of the request each row holds.

    A row holds ``k`` copies when ``free_d >= k * amount_d`` in every dimension
    (``k = 1`` is :func:`free_at_least`); dimensions with amount 0 bound nothing.

    Runtime complexity: O(len(free) * rows) numpy work.
    """
    for column, amount in zip(free, amounts, strict=True):
        if amount > 0:
            np.minimum(room, column // amount, out=room)
    return room


def reserved_within(r: tuple[int, int, int], u0: int, u1: int, u2: int) -> bool:
    """Return True when reserved tuple ``r`` fits under the limits ``u = capacity - request``.

    ``r + q <= capacity`` in cpu, memory and slots, written as ``r <= u`` so the
    limits are computed once per shape and request. O(1).
    """
    return r[0] <= u0 and r[1] <= u1 and r[2] <= u2
