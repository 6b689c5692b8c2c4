"""Readers of workloads and fleets: trace and fleet files, and the embedded synthetic scenario.

Each reader returns plain values (a tuple of :class:`~runtime_alloc.simulation.SimTask`
or of :class:`~runtime_alloc.Runner`) and runs no simulation; a malformed file raises
:class:`InputFileError` naming the file, the line, the column and the value.

* :mod:`~runtime_alloc.traces.trace_csv` and :mod:`~runtime_alloc.traces.fleet_csv`: the
  generic CSV formats;
* :mod:`~runtime_alloc.traces.openb`: the Alibaba GPU cluster trace v2023 pod and node lists;
* :mod:`~runtime_alloc.traces.alibaba2017`: the Alibaba 2017 batch tasks and machine events;
* :mod:`~runtime_alloc.traces.synthetic`: the seeded default workload and fleet.
"""

from runtime_alloc.traces.alibaba2017 import (
    NOTIONAL_MACHINE_MEMORY,
    read_alibaba2017_machines,
    read_alibaba2017_tasks,
)
from runtime_alloc.traces.errors import InputFileError
from runtime_alloc.traces.fleet_csv import read_fleet_csv
from runtime_alloc.traces.openb import KUBERNETES_MAX_PODS, read_openb_nodes, read_openb_pods
from runtime_alloc.traces.synthetic import (
    DEFAULT_HOURS,
    DEFAULT_SEED,
    default_fleet,
    default_workload,
)
from runtime_alloc.traces.trace_csv import MAX_TASK_SLOTS, read_trace_csv

__all__ = [
    "DEFAULT_HOURS",
    "DEFAULT_SEED",
    "KUBERNETES_MAX_PODS",
    "MAX_TASK_SLOTS",
    "NOTIONAL_MACHINE_MEMORY",
    "InputFileError",
    "default_fleet",
    "default_workload",
    "read_alibaba2017_machines",
    "read_alibaba2017_tasks",
    "read_fleet_csv",
    "read_openb_nodes",
    "read_openb_pods",
    "read_trace_csv",
]
