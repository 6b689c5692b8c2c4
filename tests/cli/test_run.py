"""``runtime-alloc run`` on the local engine (real threads, real time), through main([...])."""

from __future__ import annotations

import json
import socket

import jsonschema
import pytest

from runtime_alloc.cli.reports.json_report import load_schema

pytestmark = pytest.mark.timeout(120)


def test_run_local_reports_like_simulate(run, tmp_path) -> None:
    report_path = tmp_path / "run.json"
    code, out, err = run(
        "run", "--limit", "60", "--duration", "3", "--strategy", "max-packing",
        "--json", str(report_path),
    )  # fmt: skip
    assert code == 0, err
    assert "tasks placed" in out
    assert "MaxPackingStrategy placed 60 of 60 tasks" in out
    report = json.loads(report_path.read_text())
    assert report["tool"] == "runtime-alloc run"
    assert report["parameters"]["engine"] == "local"
    result = report["results"][0]
    assert result["placed"] == 60
    assert result["peak_runners_in_use"] >= result["runners_lower_bound"]["runners"]
    simulate_schema = load_schema("simulate")
    jsonschema.validate(result, simulate_schema["properties"]["results"]["items"])
    counters = report["executor"]["counters"]
    assert counters["submitted"] == 60
    assert report["executor"]["gauges"]["tasks"]["success"] == 60


def test_run_and_simulate_agree_when_nothing_waits(run, tmp_path) -> None:
    """A fleet big enough that nothing queues: both place every task at once on the same runners."""
    fleet = ("--runners", "4", "--shape", "cpu=64,memory=256GiB,slots=64")
    code, _, err = run(
        "run", "--limit", "40", "--duration", "2", *fleet, "--json", str(tmp_path / "r.json")
    )
    assert code == 0, err
    code, _, err = run(
        "simulate",
        "--limit",
        "40",
        "--strategy",
        "even-spread",
        *fleet,
        "--json",
        str(tmp_path / "s.json"),
    )
    assert code == 0, err
    real = json.loads((tmp_path / "r.json").read_text())["results"][0]
    simulated = json.loads((tmp_path / "s.json").read_text())["results"][0]
    assert real["placed"] == simulated["placed"] == 40
    assert real["max_wait_s"] < 0.05 * real["span_s"]  # only scheduling jitter
    assert real["peak_runners_in_use"] == simulated["peak_runners_in_use"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--duration", "0"], "--duration must be from 1 to 86400 seconds, got 0.0"),
        (["--engine", "dask"], "--engine dask needs --scheduler ADDRESS"),
        (["--max-retries", "-1"], "--max-retries must be from 0 to 100, got -1"),
        (
            ["--runners", "300", "--shape", "cpu=1,slots=16"],
            "--engine local would start 4800 threads",
        ),
    ],
)
def test_run_refuses_bad_arguments_with_exit_2(run, argv, message) -> None:
    code, out, err = run("run", *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out


def _closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(60)  # a few seconds of connect timeout, no 60 s wait for runners
@pytest.mark.parametrize(
    ("engine", "option", "value", "message"),
    [
        ("celery", "--broker", "", "--broker needs a URL like redis://127.0.0.1:6379/0, got ''"),
        ("celery", "--broker", "bogus", "--broker 'bogus': cannot connect to the broker"),
        ("celery", "--broker", "nosuch://x", "--broker 'nosuch://x': cannot connect to the broker"),
        ("celery", "--broker", "redis://127.0.0.1:{port}/0", "cannot connect to the broker"),
        ("dask", "--scheduler", "", "--scheduler '' is not a scheduler address"),
        ("dask", "--scheduler", "bogus", "--scheduler 'bogus' is not a scheduler address"),
        ("dask", "--scheduler", "tcp://:8786", "--scheduler 'tcp://:8786' is not a scheduler"),
        ("dask", "--scheduler", "tcp://127.0.0.1:{port}", "cannot connect to the scheduler"),
    ],
)
def test_run_refuses_a_broker_or_scheduler_that_does_not_answer(
    run, engine, option, value, message
) -> None:
    # A wrong --broker used to wait 90 s for runners to join and then blame the workers; a
    # malformed --scheduler raised a traceback (ValueError) after 60 s.
    pytest.importorskip("celery" if engine == "celery" else "distributed")
    value = value.format(port=_closed_port())
    code, out, err = run("run", "--engine", engine, option, value, "--limit", "2", "--no-live")
    assert code == 2
    assert message in err
    assert f"{option} {value!r}" in err or f"got {value!r}" in err
    assert "Traceback" not in err + out
