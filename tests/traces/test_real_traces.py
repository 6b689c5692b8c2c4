"""The readers on the real public traces (skipped when ../shared/traces is absent)."""

from __future__ import annotations

from runtime_alloc.traces.alibaba2017 import read_alibaba2017_machines, read_alibaba2017_tasks
from runtime_alloc.traces.openb import read_openb_nodes, read_openb_pods


def test_openb_readers(traces_dir):
    folder = traces_dir / "alibaba-gpu-v2023-openb"
    pods = read_openb_pods(folder / "openb_pod_list_default.csv")
    nodes = read_openb_nodes(folder / "openb_node_list_all_node.csv")
    assert (len(pods), len(nodes)) == (8152, 1523)  # row counts from SOURCE.md
    # first pod: 12000 millicores, 16384 MiB, num_gpu 1 with gpu_milli 1000, alive 0 .. 12537496 s
    first = pods[0]
    assert (first.request.millicpu, first.request.memory_bytes) == (12000, 16384 * 2**20)
    assert dict(first.request.extended) == {"gpu": 1000}
    assert (first.submit, first.duration) == (0.0, 12537496.0)
    assert sum(1 for n in nodes if not n.capacity.extended) == 310  # CPU-only nodes per SOURCE.md


def test_alibaba2017_readers(traces_dir):
    folder = traces_dir / "alibaba-v2017-batch"
    tasks = read_alibaba2017_tasks(folder / "batch_task.csv")
    machines = read_alibaba2017_machines(folder / "server_event.csv")
    # 67,013 Terminated rows, 10 of them without a plan; 1,313 machines have 'add' events
    assert (len(tasks), len(machines)) == (67003, 1313)
    assert all(m.capacity.millicpu == 64000 for m in machines)
