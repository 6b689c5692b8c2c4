"""The compiled index's memory layout: position copies, 64-byte node records, signed keys.

The searches read a bucket's rows from their positions' copies in ``pm`` and a
node from one 64-byte record whose last field is the signed key (negated when
the highest score wins); the direct path calls ``take``'s compiled code
without numba's dispatch. These tests break if a copy goes stale (a drain, a
tier move, a removal, a relayout), if a record leaves its cache line, if a
key's sign or rounding differs from the python formula, or if the compiled
code answers differently from the dispatcher. Skipped where numba is missing.
"""

from __future__ import annotations

import random

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("numba")

from runtime_alloc import EvenSpreadStrategy, MaxPackingStrategy, Resources, Runner  # noqa: E402
from runtime_alloc.backends.numpy import _direct_kernels  # noqa: E402
from runtime_alloc.backends.numpy.compiled_index import CompiledIndex, node_records  # noqa: E402
from runtime_alloc.backends.numpy.direct import DirectPath, compiled_code  # noqa: E402
from tests.backends.numpy import test_backend as tb  # noqa: E402
from tests.backends.numpy.test_direct_path import churn, compiled_pair, same  # noqa: E402

STRATEGIES = [EvenSpreadStrategy(), MaxPackingStrategy()]


def _copies(index: CompiledIndex) -> None:
    """Every indexed row's position holds its member and amounts (cpu -1 when draining)."""
    ri, pm = index.ri, index.pm
    for row in np.flatnonzero(ri[:, 4] >= 0).tolist():
        pos = int(ri[row, 3])
        usable = bool(ri[row, 4] & 1)
        want = [
            int(ri[row, 5]),
            int(ri[row, 0]) if usable else -1,
            int(ri[row, 1]),
            int(ri[row, 2]),
        ]
        assert pm[pos].tolist() == want, row


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_position_copies_follow_churn_drains_tier_moves_and_removals(strategy):
    rng = random.Random(11)
    fleet = [Runner(f"r{i}", tb.CAPS[i % 3]) for i in range(240)]
    ref, fast, backend = compiled_pair(fleet, strategy)
    held: list[str] = []
    for rnd in range(8):
        churn(ref, fast, rng, 150, held, prefix=f"t{rnd}-")
        name = f"r{rng.randrange(240)}"
        if rnd % 2 == 0:
            for alloc in (ref, fast):
                alloc.drain_runner(name)
        elif name in {s.runner.name for s in ref.snapshot().runners}:
            gone = ref.remove_runner(name, force=True)
            assert fast.remove_runner(name, force=True) == gone
            dropped = {r.task_id for r in gone}
            held[:] = [t for t in held if t not in dropped]
        same(ref, fast, backend)  # also compiled_checks: copies, free positions, fresh build
        index = backend.classes
        assert isinstance(index, CompiledIndex)
        _copies(index)
    assert isinstance(backend.direct, DirectPath)
    drained = [s for s in ref.snapshot().runners if s.draining]
    assert drained  # a draining runner's position is skipped by its cpu copy (-1)
    index = backend.classes
    for state in drained:
        row = backend.table.key_of[state.runner.name] & ((1 << 32) - 1)
        assert index.pm[index.ri[row, 3], 1] == -1


@pytest.mark.parametrize("nodes", [1, 7, 100, 4097, 100_000])
def test_node_records_are_64_byte_lines_shared_by_the_keys(nodes):
    ni, nf = node_records(nodes)
    assert ni.shape == nf.shape == (nodes, 8)
    assert ni.dtype == np.int64
    assert nf.dtype == np.float64
    assert ni.flags.c_contiguous
    assert ni.ctypes.data % 64 == 0
    assert np.shares_memory(ni, nf)
    assert nf.ctypes.data == ni.ctypes.data
    nf[nodes - 1, 7] = -2.5
    assert ni[nodes - 1, 7] == np.float64(-2.5).view(np.int64)
    assert not ni[:, :7].any()


def _py_key(r, coef):
    # k(r) / W as the kernels compute it: products by the coefficients, left to right
    return float(r[0]) * coef[0] + float(r[1]) * coef[1] + float(r[2]) * coef[2]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_trees_root_holds_the_signed_extreme_key_bit_for_bit(strategy):
    rng = random.Random(3)
    fleet = [Runner(f"r{i}", tb.CAPS[i % 3]) for i in range(300)]
    ref, fast, backend = compiled_pair(fleet, strategy)
    churn(ref, fast, rng, 400, [], prefix="t")
    backend.sync()
    index = backend.classes
    assert isinstance(index, CompiledIndex)
    index.settle()
    maximize = isinstance(strategy, MaxPackingStrategy)
    assert index.maximize is maximize
    ri, tr, sf = index.ri, index.tr, index.sf
    for tree in range(len(tr)):
        s = int(tr[tree, 5])
        coef = [float(c) for c in sf[s, 4:7]]
        rows = np.flatnonzero(ri[:, 4] == 2 * tree + 1).tolist()
        root = index.nf[int(tr[tree, 1]) + 1, 7]
        if not rows:
            assert root == np.inf
            continue
        unsigned = [abs(c) for c in coef]
        keys = [_py_key(ri[r, :3].tolist(), unsigned) for r in rows]
        want = -max(keys) if maximize else min(keys)
        assert root == want, tree  # negation is exact: the same bound bit for bit
        assert all(c <= 0.0 for c in coef) if maximize else all(c >= 0.0 for c in coef)


def test_the_direct_path_calls_take_compiled_code_with_the_same_answers():
    fleet = [Runner(f"r{i}", tb.CAPS[i % 3]) for i in range(64)]
    ref, fast, backend = compiled_pair(fleet, EvenSpreadStrategy())
    churn(ref, fast, random.Random(1), 20, [], prefix="t")
    path = backend.direct
    assert isinstance(path, DirectPath)
    assert path._take is not _direct_kernels.take  # no dispatch per call
    ix = backend.classes
    ix.settle()

    def args(q0):
        return (
            ix.ri.copy(), ix.pm.copy(), *node_copies(ix), ix.tr.copy(), ix.sh, ix.sf,
            ix.dr.copy(), -1, 0, 0, 0, 0, path._cand, q0, 1 << 28, 1,
            ix.maximize_flag, ix.stack, ix.bounds, ix.order,
        )  # fmt: skip

    for q0 in (1, 250, 1500, 3999, 16000, 16001):
        assert path._take(*args(q0)) == _direct_kernels.take(*args(q0)), q0
    with pytest.raises(OverflowError):  # as the dispatcher: the caller's "fits nowhere"
        path._take(*args(1 << 63))
    # looked up once per signature: the same code for the same types
    assert compiled_code(_direct_kernels.take, args(1)) is not None


def node_copies(ix):
    ni = ix.ni.copy()
    return ni, ni.view(np.float64)


def test_a_request_beyond_int64_through_the_direct_path_fits_nowhere():
    fleet = [Runner(f"r{i}", Resources(4000, 1 << 34, 16)) for i in range(8)]
    ref, fast, backend = compiled_pair(fleet, MaxPackingStrategy())
    churn(ref, fast, random.Random(2), 10, [], prefix="t")
    path = backend.direct
    assert isinstance(path, DirectPath)
    assert path.take(1 << 63, 1, 1) is None
    assert path.take(1, 1, 1) is not None  # the index still answers
