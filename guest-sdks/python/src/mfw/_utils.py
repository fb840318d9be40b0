"""Metaflow's helpers for a step's own code: `parallel_map`,
`parallel_imap_unordered` and `profile`.

A component has one thread and no processes, so in a step the maps call
the function on one item after another; the results are the same. In
ordinary CPython (a notebook, a script) they fork worker processes, as
Metaflow's do.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

_A = TypeVar("_A")
_R = TypeVar("_R")

# The function and arguments of the map in progress. Forked workers inherit
# them, so the function may be a lambda or a closure (only arguments'
# indices and results cross between processes, as pickles).
_JOB: tuple[Callable[[Any], Any], list[Any]] | None = None


def _call(index: int) -> tuple[int, Any]:
    assert _JOB is not None
    func, args = _JOB
    return index, func(args[index])


def _can_fork() -> bool:
    return hasattr(os, "fork")


def parallel_imap_unordered(
    func: Callable[[_A], _R],
    iterable: Iterable[_A],
    max_parallel: int | None = None,
    dir: str | None = None,
) -> Iterator[_R]:
    """`func` of each item, in the order they finish: up to `max_parallel`
    (default: the CPUs) at once in forked processes, or one after another
    where a process cannot fork (in a step). A failure in `func` is raised
    here. `dir` is accepted for Metaflow's sake: nothing is written.

    >>> sorted(parallel_imap_unordered(lambda x: x * x, [1, 2, 3]))
    [1, 4, 9]
    """
    global _JOB
    args = list(iterable)
    workers = min(max_parallel or os.cpu_count() or 1, len(args))
    if workers <= 1 or not _can_fork():
        yield from map(func, args)
        return
    import multiprocessing

    previous, _JOB = _JOB, (func, args)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for _, result in pool.imap_unordered(_call, range(len(args))):
                yield result
    finally:
        _JOB = previous


def parallel_map(
    func: Callable[[_A], _R],
    iterable: Iterable[_A],
    max_parallel: int | None = None,
    dir: str | None = None,
) -> list[_R]:
    """`func` of each item, in the items' order, computed as
    `parallel_imap_unordered` does.

    >>> parallel_map(lambda x: x + 1, [1, 2, 3], max_parallel=2)
    [2, 3, 4]
    """
    indexed = list(enumerate(iterable))
    results = parallel_imap_unordered(
        lambda item: (item[0], func(item[1])), indexed, max_parallel=max_parallel, dir=dir
    )
    return [result for _, result in sorted(results, key=lambda pair: pair[0])]


@contextlib.contextmanager
def profile(label: str, stats_dict: dict[str, int] | None = None) -> Iterator[None]:
    """Times the block in milliseconds: prints `PROFILE: label starting` and
    `... completed in Nms`, or adds the time to `stats_dict[label]`. In a
    step the time is the step's clock: the real one with
    `@grant(clock=True)`.

    >>> stats = {}
    >>> with profile("load", stats):
    ...     pass
    >>> list(stats)
    ['load']
    """
    if stats_dict is None:
        print(f"PROFILE: {label} starting")
    start = time.perf_counter()
    yield
    took = int((time.perf_counter() - start) * 1000)
    if stats_dict is None:
        print(f"PROFILE: {label} completed in {took}ms")
    else:
        stats_dict[label] = stats_dict.get(label, 0) + took
