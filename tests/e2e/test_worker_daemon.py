"""The worker daemon as a real process: discovery, trust, commands, and counts across SIGKILL."""
from __future__ import annotations

import hashlib
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

import pytest
import zmq

from campool_gui.pool.wire_client import PairingFailed, RequestTimeout, pair_with_worker
from campool_worker import protocol as p
from campool_worker import security
from campool_worker.camera import CameraConfig, CountingLine
from campool_worker.discovery import WorkerBrowser
from tests.helpers.worker_process import TelemetryCollector, WorkerProcess, wait_until

LINE = [CountingLine("gate", (0, 0), (10, 10))]


def burst_camera(camera_id: str = "burst", rate: int = 300) -> CameraConfig:
    return CameraConfig(camera_id, f"test://burst?rate={rate}", lines=LINE)


@pytest.fixture
def worker(tmp_path):
    with WorkerProcess(tmp_path / "w1") as w:
        yield w


@pytest.fixture
def keys(worker):
    return worker.adopt()


def test_worker_is_found_on_mdns_with_its_txt_record_and_leaves_on_sigterm(tmp_path):
    name = f"zc-{uuid.uuid4().hex[:6]}"
    seen: dict[str, object] = {}
    removed: list[str] = []
    lock = threading.Lock()

    def on_change(instance, found):
        with lock:
            if found is None:
                removed.append(instance)
            else:
                seen[instance] = found

    browser = WorkerBrowser(on_change, interfaces=["127.0.0.1"])
    try:
        with WorkerProcess(tmp_path / "a", name=name, zeroconf=True) as a, \
                WorkerProcess(tmp_path / "b", name=name, zeroconf=True) as b:
            wait_until(lambda: len([i for i in seen if i.startswith(name)]) >= 2, 15, message="both workers on mDNS")
            by_id = {w.worker_id: (inst, w) for inst, w in seen.items() if inst.startswith(name)}
            inst_a, rec = by_id[a.info["id"]]
            assert (rec.cmd_port, rec.pub_port, rec.pair_port) == (a.ports["cmd"], a.ports["pub"], a.ports["pair"])
            assert rec.key == a.info["key"] and security.valid_key(rec.key)
            assert rec.host == "127.0.0.1" and rec.version and rec.protocol == p.PROTOCOL_VERSION
            assert rec.capacity >= 1 and rec.gpu == ""
            inst_b, _ = by_id[b.info["id"]]
            assert {inst_a, inst_b} == {name, f"{name}-2"}, "a name clash renames the second worker"
            assert a.terminate() == 0
            wait_until(lambda: inst_a in removed, 10, message="the record to be withdrawn")
            assert "withdrawn" not in b.log() and b.alive()
    finally:
        browser.close()


def test_a_taken_port_is_one_clear_line_not_a_traceback(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "campool_worker.cli", "serve", "--data-dir", str(tmp_path / "w"),
                              "--bind", "127.0.0.1", "--cmd-port", str(port), "--no-zeroconf"],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "cannot listen on 127.0.0.1" in out.stderr and "Traceback" not in out.stderr + out.stdout


def test_the_code_printed_at_start_adopts_a_master_which_then_gets_status(tmp_path, worker):
    code = re.search(r"pairing code: (\S+)", worker.log()).group(1)
    keys = security.load_or_create_keypair(tmp_path / "master", "master")
    pair_with_worker(worker.address, keys, code, "desk")
    with pytest.raises(PairingFailed, match="wrong or expired"):  # a code adopts once
        pair_with_worker(worker.address, security.load_or_create_keypair(tmp_path / "m2", "master"), code, "x")
    with worker.client(keys) as link:
        reply = link.call(p.GetStatus(), expect=p.StatusReply)
    assert reply.status.worker_id == worker.info["id"]
    assert reply.status.state == "running" and reply.status.system.mem_total_mb > 0


def test_a_master_key_listed_in_the_settings_needs_no_pairing(tmp_path):
    keys = security.load_or_create_keypair(tmp_path / "master", "master")
    with WorkerProcess(tmp_path / "w", extra_args=[f"--accept-master={keys.public}"]) as worker:
        with worker.client(keys) as link:
            assert link.call(p.GetStatus(), expect=p.StatusReply).status.worker_id == worker.info["id"]


