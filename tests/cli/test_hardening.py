# ruff: noqa: RUF001  (the full-width and Arabic-Indic digits are the point of these tests)
"""Issue #14, CLI items 1-6, 19 and 20: each mistake ends with exit 2 and a message, never a
traceback, a hang or a silent surprise; the table and JSON say what they mean."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from runtime_alloc import Allocator, Runner
from runtime_alloc.cli import simulate as simulate_cli
from runtime_alloc.cli.reports.json_report import load_schema
from runtime_alloc.cli.reports.table import summary, verdict
from runtime_alloc.simulation import SimulationResult

GOOD_TRACE = "task_id,submit,duration,cpu,memory,slots\nt1,0,5,1,1Gi,1\n"
GOOD_FLEET = "name,cpu,memory,slots\na,4,8Gi,4\n"


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if the simulation starts: the mistake must be found before it."""

    def boom(*args, **kwargs):
        raise AssertionError("the simulation ran before the arguments were checked")

    monkeypatch.setattr(simulate_cli, "simulate", boom)


def expect_usage_error(run, *argv: str) -> str:
    code, out, err = run(*argv)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert err.count("error:") == 1
    return err


# -- item 1: output formats are checked before simulating ---------------------------------------


@pytest.mark.usefixtures("no_simulation")
def test_plot_format_checked_before_simulating(tmp_path, run):
    target = tmp_path / "out.txt"
    err = expect_usage_error(run, "simulate", "--plot", str(target), "--hours", "0.1")
    assert "--plot" in err
    assert "type 'txt'; the file name must end in .png, .pdf, .svg" in err
    assert not target.exists()


def test_plot_pdf_and_svg_are_written(tmp_path, run):
    for kind, magic in (("pdf", b"%PDF"), ("svg", b"<?xml")):
        target = tmp_path / f"out.{kind}"
        code, _, err = run(
            "simulate", "--hours", "0.1", "--strategy", "MaxPackingStrategy", "--plot", str(target)
        )
        assert code == 0, err
        assert target.read_bytes().startswith(magic)


# -- item 2: a snapshot that is not UTF-8 --------------------------------------------------------


def test_binary_snapshot_names_the_file(tmp_path, run):
    snap = tmp_path / "garbage.bin"
    snap.write_bytes(b'{"a":\n "\xff\xfe\x00\x81 random')
    err = expect_usage_error(run, "explain", "--snapshot", str(snap))
    assert f"{snap}:2: is not UTF-8 text (byte offset 8: invalid start byte)" in err


# -- item 3: --hours nan / inf -------------------------------------------------------------------


@pytest.mark.usefixtures("no_simulation")
@pytest.mark.parametrize(
    "hours", ["nan", "NaN", "inf", "-inf", "1e999", "-1", "0", "168.01", "8760", "１"]
)
@pytest.mark.parametrize("json_out", [[], ["--json", "-"]])
def test_hours_must_be_a_finite_positive_number(run, hours, json_out):
    err = expect_usage_error(run, "simulate", f"--hours={hours}", *json_out)
    assert "--hours must be > 0 and at most a week (168)" in err


# -- item 4 and 19: bounded fleets, never a hang -------------------------------------------------


@pytest.mark.usefixtures("no_simulation")
@pytest.mark.parametrize(
    "count",
    ["99999999999", "3000000", "100001", "1" + "0" * 5000],
    ids=["1e11", "3e6", "1e5+1", "1e5000"],
)
def test_simulate_runners_is_bounded(tmp_path, run, count):
    trace = write(tmp_path / "one.csv", GOOD_TRACE)
    err = expect_usage_error(run, "simulate", "--trace", trace, "--runners", count)
    assert "--runners: must be an integer from 1 to 100,000, got" in err
    assert len(err.splitlines()[-1]) < 250  # a 5,001-digit value is shortened in the message


@pytest.mark.parametrize("count", ["10000000000000", "100001"])
def test_explain_runners_is_bounded(run, count):
    err = expect_usage_error(run, "explain", "--runners", count)
    assert "--runners: must be an integer from 1 to 100,000" in err


