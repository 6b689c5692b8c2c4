"""Device columns of the numpy table: per kind, the largest free share and the wholly free count.

For each device kind ``k`` two int64 columns over the table's rows:

* ``share[k][i]``: the most milli free on one device of runner ``i`` (``-1`` when the
  runner has no devices of kind ``k``: its pooled column decides alone);
* ``whole[k][i]``: how many of its devices are wholly free.

They answer :func:`runtime_alloc.devices.fits` exactly, in vector form: a share
``q <= 1000`` fits iff one device has ``q`` free iff the largest free share is
``>= q``; ``j`` whole devices fit iff ``whole >= j``. (The pooled check is implied
where a runner has devices: its pooled free is the sum of its devices' free.)
Runtime complexity: O(devices) per runner update, O(len(idx)) per mask.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from runtime_alloc.devices import DEVICE_MILLI, largest_free_share, whole_free

__all__ = ["DeviceColumns"]

_I64 = np.int64


class DeviceColumns:
    """The ``share`` and ``whole`` columns of every device kind seen, over ``nrows`` rows."""

    def __init__(self) -> None:
        self.nrows = 0
        self.share: dict[str, Any] = {}
        self.whole: dict[str, Any] = {}
        #: row -> the device use itself (for the states the backend reports)
        self.use: dict[int, Mapping[str, tuple[int, ...]]] = {}
        #: extended kind -> rows whose capacity of it is > 0 (cached until runners change)
        self._rows: dict[str, Any] = {}

    def runners_changed(self) -> None:
        """Forget the cached rows per kind (runners were added or removed). O(1)."""
        self._rows.clear()

    def rows_with(self, kind: str, capacity: Any) -> Any:  # noqa: ANN401
        """The rows whose ``capacity`` column of ``kind`` is > 0, cached. O(N) on a miss.

        Only they can take a request asking ``kind`` (a request never holds a 0),
        so a scan of them gives the full scan's answer.
        """
        rows = self._rows.get(kind)
        if rows is None:
            rows = self._rows[kind] = np.flatnonzero(capacity > 0)
        return rows

    def grow(self, nrows: int) -> None:
        """Make room for ``nrows`` rows (new rows have no devices). O(kinds * nrows)."""
        for cols in (self.share, self.whole):
            for kind, old in cols.items():
                new = np.full(nrows, -1, dtype=_I64)
                new[: len(old)] = old
                cols[kind] = new
        self.nrows = nrows
        self._rows.clear()

    def set(self, i: int, devices: Mapping[str, tuple[int, ...]]) -> None:
        """Write row ``i`` from a runner state's device use. O(devices)."""
        self.use[i] = devices
        for kind, used in devices.items():
            share = self.share.get(kind)
            if share is None:
                share = self.share[kind] = np.full(self.nrows, -1, dtype=_I64)
                self.whole[kind] = np.full(self.nrows, -1, dtype=_I64)
            share[i] = largest_free_share(used)
            self.whole[kind][i] = whole_free(used)

    def clear(self, i: int) -> None:
        """Row ``i`` has no devices (a removed runner). O(kinds)."""
        self.use.pop(i, None)
        for kind, share in self.share.items():
            share[i] = -1
            self.whole[kind][i] = -1

    def asks_devices(self, extended: Mapping[str, int]) -> bool:
        """True when ``extended`` names a kind some row has as devices. O(len(extended))."""
        share = self.share
        return bool(share) and any(kind in share for kind in extended)

    def mask(self, idx: Any, kind: str, milli: int) -> Any:  # noqa: ANN401
        """Bool array over rows ``idx``: no devices of ``kind``, or devices that take ``milli``.

        None when no row has devices of ``kind``. O(len(idx)).
        """
        share = self.share.get(kind)
        if share is None:
            return None
        if milli <= DEVICE_MILLI:
            s = share[idx]
            return (s < 0) | (s >= milli)
        w = self.whole[kind][idx]
        return (w < 0) | (w >= milli // DEVICE_MILLI)

    def offer(self, idx: Any, kind: str, milli: int) -> Any:  # noqa: ANN401
        """Over rows ``idx``: the largest free share (a share) or 1000 x the wholly free devices.

        -1 where a row has no devices of ``kind``; None when no row has
        (:func:`runtime_alloc.devices.offered` in vector form). O(len(idx)).
        """
        share = self.share.get(kind)
        if share is None:
            return None
        if milli <= DEVICE_MILLI:
            return share[idx]
        w = self.whole[kind][idx]
        return np.where(w < 0, -1, w * DEVICE_MILLI)

    def check(self, i: int, devices: Mapping[str, tuple[int, ...]], name: str) -> None:
        """Assert row ``i`` agrees with ``devices`` (tests call this). O(devices)."""
        for kind, share in self.share.items():
            used = devices.get(kind)
            want = (-1, -1) if used is None else (largest_free_share(used), whole_free(used))
            assert (share[i], self.whole[kind][i]) == want, (name, kind)  # noqa: S101
