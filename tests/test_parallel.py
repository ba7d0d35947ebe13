"""parallel.ordered_map: results in input order on any number of threads; the thread count setting."""

from __future__ import annotations

import threading
import time

import pytest

from xldiag import parallel


def test_results_keep_the_input_order_whichever_thread_ends_first(monkeypatch):
    monkeypatch.setenv("XLDIAG_THREADS", "3")
    names = set()

    def slow_first(i):
        names.add(threading.current_thread().name)
        time.sleep(0.05 if i == 0 else 0.0)  # item 0 finishes last
        return i * i

    assert list(parallel.ordered_map(slow_first, range(6))) == [0, 1, 4, 9, 16, 25]
    assert any(name.startswith("xldiag-pool") for name in names)


def test_one_thread_runs_on_the_caller(monkeypatch):
    monkeypatch.setenv("XLDIAG_THREADS", "1")
    assert list(parallel.ordered_map(lambda _: threading.current_thread(), [1, 2])) == [threading.current_thread()] * 2


def test_an_exception_in_a_worker_reaches_the_caller(monkeypatch):
    monkeypatch.setenv("XLDIAG_THREADS", "2")

    def fail_on_two(i):
        if i == 2:
            raise ValueError("item 2 is bad")
        return i

    with pytest.raises(ValueError, match="item 2 is bad"):
        list(parallel.ordered_map(fail_on_two, range(4)))


@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5"])
def test_a_bad_thread_count_is_one_clear_error(monkeypatch, raw):
    monkeypatch.setenv("XLDIAG_THREADS", raw)
    with pytest.raises(ValueError, match=f"XLDIAG_THREADS must be a whole number >= 1, got '{raw}'"):
        parallel.workers()


def test_default_is_the_cpu_count_capped(monkeypatch):
    monkeypatch.delenv("XLDIAG_THREADS", raising=False)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 64)
    assert parallel.workers() == parallel.MAX_THREADS
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: None)
    assert parallel.workers() == 1


def test_a_caller_that_stops_early_cancels_the_rest(monkeypatch):
    monkeypatch.setenv("XLDIAG_THREADS", "2")
    started = []

    def slow(i):
        started.append(i)
        time.sleep(0.05)
        return i

    results = parallel.ordered_map(slow, range(40))
    assert next(results) == 0
    results.close()  # what an exception in the caller's loop does to it
    time.sleep(0.2)
    assert len(started) < 10  # the queued items never ran
