"""End to end: Airflow's API server, two Celery workers on Redis, ``airflow dags test --use-executor``.

Everything runs on 127.0.0.1 on free ports with a SQLite database in a
temporary AIRFLOW_HOME; every process is started in its own session and
stopped by its pid (the group it leads). The DAG (e2e_dag.py) has tasks that
fit only w1 (a gpu), only w2 (6 GB, twice: they cannot run at once), either
runner, no runner (64 GB) and one that fails; each task writes the runner it
ran on and when.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("airflow", reason="the Airflow tests need the extra airflow (docs/airflow.md)")
pytest.importorskip("airflow.providers.celery", reason="needs apache-airflow-providers-celery")

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(600)]

REDIS = shutil.which("redis-server")
DAG = Path(__file__).with_name("e2e_dag.py")
BIN = Path(sys.executable).parent
RUNNERS = "w1:cpu=2,memory=2GB,gpu=1,slots=4;w2:cpu=4,memory=8GB,slots=4"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """The processes of one test, each leading its own process group."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.home / f"{name}.log"

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self.log(name).open("wb") as out:
            proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs[name] = proc
        return proc

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def wait_for(self, what: str, check, timeout: float, names=()) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name in names:
                if self.procs[name].poll() is not None:
                    pytest.fail(f"{name} exited early:\n{self.tail(name)}")
            if check():
                return
            time.sleep(0.5)
        tails = "\n".join(self.tail(n) for n in names)
        pytest.fail(f"{what} not ready after {timeout} s\n{tails}")

    def tail(self, name: str, lines: int = 40) -> str:
        text = self.log(name).read_text(errors="replace") if self.log(name).exists() else ""
        return f"--- {name}\n" + "\n".join(text.splitlines()[-lines:])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (127.0.0.1)
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Stack, dict[str, str]]]:
    if REDIS is None:
        pytest.skip("redis-server is not installed")
    home = tmp_path / "airflow"
    dags = home / "dags"
    out = tmp_path / "out"
    for folder in (dags, out):
        folder.mkdir(parents=True)
    shutil.copy(DAG, dags / DAG.name)
    redis_port, api_port = free_port(), free_port()
    broker = f"redis://127.0.0.1:{redis_port}/0"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RUNTIME_ALLOC"))},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "runtime_alloc.integrations.airflow.RuntimeAllocExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": broker,
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": (
            "runtime_alloc.integrations.airflow.celery_config.CELERY_CONFIG"
        ),
        "RUNTIME_ALLOC_RUNNERS": RUNNERS,
        "ALLOCATOR_STRATEGY": "MaxPackingStrategy",
        "E2E_OUT": str(out),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    airflow = str(BIN / "airflow")
    procs = Stack(home)
    try:
        procs.start(
            "redis",
            [
                REDIS,
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            env,
        )
        migrate = subprocess.run(
            [airflow, "db", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        procs.start(
            "api-server",
            [
                airflow,
                "api-server",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
                "--workers",
                "1",
            ],
            env,
        )
        for name in ("w1", "w2"):
            worker_env = {**env, "E2E_RUNNER": name}
            procs.start(
                name,
                [
                    airflow,
                    "celery",
                    "worker",
                    "--queues",
                    name,
                    "--celery-hostname",
                    f"{name}@%h",
                    "--concurrency",
                    "4",
                    "--skip-serve-logs",
                    "--without-gossip",
                    "--without-mingle",
                ],
                worker_env,
            )
        health = f"http://127.0.0.1:{api_port}/api/v2/monitor/health"
        procs.wait_for("api-server", lambda: _healthy(health), 240, names=["api-server"])
        for name in ("w1", "w2"):
            procs.wait_for(
                name,
                lambda n=name: " ready." in procs.log(n).read_text(errors="replace"),
                180,
                names=[name],
            )
        yield procs, env
    finally:
        procs.stop()


def test_dags_test_places_each_task_by_its_request(stack) -> None:
    procs, env = stack
    run = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "runtime_alloc_e2e", "--use-executor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = run.stdout[-6000:] + run.stderr[-6000:]
    db = sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db")
    try:
        states = dict(
            db.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = 'runtime_alloc_e2e'"
            ).fetchall()
        )
        audit = [
            row[0] or ""
            for row in db.execute(
                "SELECT extra FROM log WHERE dag_id = 'runtime_alloc_e2e' AND task_id = 'too_big'"
            )
        ]
    finally:
        db.close()
    context = f"{output}\n{procs.tail('w1')}\n{procs.tail('w2')}\n{procs.tail('api-server')}"
    assert states == {
        "needs_gpu": "success",
        "needs_memory": "success",
        "needs_memory_too": "success",
        "default_request": "success",
        "too_big": "failed",
        "fails": "failed",
    }, context
    out = Path(env["E2E_OUT"])
    records = {p.name: json.loads(p.read_text()) for p in out.iterdir()}
    ran = {name: record["runner"] for name, record in records.items()}
    assert ran["needs_gpu"] == "w1", context
    assert ran["needs_memory"] == "w2", context
    assert ran["needs_memory_too"] == "w2", context
    assert ran["default_request"] in {"w1", "w2"}, context
    assert ran["fails"] in {"w1", "w2"}, context
    assert "too_big" not in ran, context  # failed before it started
    # 6GB + 6GB > w2's 8GB: the second waited in the queue until the first released its memory
    first, second = sorted(
        (records["needs_memory"], records["needs_memory_too"]), key=lambda r: r["start"]
    )
    assert second["start"] >= first["end"], records
    reason = " ".join(audit)
    assert "0/2 runners can take task 'runtime_alloc_e2e.too_big#1." in reason, (audit, context)
    assert "2 insufficient memory" in reason, (audit, context)
