"""Judging pairing requests: per-key lockout, the worker-wide ceiling, no counting without a code,
and warnings summarised. Real code and allow-list files; a fake clock for the throttle."""
from __future__ import annotations

import logging

import pytest
import zmq

from campool_worker import protocol as p
from campool_worker import security as s
from campool_worker.pairing import GuessThrottle, Pairing, ThrottleSettings


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def key() -> str:
    return zmq.curve_keypair()[0].decode()


@pytest.fixture
def desk(tmp_path):
    clock = Clock()
    worker = key()
    codes = s.PairingCodes(tmp_path / "pairing.json")
    allow = s.AllowList(tmp_path / "masters.json")
    pairing = Pairing(codes, allow, worker, "w-1", clock=clock)
    return pairing, codes, allow, worker, clock


def ask(pairing: Pairing, master: str, proof: str = "00" * 32) -> p.PairReply:
    return pairing.handle(p.PairRequest("someone", proof), master)


def test_a_flood_from_one_key_locks_only_that_key_and_the_code_stays_good(desk):
    pairing, codes, allow, worker, _clock = desk
    code, _ = codes.new_code()
    mallory, master = key(), key()
    replies = [ask(pairing, mallory) for _ in range(200)]
    assert [r.retry_after_s for r in replies[:3]] == [0, 0, 0] and "wrong or expired" in replies[0].message
    assert all(r.retry_after_s > 0 and "locked out" in r.message for r in replies[3:])
    assert pairing.judged == 3, "a locked key costs no scrypt"
    reply = ask(pairing, master, s.pair_proof(code, master, worker, "master"))
    assert reply.accepted and master in allow
    assert reply.proof == s.pair_proof(code, master, worker, "worker")


def test_a_lock_grows_with_each_wrong_proof_after_it_ends(desk):
    pairing, codes, _allow, _worker, clock = desk
    codes.new_code()
    mallory = key()
    for _ in range(3):
        ask(pairing, mallory)
    locks = []
    for _ in range(4):
        locked = ask(pairing, mallory).retry_after_s
        locks.append(locked)
        clock.t += locked + 0.1
        assert ask(pairing, mallory).retry_after_s == 0, "judged again once the lock is over"
    assert locks == [10, 20, 40, 80]


def test_nothing_is_counted_while_no_code_is_valid(desk):
    pairing, codes, _allow, worker, _clock = desk
    master = key()
    for _ in range(20):  # stray guesses before `campool-worker pair` was run
        reply = ask(pairing, master)
        assert not reply.accepted and reply.retry_after_s == 0 and "none is active" in reply.message
    assert pairing.judged == 0 and pairing.throttle.locked_for(master) == 0
    code, _ = codes.new_code()
    assert ask(pairing, master, s.pair_proof(code, master, worker, "master")).accepted


def test_a_many_key_flood_is_asked_to_wait_and_a_master_that_waits_is_judged(desk):
    pairing, codes, _allow, worker, clock = desk
    code, _ = codes.new_code()
    limits = pairing.throttle.settings
    replies = [ask(pairing, key()) for _ in range(50)]
    busy = [r for r in replies if r.retry_after_s > 0]
    assert pairing.judged == limits.judged_burst and len(busy) == 50 - limits.judged_burst
    assert all("ask again" in r.message and r.retry_after_s <= 1 / limits.judged_per_s + 1e-3 for r in busy)
    master = key()
    proof = s.pair_proof(code, master, worker, "master")
    first = ask(pairing, master, proof)
    assert not first.accepted and first.retry_after_s > 0, "not judged, not refused"
    clock.t += first.retry_after_s
    assert ask(pairing, master, proof).accepted
    assert codes.active() == 0


def test_a_right_proof_clears_the_keys_earlier_mistakes(desk):
    pairing, codes, _allow, worker, _clock = desk
    master = key()
    code, _ = codes.new_code()
    ask(pairing, master)
    ask(pairing, master)   # two typos
    assert ask(pairing, master, s.pair_proof(code, master, worker, "master")).accepted
    assert pairing.throttle.locked_for(master) == 0


def test_a_malformed_proof_is_wrong_without_a_traceback(desk):
    pairing, codes, _allow, _worker, _clock = desk
    codes.new_code()
    reply = ask(pairing, key(), "é" * 64)   # hmac.compare_digest refuses non-ASCII text
    assert not reply.accepted and "wrong or expired" in reply.message


def test_ten_thousand_wrong_proofs_write_a_few_log_lines(desk, caplog):
    pairing, codes, _allow, _worker, clock = desk
    codes.new_code()
    mallory = key()
    with caplog.at_level(logging.INFO, logger="campool_worker"):
        for i in range(10_000):
            ask(pairing, mallory)
            if i % 100 == 0:
                clock.t += 1.0   # ~100 s of flood
                pairing.tick()
        clock.t += 60
        pairing.tick()
    lines = [r.getMessage() for r in caplog.records]
    assert 2 <= len(lines) <= 8, lines
    assert any("locked out" in line for line in lines)
    assert "were not logged one by one" in lines[-1]


def test_the_throttle_forgets_the_oldest_keys_past_its_bound():
    clock = Clock()
    throttle = GuessThrottle(ThrottleSettings(max_keys=10), clock=clock)
    keys = [key() for _ in range(11)]
    for k in keys:
        for _ in range(3):
            throttle.wrong(k)
    assert throttle.locked_for(keys[0]) == 0, "forgotten: at most max_keys are remembered"
    assert throttle.locked_for(keys[-1]) == 10
