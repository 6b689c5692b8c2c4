"""``allocate_many``'s items, checked in bulk and cut into runs of identical requests.

A batch is usually many task ids with one request repeated. :func:`batch_runs`
splits such a batch into columns with one plain loop (item shapes, task id
types, whether the request object repeats), checks the task ids with C-level
passes (lengths, duplicates with one set, held ids with one set intersection)
and parses each distinct request once: well under 1 µs of Python work per
item. Any batch it cannot take so (an item of
another shape, a bad or duplicate task id, a request that fails to parse) goes
the per-item way of :func:`~runtime_alloc._requests.prepare_batch`, which
raises the error of the first bad item, as before.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from itertools import groupby
from operator import itemgetter
from typing import Any

from runtime_alloc._requests import Cache, Request, identical_runs, prepare_batch, same_request
from runtime_alloc.labels import MAX_NAME_LENGTH
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources

__all__ = ["GC_PAUSE_ITEMS", "Run", "batch_runs", "gc_paused"]

#: From this many items on, allocate_many pauses the cyclic garbage collector.
GC_PAUSE_ITEMS = 10_000

#: A run of equal requests: (start, stop, resources, labels) over the batch's task ids.
Run = tuple[int, int, Resources, frozenset[str]]

#: One prepared item, as ``prepare_one`` returns it.
Prepared = tuple[str, Resources, frozenset[str]]

#: Request and require types compared by value (equal values only within a type,
#: and equal values parse alike); other requests are compared by identity.
_BY_VALUE_REQUESTS = frozenset((str, Resources, type(None)))
_BY_VALUE_REQUIRES = frozenset((tuple, frozenset, str))
_ITEM_TYPES = frozenset((tuple, list))

_first = itemgetter(0)
_second = itemgetter(1)
_third = itemgetter(2)


def batch_runs(
    items: object,
    prepare_one: Callable[[str, Request, Any, Cache], Prepared],
    reservations: Mapping[str, Reservation],
) -> tuple[list[str], list[Run]]:
    """Check ``allocate_many``'s items; return the task ids and the runs of equal requests.

    The runs cover the task ids in order; adjacent runs differ in resources or
    labels. Each distinct request is prepared with ``prepare_one`` (which
    validates and parses it) once per segment of equal consecutive items.

    Raises:
        InvalidArgumentError, InvalidResourcesError, DuplicateTaskError: as
            :func:`~runtime_alloc._requests.prepare_batch`, for the first bad item.

    Runtime complexity: O(len(items)) C-level steps plus one Python step per
    segment of equal consecutive requests; a batch that fails the bulk checks
    costs :func:`~runtime_alloc._requests.prepare_batch` as well.
    """
    if type(items) is not list and type(items) is not tuple:
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            prepare_batch(items, prepare_one, reservations)  # raises the type error
        got: list[Any] = []
        try:
            got.extend(items)  # type: ignore[arg-type]
        except BaseException:
            prepare_batch(got, prepare_one, reservations)  # a bad item before the failure
            raise
        items = got
    fast = _bulk(items, prepare_one, reservations)
    if fast is not None:
        return fast
    prepared = prepare_batch(items, prepare_one, reservations)  # the per-item way
    task_ids = [task_id for task_id, _, _ in prepared]
    runs: list[Run] = []
    start = 0
    for run in identical_runs(prepared):
        runs.append((start, start + len(run), run[0][1], run[0][2]))
        start += len(run)
    return task_ids, runs


def _bulk(
    items: list[Any] | tuple[Any, ...],
    prepare_one: Callable[[str, Request, Any, Cache], Prepared],
    reservations: Mapping[str, Reservation],
) -> tuple[list[str], list[Run]] | None:
    """:func:`batch_runs` by columns, or None for a batch that needs the per-item way."""
    if not items:
        return [], []
    columns = _pairs(items) if type(items[0]) is tuple and len(items[0]) == 2 else _columns(items)
    if columns is None:
        return None
    task_ids, requests, requires, ids = columns
    if ids is None:  # (the pairs' loop checked the lengths and made the set)
        if max(map(len, task_ids)) > MAX_NAME_LENGTH:
            return None  # check_name's rule
        ids = set(task_ids)
    if len(ids) != len(task_ids) or "" in ids or not reservations.keys().isdisjoint(ids):
        return None  # an empty, duplicate or held id: the per-item way names the first
    by_value = set(map(type, requests)) <= _BY_VALUE_REQUESTS and (
        requires is None or set(map(type, requires)) <= _BY_VALUE_REQUIRES
    )
    if requires is None:
        keys: Any = requests if by_value else map(id, requests)
    else:
        keys = (
            zip(requests, requires, strict=True)
            if by_value
            else zip(map(id, requests), map(id, requires), strict=True)
        )
    # the lengths of the segments of equal consecutive requests
    sizes = [len(task_ids)] if len(requests) == 1 else [len(list(g)) for _, g in groupby(keys)]
    runs: list[Run] = []
    cache: Cache = {}
    start = 0
    try:
        for size in sizes:
            stop = start + size
            _, resources, labels = prepare_one(
                task_ids[start], requests[start], () if requires is None else requires[start], cache
            )
            if runs and same_request(runs[-1][2], runs[-1][3], resources, labels):
                runs[-1] = (runs[-1][0], stop, resources, labels)
            else:
                runs.append((start, stop, resources, labels))
            start = stop
    except Exception:  # noqa: BLE001 (the per-item way raises the first bad item's error)
        return None
    return task_ids, runs


def _pairs(
    items: list[Any] | tuple[Any, ...],
) -> tuple[list[str], list[Any], None, set[str]] | None:
    """The task ids, requests and set of ids of ``(str, request)`` tuples, or None.

    None also for a task id longer than check_name's limit. One plain loop
    (about 60 ns an item) that reads each item and its task id once: separate
    C-level passes for the lengths and the set cost more on a large batch,
    whose new items no longer sit in the CPU's caches (about 22 against 18 ms
    for 100,000 items); when every item holds the first item's request
    object, the requests are that one object, ``[request]``.
    """
    request = items[0][1]
    task_ids: list[str] = []
    ids: set[str] = set()
    append = task_ids.append
    add = ids.add
    same = True
    for item in items:
        if type(item) is not tuple or len(item) != 2:
            return None
        task_id, other = item
        if type(task_id) is not str or len(task_id) > MAX_NAME_LENGTH:
            return None
        append(task_id)
        add(task_id)
        if other is not request:
            same = False
    return task_ids, [request] if same else list(map(_second, items)), None, ids


def _columns(
    items: list[Any] | tuple[Any, ...],
) -> tuple[list[str], list[Any], list[Any] | None, None] | None:
    """The str task ids, requests and requires (None: all empty) of same-length items, or None.

    (The fourth item, the set of ids, is left to the caller.)
    """
    if not set(map(type, items)) <= _ITEM_TYPES:
        return None
    sizes = set(map(len, items))
    if sizes not in ({2}, {3}):
        return None
    task_ids = list(map(_first, items))
    if set(map(type, task_ids)) != {str}:
        return None
    requires = list(map(_third, items)) if sizes == {3} else None
    return task_ids, list(map(_second, items)), requires, None


@cache
def _generational() -> bool:
    """Whether the collector keeps generations (not a free-threaded build). O(1) once known."""
    import sysconfig  # noqa: PLC0415 (only for batches that pause the collector)

    return not sysconfig.get_config_var("Py_GIL_DISABLED")


@contextmanager
def gc_paused(size: int) -> Iterator[None]:
    """Pause the cyclic garbage collector for a batch of ``size`` >= :data:`GC_PAUSE_ITEMS` items.

    A large batch creates one reservation per task; none is cyclic garbage,
    but each ~700 new objects start a collection, and the growing count of
    survivors a full one (a traversal of every object of the process): about
    a third of the time of a 100,000-task batch. Python's ``timeit`` pauses
    the collector the same way.

    On exit the process's young objects (the reservations among them) join
    the oldest generation at once (``gc.freeze()`` then ``gc.unfreeze()``:
    O(1) list splices) instead of through a collection of the young
    generation, which would traverse every new reservation only to find it
    alive (about 15 % of a 100,000-task batch) and once more in the middle
    generation later. The next full collection looks at them, as at every
    other old object. This is skipped when the process keeps objects frozen
    (``gc.get_freeze_count()`` is not 0: ``unfreeze`` would thaw them) and on
    a free-threaded build (no generations; ``freeze`` walks the heap there).
    The collector is enabled again on exit only if it was enabled on entry.
    O(1).
    """
    if size < GC_PAUSE_ITEMS or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if _generational() and not gc.get_freeze_count():
            gc.freeze()  # every tracked object to the permanent generation ...
            gc.unfreeze()  # ... and from there to the oldest one
        gc.enable()
