"""The bulk build of the device class heaps (:mod:`.device_classes`) from the columns.

:func:`build_classes` reads the table's columns for the rows declaring every requested
name with numpy gathers, then makes one Python pass over the rows: each row to its
group (:class:`.device_groups.DeviceGroup`, by shape) and r-class, then each class's
members into its group's tier heap. See :mod:`.device_classes` for the classes and why
the answers are exact.
"""

from __future__ import annotations

from heapq import heapify, heappush
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime_alloc.backends.numpy.device_groups import CPU_TIERS, DeviceGroup
from runtime_alloc.backends.numpy.shape_groups import SHIFT, bucket_member
from runtime_alloc.devices import DEVICE_MILLI

if TYPE_CHECKING:
    from runtime_alloc.backends.numpy.device_classes import DeviceClasses

__all__ = ["build_classes"]


def build_classes(index: DeviceClasses, rows: Any, max_groups: int) -> None:  # noqa: ANN401
    """Index ``rows`` (int64 array; those lacking a requested name are left out). O(n).

    Fills ``index``'s groups, classes and tier heaps; stops with ``index.too_many`` set
    when the rows have more than ``max_groups`` shapes.
    """
    t = index.backend.table
    names, nn, k = index.names, index.nn, index.kind
    caps = [t.extended[x][0][rows] for x in names]
    keep = np.logical_and.reduce([c > 0 for c in caps])  # a name lacking: never feasible
    rows = rows[keep]
    if not len(rows):
        return
    caps = [c[keep] for c in caps]
    has = []  # per name: the runner has devices of it
    devices = []  # per name: -largest free share, -wholly free (0, 0 without devices)
    for x in names:
        share = t.devices.share.get(x)
        s = np.full(len(rows), -1, dtype=np.int64) if share is None else share[rows]
        w = s if share is None else t.devices.whole[x][rows]
        has.append(s >= 0)
        devices += [np.where(s >= 0, -s, 0), np.where(s >= 0, -w, 0)]
    shape_columns = [t.capacity[d][rows] for d in range(3)] + caps
    shape_columns += [np.where(h, cap // DEVICE_MILLI, 0) for h, cap in zip(has, caps, strict=True)]
    shape_columns.append(t.labelset[rows].astype(np.int64))
    class_columns = [t.reserved[d][rows] for d in range(3)]
    class_columns += [t.extended[x][1][rows] for x in names]
    class_columns += devices
    shapes = list(
        map(tuple, np.array(shape_columns, dtype=np.int64).reshape(-1, len(rows)).T.tolist())
    )
    classes = list(
        map(tuple, np.array(class_columns, dtype=np.int64).reshape(-1, len(rows)).T.tolist())
    )
    row_list = rows.tolist()
    seqs = t.sequence[rows].tolist()
    draining = t.draining[rows].tolist()
    groups = index.groups
    group_of, rclass_of, member_of = index.group_of, index.rclass_of, index.member_of
    buckets: dict[tuple[int, tuple[int, ...]], tuple[DeviceGroup, list[int]]] = {}
    for row, seq, key, r, drain in zip(row_list, seqs, shapes, classes, draining, strict=True):
        g = groups.get(key)
        if g is None:
            if len(groups) >= max_groups:
                index.too_many = True
                return
            runner = t.runners[row]
            assert runner is not None  # noqa: S101
            shape = key[:-1]
            at = (
                (3 + nn + 2 * k, 4 + nn + 2 * k, 1)
                if shape[3 + nn + k]
                else (3 + k, shape[3 + k], 0)
            )
            g = groups[key] = DeviceGroup(
                shape, nn, runner.labels, index.weights, at, CPU_TIERS if index.maximize else 1
            )
        group_of[row] = g
        member = seq << SHIFT | row
        member_of[row] = member
        if drain:
            rclass_of[row] = None
            continue
        rclass_of[row] = r
        bucket_member(buckets, g, r, member)
    maximize = index.maximize
    for (_, r), (g, members) in buckets.items():
        g.count[r] = len(members)
        if len(members) == 1:
            g.members[r] = members[0]
        else:
            heapify(members)
            g.members[r] = members
        rk = g.key(r)
        heappush(g.heap(r), (-rk if maximize else rk, r))
        g.inheap.add(r)
