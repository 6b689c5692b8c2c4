"""Run one Airflow workload and exit with its supervisor's exit code.

The local mode starts ``python -m runtime_alloc.integrations.airflow.run_workload
--json-string '<ExecuteTask JSON>'`` per task; the Celery task
``runtime_alloc.execute_workload`` calls :func:`run_workload_json` in the worker.

The exit code is the task supervisor's: non-zero when the task process could
not run (the API server unreachable, a bad workload) or was killed. A task that
ran and failed reports ``failed`` to the API server itself and its supervisor
exits 0, as under the Celery executor: Airflow's database holds the task's
state; the executor layer records whether its process ran to the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

__all__ = ["main", "run_in_subprocess", "run_workload_json"]


def run_workload_json(text: str) -> int:
    """Run the ``ExecuteTask`` workload serialized in ``text``; return the exit code.

    Runtime complexity: the task's.
    """
    from airflow.executors.base_executor import BaseExecutor  # noqa: PLC0415
    from airflow.executors.workloads import ExecuteTask  # noqa: PLC0415

    workload: Any = ExecuteTask.model_validate_json(text)
    return int(BaseExecutor.run_workload(workload, subprocess_logs_to_stdout=False))


def run_in_subprocess(text: str) -> int:
    """Run the workload in a fresh interpreter (the local mode's payload).

    Cost: blocks for a fresh interpreter and the whole task (one ``subprocess.run``); O(1) work
    here.

    Raises:
        RuntimeError: the task process exited non-zero (the code is in the message).
    """
    command = [sys.executable, "-m", __name__, "--json-string", text]
    code = subprocess.run(command, check=False).returncode  # noqa: S603
    if code != 0:
        msg = f"the Airflow task process exited with code {code}"
        raise RuntimeError(msg)
    return code


def main(argv: list[str] | None = None) -> int:
    """Parse ``--json-string`` and run the workload. O(the task)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-string", required=True, help="the ExecuteTask workload as JSON")
    args = parser.parse_args(argv)
    return run_workload_json(args.json_string)


if __name__ == "__main__":
    sys.exit(main())
