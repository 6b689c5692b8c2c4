"""Fuzz the command line: every generated user mistake ends with exit 2, one error line, no traceback.

Each example builds a command from a valid base and spoils exactly one thing (an option's value
or an input file), so every example is a mistake the CLI must report before doing any work.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime_alloc.cli import main

GOOD_TRACE = "task_id,submit,duration,cpu,memory,slots\nt1,0,5,1,1Gi,1\n"
GOOD_FLEET = "name,cpu,memory,slots\na,4,8Gi,4\n"

UNICODE_DIGITS = "".join(
    chr(base + k) for base in (0xFF10, 0x0660, 0x06F0, 0x0966) for k in range(10)
)

# text that is never an ASCII integer: Unicode digits, letters, signs, separators, blanks
not_an_integer = st.one_of(
    st.text(alphabet=UNICODE_DIGITS, min_size=1, max_size=6),
    st.text(alphabet="abcxyz._ ,", min_size=1, max_size=6),
    st.sampled_from(["", " ", "1_0", "1.5", "1e3", "nan", "0x10", "--", "+-1"]),
)
# ASCII integers out of the range of options that need >= 1
not_positive = st.integers(max_value=0).map(str)
too_many_runners = st.one_of(
    st.integers(min_value=100_001, max_value=10**40).map(str),
    st.just("1" + "0" * 5000),
)
bad_hours = st.one_of(
    st.sampled_from(["nan", "-nan", "inf", "-inf", "1e999", "0", "-0.5", "168.01", "1e4"]),
    st.floats(max_value=0.0, allow_nan=False).map(repr),
    st.floats(min_value=8761.0, allow_infinity=False).map(repr),
    st.text(alphabet=UNICODE_DIGITS + ".", min_size=1, max_size=6),
    st.sampled_from(["", " 1", "1_0", "0x1", "one"]),
)


def _option(option: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return values.map(lambda v: [f"{option}={v}"])


bad_simulate_args = st.one_of(
    _option("--runners", st.one_of(not_an_integer, not_positive, too_many_runners)),
    _option("--limit", st.one_of(not_an_integer, not_positive)),
    _option("--fleet-limit", st.one_of(not_an_integer, not_positive)),
    _option("--instances-cap", st.one_of(not_an_integer, not_positive)),
    _option("--runner-slots", st.one_of(not_an_integer, not_positive)),
    _option("--seed", not_an_integer),
    _option("--hours", bad_hours),
    _option("--weights", st.one_of(not_an_integer.map(lambda v: f"cpu={v}"), st.just("cpu"))),
    _option("--strategy", st.text(alphabet="xyz!", min_size=1, max_size=5)),
    _option("--backend", st.text(alphabet="xyz!", min_size=1, max_size=5)),
    _option(
        "--plot", st.sampled_from(["-", "", "out.txt", "report", "out.", "/no/such/dir/p.png"])
    ),
    st.just(["--json", "-", "--csv", "-"]),
    st.just(["--shape", "", "--runners", "2"]),
    st.just(["--shape", "cpu=1"]),
)
bad_explain_args = st.one_of(
    _option("--runners", st.one_of(not_an_integer, not_positive, too_many_runners)),
    st.text(alphabet=" !?;,'\"", min_size=1, max_size=4).map(
        lambda v: ["--runners", "2", f"--require=g{v}"]
    ),
    st.just(["--runners", "2", "--shape", " "]),
    st.just([]),
)
bad_bench_args = st.one_of(
    _option("--sizes", st.one_of(not_an_integer, not_positive, too_many_runners)),
    _option("--decisions", st.one_of(not_an_integer, not_positive)),
    _option("--repeats", st.one_of(not_an_integer, not_positive)),
    _option("--warmup", st.one_of(not_an_integer, st.integers(max_value=-1).map(str))),
    _option("--seed", not_an_integer),
)

# files: each one is broken in a way no reader can accept
not_utf8 = st.tuples(st.binary(max_size=40), st.binary(max_size=40)).map(
    lambda parts: parts[0] + b"\xff" + parts[1]
)
bad_cell = st.one_of(
    st.text(alphabet=UNICODE_DIGITS, min_size=1, max_size=4),
    st.sampled_from(["-1", "nan", "inf", "soon", "1_0"]),
)
bad_trace_text = st.one_of(
    bad_cell.map(lambda v: f"task_id,submit,duration\nt1,{v},5\n"),
    bad_cell.map(lambda v: f"task_id,submit,duration\nt1,0,{v}\n"),
    st.sampled_from(["", "task_id,submit\nt1,0\n", "task_id,submit,duration\nt1,0\n"]),
)
bad_fleet_text = st.one_of(
    bad_cell.map(lambda v: f"name,cpu\na,{v}\n"),
    st.sampled_from(["", "name,cpu\n", "cpu\n4\n", "name,cpu\na,1\na,2\n"]),
)
bad_snapshot = st.one_of(
    not_utf8,
    st.integers(min_value=1_000, max_value=60_000).map(lambda n: b"[" * n + b"]" * n),
    st.just(b'{"schema_version": ' + b"9" * 5001 + b"}"),
    st.sampled_from([b"[]", b"null", b"7", b'"x"', b"{", b'{"runners": null}']),
    st.sampled_from([b'{"schema_version": 1, "runners": 5}', b'{"schema_version": 99}']),
)


@st.composite
def mistakes(draw: st.DrawFn) -> tuple[list[str], dict[str, bytes]]:
    """A command with one mistake, and the files it names (name -> content)."""
    kind = draw(st.sampled_from(["simulate", "explain", "bench", "trace", "fleet", "snapshot"]))
    files = {"trace.csv": GOOD_TRACE.encode(), "fleet.csv": GOOD_FLEET.encode()}
    if kind == "simulate":
        return ["simulate", "--hours", "0.1", *draw(bad_simulate_args)], files
    if kind == "explain":
        return ["explain", *draw(bad_explain_args)], files
    if kind == "bench":
        return ["bench", "--sizes", "5", "--decisions", "1", *draw(bad_bench_args)], files
    if kind == "trace":
        files["trace.csv"] = draw(st.one_of(not_utf8, bad_trace_text.map(str.encode)))
    elif kind == "fleet":
        files["fleet.csv"] = draw(st.one_of(not_utf8, bad_fleet_text.map(str.encode)))
    else:
        files["snap.json"] = draw(bad_snapshot)
        return ["explain", "--snapshot", "{dir}/snap.json"], files
    return ["simulate", "--trace", "{dir}/trace.csv", "--fleet", "{dir}/fleet.csv"], files


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mistakes())
def test_every_mistake_exits_2_with_one_message(case):
    argv, files = case
    with tempfile.TemporaryDirectory() as folder:
        for name, content in files.items():
            (Path(folder) / name).write_bytes(content)
        argv = [a.replace("{dir}", folder) for a in argv]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)  # an exception here is the traceback a user would see
    message = err.getvalue()
    assert code == 2, (argv, out.getvalue(), message)
    assert "Traceback" not in message
    assert message.count(" error: ") == 1, message
    assert out.getvalue() == "", argv
    assert len(message.splitlines()[-1]) < 600, "the message is one readable line"