@pytest.mark.usefixtures("no_simulation")
@pytest.mark.parametrize("command", ["simulate", "run"])
@pytest.mark.parametrize("cap", ["1000000000000", "100001"])
def test_instances_cap_is_bounded(tmp_path, run, command, cap):
    # A one-row batch_task.csv claiming 10**9 instances with --instances-cap 10**12 grew past
    # 3.5 GB in a minute before the bound.
    trace = write(tmp_path / "batch_task.csv", "0,10,1,1,1000000000,Terminated,100,0.1\n")
    fleet = write(tmp_path / "server_event.csv", "1,0,add,64,0.5,0.5\n")
    argv = ["--trace", trace, "--trace-format", "alibaba2017", "--fleet", fleet]
    err = expect_usage_error(run, command, *argv, "--instances-cap", cap)
    assert f"--instances-cap: must be an integer from 1 to 100,000, got '{cap}'" in err


@pytest.mark.usefixtures("no_simulation")
@pytest.mark.parametrize("command", ["simulate", "run"])
def test_runner_slots_beyond_2_to_the_53_are_refused_by_option(tmp_path, run, command):
    # The error used to come from Resources ("slots must be at most 2**53 ..."), naming no option.
    trace = write(tmp_path / "batch_task.csv", "0,10,1,1,1,Terminated,100,0.1\n")
    fleet = write(tmp_path / "server_event.csv", "0,1,add,,64,0.5,0.5\n")
    argv = ["--trace", trace, "--trace-format", "alibaba2017", "--fleet", fleet]
    err = expect_usage_error(run, command, *argv, "--runner-slots", str(2**53 + 1))
    assert "argument --runner-slots: must be an integer from 1 to 9,007,199,254,740,992" in err


@pytest.mark.timeout(60)  # without the bounds each of these ran for hours
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--packing-items", "20001"],
            "argument --packing-items: must be an integer from 1 to 20,000, got '20001'",
        ),
        (
            ["--sizes", "100000", "--decisions", "1000000"],
            "is 3,600,000,000,000 runner-decisions, more than 1,000,000,000",
        ),
        (
            ["--sizes", "1000", "--decisions", "1000", "--repeats", "1000", "--backend", "python"],
            "x (--repeats 1,000 + --warmup 1) x 4 allocators",
        ),
    ],
    ids=["packing-items", "sizes x decisions", "repeats"],
)
def test_bench_work_is_bounded(run, argv, message):
    err = expect_usage_error(run, "bench", *argv)
    assert message in err


def test_bench_sizes_are_bounded(run):
    err = expect_usage_error(run, "bench", "--sizes", "10,100001")
    assert "--sizes must be positive integers of at most 100,000" in err
    err = expect_usage_error(run, "bench", "--decisions", "1000001")
    assert "--decisions: must be an integer from 1 to 1,000,000" in err


@pytest.mark.usefixtures("no_simulation")
def test_plot_of_a_huge_fleet_is_refused_before_simulating(tmp_path, run):
    trace = write(tmp_path / "one.csv", GOOD_TRACE)
    err = expect_usage_error(
        run, "simulate", "--trace", trace, "--runners", "10001", "--plot", str(tmp_path / "p.png")
    )
    assert "--plot draws one heatmap row per runner and takes at most 10,000 runners" in err


# -- item 5: silent surprises --------------------------------------------------------------------


@pytest.mark.usefixtures("no_simulation")
def test_plot_to_a_folder_or_without_a_type(tmp_path, run):
    err = expect_usage_error(run, "simulate", "--plot", str(tmp_path))
    assert "is a folder; give a file name" in err
    err = expect_usage_error(run, "simulate", "--plot", str(tmp_path / "report"))
    assert "no file type; the file name must end in .png" in err
    assert not (tmp_path / "report.png").exists()


@pytest.mark.usefixtures("no_simulation")
def test_json_and_csv_cannot_share_stdout(run):
    err = expect_usage_error(run, "simulate", "--json", "-", "--csv", "-")
    assert "--json - and --csv - would mix two formats on stdout" in err


@pytest.mark.usefixtures("no_simulation")
def test_outputs_cannot_share_a_file(tmp_path, run):
    same = str(tmp_path / "out.json")
    err = expect_usage_error(run, "simulate", "--json", same, "--csv", same)
    assert "name the same file" in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("option", ["--json", "--csv"])
