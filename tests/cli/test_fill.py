"""``runtime-alloc fill``: arguments, errors (exit 2) and a real-trace run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("numpy")

OPENB = Path("/work/shared/traces/alibaba-gpu-v2023-openb")
NODES = "sn,cpu_milli,memory_mib,gpu,model\nn0,4000,1000,2,A\nn1,4000,1000,1,B\n"
PODS = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n"
    "p0,1000,10,1,600,\np1,1000,10,1,600,\np2,1000,10,2,1000,\np3,1000,10,1,500,B\n"
    "p4,0,10,1,300,\n"
)


@pytest.fixture
def files(tmp_path):
    nodes, pods = tmp_path / "nodes.csv", tmp_path / "pods.csv"
    nodes.write_text(NODES)
    pods.write_text(PODS)
    return str(nodes), str(pods)


def test_small_run_prints_a_table_and_json(files, run, tmp_path):
    nodes, pods = files
    out_json = tmp_path / "r.json"
    code, out, err = run(
        "fill", "--pods", pods, "--nodes", nodes, "--seeds", "1-3", "--factor", "2",
        "--strategy", "bestfit", "--strategy", "fgd", "--json", str(out_json),
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "mean of 3 seed(s)" in out
    assert "bestfit" in out
    report = json.loads(out_json.read_text())
    assert report["tool"] == "runtime-alloc fill"
    assert [r["strategy"] for r in report["results"]] == ["bestfit", "fgd"]
    assert [s["seed"] for s in report["results"][0]["seeds"]] == [1, 2, 3]
    for result in report["results"]:
        for seed in result["seeds"]:
            assert 0 <= seed["first_failure_share"] <= seed["end_share"] <= 100


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "5-1"], "--seeds must be"),
        (["--seeds", "0-99999"], "at most 1,000"),
        (["--factor", "1"], "--factor must be a number > 1"),
        (["--factor", "nan"], "--factor must be"),
        (["--popularity", "0"], "--popularity must be"),
        (["--strategy", "nope"], "invalid choice"),
        (["--plot", "x.txt"], "--plot"),
    ],
)
def test_bad_arguments_exit_2(files, run, argv, message):
    nodes, pods = files
    code, _, err = run("fill", "--pods", pods, "--nodes", nodes, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_a_missing_or_bad_file_exits_2(files, run, tmp_path):
    nodes, _ = files
    code, _, err = run("fill", "--pods", str(tmp_path / "none.csv"), "--nodes", nodes)
    assert code == 2
    assert "none.csv" in err
    code, _, err = run("fill", "--pods", nodes, "--nodes", nodes)
    assert code == 2
    assert "not an openb pod list" in err


@pytest.mark.skipif(not OPENB.is_dir(), reason="openb trace folder absent")
@pytest.mark.timeout(300)
def test_openb_plot(run, tmp_path):
    plot = tmp_path / "fill.png"
    code, out, err = run(
        "fill", "--pods", str(OPENB / "openb_pod_list_gpushare100.csv"),
        "--nodes", str(OPENB / "openb_node_list_gpu_node.csv"), "--seeds", "42",
        "--strategy", "bestfit", "--plot", str(plot),
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert plot.stat().st_size > 1000
    assert "openb_pod_list_gpushare100" in out
