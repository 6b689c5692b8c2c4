"""Snapshots, restore and release keep device use exactly."""

from __future__ import annotations

import json

import pytest

from runtime_alloc import Allocator, FleetSnapshot, InvalidSnapshotError, Runner
from runtime_alloc.testing import check_invariants


def busy() -> Allocator:
    alloc = Allocator(
        [Runner.parse("g", "cpu=8", devices={"gpu": 4}), Runner.parse("c", "cpu=8,gpu=2000")],
        backend="python",
    )
    alloc.allocate("a", "gpu=300m")
    alloc.allocate("b", "gpu=2")
    alloc.allocate("c", "gpu=700m")
    return alloc


def test_snapshot_round_trips_device_use():
    alloc = busy()
    snap = alloc.snapshot()
    data = snap.to_dict()
    g = data["runners"][0]
    assert g["devices"] == {"gpu": 4}
    assert g["device_use"] == {"gpu": list(snap.runners[0].devices["gpu"])}
    assert "device_use" not in data["runners"][1]
    assert FleetSnapshot.from_json(snap.to_json()) == snap
    restored = Allocator.from_snapshot(FleetSnapshot.from_json(snap.to_json()))
    assert restored.snapshot() == snap
    assert restored.release("b").devices == alloc.release("b").devices
    assert restored.allocate("d", "gpu=1") == alloc.allocate("d", "gpu=1")
    check_invariants(restored)


def test_a_snapshot_without_device_use_takes_it_from_the_reservations():
    snap = busy().snapshot()
    data = snap.to_dict()
    del data["runners"][0]["device_use"]
    assert FleetSnapshot.from_dict(data) == snap


def test_an_old_snapshot_without_devices_still_loads():
    old = {
        "schema_version": 1,
        "runners": [{"name": "p", "capacity": {"millicpu": 1000, "slots": 4,
                                               "extended": {"gpu": 2000}}}],
        "reservations": [{"task_id": "t", "runner": "p",
                          "resources": {"millicpu": 0, "slots": 1, "extended": {"gpu": 1500}}}],
        }  # fmt: skip
    for item in old["runners"]:
        item["reserved"] = {"slots": 1, "extended": {"gpu": 1500}}
    alloc = Allocator.from_snapshot(FleetSnapshot.from_dict(old))
    assert alloc.get_reservation("t").devices == {}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["runners"][0]["device_use"].update(gpu=[0, 0, 0, 0]), "device use"),
        (lambda d: d["runners"][0]["device_use"].update(gpu=[0, 0]), "must be 4 integers"),
        (lambda d: d["runners"][0]["device_use"].update(gpu=[0, 0, 0, 1001]), "from 0 to 1000"),
        (lambda d: d["reservations"][0].pop("devices"), "holds no device"),
        (lambda d: d["reservations"][0]["devices"].update(gpu=[[9, 300]]), "does not exist"),
        (lambda d: d["reservations"][0]["devices"].update(gpu=[[0, 200]]), "differ from its"),
        (lambda d: d["reservations"][0]["devices"].update(gpu=[[0, 2000]]), "milli from 1"),
    ],
)
def test_inconsistent_device_use_is_refused(edit, message):
    data = json.loads(busy().snapshot().to_json())
    edit(data)
    with pytest.raises(InvalidSnapshotError, match=message):
        FleetSnapshot.from_dict(data)


def test_metrics_report_per_device_use():
    alloc = busy()
    per_runner = {r.name: r for r in alloc.metrics().per_runner}
    assert per_runner["g"].devices == {"gpu": (300, 1000, 1000, 0)}
    assert per_runner["g"].usage["gpu"].reserved == 2300  # the pooled view: the sum
    assert per_runner["g"].to_dict()["devices"] == {"gpu": [300, 1000, 1000, 0]}
    assert per_runner["c"].devices == {}
    assert "devices" not in per_runner["c"].to_dict()


def test_check_invariants_passes_on_a_device_fleet():

    snapshot = check_invariants(busy())
    assert snapshot.runners[0].devices == {"gpu": (300, 1000, 1000, 0)}