def test_full_disk_names_the_output(run, option):
    err = expect_usage_error(run, "simulate", "--hours", "0.1", option, "/dev/full")
    assert f"{option} '/dev/full': cannot write: No space left on device" in err


def test_bom_before_the_header_is_skipped(tmp_path, run):
    trace = tmp_path / "trace.csv"
    trace.write_bytes(b"\xef\xbb\xbf" + GOOD_TRACE.encode())
    fleet = tmp_path / "fleet.csv"
    fleet.write_bytes(b"\xef\xbb\xbf" + GOOD_FLEET.encode())
    code, out, err = run("simulate", "--trace", str(trace), "--fleet", str(fleet), "--json", "-")
    assert code == 0, err
    assert json.loads(out)["results"][0]["placed"] == 1


@pytest.mark.parametrize("shape", ["", "   "])
def test_empty_shape_is_refused(run, shape):
    err = expect_usage_error(run, "simulate", "--runners", "2", "--shape", shape)
    assert "--shape is empty" in err
    err = expect_usage_error(run, "explain", "--runners", "2", "--shape", shape)
    assert "--shape is empty" in err


@pytest.mark.parametrize("label", ["bad label!", "", " gpu", "gpu;ssd", "-x"])
def test_require_checks_the_label(run, label):
    err = expect_usage_error(run, "explain", "--runners", "2", f"--require={label}")
    assert f"--require {label!r}: a label is letters, digits" in err


def test_require_accepts_usual_labels(tmp_path, run):
    fleet = write(tmp_path / "fleet.csv", "name,cpu,labels\na,4,zone=eu-1;gpu\n")
    code, out, err = run("explain", "--fleet", fleet, "--require", "zone=eu-1", "--require", "gpu")
    assert code == 0, err
    assert "chooses a" in out


# -- item 6: verdicts, the summary, unschedulable tasks ------------------------------------------


def test_values_that_print_the_same_are_a_tie():
    names = ["EvenSpreadStrategy", "MaxPackingStrategy"]
    assert verdict([0.0, 5.2e-07], names, lower_wins=True, unit="%") == "tie"
    assert verdict([5.31, 5.34], names, lower_wins=True, unit="s") == "tie"
    assert verdict([5.3, 5.2], names, lower_wins=True, unit="s") == "MaxPacking, 2% lower"
    assert verdict([0.0, 0.01], names, lower_wins=True, unit="%") == "EvenSpread (0.0% vs 1.0%)"


def _result(strategy: str, **values: float) -> SimulationResult:
    base = {
        "strategy": strategy,
        "backend": "python",
        "tasks": 1,
        "placed": 1,
        "unschedulable": 0,
        "mean_wait_s": 0.0,
        "p95_wait_s": 0.0,
        "max_wait_s": 0.0,
        "peak_runners_in_use": 1,
        "mean_runners_in_use": 1.0,
        "runners_lower_bound": 1,
        "lower_bound_by_dimension": {},
        "peak_at_s": 0.0,
        "utilization": {},
        "imbalance_std": 0.0,
        "imbalance_max_minus_min": 0.0,
        "stranded": {},
        "decisions": 1,
        "decisions_per_s": 1.0,
        "allocator_seconds": 1.0,
        "span_s": 1.0,
    }
    return SimulationResult(**{**base, **values})


def test_summary_names_the_strategy_of_each_value():
    a = _result("EvenSpreadStrategy", mean_wait_s=5.3, mean_runners_in_use=4.0, imbalance_std=0.1)
    b = _result("MaxPackingStrategy", mean_wait_s=5.2, mean_runners_in_use=3.0, imbalance_std=0.2)
    text = summary([a, b])
    assert "mean wait 5.3 s for EvenSpreadStrategy vs 5.2 s for MaxPackingStrategy" in text
    assert "MaxPackingStrategy kept 25% fewer runners busy on average" in text
    assert "(3.0 vs 4.0 for EvenSpreadStrategy)" in text
    assert "EvenSpreadStrategy spread load more evenly (std 0.100 vs 0.200 for Max" in text
    same = summary([a, _result("MaxPackingStrategy", mean_wait_s=5.31, mean_runners_in_use=4.02)])
    assert "mean wait 5.3 s for both" in same
    assert "EvenSpreadStrategy and MaxPackingStrategy kept 4.0 runners busy on average" in same


