"""simulate: the default scenario, every output format, determinism, backends."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from runtime_alloc import Allocator
from runtime_alloc.cli.reports.json_report import load_schema
from runtime_alloc.errors import RuntimeAllocError

TIMING_KEYS = {"decisions_per_s", "allocator_seconds"}


def _strip_timing(results):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in results]


def test_default_scenario_prints_comparison(run):
    code, out, err = run("simulate")
    assert code == 0, err
    assert "default synthetic workload (seed 2024, 8 h)" in out
    for text in (
        "EvenSpreadStrategy",
        "MaxPackingStrategy",
        "verdict",
        "mean runners in use",
        "p95 wait",
    ):
        assert text in out
    assert "fewer runners busy on average" in out
    assert err == ""  # no progress bar when stderr is not a terminal


def test_json_report_validates_against_schema(run):
    code, out, _ = run("simulate", "--hours", "1", "--seed", "5", "--json", "-")
    assert code == 0
    report = json.loads(out)
    jsonschema.validate(report, load_schema("simulate"))
    assert report["parameters"]["seed"] == 5
    assert report["parameters"]["strategies"] == ["EvenSpreadStrategy", "MaxPackingStrategy"]
    assert report["machine"]["python"] == sys.version.split()[0]
    first, second = report["results"]
    assert first["tasks"] == first["placed"] + first["unschedulable"]
    assert first["tasks"] == second["tasks"]


def test_same_seed_same_results_other_seed_differs(run):
    outs = []
    for seed in ("3", "3", "4"):
        code, out, _ = run("simulate", "--hours", "0.5", "--seed", seed, "--json", "-")
        assert code == 0
        outs.append(_strip_timing(json.loads(out)["results"]))
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


def test_json_csv_and_plot_files(tmp_path, run):
    paths = {k: tmp_path / f"out.{k}" for k in ("json", "csv", "png")}
    code, out, err = run(
        "simulate",
        "--hours",
        "1",
        "--strategy",
        "MaxPackingStrategy",
        "--json",
        str(paths["json"]),
        "--csv",
        str(paths["csv"]),
        "--plot",
        str(paths["png"]),
    )
    assert code == 0, err
    assert "MaxPackingStrategy placed" in out  # the table still prints
    report = json.loads(paths["json"].read_text())
    jsonschema.validate(report, load_schema("simulate"))
    assert [r["strategy"] for r in report["results"]] == ["MaxPackingStrategy"]
    lines = paths["csv"].read_text().splitlines()
    assert lines[0].startswith("strategy,backend,tasks,placed")
    assert len(lines) == 2
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["png"].stat().st_size > 20_000  # a real figure, not an empty canvas


def test_max_packing_uses_no_more_runners_on_packing_friendly_workload(tmp_path, run):
    # identical 1-slot tasks on identical runners: packing needs ceil(active / 8) runners
    rows = ["task_id,submit,duration,cpu,memory,slots"]
    rows += [f"t{k},{k % 50},{30 + k % 7},0.5,256Mi,1" for k in range(300)]
    trace = tmp_path / "pack.csv"
    trace.write_text("\n".join(rows) + "\n")
    code, out, err = run(
        "simulate",
        "--trace",
        str(trace),
        "--runners",
        "40",
        "--shape",
        "cpu=4,memory=2Gi,slots=8",
        "--json",
        "-",
    )
    assert code == 0, err
    es, mp = json.loads(out)["results"]
    assert mp["peak_runners_in_use"] <= es["peak_runners_in_use"]
    assert mp["mean_runners_in_use"] < es["mean_runners_in_use"]
    assert (
        mp["peak_runners_in_use"] == mp["runners_lower_bound"]["runners"]
    )  # packing is optimal here


def test_weights_reach_the_strategy(run):
    code, out, _ = run("simulate", "--hours", "0.5", "--weights", "slots=0", "--json", "-")
    assert code == 0
    weighted = _strip_timing(json.loads(out)["results"])
    code, out, _ = run("simulate", "--hours", "0.5", "--json", "-")
    assert weighted != _strip_timing(json.loads(out)["results"])
    assert json.loads(out)["parameters"]["weights"] is None


def test_numpy_backend_gives_the_same_decisions(run):
    try:
        Allocator(backend="numpy")
    except RuntimeAllocError:
        code, _, err = run("simulate", "--hours", "0.5", "--backend", "numpy")
        assert code == 2
        assert "numpy" in err
        return
    results = {}
    for backend in ("python", "numpy"):
        code, out, err = run("simulate", "--hours", "0.5", "--backend", backend, "--json", "-")
        assert code == 0, err
        results[backend] = json.loads(out)["results"]
    assert [r["backend"] for r in results["numpy"]] == ["numpy", "numpy"]
    python, numpy = (
        [{k: v for k, v in r.items() if k != "backend"} for r in _strip_timing(results[b])]
        for b in ("python", "numpy")
    )
    assert python == numpy


def test_python_dash_m_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "runtime_alloc", "explain", "--runners", "2", "--request", "cpu=1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "chooses r0001" in done.stdout


def test_help_everywhere(run):
    for argv in (["--help"], ["simulate", "--help"], ["bench", "--help"], ["explain", "--help"]):
        code, out, _ = run(*argv)
        assert code == 0
        assert "usage: runtime-alloc" in out


@pytest.mark.parametrize("argv", [["--version"]])
def test_version(run, argv):
    code, out, _ = run(*argv)
    assert code == 0
    assert out.startswith("runtime-alloc ")
