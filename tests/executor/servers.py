"""Start real servers for the integration tests on 127.0.0.1 and free ports; stop them by pid."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)


def stop(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0
) -> None:
    """Stop a process we started, by its pid; SIGKILL when it does not end in time."""
    if process.poll() is None:
        os.kill(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout)


class Redis:
    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (.ci/run installs it with apt-get)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, 20, "redis-server answering PING")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def close(self) -> None:
        stop(self.process)


class CeleryWorker:
    """One real Celery worker process for one runner: ``-Q name -n name@%h -E``."""

    def __init__(
        self,
        broker: str,
        name: str,
        concurrency: int,
        log_dir: Path,
        app: str = "tests.executor.celery_app",
    ) -> None:
        self.name = name
        env = dict(
            os.environ,
            RUNTIME_ALLOC_TEST_BROKER=broker,
            RUNTIME_ALLOC_BROKER=broker,
            PYTHONPATH=str(ROOT),
        )
        self.log = log_dir / f"celery-{name}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                app,
                "worker",
                "-Q",
                name,
                "-n",
                f"{name}@%h",
                "-E",
                "-P",
                "threads",
                "-c",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "-l",
                "info",
                "-f",
                str(self.log),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        stop(self.process, signal.SIGKILL)

    def close(self) -> None:
        stop(self.process, signal.SIGTERM)


class DaskScheduler:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.log = (log_dir / "dask-scheduler.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-dashboard",
            ],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._listening, 60, "the Dask scheduler listening")

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def close(self) -> None:
        stop(self.process)
        self.log.close()


class DaskWorker:
    """One real Dask worker process named after its runner (under a nanny when ``nanny``)."""

    def __init__(
        self, scheduler: str, name: str, nthreads: int, log_dir: Path, *, nanny: bool = False
    ) -> None:
        self.name = name
        self.log = (log_dir / f"dask-{name}.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                scheduler,
                "--name",
                name,
                "--nthreads",
                str(nthreads),
                "--nanny" if nanny else "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
            ],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        stop(self.process, signal.SIGKILL)
        self.log.close()

    def close(self) -> None:
        stop(self.process, signal.SIGTERM)
        self.log.close()


def run_on_engine(
    engine_args: list[str], report: Path, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    """Run ``runtime-alloc run`` of 40 default tasks on two 4-cpu runners of a real engine.

    Checks the report (every task placed or unschedulable, at least 30 placed, each placed task
    succeeded) and returns it.
    """
    from runtime_alloc.cli import main

    argv = [
        "run",
        *engine_args,
        "--runners",
        "2",
        "--shape",
        "cpu=4,memory=16GiB,slots=4",
        "--limit",
        "40",
        "--duration",
        "5",
        "--json",
        str(report),
    ]
    code = main(argv)
    assert code == 0, capsys.readouterr().err
    data = json.loads(report.read_text())
    result = data["results"][0]
    assert result["placed"] + result["unschedulable"] == 40  # some tasks need more than 4 cpu
    assert result["placed"] >= 30
    assert data["executor"]["gauges"]["tasks"]["success"] == result["placed"]
    return data  # type: ignore[no-any-return]
