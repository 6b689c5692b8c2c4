"""numba kernels of the direct path (:mod:`.direct`): a decision and its reservation in one call.

Imported by :mod:`.direct` only (numba is the optional ``fast`` extra). The
arrays are :mod:`._kernels`' plus ``dr``, the rows changed since the numpy
columns were last written: ``dr[0]`` is their count, ``dr[1 : dr[0] + 1]``
the rows (a row may repeat); the columns are written from ``ri`` when they
are read (:meth:`.NumpyBackend.sync`).

Both kernels return a status in their low two bits: bit 0 when the row's new
tree had no free position (the caller places it, :meth:`.CompiledIndex._place`),
bit 1 when ``dr`` is full (the caller writes the columns, which empties it).
"""

from __future__ import annotations

from numba import njit

from runtime_alloc.backends.numpy._kernels import choose, set_row

#: the status bits (see the module docstring)
FULL_TREE, FULL_LIST = 1, 2


@njit(cache=True, inline="always")
def _mark(dr, row):
    # append row to the changed rows; FULL_LIST when that filled the list
    n = dr[0] + 1
    dr[n] = row
    dr[0] = n
    return FULL_LIST if n == dr.size - 1 else 0


@njit(cache=True)
def put(ri, pm, ni, nf, tr, sh, sf, dr, row, r0, r1, r2, usable):
    """:func:`._kernels.set_row`, the row noted in ``dr``; return the status. O(BUCKET + log n)."""
    return set_row(ri, pm, ni, nf, tr, sh, sf, row, r0, r1, r2, usable) | _mark(dr, row)


@njit(cache=True)
def take(ri, pm, ni, nf, tr, sh, sf, dr, cand, q0, q1, q2, maximize, stack, bounds, order):
    """Choose a row for request ``(q0, q1, q2)`` (:func:`._kernels.choose`) and add it there.

    Returns -1 when no row is feasible, else ``row << 2 | status``: the row's
    reserved amounts are its old ones plus the request's (the chosen row is
    usable). O(:func:`._kernels.choose` + BUCKET + log n).
    """
    row = choose(ri, pm, ni, nf, tr, sh, sf, cand, q0, q1, q2, maximize, stack, bounds, order)
    if row < 0:
        return -1
    status = set_row(
        ri, pm, ni, nf, tr, sh, sf, row, ri[row, 0] + q0, ri[row, 1] + q1, ri[row, 2] + q2, 1
    )
    return row << 2 | status | _mark(dr, row)
