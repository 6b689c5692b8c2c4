"""A tiny trace whose every metric is computed by hand (arithmetic in the comments)."""

from __future__ import annotations

import json

import pytest


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


# Two runners with 4 cores and 4 slots each and no memory (memory is not scored).
FLEET = "name,cpu,memory,slots\na,4,,4\nb,4,,4\n"
# t4 asks for 8 cores: no runner could ever hold it -> unschedulable, never queued.
TRACE = """task_id,submit,duration,cpu,memory,slots
t1,0,10,2,,1
t2,0,10,2,,1
t3,5,10,4,,1
t4,0,1,8,,1
"""


@pytest.fixture
def report(tmp_path, run):
    fleet = write(tmp_path / "fleet.csv", FLEET)
    trace = write(tmp_path / "trace.csv", TRACE)
    code, out, err = run("simulate", "--trace", trace, "--fleet", fleet, "--json", "-")
    assert code == 0, err
    return {r["strategy"]: r for r in json.loads(out)["results"]}


def test_max_packing_by_hand(report):
    r = report["MaxPackingStrategy"]
    # t=0: t1 -> a (tie on empty runners goes to a: score (2/4 + 1/4)/2 = 0.375 on both);
    #      t2 -> a (a: (4/4 + 2/4)/2 = 0.75 > b: 0.375, highest wins).
    # t=5: t3 (4 cores) only fits b -> starts at once. t=10: t1, t2 end. t=15: t3 ends.
    # in use: [0,5) a; [5,10) a,b; [10,15) b  -> mean (5*1 + 5*2 + 5*1) / 15 = 4/3, peak 2.
    assert (r["tasks"], r["placed"], r["unschedulable"]) == (4, 3, 1)
    assert r["span_s"] == 15
    assert r["peak_runners_in_use"] == 2
    assert r["mean_runners_in_use"] == pytest.approx(20 / 15)
    assert (r["mean_wait_s"], r["p95_wait_s"], r["max_wait_s"]) == (0, 0, 0)
    # cpu of in-use runners: 4/4, 8/8, 4/4 -> 1.0; slots: 2/4, 3/8, 1/4 each for 5 s -> 0.375.
    assert r["utilization"]["cpu"] == pytest.approx(1.0)
    assert r["utilization"]["slots"] == pytest.approx((0.5 + 0.375 + 0.25) / 3)
    assert r["utilization"]["memory"] is None  # no in-use runner has memory
    # dominant shares: a = max(4/4, 2/4) = 1 and b = max(4/4, 1/4) = 1 -> no imbalance.
    assert r["imbalance"] == {"std": pytest.approx(0.0, abs=1e-12), "max_minus_min": 0.0}
    assert r["stranded"] == {"cpu": 0.0, "slots": 0.0}  # nobody ever waits
    # [5,10): 8 cores reserved / 4 largest -> 2 runners; slots 3 / 4 -> 1.
    assert r["runners_lower_bound"] == {
        "runners": 2,
        "by_dimension": {"cpu": 2, "slots": 1},
        "at_s": 5,
    }
    assert r["decisions"] == 3  # t1, t2, t3 each placed at the first attempt


def test_even_spread_by_hand(report):
    r = report["EvenSpreadStrategy"]
    # t=0: t1 -> a (tie), t2 -> b (b: 0.375 < a: 0.75, lowest wins): 2 cores free on each.
    # t=5: t3 (4 cores) fits nowhere -> waits. t=10: t1, t2 end, t3 -> a (tie), ends at 20.
    # in use: [0,10) a,b; [10,20) a -> mean (10*2 + 10*1) / 20 = 1.5, peak 2.
    assert (r["placed"], r["unschedulable"]) == (3, 1)
    assert r["span_s"] == 20
    assert r["peak_runners_in_use"] == 2
    assert r["mean_runners_in_use"] == pytest.approx(1.5)
    # waits 0, 0, 5 -> mean 5/3; p95 nearest rank ceil(0.95*3) = 3rd value = 5.
    assert r["mean_wait_s"] == pytest.approx(5 / 3)
    assert (r["p95_wait_s"], r["max_wait_s"]) == (5, 5)
    # cpu: [0,10) 4/8, [10,20) 4/4 -> (0.5*10 + 1*10)/20 = 0.75; slots: 2/8 then 1/4 -> 0.25.
    assert r["utilization"]["cpu"] == pytest.approx(0.75)
    assert r["utilization"]["slots"] == pytest.approx(0.25)
    # shares: a = b = max(2/4, 1/4) = 0.5, then a alone -> no imbalance.
    assert r["imbalance"]["std"] == pytest.approx(0.0, abs=1e-12)
    assert r["imbalance"]["max_minus_min"] == 0.0
    # [5,10): t3 waits (smallest waiting request: 4 cores, 1 slot); neither runner can take it:
    # stranded cpu 2+2 cores for 5 s / (8 cores * 20 s) = 0.125; slots 3+3 for 5 s / (8 * 20) = 0.1875.
    assert r["stranded"]["cpu"] == pytest.approx(0.125)
    assert r["stranded"]["slots"] == pytest.approx(0.1875)
    # at most 4 cores run at once: ceil(4/4) = 1 runner; first reached at t=0.
    assert r["runners_lower_bound"] == {
        "runners": 1,
        "by_dimension": {"cpu": 1, "slots": 1},
        "at_s": 0,
    }
    assert r["decisions"] == 4  # t1, t2, the failed t3 at t=5, t3 again at t=10


def test_csv_matches_json(tmp_path, run, report):
    fleet = write(tmp_path / "fleet.csv", FLEET)
    trace = write(tmp_path / "trace.csv", TRACE)
    code, out, err = run("simulate", "--trace", trace, "--fleet", fleet, "--csv", "-")
    assert code == 0, err
    lines = out.strip().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert [r["strategy"] for r in rows] == ["EvenSpreadStrategy", "MaxPackingStrategy"]
    assert float(rows[0]["stranded_cpu"]) == pytest.approx(0.125)
    assert rows[1]["utilization_memory"] == ""  # None -> empty cell
    assert int(rows[1]["runners_lower_bound"]) == 2
