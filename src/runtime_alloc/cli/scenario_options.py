"""The options ``simulate`` and ``run`` share: the workload, the fleet and the allocation.

Both commands read them with :func:`runtime_alloc.cli.workload.load_scenario`, so they are
defined once, here: ``run`` takes a workload and a fleet exactly as ``simulate`` does.
"""

from __future__ import annotations

import argparse

from runtime_alloc._units import MAX_QUANTITY
from runtime_alloc.allocator import BACKENDS
from runtime_alloc.cli._common import (
    UsageError,
    add_fleet_options,
    ascii_float,
    bounded_int,
    input_file,
    integer,
    positive_int,
    show,
)
from runtime_alloc.cli.workload import FORMATS
from runtime_alloc.strategies import STRATEGIES
from runtime_alloc.traces.openb import KUBERNETES_MAX_PODS
from runtime_alloc.traces.synthetic import DEFAULT_HOURS, DEFAULT_SEED

__all__ = ["MAX_HOURS", "MAX_INSTANCES_CAP", "add_scenario_options", "check_hours"]

#: The most hours of synthetic arrivals ``--hours`` takes (a week: about 166,000 tasks, half a
#: minute and 100 MB for ``simulate`` on a 2-vCPU machine; a year was 8.2 million tasks, more than
#: 500 s and 4 GB).
MAX_HOURS = 24 * 7

#: The most instances ``--instances-cap`` expands one alibaba2017 task row into (the largest row
#: of the v2017 trace has 64,486); a 40-byte row claiming 10**9 instances with no such bound
#: grew past 3.5 GB in a minute.
MAX_INSTANCES_CAP = 100_000


def add_scenario_options(
    parser: argparse.ArgumentParser, *, strategy_help: str, several_strategies: bool
) -> argparse._ArgumentGroup:
    """Add the workload, fleet and allocation groups; return the allocation group.

    Runtime complexity: O(1): a fixed set of options.

    Args:
        parser: the subcommand's parser.
        strategy_help: the help of ``--strategy``.
        several_strategies: ``--strategy`` may be repeated (a list), else one name.
    """
    source = parser.add_argument_group("workload")
    source.add_argument("--trace", type=input_file, metavar="FILE", help="read the tasks from FILE")
    source.add_argument(
        "--trace-format",
        choices=FORMATS,
        default="csv",
        help="csv: task_id,submit,duration,cpu,memory,slots[,require][,<extended>...]; "
        "openb: Alibaba GPU v2023 pod list; alibaba2017: Alibaba 2017 batch_task.csv",
    )
    source.add_argument(
        "--limit", type=positive_int, metavar="N", help="use only the first N tasks by submit time"
    )
    source.add_argument(
        "--instances-cap",
        type=bounded_int(1, MAX_INSTANCES_CAP),
        default=1,
        metavar="N",
        help=f"alibaba2017: at most N instances per task row (default 1, at most "
        f"{MAX_INSTANCES_CAP:,})",
    )
    source.add_argument(
        "--seed",
        type=integer,
        default=DEFAULT_SEED,
        help=f"synthetic workload seed (default {DEFAULT_SEED})",
    )
    source.add_argument(
        "--hours",
        default=str(DEFAULT_HOURS),
        help=(
            f"synthetic workload: hours of arrivals (default {DEFAULT_HOURS:g}, "
            f"at most {MAX_HOURS})"
        ),
    )
    fleet = parser.add_argument_group("fleet")
    fleet.add_argument(
        "--fleet", type=input_file, metavar="FILE", help="read the runners from FILE"
    )
    fleet.add_argument(
        "--fleet-format",
        choices=FORMATS,
        help="csv: name,cpu,memory,slots[,labels][,<extended>...]; openb: node list; "
        "alibaba2017: server_event.csv (default: the --trace-format)",
    )
    add_fleet_options(fleet)
    fleet.add_argument(
        "--runner-slots",
        type=bounded_int(1, MAX_QUANTITY),
        default=KUBERNETES_MAX_PODS,
        metavar="N",
        help="slots of each runner read from an openb/alibaba2017 file "
        f"(default {KUBERNETES_MAX_PODS})",
    )
    fleet.add_argument(
        "--fleet-limit", type=positive_int, metavar="N", help="use only the first N runners"
    )
    policy = parser.add_argument_group("allocation")
    policy.add_argument(
        "--strategy",
        action="append" if several_strategies else "store",
        choices=list(STRATEGIES),
        help=strategy_help,
    )
    policy.add_argument(
        "--weights", metavar="SPEC", help='dimension weights, e.g. "cpu=2,memory=1"'
    )
    policy.add_argument("--backend", choices=BACKENDS, default="auto", help="allocator backend")
    return policy


def check_hours(args: argparse.Namespace) -> None:
    """Turn ``args.hours`` into a number of hours, from more than 0 to :data:`MAX_HOURS`.

    Runtime complexity: O(len(args.hours)).

    Raises:
        UsageError: naming ``--hours`` and the value (NaN, infinity, Unicode digits included).
    """
    hours = ascii_float(args.hours)
    if hours is None or hours <= 0 or hours > MAX_HOURS:
        msg = f"--hours must be > 0 and at most a week ({MAX_HOURS}), got {show(args.hours)}"
        raise UsageError(msg)
    args.hours = hours
