"""Every bad argument and bad file: exit code 2, a message naming the problem, no traceback."""

from __future__ import annotations

import json

import pytest

from runtime_alloc import Allocator, Runner

GOOD_TRACE = "task_id,submit,duration,cpu,memory,slots\nt1,0,5,1,1Gi,1\n"
GOOD_FLEET = "name,cpu,memory,slots\na,4,8Gi,4\n"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["simulate", "--runners", "0"],
            "--runners: must be an integer from 1 to 100,000, got '0'",
        ),
        (["simulate", "--runners", "2", "--shape", "cpu=abc"], "--shape 'cpu=abc'"),
        (["simulate", "--shape", "cpu=1"], "--shape 'cpu=1' needs --runners N"),
        (["simulate", "--weights", "cpu=x"], "--weights must be name=integer pairs"),
        (["simulate", "--weights", "cpu=1,cpu=2"], "--weights names 'cpu' twice"),
        (["simulate", "--weights", "Bad Name=1"], "--weights"),
        (["simulate", "--strategy", "Nope"], "argument --strategy: invalid choice: 'Nope'"),
        (["simulate", "--backend", "gpu"], "argument --backend: invalid choice: 'gpu'"),
        (["simulate", "--hours", "0"], "--hours must be > 0"),
        (["simulate", "--trace-format", "openb"], "--trace-format openb needs --trace FILE"),
        (
            ["simulate", "--json", "/no/such/dir/r.json"],
            "--json '/no/such/dir/r.json': folder '/no/such/dir' does not exist",
        ),
        (["simulate", "--plot", "-"], "--plot needs a file name"),
        (
            ["simulate", "--trace", "/no/such/trace.csv", "--runners", "2"],
            "/no/such/trace.csv: cannot be read",
        ),
        (["simulate", "--fleet", "/no/such/fleet.csv"], "/no/such/fleet.csv: cannot be read"),
        (["simulate", "--limit", "-3"], "--limit: must be an integer >= 1"),
        (["bench", "--sizes", "10,x"], "--sizes must be positive integers"),
        (["bench", "--warmup", "-1", "--sizes", "5"], "--warmup must be >= 0"),
        (["explain"], "give exactly one of --fleet FILE, --snapshot JSON or --runners N"),
        (["explain", "--runners", "2", "--request", "cpu=lots"], "--request 'cpu=lots'"),
        (["explain", "--runners", "2", "--request", "slots=40"], "slots must be from 1 to 16"),
        (["nonsense"], "invalid choice: 'nonsense'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_bad_arguments(run, argv, expected):
    code, out, err = run(*argv)
    assert code == 2
    assert expected in err
    assert "Traceback" not in err
    assert out == ""


@pytest.mark.parametrize(
    ("option", "text", "expected"),
    [
        ("--trace", "", "trace.csv: is empty"),
        ("--trace", "task_id,submit\nt1,0\n", "trace.csv:1: header lacks column(s) duration"),
        (
            "--trace",
            "task_id,submit,duration,cpu\nt1,0,5,1\nt2,0,5,1.5.5\n",
            "trace.csv:3: column 'cpu': cpu must be",
        ),
        (
            "--trace",
            "task_id,submit,duration,memory\nt1,0,5,12XB\n",
            "trace.csv:2: column 'memory'",
        ),
        (
            "--trace",
            "task_id,submit,duration,slots\nt1,0,5,17\n",
            "trace.csv:2: column 'slots': slots must be from 1 to 16",
        ),
        ("--trace", "task_id,submit,duration\nt1,0,-5\n", "trace.csv:2: column 'duration'"),
        (
            "--trace",
            "task_id,submit,duration\nt1,soon,5\n",
            "trace.csv:2: column 'submit': must be a number, got 'soon'",
        ),
        (
            "--trace",
            "task_id,submit,duration\nt1,0,5\nt1,1,5\n",
            "trace.csv:3: task_id 't1' appears twice",
        ),
        (
            "--trace",
            "task_id,submit,duration\nt1,0\n",
            "trace.csv:2: has 2 cells, the header has 3",
        ),
        ("--trace", "task_id,submit,duration,gpu\nt1,0,5,1.5\n", "trace.csv:2: column 'gpu'"),
        (
            "--trace",
            "task_id,submit,duration,bad name\nt1,0,5,1\n",
            "trace.csv:1: column 'bad name'",
        ),
        (
            "--trace",
            "task_id,submit,duration,require\nt1,0,5,a;;" + "x" * 300 + "\n",
            "trace.csv:2: column 'require'",
        ),
        ("--fleet", "", "fleet.csv: is empty"),
        ("--fleet", "name,cpu\n", "fleet.csv: lists no runners"),
        ("--fleet", "cpu,memory\n4,8Gi\n", "fleet.csv:1: header lacks column name"),
        ("--fleet", "name,cpu,memory\na,4,8Gi\nb,4,lots\n", "fleet.csv:3: column 'memory'"),
        ("--fleet", "name,cpu\na,4\na,8\n", "fleet.csv:3: runner name 'a' appears twice"),
        (
            "--fleet",
            "name,cpu,slots\na,4,0\n",
            (
                "fleet.csv:2: column 'slots': runner capacity slots must be at least 1, "
                "got 0 (leave slots"
            ),
        ),
    ],
)
def test_bad_files(tmp_path, run, option, text, expected):
    name = "trace.csv" if option == "--trace" else "fleet.csv"
    bad = tmp_path / name
    bad.write_text(text, encoding="utf-8")
    other = tmp_path / ("fleet.csv" if option == "--trace" else "trace.csv")
    other.write_text(GOOD_FLEET if option == "--trace" else GOOD_TRACE, encoding="utf-8")
    argv = [
        "simulate",
        "--trace",
        str(tmp_path / "trace.csv"),
        "--fleet",
        str(tmp_path / "fleet.csv"),
    ]
    code, out, err = run(*argv)
    assert code == 2
    assert expected in err
    assert str(tmp_path) in err  # the file is named by its path
    assert "Traceback" not in err
    assert out == ""


def test_binary_file_is_not_csv(tmp_path, run):
    bad = tmp_path / "trace.csv"
    bad.write_bytes(b"\xff\xfe\x00\x81garbage")
    code, _, err = run("simulate", "--trace", str(bad), "--runners", "2")
    assert code == 2
    assert "trace.csv:1: is not UTF-8 text (byte offset 0: invalid start byte)" in err


@pytest.mark.parametrize(
    ("fmt", "name", "text", "expected"),
    [
        (
            "openb",
            "pods.csv",
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1000,1024,1,500\n",
            "(this file has no times; it is for static packing only)",
        ),
        (
            "openb",
            "pods.csv",
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli,creation_time,deletion_time\np,1000,1024,1,500,10,5\n",
            "pods.csv:2: deletion_time 5 is before creation_time 10",
        ),
        (
            "openb",
            "pods.csv",
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli,creation_time,deletion_time\np,-1,1024,1,500,1,5\n",
            "pods.csv:2: column 'cpu_milli'",
        ),
        (
            "alibaba2017",
            "batch_task.csv",
            "1,5,3,4,2,Terminated,50\n",
            "batch_task.csv:1: has 7 cells, expected 8",
        ),
        (
            "alibaba2017",
            "batch_task.csv",
            "1,x,3,4,2,Terminated,50,0.1\n",
            "batch_task.csv:1: column 'task_end_time'",
        ),
    ],
)
def test_bad_trace_formats(tmp_path, run, fmt, name, text, expected):  # noqa: PLR0917
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code, _, err = run("simulate", "--trace", str(path), "--trace-format", fmt, "--runners", "2")
    assert code == 2
    assert expected in err
    assert "Traceback" not in err


def test_trace_format_without_sibling_fleet(tmp_path, run):
    pods = tmp_path / "pods.csv"
    pods.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli,creation_time,deletion_time\n")
    code, _, err = run("simulate", "--trace", str(pods), "--trace-format", "openb")
    assert code == 2
    assert (
        "--trace-format openb needs --fleet FILE (openb_node_list_all_node.csv is not beside the trace)"
        in err
    )


def test_trace_without_fleet(tmp_path, run):
    trace = tmp_path / "trace.csv"
    trace.write_text(GOOD_TRACE)
    code, _, err = run("simulate", "--trace", str(trace))
    assert code == 2
    assert "--trace FILE needs a fleet" in err


def test_fleet_and_runners_together(tmp_path, run):
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(GOOD_FLEET)
    code, _, err = run("simulate", "--fleet", str(fleet), "--runners", "2")
    assert code == 2
    assert "either --fleet FILE or --runners N" in err


def test_bad_snapshot_files(tmp_path, run):
    broken = tmp_path / "snap.json"
    broken.write_text('{\n  "schema_version": 1,\n  "runners": [,\n}')
    code, _, err = run("explain", "--snapshot", str(broken))
    assert code == 2
    assert "snap.json:3: is not valid JSON" in err
    snapshot = Allocator([Runner.parse("a", "cpu=1")]).snapshot().to_dict()
    snapshot["schema_version"] = 99
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(snapshot))
    code, _, err = run("explain", "--snapshot", str(wrong))
    assert code == 2
    assert "wrong.json: snapshot schema_version must be 1 or 2, got 99" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--trace", "", "--runners", "2"],
        ["simulate", "--fleet", ""],
        ["run", "--trace", "", "--runners", "2"],
        ["run", "--fleet", ""],
        ["explain", "--fleet", ""],
        ["explain", "--snapshot", ""],
        ["fill", "--pods", "", "--nodes", "nodes.csv"],
        ["fill", "--pods", "pods.csv", "--nodes", ""],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_an_empty_input_file_name_is_refused_naming_the_option(run, argv):
    # It used to reach open(""): ": cannot be read: Is a directory", naming no option or file.
    option = argv[argv.index("") - 1]
    code, out, err = run(*argv)
    assert code == 2
    assert f"argument {option}: needs a file name, got ''" in err
    assert "Traceback" not in err
    assert out == ""