def test_default_workload_says_which_tasks_are_unschedulable_and_why(run):
    code, out, err = run("simulate")
    assert code == 0, err
    assert "3 tasks unschedulable (no runner could hold them even when empty):" in out
    assert "heavy0291, heavy0310, heavy0326: 0/16 runners: 16 insufficient cpu" in out
    assert "mean wait" in out
    assert "for EvenSpreadStrategy vs" in out or "for both" in out
    code, out, err = run("simulate", "--json", "-")
    assert code == 0, err
    report = json.loads(out)
    jsonschema.validate(report, load_schema("simulate"))
    for result in report["results"]:
        assert result["unschedulable"] == len(result["unschedulable_tasks"]) == 3
        assert result["unschedulable_tasks"][0] == {
            "task_id": "heavy0291",
            "reason": "0/16 runners: 16 insufficient cpu",
        }


def test_unschedulable_reason_names_missing_labels_and_resources(tmp_path, run):
    fleet = write(tmp_path / "fleet.csv", "name,cpu,labels\na,4,ssd\nb,2,\n")
    trace = write(
        tmp_path / "trace.csv",
        "task_id,submit,duration,cpu,require,gpu\nok,0,1,1,,\nbig,0,1,8,,\n"
        "lab,0,1,1,gpu,\nacc,1,1,1,,2\n",
    )
    code, out, err = run("simulate", "--trace", trace, "--fleet", fleet, "--json", "-")
    assert code == 0, err
    reasons = {
        t["task_id"]: t["reason"] for t in json.loads(out)["results"][0]["unschedulable_tasks"]
    }
    assert set(reasons) == {"big", "lab", "acc"}
    assert "2 insufficient cpu" in reasons["big"]
    assert "missing label" in reasons["lab"]
    assert "gpu" in reasons["acc"]


def test_schema_requires_the_unschedulable_list(run):
    code, out, _ = run("simulate", "--hours", "0.2", "--json", "-")
    assert code == 0
    report = json.loads(out)
    del report["results"][0]["unschedulable_tasks"]
    with pytest.raises(jsonschema.ValidationError, match="unschedulable_tasks"):
        jsonschema.validate(report, load_schema("simulate"))


# -- item 19: snapshots that break the JSON reader -----------------------------------------------


def test_deeply_nested_snapshot(tmp_path, run):
    snap = tmp_path / "deep.json"
    snap.write_text("[" * 100_000 + "]" * 100_000)
    err = expect_usage_error(run, "explain", "--snapshot", str(snap))
    assert f"{snap}: " in err
    assert "nests too deeply" in err


def test_snapshot_with_a_huge_integer(tmp_path, run):
    data = Allocator([Runner.parse("a", "cpu=1")]).snapshot().to_dict()
    text = json.dumps(data).replace('"schema_version": 2', '"schema_version": ' + "9" * 5001)
    snap = tmp_path / "huge.json"
    snap.write_text(text)
    err = expect_usage_error(run, "explain", "--snapshot", str(snap))
    assert f"{snap}: " in err
    assert len(err) < 400


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(runners=None),
        lambda d: d.update(runners=[5]),
        lambda d: d.update(reservations=[{"task_id": "t", "runner": ["a"], "resources": 1}]),
        lambda d: d["runners"][0].update(capacity=[1, 2]),
    ],
)
def test_malformed_snapshot_is_a_usage_error(tmp_path, run, mutate):
    data = Allocator([Runner.parse("a", "cpu=1")]).snapshot().to_dict()
    mutate(data)
    snap = tmp_path / "bad.json"
    snap.write_text(json.dumps(data))
    err = expect_usage_error(run, "explain", "--snapshot", str(snap))
    assert f"{snap}: " in err


