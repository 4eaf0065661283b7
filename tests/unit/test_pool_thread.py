"""The pool thread (pool/pool_thread.py): closures run in order on one thread, errors reach the
caller or the log, ticks go on, and the flush follows the work."""
from __future__ import annotations

import threading

import pytest

from campool_gui.pool.errors import MasterError
from campool_gui.pool.pool_thread import PoolThread


@pytest.fixture
def pool():
    ticks = threading.Semaphore(0)
    flushed: list[int] = []
    t = PoolThread(on_tick=ticks.release, after_each=lambda: flushed.append(1), tick_s=0.01)
    t.ticks, t.flushed = ticks, flushed
    t.start()
    yield t
    t.stop()


def test_call_returns_the_result_from_the_pool_thread(pool):
    ident = pool.call(threading.get_ident)
    assert ident != threading.get_ident()
    assert pool.call(lambda: pool.on_pool_thread())


def test_call_raises_the_closures_error_in_the_caller(pool):
    def bad() -> None:
        raise ValueError("no camera 'gate-9'")
    with pytest.raises(ValueError, match="gate-9"):
        pool.call(bad)
    assert pool.call(lambda: 42) == 42          # and the thread goes on


def test_posted_closures_run_in_order_and_a_failing_one_stops_nothing(pool, caplog):
    seen: list[int] = []

    def boom() -> None:
        raise RuntimeError("a bug in one handler")
    for i in range(5):
        pool.post(lambda i=i: seen.append(i))
        pool.post(boom)
    assert pool.call(lambda: list(seen)) == [0, 1, 2, 3, 4]
    assert "pool thread error" in caplog.text


def test_a_call_from_the_pool_thread_runs_at_once_instead_of_waiting_for_itself(pool):
    assert pool.call(lambda: pool.call(lambda: "inner")) == "inner"


def test_ticks_go_on_and_every_round_is_flushed(pool):
    for _ in range(3):
        assert pool.ticks.acquire(timeout=5)
    n = len(pool.flushed)
    pool.call(lambda: None)
    assert pool.call(lambda: len(pool.flushed)) > n


def test_a_master_that_is_not_running_says_so():
    t = PoolThread(on_tick=lambda: None, after_each=lambda: None)
    with pytest.raises(MasterError, match="not running"):
        t.call(lambda: 1)
    t.start()
    t.stop()
    with pytest.raises(MasterError, match="not running"):
        t.call(lambda: 1)
