"""Requests and settings of the Airflow executor: pure code, tested without Airflow."""

from __future__ import annotations

import pytest

from runtime_alloc import Resources
from runtime_alloc.errors import InvalidArgumentError, InvalidResourcesError, UnknownStrategyError
from runtime_alloc.integrations.airflow import (
    ExecutorSettings,
    executor_config,
    parse_runners,
    request_of,
    task_request,
)


class Qty:
    def __init__(self, qty: float) -> None:
        self.qty = qty


class OssResources:  # the shape of airflow.sdk's Resources: cpus, ram (MB), disk, gpus
    def __init__(self, cpus: float, ram: int, disk: int, gpus: int) -> None:
        self.cpus, self.ram, self.disk, self.gpus = Qty(cpus), Qty(ram), Qty(disk), Qty(gpus)


def test_executor_config_first_then_resources_then_default() -> None:
    config = {"runtime_alloc": {"cpu": "1.5", "memory": "1024MB", "slots": "2"}}
    oss = OssResources(cpus=2, ram=512, disk=512, gpus=1)
    assert task_request(config, oss).resources == Resources.parse("cpu=1.5,memory=1Gi,slots=2")
    from_oss = task_request(None, oss)
    assert (str(from_oss.resources), from_oss.source) == (
        "cpu=2,memory=512Mi,slots=1,gpu=1",
        "resources",
    )
    assert task_request({"other_executor": {}}).source == "default"


def test_request_of_reads_a_task_instance() -> None:
    class TI:
        def __init__(self) -> None:
            self.executor_config = {"runtime_alloc": {"cpu": "250m"}}
            self.priority_weight = 7

    req = request_of(TI())
    assert (str(req.resources), req.priority) == ("cpu=250m,memory=0,slots=1", 7)


@pytest.mark.parametrize(
    ("config", "priority", "error", "fragment"),
    [
        ("cpu=1", 0, InvalidArgumentError, "executor_config must be a mapping, got 'cpu=1'"),
        ({"runtime_alloc": ["cpu", 1]}, 0, InvalidResourcesError, "must be a mapping such as"),
        (
            {"runtime_alloc": {"memory": "-1GB"}},
            0,
            InvalidResourcesError,
            "executor_config['runtime_alloc']: memory",
        ),
        ({"runtime_alloc": {"slots": "two"}}, 0, InvalidResourcesError, "slots"),
        (None, "high", InvalidArgumentError, "priority_weight must be an integer, got 'high'"),
        (None, True, InvalidArgumentError, "priority_weight must be an integer, got True"),
    ],
)
def test_bad_requests_name_the_field_and_the_value(config, priority, error, fragment) -> None:
    with pytest.raises(error) as info:
        task_request(config, priority_weight=priority)
    assert fragment in str(info.value)


def test_executor_config_helper_checks_at_parse_time() -> None:
    assert executor_config(cpu=1, gpu=2) == {"runtime_alloc": {"cpu": 1, "gpu": 2}}
    with pytest.raises(InvalidResourcesError, match="cpu"):
        executor_config(cpu="fast")


def test_parse_runners() -> None:
    runners = parse_runners("a:cpu=1\n b : cpu=2,slots=4 ;;")
    assert [(r.name, r.capacity.slots) for r in runners] == [("a", 16), ("b", 4)]
    assert parse_runners("") == ()
    with pytest.raises(InvalidArgumentError, match="runner 'a' is declared twice"):
        parse_runners("a:cpu=1;a:cpu=2")
    with pytest.raises(InvalidArgumentError, match="each runner is 'name:spec'"):
        parse_runners("a:")
    with pytest.raises(InvalidResourcesError, match="RUNTIME_ALLOC_RUNNERS: runner 'b': cpu"):
        parse_runners("a:cpu=1;b:cpu=x")


def test_settings_environment_wins_over_the_section() -> None:
    section = {
        "runners": "s:cpu=1",
        "strategy": "MaxPackingStrategy",
        "mode": "LOCAL",
        "max_retries": "3",
    }
    settings = ExecutorSettings.load({}, section)
    assert ([r.name for r in settings.runners], settings.strategy.name) == (
        ["s"],
        "MaxPackingStrategy",
    )
    assert (settings.mode, settings.max_retries) == ("local", 3)
    env = {"RUNTIME_ALLOC_RUNNERS": "e:cpu=2", "ALLOCATOR_STRATEGY": "EvenSpreadStrategy"}
    settings = ExecutorSettings.load(env, section)
    assert ([r.name for r in settings.runners], settings.strategy.name) == (
        ["e"],
        "EvenSpreadStrategy",
    )
    assert ExecutorSettings.load({}, None).mode == "celery"


@pytest.mark.parametrize(
    ("env", "section", "error", "fragment"),
    [
        (
            {"RUNTIME_ALLOC_MODE": "k8s"},
            {},
            InvalidArgumentError,
            "RUNTIME_ALLOC_MODE must be one of celery, local, got 'k8s'",
        ),
        (
            {},
            {"max_retries": "-1"},
            InvalidArgumentError,
            "[runtime_alloc] max_retries must be a non-negative integer, got '-1'",
        ),
        ({}, {"runners": "x"}, InvalidArgumentError, "[runtime_alloc] runners: each runner"),
        ({"ALLOCATOR_STRATEGY": "Best"}, {}, UnknownStrategyError, "'Best'"),
    ],
)
def test_bad_settings_name_the_setting(env, section, error, fragment) -> None:
    with pytest.raises(error) as info:
        ExecutorSettings.load(env, section)
    assert fragment in str(info.value)
