"""Request normalization: what ``allocate`` and ``allocate_many`` accept, turned into values.

A batch of ``allocate_many`` repeats the same request text; :class:`RequestParser`
parses each distinct (request, require) pair once per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from runtime_alloc._units import MAX_QUANTITY, _show
from runtime_alloc.errors import DuplicateTaskError, InvalidArgumentError, InvalidResourcesError
from runtime_alloc.labels import MAX_NAME_LENGTH
from runtime_alloc.reservations import Reservation
from runtime_alloc.resources import Resources, as_task_request
from runtime_alloc.runners import check_name, to_labels

__all__ = [
    "NO_LABELS",
    "Request",
    "check_max_task_slots",
    "identical_runs",
    "memo_key",
    "normalize",
    "parse_batch_item",
    "prepare",
    "prepare_batch",
    "prepare_task",
    "same_request",
]

#: What ``allocate`` accepts as a request.
Request = Resources | Mapping[str, object] | str | None

NO_LABELS: frozenset[str] = frozenset()

#: The most request specs an allocator remembers parsed (see :func:`normalize`).
MEMO_SIZE = 4096

#: Request and label types whose parsed value allocate_many may reuse for equal values.
_CACHEABLE_REQUESTS = (str, Resources, type(None))
_CACHEABLE_REQUIRES = (tuple, frozenset, str)

#: A batch's parse cache: (request, require) -> (resources, labels).
Cache = dict[Any, tuple[Resources, frozenset[str]]]


def memo_key(request: object) -> Any:  # noqa: ANN401
    """The key under which a parsed request spec is remembered, or None. O(len(spec)).

    Text is its own key; a plain dict whose values are all exact ``str`` or
    ``int`` is keyed by its items (equal keys then mean equal values of equal
    types: ``1``, ``True`` and ``1.0`` never share a key). Anything else is
    parsed every time.
    """
    kind = type(request)
    if kind is str:
        return request
    if kind is dict:
        for value in request.values():  # type: ignore[attr-defined]
            vt = type(value)
            if vt is not str and vt is not int:
                return None
        return tuple(request.items())  # type: ignore[attr-defined]
    return None


def normalize(
    request: Request,
    default: Resources,
    max_task_slots: int,
    *,
    field: str = "request",
    memo: dict[Any, Resources] | None = None,
) -> Resources:
    """Return the :class:`Resources` of a request (``default`` for None). O(len(text)).

    Args:
        request: as ``Allocator.allocate`` takes it.
        default: the request for None.
        max_task_slots: the most slots a task may take.
        field: the name used in error messages.
        memo: remembers valid specs by :func:`memo_key` (O(len(spec)) on a hit,
            no parsing); cleared when it holds :data:`MEMO_SIZE` specs. Only
            valid specs are remembered, so errors are raised as without it.

    Raises:
        InvalidResourcesError: a bad request, or slots outside 1..max_task_slots.
    """
    if request is None:
        return default
    if type(request) is Resources and request.slots:
        resources = request  # the hot path: a Resources with slots, as is
    else:
        key = None if memo is None else memo_key(request)
        if key is not None:
            hit = memo.get(key)  # type: ignore[union-attr]
            if hit is not None:
                return hit
        resources = as_task_request(request)  # missing slots (a Resources' 0) mean 1
        if key is not None and 1 <= resources.slots <= max_task_slots:
            if len(memo) >= MEMO_SIZE:  # type: ignore[arg-type]
                memo.clear()  # type: ignore[union-attr]
            memo[key] = resources  # type: ignore[index]
    if not 1 <= resources.slots <= max_task_slots:
        msg = f"{field} slots must be from 1 to {max_task_slots} for a task, got {resources.slots}"
        raise InvalidResourcesError(msg)
    return resources


def prepare(  # noqa: PLR0917
    request: Request,
    require: Iterable[str],
    default: Resources,
    max_task_slots: int,
    cache: Cache | None = None,
    memo: dict[Any, Resources] | None = None,
) -> tuple[Resources, frozenset[str]]:
    """Return the normalized (resources, labels), parsed once per batch when ``cache`` is given.

    Only exact str/Resources/None requests and str-label requires are cached, so
    equal keys validate alike. Runtime complexity: O(1) on a cache hit.
    """
    key = None
    hit = None
    if (
        cache is not None
        and type(request) in _CACHEABLE_REQUESTS
        and type(require) in _CACHEABLE_REQUIRES
    ):
        key = (request, require)  # values of these types equal only within a type
        try:
            hit = cache.get(key)
        except TypeError:  # an unhashable label: no caching
            key = hit = None
        if hit is not None:
            return hit
    resources = normalize(request, default, max_task_slots, memo=memo)
    labels = (
        NO_LABELS if type(require) is tuple and not require else to_labels(require, field="require")
    )
    if key is not None and cache is not None:
        cache[key] = (resources, labels)
    return resources, labels


def parse_batch_item(index: int, item: object) -> tuple[Any, Request, Any]:
    """Split ``items[index]`` of ``allocate_many`` into (task_id, request, require). O(1).

    Raises:
        InvalidArgumentError: not a 1- to 3-item sequence.
    """
    if type(item) is not tuple and (
        isinstance(item, (str, bytes)) or not isinstance(item, Sequence)
    ):
        msg = f"items[{index}] must be (task_id[, request[, require]]), got {_show(item)}"
        raise InvalidArgumentError(msg)
    if not 1 <= len(item) <= 3:
        msg = f"items[{index}] must be (task_id[, request[, require]]), got {_show(item)}"
        raise InvalidArgumentError(msg)
    seq: Sequence[Any] = item
    return seq[0], (seq[1] if len(seq) > 1 else None), (seq[2] if len(seq) > 2 else ())


def same_request(
    request: Resources, require: frozenset[str], other: Resources, labels: frozenset[str]
) -> bool:
    """Whether two prepared requests are equal (identity first: the common case). O(1)."""
    return (other is request or other == request) and (labels is require or labels == require)


def identical_runs(
    prepared: Sequence[tuple[str, Resources, frozenset[str]]],
) -> Iterator[Sequence[tuple[str, Resources, frozenset[str]]]]:
    """Split prepared ``(task_id, resources, labels)`` items into runs of equal requests. O(n)."""
    start = 0
    while start < len(prepared):
        end = start + 1
        _, request, require = prepared[start]
        while end < len(prepared):
            _, other, labels = prepared[end]
            if same_request(request, require, other, labels):
                end += 1
            else:
                break
        yield prepared[start:end]
        start = end


def check_max_task_slots(value: object) -> int:
    """Return ``value`` when it is a valid ``max_task_slots``. O(1).

    Raises:
        InvalidArgumentError: not an integer from 1 to 2**53.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        msg = f"max_task_slots must be a positive integer, got {_show(value)}"
        raise InvalidArgumentError(msg)
    return value