def test_strangers_get_nothing_and_the_worker_stays_healthy(tmp_path, worker, keys):
    stranger = security.load_or_create_keypair(tmp_path / "stranger", "master")
    with pytest.raises(PairingFailed, match="wrong or expired"):
        pair_with_worker(worker.address, stranger, "AAAA-AAAA", "mallory")
    with worker.client(stranger) as link:  # a CURVE key the worker never accepted
        with pytest.raises(RequestTimeout):
            link.call(p.GetStatus(), timeout=1.5)
        assert link.telemetry.empty(), "no heartbeat reaches an unaccepted key"

    ctx = zmq.Context.instance()  # no CURVE at all
    plain = ctx.socket(zmq.DEALER)
    plain.setsockopt(zmq.LINGER, 0)
    plain.connect(worker.address.endpoint(worker.ports["cmd"]))
    plain.send_multipart(p.encode(p.GetStatus(), "x"))
    assert plain.poll(1000) == 0
    plain.close()

    with worker.client(keys) as link:
        status = link.call(p.GetStatus(), expect=p.StatusReply).status
    assert worker.alive() and status.state == "running"


def test_malformed_and_oversized_messages_drop_only_that_message_or_peer(worker, keys):
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    security.curve_client(raw, keys, worker.info["key"])
    raw.connect(worker.address.endpoint(worker.ports["cmd"]))

    def ask(frames):
        raw.send_multipart(frames)
        if not raw.poll(3000):
            return None
        return p.decode(raw.recv_multipart(), kinds=("reply",)).message

    bad = ask([b'{"v":%d,"type":"status","id":"1","body":{"x":1}}' % p.PROTOCOL_VERSION])
    assert isinstance(bad, p.Error) and bad.code == "malformed"
    assert ask([b'{"v":9,"type":"status","id":"2","body":{}}']).code == "version"
    assert ask([b" " * (p.MAX_HEADER_BYTES + 10)]).code == "oversized"
    with worker.client(keys) as link:
        # Over zmq.MAXMSGSIZE: libzmq drops this peer's connection; the other master sees nothing.
        raw.send_multipart([b"x" * (p.MAX_FRAME_BYTES + 1)])
        status = link.call(p.GetStatus(), expect=p.StatusReply).status
        assert status.rejected_messages == 3
        # The dropped peer reconnects by itself and is served again.
        assert isinstance(ask(p.encode(p.GetStatus(), "again")), p.StatusReply)
    raw.close()
    assert worker.alive()


def test_assignments_follow_the_epoch_fencing_rule(worker, keys):
    cam = burst_camera(rate=50)
    with worker.client(keys) as link:
        assert isinstance(link.call(p.AssignCamera(cam, 2)), p.Ok)
        assert "already" in link.call(p.AssignCamera(cam, 2), expect=p.Ok).detail
        stale = link.call(p.AssignCamera(cam, 1))
        assert stale == p.Fenced("burst", 1, 2)
        assert isinstance(link.call(p.UpdateCamera(cam, 1)), p.Fenced)
        hello = link.call(p.Hello("m", "master", "t"), expect=p.HelloReply)
        assert [(c.camera_id, c.epoch) for c in hello.status.cameras] == [("burst", 2)]
        # The master moved the camera to epoch 3 on another worker: this one must stop.
        assert isinstance(link.call(p.FenceCamera("burst", 2, 3)), p.Ok)
        assert link.call(p.GetStatus(), expect=p.StatusReply).status.cameras == []
        assert isinstance(link.call(p.AssignCamera(cam, 3)), p.Fenced), "epoch 3 belongs to another worker"
        assert isinstance(link.call(p.AssignCamera(cam, 4)), p.Ok)
        assert link.call(p.SetPreview("nope", True)).code == "unknown_camera"
        assert isinstance(link.call(p.Drain(True)), p.Ok)
        assert link.call(p.AssignCamera(burst_camera("other"), 1)).code == "draining"
        status = link.call(p.GetStatus(), expect=p.StatusReply).status
        assert status.state == "draining" and status.cameras == []


def test_model_is_pushed_in_chunks_and_stored_by_hash(worker, keys):
    blob = bytes(range(256)) * 9000  # 2.3 MB: three chunks
    sha = hashlib.sha256(blob).hexdigest()
    with worker.client(keys) as link:
        assert link.call(p.QueryModel(sha), expect=p.ModelStatus).received == 0
        assert link.call(p.PushModelChunk(sha, len(blob), 5, blob[5:10])).code == "model"  # not where we are
        step = p.MODEL_CHUNK_BYTES
        for off in range(0, len(blob) - step, step):
            st = link.call(p.PushModelChunk(sha, len(blob), off, blob[off:off + step]), expect=p.ModelStatus)
            assert not st.complete
        off = len(blob) - len(blob) % step
        # the last chunk: the worker checks the hash off its command loop and says so at once
        assert link.call(p.PushModelChunk(sha, len(blob), off, blob[off:]), expect=p.Error).code == "busy"
        st = _model_status_when_checked(link, sha)
        assert st.complete and st.model_ref == f"sha256:{sha}"
        wrong = hashlib.sha256(b"other").hexdigest()
        assert link.call(p.PushModelChunk(wrong, 3, 0, b"abc")).code == "busy"
        dropped = _model_status_when_checked(link, wrong)
        assert (dropped.complete, dropped.received) == (False, 0), "content that is not its hash is dropped"
    assert (worker.data_dir / "models" / f"{sha}.onnx").read_bytes() == blob


