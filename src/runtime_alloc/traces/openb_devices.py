"""Read the openb node and pod lists per GPU device, as columns for the fill experiment.

:mod:`runtime_alloc.traces.openb` reads the same files as pooled ``Runner`` and
``SimTask`` values; this reader keeps what the FGD paper's method needs and the
pool hides: how many GPUs a node has and of which model, whether a pod asks a
share of one GPU (``num_gpu == 1`` and ``gpu_milli < 1000``) or ``num_gpu``
whole GPUs, and the pod's ``gpu_spec`` (allowed models, an OR). The
``multigpu50`` list has no time columns, which this reader does not need.

Needs numpy (the ``numpy`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from runtime_alloc.traces.errors import InputFileError
from runtime_alloc.traces.openb import _ints, _records

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["DeviceFleet", "DevicePods", "read_device_fleet", "read_device_pods"]

#: Milli-units in one device.
DEVICE_MILLI = 1000
_NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
_POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")


@attrs.frozen(eq=False)
class _NamedRows:
    """Rows of an openb list as columns, index = row order of the file.

    Attributes:
        names: row names (a node's ``sn``, a pod's ``name``).
        cpu: millicores (a node's capacity, a pod's ask).
        memory: MiB (a node's capacity, a pod's ask).
    """

    names: tuple[str, ...]
    cpu: npt.NDArray[np.int64]
    memory: npt.NDArray[np.int64]


@attrs.frozen(eq=False)
class DeviceFleet(_NamedRows):
    """GPU nodes as columns (index = node order of the file).

    Attributes:
        names: node names (``sn``).
        cpu: cpu capacity in millicores.
        memory: memory capacity in MiB.
        devices: number of GPUs.
        model: index into ``models`` of each node's GPU model (-1 when none).
        models: the GPU model names, sorted.
    """

    devices: npt.NDArray[np.int64]
    model: npt.NDArray[np.int64]
    models: tuple[str, ...]

    @property
    def gpu_milli(self) -> int:
        """Total GPU capacity in milli-GPUs. O(nodes): sums the device counts."""
        return int(self.devices.sum()) * DEVICE_MILLI


@attrs.frozen(eq=False)
class DevicePods(_NamedRows):
    """Pods as columns (index = row order of the file).

    Attributes:
        names: pod names.
        cpu: millicores asked.
        memory: MiB asked.
        count: GPUs asked (0 for a cpu-only pod, 1 for a share or one whole GPU).
        milli: milli asked on each of those GPUs (1000 for whole GPUs).
        spec: the ``gpu_spec`` text (models joined by ``|``; empty = any model).
    """

    count: npt.NDArray[np.int64]
    milli: npt.NDArray[np.int64]
    spec: tuple[str, ...]

    @property
    def gpu_milli(self) -> npt.NDArray[np.int64]:
        """GPU milli asked by each pod (``count * milli``). O(P): a new array of the P pods."""
        return self.count * self.milli


def _int_columns(values: Sequence[tuple[int, ...]]) -> list[npt.NDArray[np.int64]]:
    """The columns of the integer rows ``values``, each its own int64 array. O(rows * columns)."""
    import numpy as np  # noqa: PLC0415 (optional extra)

    table = np.array(values, dtype=np.int64)
    return [table[:, i].copy() for i in range(table.shape[1])]


def read_device_fleet(path: str | Path) -> DeviceFleet:
    """Read ``openb_node_list_gpu_node.csv`` (or ``all_node``) with its GPUs per node.

    Raises:
        InputFileError: naming the file, the line, the column and the value.

    Runtime complexity: O(rows).
    """
    import numpy as np  # noqa: PLC0415 (optional extra)

    col, records = _records(path, _NODE_COLUMNS, "node")
    names: list[str] = []
    values: list[tuple[int, int, int]] = []
    model_names: list[str] = []
    for line, row in records:
        cpu, mem, gpu = _ints(path, line, row, col, ("cpu_milli", "memory_mib", "gpu"))
        if gpu > 64:
            raise InputFileError(path, line, f"column gpu: at most 64 GPUs per node, got {gpu}")
        names.append(row[col["sn"]])
        values.append((cpu, mem, gpu))
        model_names.append(row[col["model"]] if gpu else "")
    if not names:
        raise InputFileError(path, None, "lists no nodes")
    models = tuple(sorted({m for m in model_names if m}))
    index = {m: i for i, m in enumerate(models)}
    cpus, memories, devices = _int_columns(values)
    return DeviceFleet(
        names=tuple(names),
        cpu=cpus,
        memory=memories,
        devices=devices,
        model=np.array([index.get(m, -1) for m in model_names], dtype=np.int64),
        models=models,
    )


def read_device_pods(path: str | Path) -> DevicePods:
    """Read an ``openb_pod_list_*.csv`` file per device (times are not needed).

    Raises:
        InputFileError: naming the file, the line, the column and the value; a
            ``gpu_milli`` outside 1..1000 for a one-GPU pod is an error.

    Runtime complexity: O(rows).
    """
    import numpy as np  # noqa: F401, PLC0415 (the extra is checked before the file is read)

    col, records = _records(path, _POD_COLUMNS, "pod")
    spec_col = col.get("gpu_spec")
    names: list[str] = []
    values: list[tuple[int, int, int, int]] = []
    specs: list[str] = []
    for line, row in records:
        cpu, mem, count, milli = _ints(
            path, line, row, col, ("cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
        )
        if count == 1 and not 0 < milli <= DEVICE_MILLI:
            msg = f"column gpu_milli: a one-GPU pod asks 1..{DEVICE_MILLI} milli, got {milli}"
            raise InputFileError(path, line, msg)
        if count > 64:
            raise InputFileError(path, line, f"column num_gpu: at most 64, got {count}")
        names.append(row[col["name"]])
        values.append((cpu, mem, count, milli if count == 1 else DEVICE_MILLI if count else 0))
        specs.append(row[spec_col] if spec_col is not None and count else "")
    if not names:
        raise InputFileError(path, None, "lists no pods")
    cpus, memories, counts, millis = _int_columns(values)
    return DevicePods(
        names=tuple(names), cpu=cpus, memory=memories, count=counts, milli=millis, spec=tuple(specs)
    )
