"""Threads for an evaluation's independent pieces (the pools of a language set).

The heavy part of ranking and measuring a pool is numpy work on arrays of 10^5-10^6 numbers, which
releases the GIL: on two cores two pools are ranked at once. Results come back in the order of
the inputs whatever thread finished first, and each piece is computed exactly as it would be
alone, so no result depends on the number of threads ($XLDIAG_THREADS; 1 = everything on the
calling thread).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

from xldiag.vocab import THREADS_ENV

MAX_THREADS = 4  # beyond this, an XQuAD pool's work is too small to share out

T = TypeVar("T")
R = TypeVar("R")
_EXECUTOR: ThreadPoolExecutor | None = None


def workers() -> int:
    """Threads to use: $XLDIAG_THREADS (an integer >= 1), else the CPU count, at most MAX_THREADS."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{THREADS_ENV} must be a whole number >= 1, got {raw!r}.")
        return int(raw)
    return max(1, min(MAX_THREADS, os.cpu_count() or 1))


def ordered_map(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """fn(item) for each item, on `workers()` threads, yielded in the order of `items` as each is
    ready (all are submitted at once); the first exception is raised when its result is reached.
    A caller that stops early (an error, a stop request) cancels the items not yet started."""
    items = list(items)
    n = workers()
    if n == 1 or len(items) < 2:
        yield from (fn(item) for item in items)
        return
    futures = [_executor(n).submit(fn, item) for item in items]
    try:
        for future in futures:
            yield future.result()
    finally:
        for future in futures:
            future.cancel()  # no-op for the finished and the running ones


def _executor(n: int) -> ThreadPoolExecutor:
    global _EXECUTOR
    if _EXECUTOR is None or _EXECUTOR._max_workers != n:  # noqa: SLF001 - the only way to read it
        _EXECUTOR = ThreadPoolExecutor(max_workers=n, thread_name_prefix="xldiag-pool")
    return _EXECUTOR