def prepare_task(  # noqa: PLR0917
    task_id: str,
    request: Request,
    require: Iterable[str],
    default: Resources,
    max_task_slots: int,
    reservations: Mapping[str, Reservation],
    cache: Cache | None = None,
    memo: dict[Any, Resources] | None = None,
) -> tuple[str, Resources, frozenset[str]]:
    """Check a task id and normalize its request (see :func:`prepare`). O(len(text)).

    ``memo`` remembers parsed specs across calls (see :func:`normalize`).

    Raises:
        InvalidArgumentError, InvalidResourcesError: bad input.
        DuplicateTaskError: ``task_id`` already holds a reservation.
    """
    check_name(task_id, field="task_id")
    if cache is None:  # one call: parse directly
        resources = normalize(request, default, max_task_slots, memo=memo)
        labels = (
            NO_LABELS
            if type(require) is tuple and not require
            else to_labels(require, field="require")
        )
    else:
        resources, labels = prepare(request, require, default, max_task_slots, cache, memo)
    if task_id in reservations:
        runner = reservations[task_id].runner
        msg = f"task {task_id!r} already holds a reservation on runner {runner!r}"
        raise DuplicateTaskError(msg)
    return task_id, resources, labels


def prepare_batch(
    items: object,
    prepare_one: Callable[[str, Request, Any, Cache], tuple[str, Resources, frozenset[str]]],
    reservations: Mapping[str, Reservation] | None = None,
) -> list[tuple[str, Resources, frozenset[str]]]:
    """Check ``allocate_many``'s items and prepare each with ``prepare_one``, in order.

    With ``reservations`` (the held ones), an item whose request and require
    equal, in value and type, those of an item prepared before (exact ``str``,
    ``Resources`` or None requests; tuple, frozenset or str requires) reuses
    that item's prepared request, and only its task id is checked here (an
    exact ``str`` of 1 to :data:`~runtime_alloc.labels.MAX_NAME_LENGTH`
    characters, held by no reservation); any other item, or one failing that
    check, goes through ``prepare_one``, so every error is the one
    ``prepare_one`` raises.

    Raises:
        InvalidArgumentError: ``items`` is not an iterable of tuples, or an item is bad.
        InvalidResourcesError, DuplicateTaskError: as ``prepare_one``, or a task id
            appears twice in the batch.

    Runtime complexity: O(len(items)) plus one ``prepare_one`` call per
    distinct request (per item without ``reservations``).
    """
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        msg = (
            "items must be an iterable of (task_id[, request[, require]]) tuples, "
            f"got {_show(items)}"
        )
        raise InvalidArgumentError(msg)
    prepared: list[tuple[str, Resources, frozenset[str]]] = []
    append = prepared.append
    seen: set[str] = set()
    cache: Cache = {}
    #: (request, require) -> the prepared (resources, labels), for the cacheable types
    #: (values of these types are equal only within a type, as for ``prepare``'s cache)
    done: dict[Any, tuple[Resources, frozenset[str]]] = {}
    held = {} if reservations is None else reservations
    requests, requires = _CACHEABLE_REQUESTS, _CACHEABLE_REQUIRES
    for index, item in enumerate(items):
        if type(item) is tuple and len(item) == 2:  # (task_id, request)
            task_id, request = item
            require: Any = ()
        else:
            task_id, request, require = parse_batch_item(index, item)
        key = (
            (request, require)
            if reservations is not None and type(request) in requests and type(require) in requires
            else None
        )
        try:
            hit = None if key is None else done.get(key)
        except TypeError:  # an unhashable label
            key = hit = None
        if (
            hit is not None
            and type(task_id) is str
            and 0 < len(task_id) <= MAX_NAME_LENGTH  # check_name's rule
            and task_id not in held
        ):
            append((task_id, hit[0], hit[1]))
        else:
            one = prepare_one(task_id, request, require, cache)
            append(one)
            if key is not None:
                done[key] = (one[1], one[2])
        if task_id in seen:
            msg = f"task {task_id!r} appears twice in the batch"
            raise DuplicateTaskError(msg)
        seen.add(task_id)
    return prepared
