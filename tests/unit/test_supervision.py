"""The one backoff and restart budget every retrying part uses, on a fake clock."""
from __future__ import annotations

import pytest

from campool_gui.pool.clock import FakeClock
from campool_worker.supervision import Backoff, RestartBudget


def test_backoff_doubles_to_its_cap_and_a_success_starts_it_again():
    b = Backoff(1.0, 8.0)
    assert [b.failed() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    b.reset()
    assert b.failed() == 1.0


def test_a_long_enough_run_earns_a_fresh_backoff_and_a_short_one_does_not():
    clock = FakeClock()
    b = Backoff(1.0, 60.0, reset_after=60.0, clock=clock.now)
    assert [b.failed(), b.failed(), b.failed()] == [1.0, 2.0, 4.0]
    b.started()
    clock.advance(10.0)
    assert b.failed() == 8.0              # ran 10 s: still failing fast
    b.started()
    clock.advance(61.0)
    assert b.failed() == 1.0              # ran over a minute: a fresh start


def test_backoff_refuses_nonsense():
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


def test_restart_budget_allows_five_a_minute_then_waits_for_the_oldest_to_age_out():
    clock = FakeClock()
    budget = RestartBudget(5, 60.0, clock=clock.now)
    for _ in range(5):
        assert budget.wait_s() == 0.0
        budget.restarted()
        clock.advance(1.0)
    assert budget.recent == 5
    assert budget.wait_s() == pytest.approx(55.0)   # the first restart was 5 s ago
    clock.advance(55.0)
    assert budget.wait_s() == 0.0 and budget.recent == 4