def _model_status_when_checked(link, sha: str) -> p.ModelStatus:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        reply = link.call(p.QueryModel(sha))
        if isinstance(reply, p.ModelStatus):
            return reply
        assert isinstance(reply, p.Error) and reply.code == "busy", reply
        time.sleep(0.05)
    raise AssertionError(f"the worker still checks model {sha} after 20 s")


def _outbox_rows(worker):
    db = sqlite3.connect(f"file:{worker.data_dir / 'worker.db'}?mode=ro", uri=True)
    try:
        last = db.execute("SELECT last_seq FROM seqs WHERE camera_id='burst' AND epoch=1").fetchone()[0]
        rows = {seq: (line, direction, cls, track, frame) for seq, line, direction, cls, track, frame in db.execute(
            "SELECT seq, line, direction, class_name, track_id, frame_index FROM events "
            "WHERE camera_id='burst' AND epoch=1")}
        return last, rows
    finally:
        db.close()


def test_sigkill_mid_burst_loses_no_committed_count_and_doubles_none(worker, keys):
    col = TelemetryCollector()
    link = worker.client(keys, on_telemetry=col.on_telemetry)
    try:
        wait_until(lambda: col.last_heartbeat() is not None, message="the first heartbeat")
        link.call(p.Hello("m", "master", "t"), expect=p.HelloReply)
        link.call(p.AssignCamera(burst_camera(rate=400), 1), expect=p.Ok)

        def ack():
            seq = col.contiguous_seq("burst", 1)
            if seq:
                link.request(p.AckCounts("burst", 1, seq))

        wait_until(lambda: len(col.events) >= 200, message="counts to flow")
        ack()
        link.unsubscribe(p.TOPIC_COUNT)  # the master goes deaf; the worker keeps counting
        heard = col.contiguous_seq("burst", 1)
        def committed_now():
            hb = col.last_heartbeat()
            return hb.cameras[0].last_seq if hb.cameras else 0

        wait_until(lambda: committed_now() > heard + 200, message="unheard counts")
        worker.kill()

        committed, unacked = _outbox_rows(worker)
        assert committed > heard + 200 and max(unacked) == committed
        link.subscribe(p.TOPIC_COUNT)
        boot = col.last_heartbeat().boot_id
        worker.start()  # same data folder, same ports: the link reconnects by itself
        wait_until(lambda: col.last_heartbeat().boot_id != boot, 15, message="a heartbeat from the new process")
        link.call(p.Hello("m", "master", "t"), expect=p.HelloReply)
        wait_until(lambda: col.contiguous_seq("burst", 1) >= committed + 100, 15,
                   message="the backlog and new counts after the restart")
        for seq, row in unacked.items():  # what was committed arrives unchanged
            ev = col.events[("burst", 1, seq)]
            assert (ev.line, ev.direction, ev.class_name, ev.track_id, ev.frame_index) == row

        link.call(p.UnassignCamera("burst", 1), expect=p.Ok)
        final = link.call(p.Hello("m", "master", "t"), expect=p.HelloReply)
        assert final.status.cameras == []
        _, left = _outbox_rows(worker)
        last = max(left) if left else committed
        wait_until(lambda: col.contiguous_seq("burst", 1) >= last, 30, message="every event")

        def acked_all() -> bool:
            # Ack what has arrived, as a master does: the camera's last crossings may be committed
            # after the unassign's reply (and after `left` was read), so one ack may not cover them.
            ack()
            return link.call(p.GetStatus(), expect=p.StatusReply).status.outbox_pending == 0

        wait_until(acked_all, 30, interval=0.2, message="the outbox to empty after acks")
        with col.lock:
            events = [e for k, e in col.events.items() if k[:2] == ("burst", 1)]
        seqs = sorted(e.seq for e in events)
        frames = sorted(e.frame_index for e in events)
        assert seqs == list(range(1, len(seqs) + 1)), "no seq missing"
        # One crossing per frame in the burst camera: every frame counted exactly once across the
        # kill (the restart resumes after the last committed frame, not at frame 0).
        assert frames == list(range(len(frames)))
        print(f"\n{len(events)} events, {committed} committed before SIGKILL, "
              f"{committed - heard} of them unheard, {col.duplicates} duplicate deliveries dropped by the store")
    finally:
        link.close()
