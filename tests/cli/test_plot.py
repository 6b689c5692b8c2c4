"""simulate --plot: an empty workload gets a note, a real one gets labelled panels."""

from __future__ import annotations

from runtime_alloc.cli.reports.plot import EMPTY_NOTE


def test_empty_workload_plot_says_so(tmp_path, run):
    trace = tmp_path / "empty.csv"
    trace.write_text("task_id,submit,duration\n")
    target = tmp_path / "empty.svg"
    code, out, err = run("simulate", "--trace", str(trace), "--runners", "3", "--plot", str(target))
    assert code == 0, err
    assert "0 tasks on 3 runners" in out
    assert f"note: --plot {target}: {EMPTY_NOTE}" in err
    svg = target.read_text(encoding="utf-8")
    assert EMPTY_NOTE in svg
    assert "time (h)" not in svg  # no empty panels with a time axis


def test_nothing_placed_is_also_empty(tmp_path, run):
    trace = tmp_path / "big.csv"
    trace.write_text("task_id,submit,duration,cpu\nbig,0,5,64\n")
    target = tmp_path / "big.svg"
    code, _, err = run("simulate", "--trace", str(trace), "--runners", "2", "--plot", str(target))
    assert code == 0, err
    assert EMPTY_NOTE in target.read_text(encoding="utf-8")


def test_plot_panels_are_labelled_and_show_in_use_runners(tmp_path, run):
    target = tmp_path / "p.svg"
    code, _, err = run("simulate", "--hours", "0.5", "--plot", str(target))
    assert code == 0, err
    assert "note:" not in err
    svg = target.read_text(encoding="utf-8")
    for label in (
        "runners in use",
        "utilization of in-use runners",
        "time (h)",
        "runners that held a task",
        "dominant share per in-use runner",
        "dominant share (power scale",
    ):
        assert label in svg, label
