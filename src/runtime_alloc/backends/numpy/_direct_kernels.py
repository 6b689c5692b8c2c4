"""numba kernels of the direct path (:mod:`.direct`): a decision and its reservation in one call.

Imported by :mod:`.compiled_index` only (numba is the optional ``fast`` extra).
The arrays are :mod:`._kernels`' plus ``dr``, the rows changed since the numpy
columns were last written: ``dr[0]`` is their count, ``dr[1 : dr[0] + 1]``
the rows (a row may repeat); the columns are written from ``ri`` when they
are read (:func:`.changed_rows.write_changed`). ``dr`` has room for two more rows
than the count at which it reports itself full (:data:`FULL_LIST`), the most
one kernel call notes, so no call writes past its end while the caller
empties it on that report.

A kernel's status has two bits: :data:`FULL_TREE` when the row's new tree had
no free position (the row is left unplaced: the caller places it,
:meth:`.CompiledIndex._place`, before anything reads the trees), and
:data:`FULL_LIST` when ``dr`` is full (the caller writes the columns, which
empties it).

These kernels compile :mod:`._kernels`' functions into their own cached code:
numba's cache of this module is renewed only when this file changes, so a
change to those functions must come with an edit here (as the key's formula
did, and the positions' copies of their rows' amounts in ``pm``, the 64-byte
node records and the inlined ``_may_win``), or the cache keeps running the old
code.
"""

from __future__ import annotations

from numba import njit

from runtime_alloc.backends.numpy._kernels import choose, set_row

#: the status bits (see the module docstring)
FULL_TREE, FULL_LIST = 1, 2


@njit(cache=True, inline="always")
def _mark(dr, row):
    # note row as changed; FULL_LIST when the list reached its count (2 places remain)
    n = dr[0] + 1
    dr[n] = row
    dr[0] = n
    return FULL_LIST if n >= dr.size - 3 else 0


@njit(cache=True)
def put(ri, pm, ni, nf, tr, sh, sf, dr, row, r0, r1, r2, usable):
    """:func:`._kernels.set_row`, the row noted in ``dr``; return the status. O(BUCKET + log n)."""
    return set_row(ri, pm, ni, nf, tr, sh, sf, row, r0, r1, r2, usable) | _mark(dr, row)


@njit(cache=True)
def take(
    ri, pm, ni, nf, tr, sh, sf, dr, w, w0, w1, w2, wu,
    cand, q0, q1, q2, maximize, stack, bounds, order,
):  # fmt: skip
    """Store a deferred update, choose a row for request ``(q0, q1, q2)`` and add it there.

    First, when ``w >= 0``, row ``w`` gets reserved amounts ``(w0, w1, w2)``
    and usability ``wu`` (:func:`put`); if that reports a status ``s``, the
    call returns ``-4 - s`` there (nothing chosen: the caller acts on it and
    calls again without the update). Then :func:`._kernels.choose` picks the
    row, whose reserved amounts become its old ones plus the request's (the
    chosen row is usable). Returns -1 when no row is feasible, else
    ``row << 2 | status``. O(:func:`._kernels.choose` + BUCKET + log n).
    """
    if w >= 0:
        s = put(ri, pm, ni, nf, tr, sh, sf, dr, w, w0, w1, w2, wu)
        if s:
            return -4 - s
    row = choose(pm, ni, nf, tr, sh, sf, cand, q0, q1, q2, maximize, stack, bounds, order)
    if row < 0:
        return -1
    status = set_row(
        ri, pm, ni, nf, tr, sh, sf, row, ri[row, 0] + q0, ri[row, 1] + q1, ri[row, 2] + q2, 1
    )
    return row << 2 | status | _mark(dr, row)