# -- item 20: one ASCII grammar; the line of a bad byte ------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--runners", "１２"],
        ["explain", "--runners", "٣"],
        ["simulate", "--limit", "１"],
        ["simulate", "--seed", "１"],
        ["simulate", "--weights", "cpu=１"],
        ["simulate", "--weights", "cpu=٣"],
        ["bench", "--sizes", "１０"],
        ["bench", "--decisions", "1_000"],
    ],
)
def test_unicode_digits_are_refused_on_the_command_line(run, argv):
    err = expect_usage_error(run, *argv)
    assert argv[1] in err


@pytest.mark.parametrize(
    ("column", "row"),
    [("submit", "t1,٣,5"), ("duration", "t1,0,５"), ("submit", "t1,1_0,5")],
)
def test_unicode_digits_are_refused_in_a_trace(tmp_path, run, column, row):
    trace = write(tmp_path / "trace.csv", f"task_id,submit,duration\n{row}\n")
    err = expect_usage_error(run, "simulate", "--trace", trace, "--runners", "2")
    assert f"trace.csv:2: column {column!r}: must be a number in ASCII digits" in err


def test_unicode_digits_are_refused_in_openb_and_alibaba(tmp_path, run):
    pods = write(
        tmp_path / "pods.csv",
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,creation_time,deletion_time\n"
        "p,１000,1024,0,0,0,5\n",
    )
    err = expect_usage_error(
        run, "simulate", "--trace", pods, "--trace-format", "openb", "--runners", "2"
    )
    assert "pods.csv:2: column 'cpu_milli': must be a number in ASCII digits" in err
    batch = write(tmp_path / "batch_task.csv", "٣,5,j,t,1,Terminated,50,0.1\n")
    err = expect_usage_error(
        run, "simulate", "--trace", batch, "--trace-format", "alibaba2017", "--runners", "2"
    )
    assert "batch_task.csv:1: column 'task_create_time'" in err


def test_a_trace_that_is_not_utf8_names_the_line_and_byte(tmp_path, run):
    trace = tmp_path / "trace.csv"
    head = b"task_id,submit,duration\nt1,0,5\n"
    trace.write_bytes(head + b"t\xff2,0,5\n")
    err = expect_usage_error(run, "simulate", "--trace", str(trace), "--runners", "2")
    offset = len(head) + 1
    assert f"trace.csv:3: is not UTF-8 text (byte offset {offset}: invalid start byte)" in err


# -- found by the fuzz test: argparse stores [] for a value of "--" -------------------------------


@pytest.mark.parametrize(
    "argv",
    [["simulate", "--runners=--"], ["simulate", "--json=--"], ["explain", "--require=--"]],
)
def test_double_dash_as_a_value(run, argv):
    err = expect_usage_error(run, *argv)
    assert "expected one value, got '--'" in err


# -- item 17 (CLI part): a snapshot task id that could never be released --------------------------


@pytest.mark.parametrize("task_id", [None, 7, ""])
def test_snapshot_with_a_bad_task_id_is_a_usage_error(tmp_path, run, task_id):
    alloc = Allocator([Runner.parse("a", "cpu=1")])
    alloc.allocate("t", "cpu=1")
    data = alloc.snapshot().to_dict()
    data["reservations"][0]["task_id"] = task_id
    snap = tmp_path / "bad.json"
    snap.write_text(json.dumps(data))
    err = expect_usage_error(run, "explain", "--snapshot", str(snap))
    assert f"{snap}: " in err
    assert "task_id" in err


@pytest.mark.filterwarnings("always::runtime_alloc.UndeclaredWeightWarning")
@pytest.mark.parametrize("command", [["simulate", "--limit", "5"], ["explain", "--runners", "2"]])
def test_a_library_warning_is_one_line_naming_the_command(run, command):
    # It was Python's "/path/to/runtime_alloc/cli/explain.py:128: UndeclaredWeightWarning: ..."
    # followed by the source line.
    code, _, err = run(*command, "--weights", "bogus=1")
    assert code == 0, err
    lines = err.splitlines()
    assert lines
    assert all(
        line.startswith(f"runtime-alloc {command[0]}: warning: strategy ") for line in lines
    ), err
    assert "weighs 'bogus', which no runner declares" in err
    assert ".py:" not in err
