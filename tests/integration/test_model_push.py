"""Models picked on the control center reach real worker processes by content: chunked,
resumed after an interruption, stored once per worker, and used by the camera."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from campool_gui.harness.launcher import LocalWorker
from campool_gui.pool.link import WorkerLink
from campool_gui.pool.master import Master, MasterSettings
from campool_gui.pool.model_push import ModelDistributor, ModelPushError
from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountingLine
from tests.helpers.pool_e2e import wait_for
from tests.helpers.tiny_onnx import constant_model
from tests.helpers.worker_process import WorkerProcess

pytestmark = pytest.mark.timeout(120)

CHUNK = 64 * 1024


def test_a_model_is_sent_in_chunks_resumed_after_an_interruption_and_never_sent_twice(tmp_path):
    model = tmp_path / "master-models" / "custom.onnx"
    model.parent.mkdir()
    content = np.random.default_rng(7).integers(0, 256, 5 * CHUNK + 123, dtype=np.uint8).tobytes()
    model.write_bytes(content)
    sha = hashlib.sha256(content).hexdigest()
    with WorkerProcess(tmp_path / "w1") as worker:
        keys = worker.adopt()
        link = WorkerLink("w1", worker.address, keys, on_telemetry=lambda wid, env: None,
                          client=worker.client(keys))
        dist = ModelDistributor(chunk_bytes=CHUNK)
        try:
            # an earlier transfer was cut off after its first chunk
            first = link.send(p.PushModelChunk(sha, len(content), 0, content[:CHUNK])).result(10)
            assert isinstance(first, p.ModelStatus) and first.received == CHUNK and not first.complete

            seen: list[tuple[int, int]] = []
            ref = dist.ensure(link, str(model), lambda held, total: seen.append((held, total))).result(60)
            assert ref == f"sha256:{sha}"
            assert dist.bytes_sent == len(content) - CHUNK      # it resumed, it did not start over
            assert seen[0] == (CHUNK, len(content)) and seen[-1] == (len(content), len(content))
            stored = worker.data_dir / "models" / f"{sha}.onnx"
            assert stored.read_bytes() == content
            assert not list((worker.data_dir / "models").glob("*.part"))

            # a second camera with the same model: the worker already holds it, nothing is sent
            assert dist.ensure(link, str(model)).result(30) == ref
            assert dist.bytes_sent == len(content) - CHUNK

            with pytest.raises(ModelPushError, match="cannot be read"):
                dist.ensure(link, str(tmp_path / "missing.onnx")).result(30)
            assert worker.alive()
        finally:
            dist.close()
            link.close()


def test_a_camera_whose_model_is_a_file_on_the_master_runs_on_a_worker_that_never_had_it(tmp_path):
    (tmp_path / "master-models").mkdir()
    model = constant_model(tmp_path / "master-models" / "tiny.onnx", np.zeros((1, 84, 21), np.float32))
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    m = Master(MasterSettings(data_dir=tmp_path / "master", zeroconf=False))
    m.start()
    lw = LocalWorker("w1", tmp_path / "w1", m.public_key, capacity=2)
    lw.start()
    try:
        m.add_worker(*lw.adopt_args())
        for cid in ("a", "b"):
            m.add_camera(CameraConfig(cid, "synthetic://?w=320&h=180&fps=10&objects=2", model=str(model),
                                      classes=["car"], lines=[CountingLine.parse("mid:0,90,320,90")]))
        for cid in ("a", "b"):
            wait_for(lambda cid=cid: next(c for c in m.snapshot().cameras if c.camera_id == cid).state == "running",
                     30, f"camera {cid} running on the pushed model")
        assert (lw.data_dir / "models" / f"{sha}.onnx").read_bytes() == model.read_bytes()
        assert m.models.bytes_sent == model.stat().st_size      # once, for two cameras
        # the operator still sees (and edits) the path they chose; only the wire carries the hash
        assert next(c for c in m.snapshot().cameras if c.camera_id == "a").config.model == str(model)
    finally:
        m.stop()
        lw.stop()
