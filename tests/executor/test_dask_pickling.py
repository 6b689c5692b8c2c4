"""DaskEngine's task function is pickled once, not at every submit (no cluster needed)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("distributed", reason="the extra runtime_alloc[dask] is not installed")

import cloudpickle
from distributed.protocol import pickle as dask_pickle

from runtime_alloc.executor.engines import DaskEngine


def test_the_relaying_function_is_pickled_once_and_comes_back_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = DaskEngine("tcp://127.0.0.1:1", [])._run  # no connection before open()
    calls: list[Any] = []
    dumps = cloudpickle.dumps

    def counting(obj: Any, *args: Any, **kwargs: Any) -> bytes:
        calls.append(obj)
        return dumps(obj, *args, **kwargs)

    monkeypatch.setattr(cloudpickle, "dumps", counting)
    sent = [dask_pickle.dumps(run) for _ in range(3)]  # as Dask pickles it at each submit
    assert calls == []  # its code, closure and globals were pickled once, when it was made
    assert len(sent[0]) < 2 * len(run.pickled)
    back = dask_pickle.loads(sent[0])  # what a worker gets: the plain function
    assert back.__code__.co_code == run.function.__code__.co_code
    assert [c.cell_contents for c in back.__closure__] == [
        c.cell_contents for c in run.function.__closure__
    ]
