"""bench (tiny sizes, JSON against its schema) and explain (fleet, snapshot, labels)."""

from __future__ import annotations

import json
import random

import jsonschema

from runtime_alloc import Allocator, EvenSpreadStrategy, MaxPackingStrategy, Runner
from runtime_alloc.cli.bench import bench_fleet, bench_requests
from runtime_alloc.cli.naive import NaiveAllocator
from runtime_alloc.cli.reports.json_report import load_schema


def test_bench_json_and_table(run):
    argv = [
        "bench",
        "--sizes",
        "10,20",
        "--decisions",
        "5",
        "--repeats",
        "2",
        "--warmup",
        "0",
        "--packing-items",
        "40",
        "--backend",
        "python",
    ]
    code, out, err = run(*argv, "--json", "-")
    assert code == 0, err
    report = json.loads(out)
    jsonschema.validate(report, load_schema("bench"))
    assert {r["runners"] for r in report["results"]} == {10, 20}
    for size in (10, 20):
        assert min(r["relative"] for r in report["results"] if r["runners"] == size) == 1.0
    packing = {p["packer"]: p["bins"] for p in report["packing"]}
    bound = packing["lower bound ceil(sum / capacity)"]
    assert packing["binpacking.to_constant_volume (offline FFD)"] >= bound
    assert packing["MaxPackingStrategy (online)"] >= bound
    code, out, err = run(*argv)
    assert code == 0, err
    assert "Relative" in out
    assert "At 20 runners: " in out
    assert "times faster than" in out


def test_naive_baseline_makes_the_same_decisions():
    fleet = bench_fleet(30, 3)
    rng = random.Random(9)
    for strategy in (EvenSpreadStrategy(), MaxPackingStrategy()):
        allocator = Allocator(fleet, strategy=strategy, backend="python")
        naive = NaiveAllocator(fleet, maximize=strategy.maximize)
        live = []
        for k, request in enumerate(bench_requests(400, 5)):
            got = allocator.try_allocate(f"t{k}", request)
            assert naive.allocate(f"t{k}", request) == (got.runner if got else None)
            if got:
                live.append(f"t{k}")
            if live and rng.random() < 0.4:
                task = live.pop(rng.randrange(len(live)))
                allocator.release(task)
                naive.release(task)


def test_explain_fleet_with_labels(tmp_path, run):
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(
        "name,cpu,memory,slots,labels\na,2,4Gi,4,\nb,8,16Gi,4,gpu;ssd\nc,4,8Gi,4,gpu\n"
    )
    code, out, err = run(
        "explain",
        "--fleet",
        str(fleet),
        "--request",
        "cpu=3,memory=1Gi",
        "--require",
        "gpu",
        "--json",
        "-",
    )
    assert code == 0, err
    by_strategy = {e["strategy"]: e for e in json.loads(out)["results"]}
    # b: (3/8 + 1/16 + 1/4)/3 = 0.229; c: (3/4 + 1/8 + 1/4)/3 = 0.375; a lacks the label
    assert by_strategy["EvenSpreadStrategy"]["chosen"] == "b"
    assert by_strategy["MaxPackingStrategy"]["chosen"] == "c"
    reasons = {v["runner"]: v["reason"] for v in by_strategy["EvenSpreadStrategy"]["runners"]}
    assert reasons["a"] == "missing label gpu; insufficient cpu"
    code, out, _ = run(
        "explain", "--fleet", str(fleet), "--request", "cpu=3", "--strategy", "max-packing"
    )
    assert code == 0
    assert "c <- chosen" in out
    assert "MaxPackingStrategy chooses c" in out


def test_explain_snapshot_with_reservations(tmp_path, run):
    allocator = Allocator(
        [Runner.parse("a", "cpu=4"), Runner.parse("b", "cpu=4")], strategy=MaxPackingStrategy()
    )
    allocator.allocate("t1", "cpu=3")
    snapshot = tmp_path / "snap.json"
    snapshot.write_text(json.dumps(allocator.snapshot().to_dict()))
    code, out, err = run(
        "explain",
        "--snapshot",
        str(snapshot),
        "--request",
        "cpu=2",
        "--strategy",
        "MaxPackingStrategy",
    )
    assert code == 0, err
    assert "insufficient cpu" in out  # a has 1 core free
    assert "MaxPackingStrategy chooses b" in out
    code, out, _ = run("explain", "--snapshot", str(snapshot), "--request", "cpu=8")
    assert code == 0
    assert "no runner can take" in out
