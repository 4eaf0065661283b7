"""The wire contract: every message round-trips, and bad input is a ProtocolError, never a crash."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campool_worker import protocol as p
from campool_worker.camera import CameraConfig, CountEvent, CountingLine, Zone

CAM = CameraConfig(
    camera_id="gate-1", source="rtsp://10.0.0.5/stream", name="Gate 1",
    lines=[CountingLine("near", (0, 500), (1280, 500))],
    zones=[Zone("lot", ((0, 0), (10, 0), (10, 10)))],
    model="sha256:" + "a" * 64, classes=["car", "bus"], detect_fps=5.0, priority="high",
)
EVENT = CountEvent("gate-1", 3, 7, "near", "in", "car", 12, 1700000000.5, 1234)


def _status() -> p.WorkerStatus:
    return p.WorkerStatus(
        worker_id="w-1", name="edge-1", version="0.1.0", seq=4, boot_id="b1", clock=1700000000.0,
        uptime_s=3.5, state="running", capacity=4, gpu="",
        cameras=[p.CameraTelemetry("gate-1", 3, "running", 14.9, 35.0, 100, 99, None, 7, 2, False, "motion")],
        system=p.SystemMetrics(12.0, 0.5, 40.0, 1000.0, 4000.0, 50.0, 20.0, 1.5, 2.5),
        gpus=[p.GpuMetrics(0, "T4", 30.0, 500.0, 16000.0, 55.0)],
        outbox_pending=2, outbox_oldest_ts=None, rejected_messages=0, heartbeat_s=1.0,
        masters=[p.MasterInfo("K" * 40, "desk", 1700000000.0), p.MasterInfo("L" * 40, "", None)],
        storage=p.StorageStatus("failing", 2.5, 120, "database or disk is full"),
    )


SAMPLES: list[p.Message] = [
    p.Hello("m-1", "desk", "0.1.0"),
    p.GetStatus(),
    p.AssignCamera(CAM, 3, start_frame=100, count_from_frame=150),
    p.AssignCamera(CAM, 4, count_from_ts=1700000000.25),
    p.AssignCamera(CameraConfig("c2", "synthetic://"), 1),
    p.AssignCamera(CameraConfig("c3", "rtsp://10.0.0.7/s", standby="warm"), 5, role="standby", standby="warm",
                   buffer_s=12.0),
    p.PromoteCamera("c3", 5, 1700000000.75),
    p.UpdateCamera(CAM, 3),
    p.UnassignCamera("gate-1", 3),
    p.FenceCamera("gate-1", 3, 4),
    p.SetPreview("gate-1", True, 320, 2.0),
    p.AckCounts("gate-1", 3, 7),
    p.ResendCounts(),
    p.ResendCounts("gate-1"),
    p.Drain(),
    p.QueryModel("b" * 64),
    p.PushModelChunk("b" * 64, 10, 0, b"\x00\x01binary"),
    p.RunSegment("j-1", 2, 1, CameraConfig("job-j-1", "/data/survey/cam1.mp4"), 5400, 10800, 90),
    p.QuerySegment("j-1", 2, 1),
    p.DropSegment("j-1", 2, 1),
    p.Ok(), p.Error("draining", "worker is draining"), p.Fenced("gate-1", 2, 3),
    p.HelloReply(p.PROTOCOL_VERSION, 5556, _status()),
    p.StatusReply(_status()),
    p.AckReply("gate-1", 3, 7, 7, 0),
    p.ModelStatus("b" * 64, 10, True, "sha256:" + "b" * 64),
    p.SegmentStatus("j-1", 2, 1, "running", frames=300, total=5400),
    p.SegmentStatus("j-1", 2, 1, "done", 5400, 5400, [p.JobCrossing(5411, 180.367, "near", "in", "car")], 3, None),
    p.SegmentStatus("j-1", 2, 1, "failed", error="video /data/survey/cam1.mp4 not found"),
    p.PairRequest("desk", "ab" * 32), p.PairReply(True, "w-1", "cd" * 32, "paired"),
    p.Heartbeat(_status()),
    p.CountBatch("w-1", [EVENT, EVENT]),
    p.CountBatch("w-1", [EVENT], [p.CoverageSpan("gate-1", 3, 1, 1700000000.0, 1700000060.0, "primary", True)]),
    p.PreviewFrame("w-1", "gate-1", 3, 99, 1.0, 320, 180,
                   [p.PreviewTrack(12, "car", 0.9, [1.0, 2.0, 30.0, 40.0])],
                   {"near": p.LineCounts(3, 1, {"car": {"in": 3, "out": 1}})}, {"lot": {"car": 2}}, b"\xff\xd8jpeg"),
    p.AlertEvent("w-1", "warning", "camera_failed", "camera 'gate-1' failed", "gate-1", 1.0),
]


def test_every_message_type_has_a_sample():
    assert {type(m) for m in SAMPLES} == set(p.MESSAGES.values())


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.TYPE)
def test_round_trip(msg):
    if msg.KIND == "telemetry":
        env = p.decode_telemetry(p.encode_telemetry(msg))
        assert env.topic == p.topic_of(msg)
    else:
        env = p.decode(p.encode(msg, "r42"), kinds=(msg.KIND,))
        assert env.request_id == "r42"
    assert env.message == msg


def _header(mtype="ack", body=None, **over):
    h = {"v": p.PROTOCOL_VERSION, "type": mtype, "id": "r1",
         "body": body if body is not None else {"camera_id": "c", "epoch": 1, "up_to_seq": 2}}
    h.update(over)
    return json.dumps(h).encode()


@pytest.mark.parametrize("frames,code", [
    ([b"not json"], "malformed"),
    ([b"[1,2]"], "malformed"),
    ([_header(v=p.PROTOCOL_VERSION - 1)], "version"),
    ([_header(v=True)], "version"),
    ([_header(mtype="rm -rf")], "unknown_type"),
    ([_header(mtype="ok", body={})], "wrong_kind"),
    ([_header(body={"camera_id": "c", "epoch": 1})], "malformed"),  # missing field
    ([_header(body={"camera_id": "c", "epoch": 1, "up_to_seq": 2, "x": 1})], "malformed"),  # extra
    ([_header(body={"camera_id": "c", "epoch": "1", "up_to_seq": 2})], "malformed"),  # wrong type
    ([_header(body={"camera_id": "c", "epoch": True, "up_to_seq": 2})], "malformed"),  # bool is no int
    ([_header(body={"camera_id": "c", "epoch": 2**70, "up_to_seq": 2})], "malformed"),
    ([_header(body={"camera_id": "c", "epoch": -1, "up_to_seq": 2})], "invalid"),
    ([b'{"v":2,"v":2,"type":"status","id":"","body":{}}'], "malformed"),  # duplicate key
    ([b'{"v":2,"type":"set_preview","id":"","body":{"camera_id":"c","enabled":true,"fps":NaN}}'], "malformed"),
    ([_header(mtype="assign", body={"camera": {"camera_id": "c"}, "epoch": 1})], "invalid"),
    ([_header(mtype="model_chunk", body={"sha256": "b" * 64, "size": 1, "offset": 0})], "malformed"),  # no frame
    ([_header(), b"extra"], "malformed"),
    ([b" " * (p.MAX_HEADER_BYTES + 1)], "oversized"),
    ([b"["] * (p.MAX_FRAMES + 1), "oversized"),
    ([b"[" * 100000], "malformed"),  # deep nesting is not a RecursionError crash
])
def test_bad_input_is_a_protocol_error(frames, code):
    with pytest.raises(p.ProtocolError) as info:
        p.decode(frames, kinds=("command",))
    assert info.value.code == code, str(info.value)


def test_error_keeps_request_id_so_the_worker_can_answer():
    with pytest.raises(p.ProtocolError) as info:
        p.decode([_header(body={"camera_id": "c"})], kinds=("command",))
    assert info.value.request_id == "r1"


def test_oversized_binary_parts_are_refused_both_ways():
    big = p.PushModelChunk("b" * 64, p.MODEL_CHUNK_BYTES + 1, 0, b"x" * (p.MODEL_CHUNK_BYTES + 1))
    with pytest.raises(p.ProtocolError, match="over"):
        p.encode(big)
    header = p.encode(p.PushModelChunk("b" * 64, p.MODEL_CHUNK_BYTES + 1, 0, b"x"))[0]
    with pytest.raises(p.ProtocolError) as info:
        p.decode([header, b"x" * (p.MODEL_CHUNK_BYTES + 1)], kinds=("command",))
    assert info.value.code == "oversized"


def test_telemetry_topic_must_match_the_message():
    frames = p.encode_telemetry(p.PreviewFrame("w", "cam-a", 1, 1, 1.0, 2, 2, [], {}, {}, b"j"))
    assert frames[0] == b"preview/cam-a"
    with pytest.raises(p.ProtocolError):
        p.decode_telemetry([b"preview/cam-b", *frames[1:]])


def test_nan_is_not_put_on_the_wire():
    with pytest.raises(p.ProtocolError):
        p.encode(p.SetPreview("c", True, 320, float("nan")))


# ----------------------------------------------------------------------- fuzzing

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=10), kids, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(st.binary(max_size=200), min_size=0, max_size=6))
def test_fuzz_random_bytes_never_crash(frames):
    try:
        p.decode(frames, kinds=("command", "reply", "telemetry", "pair", "pair_reply"))
    except p.ProtocolError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mtype=st.sampled_from(sorted(p.MESSAGES)), body=st.dictionaries(st.text(max_size=20), _json, max_size=8),
       extra=st.lists(st.binary(max_size=50), max_size=2))
def test_fuzz_structured_headers_never_crash(mtype, body, extra):
    header = json.dumps({"v": p.PROTOCOL_VERSION, "type": mtype, "id": "x", "body": body}).encode()
    try:
        p.decode([header, *extra], kinds=("command", "reply", "telemetry", "pair", "pair_reply"))
    except p.ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(sample=st.sampled_from(SAMPLES), data=st.data())
def test_fuzz_mutated_valid_messages_never_crash(sample, data):
    """Take a valid body and replace one field (possibly nested) with arbitrary JSON."""
    frames = p.encode_telemetry(sample)[1:] if sample.KIND == "telemetry" else p.encode(sample)
    header = json.loads(frames[0])
    node = header["body"]
    while isinstance(node, dict) and node:
        key = data.draw(st.sampled_from(sorted(node)))
        if isinstance(node[key], dict) and data.draw(st.booleans()):
            node = node[key]
            continue
        node[key] = data.draw(_json)
        break
    try:
        env = p.decode([json.dumps(header).encode(), *frames[1:]], kinds=(sample.KIND,))
    except p.ProtocolError:
        return
    assert type(env.message) is type(sample)


def test_a_segment_must_be_a_frame_range_and_its_result_bounded():
    bad = p.RunSegment("j-1", 0, 1, CameraConfig("job-j-1", "/v.mp4"), 100, 100, 0)
    with pytest.raises(p.ProtocolError, match="start must be before its end") as caught:
        p.decode(p.encode(bad, "r"), kinds=("command",))
    assert caught.value.code == "invalid"
    many = [p.JobCrossing(i, i / 30, "near", "in", "car") for i in range(p.MAX_SEGMENT_CROSSINGS + 1)]
    with pytest.raises(p.ProtocolError) as caught:
        p.decode(p.encode(p.SegmentStatus("j-1", 0, 1, "done", crossings=many), "r"), kinds=("reply",))
    assert caught.value.code == "invalid"
