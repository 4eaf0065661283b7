"""A master and a worker one protocol version apart (one end upgraded, the other not yet), over
real sockets: the real master in this process, a real worker process speaking the version before
ours (tests/helpers/other_protocol.py). Adoption fails with the line that names the end to
upgrade; an adopted worker that comes back older shows that line on its card and in an alert,
and both clear once it speaks our version again. The worker's log names the end too."""
from __future__ import annotations

from pathlib import Path

import pytest

from campool_gui.harness.launcher import LocalWorker
from campool_gui.pool.master import Master, MasterError, MasterSettings
from campool_worker import __version__
from campool_worker import protocol as p
from tests.helpers.other_protocol import protocol_env
from tests.helpers.pool_e2e import wait_for

pytestmark = pytest.mark.timeout(120)

OLDER = p.PROTOCOL_VERSION - 1
UPGRADE_THE_WORKER = f"upgrade the worker to campool {__version__}"


@pytest.fixture
def master(tmp_path: Path):
    m = Master(MasterSettings(data_dir=tmp_path / "master", zeroconf=False))
    m.start()
    yield m
    m.stop()


def _view(master: Master, wid: str):
    return next((w for w in master.snapshot().workers if w.worker_id == wid), None)


def _alert(master: Master, wid: str):
    return next((a for a in master.snapshot().alerts if a.kind == "protocol_mismatch" and a.subject == wid
                 and a.state != "resolved"), None)


def test_an_older_worker_is_not_adopted_and_both_ends_say_to_upgrade_the_worker(tmp_path: Path, master: Master):
    lw = LocalWorker("old-box", tmp_path / "w", master.public_key, env=protocol_env(tmp_path / "v-old", OLDER))
    lw.start()
    try:
        code = lw.pairing_code()
        with pytest.raises(MasterError) as paired:
            master.add_worker(*lw.adopt_args(), code=code, timeout=10)
        assert UPGRADE_THE_WORKER in str(paired.value) and f"protocol {OLDER}" in str(paired.value)

        # It trusts this master's key already (--accept-master): the hello is where it fails.
        with pytest.raises(MasterError) as hello:
            master.add_worker(*lw.adopt_args(), timeout=10)
        assert UPGRADE_THE_WORKER in str(hello.value)
        assert "did not answer" not in str(hello.value)  # not the misleading "check the address"
        assert master.snapshot().workers == ()

        wait_for(lambda: "upgrade this worker" in lw.read_log(), 10, "the worker's log naming itself")
        assert f"a master speaks protocol {p.PROTOCOL_VERSION}, newer than this worker's {OLDER}" in lw.read_log()
    finally:
        lw.stop()


def test_an_adopted_worker_that_comes_back_older_is_shown_until_it_is_upgraded(tmp_path: Path, master: Master):
    lw = LocalWorker("gate-box", tmp_path / "w", master.public_key)
    lw.start()
    try:
        wid = master.add_worker(*lw.adopt_args(), timeout=15)
        wait_for(lambda: _view(master, wid).state.value in ("online", "busy", "degraded"), 20, "online")

        lw.env = protocol_env(tmp_path / "v-old", OLDER)   # "reinstalled" from an older release
        lw.restart()
        wait_for(lambda: UPGRADE_THE_WORKER in _view(master, wid).last_error, 20, "the card says to upgrade it")
        wait_for(lambda: _alert(master, wid) is not None, 10, "a protocol_mismatch alert")
        assert UPGRADE_THE_WORKER in _alert(master, wid).message
        # Its heartbeats are not understood: it goes offline (its cameras would move to the others).
        wait_for(lambda: _view(master, wid).state.value == "offline", 20, "offline")

        lw.env = {}                                        # upgraded: our version again
        lw.restart()
        wait_for(lambda: _view(master, wid).state.value in ("online", "busy", "degraded"), 30, "online again")
        wait_for(lambda: _view(master, wid).last_error == "", 10, "the card's line cleared")
        wait_for(lambda: _alert(master, wid) is None, 15, "the alert resolved")

        lw.env = protocol_env(tmp_path / "v-old", OLDER)   # and back to the older release: said again
        lw.restart()
        wait_for(lambda: UPGRADE_THE_WORKER in _view(master, wid).last_error, 20, "the card says so again")
    finally:
        lw.stop()
