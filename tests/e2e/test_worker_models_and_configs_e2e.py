"""Models and camera configs with real worker processes: a stored model that went bad on disk is
found, sent again and the camera runs; a camera config of the wrong type is refused with a
clear error, never accepted to fail later and never an internal error with a traceback."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import zmq

from campool_gui.harness.launcher import LocalWorker
from campool_gui.pool.failover import RetrySettings
from campool_gui.pool.master import Master, MasterSettings
from campool_worker import protocol as p
from campool_worker import security
from campool_worker.camera import CameraConfig, CountingLine
from tests.helpers.pool_e2e import wait_for
from tests.helpers.tiny_onnx import constant_model
from tests.helpers.worker_process import WorkerProcess

pytestmark = pytest.mark.timeout(180)


def _camera(m: Master, cid: str):
    return next(c for c in m.snapshot().cameras if c.camera_id == cid)


def test_a_stored_model_damaged_on_disk_is_sent_again_and_the_camera_runs(tmp_path):
    (tmp_path / "master-models").mkdir()
    model = constant_model(tmp_path / "master-models" / "tiny.onnx", np.zeros((1, 84, 21), np.float32))
    content = model.read_bytes()
    sha = hashlib.sha256(content).hexdigest()
    m = Master(MasterSettings(data_dir=tmp_path / "master", zeroconf=False, retry=RetrySettings(backoff=(0.5, 1.0))))
    m.start()
    worker = LocalWorker("w1", tmp_path / "w1", m.public_key, capacity=2)
    worker.start()
    stored = worker.data_dir / "models" / f"{sha}.onnx"
    try:
        m.add_worker(*worker.adopt_args())
        m.add_camera(CameraConfig("gate", "synthetic://?w=320&h=180&fps=10&objects=2", model=str(model),
                                  classes=["car"], lines=[CountingLine.parse("mid:0,90,320,90")]))
        wait_for(lambda: _camera(m, "gate").state == "running", 40, "the camera to run on the pushed model")
        assert m.models.bytes_sent == len(content)

        # the disk goes bad under the stored copy (same size, other bytes) while the worker is down
        worker.kill()
        damaged = bytearray(stored.read_bytes())
        damaged[len(damaged) // 2:] = bytes(len(damaged) - len(damaged) // 2)
        stored.write_bytes(bytes(damaged))
        worker.start()

        wait_for(lambda: (stored.with_name(stored.name + ".damaged")).exists(), 30,
                 "the worker to find its copy damaged and move it aside")
        wait_for(lambda: m.models.bytes_sent == 2 * len(content), 60, "the master to send the model again")
        wait_for(lambda: _camera(m, "gate").state == "running", 60, "the camera to run again")
        assert stored.read_bytes() == content
        assert "Traceback" not in worker.read_log()
    finally:
        m.stop()
        worker.stop()


@pytest.fixture
def worker(tmp_path):
    with WorkerProcess(tmp_path / "w1") as w:
        yield w


def _raw(worker, keys):
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    security.curve_client(raw, keys, worker.info["key"])
    raw.connect(worker.address.endpoint(worker.ports["cmd"]))
    return raw


def test_a_camera_config_of_the_wrong_type_gets_a_clear_invalid_error(tmp_path, worker):
    keys = worker.adopt()
    outside = tmp_path / "x.onnx"
    outside.write_bytes(b"a file outside the models folder")
    raw = _raw(worker, keys)
    good = {"camera_id": "c1", "source": "synthetic://?w=160&h=120&fps=5"}

    def send(mtype: str, camera: dict, rid: str) -> p.Message:
        header = {"v": p.PROTOCOL_VERSION, "type": mtype, "id": rid, "body": {"camera": camera, "epoch": 1}}
        raw.send_multipart([json.dumps(header).encode()])
        assert raw.poll(5000), f"no reply to {rid}"
        return p.decode(raw.recv_multipart(), kinds=("reply",)).message

    try:
        for rid, change, says in [
            ("conf", {"confidence": "0.5"}, "confidence must be a number, got a string ('0.5')"),
            ("model", {"model": 5}, "model must be a string or null, got an integer (5)"),
            ("path", {"model": "sha256:../../x"}, "is not a valid reference; a pushed model is sha256: followed by"),
            ("loop", {"loop": "yes"}, "loop must be true or false"),
            ("classes", {"classes": "car"}, "classes must be a list of class names"),
        ]:
            reply = send("assign", good | change, rid)
            assert isinstance(reply, p.Error) and reply.code == "invalid", (rid, reply)
            assert says in reply.message and "Traceback" not in reply.message, reply.message
        assert isinstance(send("assign", good, "ok"), p.Ok)
        reply = send("update", good | {"confidence": "0.4"}, "upd")
        assert isinstance(reply, p.Error) and reply.code == "invalid" and "confidence must be a number" in reply.message
        with worker.client(keys) as link:
            status = link.call(p.GetStatus(), expect=p.StatusReply).status
        assert [(c.camera_id, c.epoch) for c in status.cameras] == [("c1", 1)]
    finally:
        raw.close()
    assert worker.alive()
    log = worker.read_log()
    assert "Traceback" not in log and "failed on the worker" not in log
