"""simulate on the real public traces (subsampled to stay fast; skipped when ../shared/traces is absent)."""

from __future__ import annotations

import json


def test_openb_simulation_subsample(traces_dir, run):
    folder = traces_dir / "alibaba-gpu-v2023-openb"
    code, out, err = run(
        "simulate",
        "--trace",
        str(folder / "openb_pod_list_default.csv"),
        "--trace-format",
        "openb",
        "--limit",
        "400",
        "--fleet-limit",
        "300",
        "--json",
        "-",
    )
    assert code == 0, err
    es, mp = json.loads(out)["results"]
    for r in (es, mp):
        assert r["tasks"] == 400
        assert r["placed"] + r["unschedulable"] == 400
        assert r["peak_runners_in_use"] >= r["runners_lower_bound"]["runners"]
        assert "gpu" in r["utilization"]
    assert mp["mean_runners_in_use"] <= es["mean_runners_in_use"]


def test_alibaba2017_simulation_subsample(traces_dir, run):
    folder = traces_dir / "alibaba-v2017-batch"
    code, out, err = run(
        "simulate",
        "--trace",
        str(folder / "batch_task.csv"),
        "--trace-format",
        "alibaba2017",
        "--limit",
        "600",
        "--fleet-limit",
        "60",
        "--json",
        "-",
    )
    assert code == 0, err
    es, mp = json.loads(out)["results"]
    assert es["placed"] == mp["placed"] == 600
    assert mp["peak_runners_in_use"] <= es["peak_runners_in_use"]
