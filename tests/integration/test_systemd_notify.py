"""The worker's sd_notify sender against a real unix datagram socket (what systemd binds as
NOTIFY_SOCKET): READY once the announcement settled, WATCHDOG at half of WATCHDOG_USEC, STOPPING
once; path and abstract socket names; nothing at all outside systemd."""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid

import pytest

from campool_worker.systemd_notify import ServiceNotifier, socket_address, watchdog_interval_s
from tests.helpers.notify_socket import NotifySocket


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Announcement:
    def __init__(self, settled: bool = False, announced: bool = False) -> None:
        self.settled = settled
        self.announced = announced


@pytest.fixture(params=["abstract", "path"])
def notify(request, tmp_path):
    with NotifySocket(tmp_path / "notify.sock" if request.param == "path" else None) as sock:
        yield sock


def status() -> str:
    return "serving w1 (abc) on port 5555"


def test_ready_waits_for_the_mdns_record_then_says_who_serves(notify):
    env = {"NOTIFY_SOCKET": notify.address}
    n = ServiceNotifier(env, pid=4242)
    announcing = Announcement()
    n.loop_turn(announcing, status)
    n.loop_turn(announcing, status)
    assert not n.ready_sent
    announcing.settled = announcing.announced = True
    n.loop_turn(announcing, status)
    n.loop_turn(announcing, status)
    ready = notify.wait_for("READY", timeout=5)
    assert ready["READY"] == "1"
    assert ready["STATUS"] == "serving w1 (abc) on port 5555"
    assert ready["MAINPID"] == str(os.getpid())
    n.close()
    assert len(notify.times_of("READY")) == 1


def test_ready_says_when_the_announcement_failed(notify):
    n = ServiceNotifier({"NOTIFY_SOCKET": notify.address})
    n.loop_turn(Announcement(settled=True, announced=False), status)
    assert "add this worker by address" in notify.wait_for("READY", timeout=5)["STATUS"]


def test_without_mdns_ready_comes_on_the_first_turn(notify):
    n = ServiceNotifier({"NOTIFY_SOCKET": notify.address})
    n.loop_turn(None, status)
    assert notify.wait_for("READY", timeout=5)["READY"] == "1"


def test_watchdog_pings_at_half_the_timeout_from_the_loop_only(notify):
    clock = FakeClock()
    n = ServiceNotifier({"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "2000000"}, clock=clock, pid=7)
    assert n.watchdog_s == 1.0
    for i in range(31):             # 3 s of loop turns every 0.1 s
        clock.t = 100.0 + i / 4 * 0.4
        n.loop_turn(None, status)
    assert _wait_count(notify, "WATCHDOG", 4) == 4   # at 0, 1, 2 and 3 s
    # No thread of its own: no turn, no ping (a hung loop is what the watchdog must see).
    clock.t += 10
    assert _wait_count(notify, "WATCHDOG", 5, timeout=0.3) == 4
    n.loop_turn(None, status)
    assert _wait_count(notify, "WATCHDOG", 5) == 5
    n.close()


def _wait_count(notify: NotifySocket, key: str, n: int, timeout: float = 5.0) -> int:
    """How many ``key`` messages came, waiting up to ``timeout`` for ``n`` of them."""
    deadline = time.monotonic() + timeout
    while len(notify.times_of(key)) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    return len(notify.times_of(key))


def test_stopping_is_said_once(notify):
    n = ServiceNotifier({"NOTIFY_SOCKET": notify.address})
    n.stopping()
    n.stopping()
    fields = notify.wait_for("STOPPING", timeout=5)
    assert fields["STOPPING"] == "1" and "draining" in fields["STATUS"]
    assert _wait_count(notify, "STOPPING", 2, timeout=0.3) == 1


def test_a_watchdog_meant_for_another_process_is_not_pinged(notify):
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "99"}, pid=99) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "98"}, pid=99) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}, pid=99) is None
    assert watchdog_interval_s({}, pid=99) is None
    n = ServiceNotifier({"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"},
                        pid=2)
    assert n.watchdog_s is None


def test_outside_systemd_nothing_is_sent_and_nothing_fails():
    n = ServiceNotifier({})
    assert not n.enabled
    n.loop_turn(None, status)
    n.stopping()
    assert not n.send("READY=1")


def test_the_variables_leave_the_environment_so_children_do_not_notify(monkeypatch, notify):
    monkeypatch.setenv("NOTIFY_SOCKET", notify.address)
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    n = ServiceNotifier()
    assert n.watchdog_s == 2.0
    assert "NOTIFY_SOCKET" not in os.environ and "WATCHDOG_USEC" not in os.environ
    n.loop_turn(None, status)
    assert notify.wait_for("READY", timeout=5)


def test_a_socket_that_is_gone_is_said_once_and_never_raises(tmp_path, caplog):
    n = ServiceNotifier({"NOTIFY_SOCKET": str(tmp_path / "nobody.sock"), "WATCHDOG_USEC": "1000"},
                        clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="campool_worker.systemd_notify"):
        for _ in range(5):
            n.loop_turn(None, status)
            assert not n.send("WATCHDOG=1")
    assert len([r for r in caplog.records if "cannot notify" in r.getMessage()]) == 1


def test_socket_addresses():
    assert socket_address("@sd-notify") == b"\0sd-notify"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("vsock:2:1234") is None
    assert socket_address("") is None
    # An abstract name is really reachable as written (what systemd hands out since v254).
    name = f"campool-{uuid.uuid4().hex[:8]}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        ServiceNotifier({"NOTIFY_SOCKET": "@" + name}).send("READY=1")
        assert s.recv(100) == b"READY=1"
