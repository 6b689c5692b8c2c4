"""Read the Alibaba GPU cluster trace v2023 ("openb") pod and node lists.

Mapping (see ``docs/benchmarks.md``):

* pod: submit = ``creation_time``, duration = ``deletion_time - creation_time``;
  cpu = ``cpu_milli`` millicores; memory = ``memory_mib`` MiB; 1 slot; the
  extended resource ``gpu`` counts **milli-GPUs**: ``gpu_milli`` when
  ``num_gpu`` is 1 (a share of one GPU), ``1000 * num_gpu`` otherwise.
  ``gpu_spec`` (allowed GPU models, an OR) is not mapped: ``require`` is an AND
  of labels.
* node: name = ``sn``; cpu = ``cpu_milli``; memory = ``memory_mib`` MiB;
  ``gpu`` = 1000 * ``gpu``; label = ``model`` when present; slots =
  ``runner_slots`` (default 110, Kubernetes' default pod limit per node).

The GPU pool of a node is one number, so a shared-GPU pod may use the sum of
partial GPUs: the fragmentation *inside* a GPU that FGD studies is not modelled.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

from runtime_alloc.resources import Resources
from runtime_alloc.runners import Runner
from runtime_alloc.simulation.tasks import SimTask
from runtime_alloc.traces._csvio import cell, non_negative_int, number, rows, sized
from runtime_alloc.traces.errors import InputFileError

__all__ = ["KUBERNETES_MAX_PODS", "read_openb_nodes", "read_openb_pods"]

#: Kubernetes' default ``maxPods`` per node, used as the slots of a trace node.
KUBERNETES_MAX_PODS = 110

_POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
_TIME_COLUMNS = ("creation_time", "deletion_time")
_NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu")


def _header(path: str | Path, need: tuple[str, ...], what: str) -> tuple[int, list[str]]:
    first = next(rows(path), None)
    if first is None:
        raise InputFileError(path, None, f"is empty; expected an openb {what} list")
    line, header = first
    missing = [c for c in need if c not in header]
    if missing:
        msg = f"is not an openb {what} list: header lacks {', '.join(missing)}"
        if what == "pod" and set(missing) <= set(_TIME_COLUMNS):
            msg += " (this file has no times; it is for static packing only)"
        raise InputFileError(path, line, msg)
    return line, header


#: An integer cell >= 0 (the message says ">= 0", as it always has for openb).
_int = partial(non_negative_int, rule=">= 0")


def _records(
    path: str | Path, need: tuple[str, ...], what: str
) -> tuple[dict[str, int], Iterator[tuple[int, list[str]]]]:
    """Check the header of an openb ``what`` list; return its column indexes and its rows.

    The rows come after the header, each checked to have one cell per column.

    Raises:
        InputFileError: for a missing file, an empty one or a header without ``need``.

    Runtime complexity: O(columns**2) here (a header has a few columns), O(columns)
    per row read.
    """
    _, header = _header(path, need, what)
    records = rows(path)
    next(records)
    return {name: header.index(name) for name in header}, sized(path, records, header)


def _ints(
    path: str | Path, line: int, values: list[str], col: dict[str, int], names: tuple[str, ...]
) -> list[int]:
    """Parse the cells ``names`` of one row as integers >= 0, in that order. O(len(names))."""
    return [cell(path, line, name, values[col[name]], _int) for name in names]


def read_openb_pods(path: str | Path) -> tuple[SimTask, ...]:
    """Read an ``openb_pod_list_*.csv`` file as a workload.

    Raises:
        InputFileError: naming the file, the line, the column and the value.

    Runtime complexity: O(rows).
    """
    col, records = _records(path, _POD_COLUMNS + _TIME_COLUMNS, "pod")
    tasks = []
    for line, values in records:

        def get(name: str, *, _v: list[str] = values, _line: int = line) -> int:
            return cell(path, _line, name, _v[col[name]], _int)

        num_gpu = get("num_gpu")
        gpu = get("gpu_milli") if num_gpu == 1 else 1000 * num_gpu
        start = cell(path, line, "creation_time", values[col["creation_time"]], number)
        end = cell(path, line, "deletion_time", values[col["deletion_time"]], number)
        if end < start:
            msg = f"deletion_time {end:g} is before creation_time {start:g}"
            raise InputFileError(path, line, msg)
        request = Resources(
            millicpu=get("cpu_milli"),
            memory_bytes=get("memory_mib") * 2**20,
            slots=1,
            extended={"gpu": gpu},
        )
        tasks.append(SimTask(values[col["name"]], start, end - start, request))
    return tuple(tasks)


def read_openb_nodes(
    path: str | Path, *, runner_slots: int = KUBERNETES_MAX_PODS
) -> tuple[Runner, ...]:
    """Read an ``openb_node_list_*.csv`` file as a fleet (GPUs in milli-GPUs).

    Raises:
        InputFileError: naming the file, the line, the column and the value.

    Runtime complexity: O(rows).
    """
    col, records = _records(path, _NODE_COLUMNS, "node")
    model = col.get("model")
    runners = []
    for line, values in records:
        cpu, memory, gpu = _ints(path, line, values, col, ("cpu_milli", "memory_mib", "gpu"))
        capacity = Resources(
            millicpu=cpu,
            memory_bytes=memory * 2**20,
            slots=runner_slots,
            extended={"gpu": 1000 * gpu},
        )
        labels = [values[model]] if model is not None and values[model] else []
        runners.append(
            cell(
                path,
                line,
                "sn",
                values[col["sn"]],
                partial(Runner, capacity=capacity, labels=labels),
            )
        )
    if not runners:
        raise InputFileError(path, None, "lists no nodes")
    return tuple(runners)
