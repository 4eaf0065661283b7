"""The messages of the wire contract: typed dataclasses, their kinds, topics and size limits.

The rules they follow (framing, strict decoding, fencing) are in the package docstring.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from campool_worker.camera import CameraConfig, CountEvent, LineCounts
from campool_worker.errors import CampoolError

# 2 (after 1, the first release): HelloReply carries the WorkerStatus; WorkerStatus declares heartbeat_s,
#    its masters and its storage; LineCounts.by_class; PairReply.retry_after_s; zone occupancy per class,
#    standby roles and coverage spans in camera telemetry and count batches (PromoteCamera).
# 3: jobs over recorded files (issue #13): RunSegment, QuerySegment, DropSegment, SegmentStatus;
#    WorkerStatus.segments (segments running now, which take capacity beside the cameras).
# 4: saturation by priority (issue #15): CameraTelemetry.detect_budget and detect_budget_reason.
PROTOCOL_VERSION = 4
SERVICE_TYPE = "_campool._tcp.local."

MAX_HEADER_BYTES = 512 * 1024
MAX_PREVIEW_BYTES = 1024 * 1024
MODEL_CHUNK_BYTES = 1024 * 1024  # the largest model chunk a master may send
MAX_MODEL_BYTES = 2 * 1024**3
# libzmq's per-frame limit (zmq.MAXMSGSIZE): a peer that sends a bigger frame is disconnected.
MAX_FRAME_BYTES = 2 * 1024 * 1024
MAX_FRAMES = 4  # topic + header + up to two binary parts; more frames are not even kept
MAX_COUNT_BATCH = 500
MAX_REQUEST_ID = 64
# A segment's crossings travel whole in its SegmentStatus (~90 bytes each as JSON): a few minutes of
# the busiest road give hundreds; past this the master is told to cut shorter segments.
MAX_SEGMENT_CROSSINGS = 4000
_INT_LIMIT = 2**63

TOPIC_HEARTBEAT = b"hb"
TOPIC_COUNT = b"count"
TOPIC_PREVIEW = b"preview/"
TOPIC_ALERT = b"alert"

Kind = Literal["command", "reply", "telemetry", "pair", "pair_reply"]
CameraState = Literal["starting", "running", "reconnecting", "failed", "stopped"]
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class ProtocolError(CampoolError):
    """A message that cannot be accepted. ``code`` is one of: malformed, oversized, version,
    unknown_type, wrong_kind, invalid (a well-formed message with an unusable value).
    ``peer_version``: with code version, the protocol version the other end speaks."""

    def __init__(self, message: str, *, code: str = "malformed", request_id: str = "",
                 peer_version: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id
        self.peer_version = peer_version


@dataclass
class Message:
    """Base of every wire message: ``TYPE`` is its name on the wire, ``KIND`` the socket it
    belongs to, ``BINARY`` the bytes fields sent as extra frames."""

    TYPE: ClassVar[str] = ""
    KIND: ClassVar[str] = ""
    BINARY: ClassVar[tuple[str, ...]] = ()


# --------------------------------------------------------------------------- shared parts

@dataclass
class CameraTelemetry:
    camera_id: str
    epoch: int
    state: str  # CameraState, or "fenced"/"draining" while it stops
    fps: float
    latency_ms: float
    frames: int
    frame_index: int  # the last frame processed (the cut position for a handover)
    last_error: str | None
    last_seq: int
    backlog: int  # events committed but not yet acked
    preview: bool
    detector: str  # the execution provider actually used, or "motion"
    zones: dict[str, int] = field(default_factory=dict)  # zone -> objects in it now (all classes)
    zone_classes: dict[str, dict[str, int]] = field(default_factory=dict)  # zone -> class -> objects in it now
    role: Literal["primary", "standby"] = "primary"
    # Worker-clock time of the last frame processed (a warm standby: the last frame buffered). With
    # last_seq, a heartbeat says "every crossing of frames up to frame_ts is committed with seq <=
    # last_seq" (see Live standby in the package docstring).
    frame_ts: float = 0.0
    buffered_s: float = 0.0  # a warm standby: seconds of recent frames it holds
    # Detector runs (one image each) since the camera started, and the mode deciding them
    # ("adaptive", "fixed", "every"; "" from workers that predate adaptive detection, issue #15).
    model_runs: int = 0
    detect: str = ""
    # adaptive: runs counting needed that the camera's budget refused (it runs below its need)
    detect_starved: int = 0
    # adaptive: the most runs a second it has now, and why that is below its own budget ("": it is
    # not): a saturated worker lowers low-priority cameras first (detect_governor.py; protocol 4)
    detect_budget: float = 0.0
    detect_budget_reason: str = ""


@dataclass
class CoverageSpan:
    """A stretch of time a worker watched a camera under an epoch: frames arrived and were processed
    (a warm standby: buffered). Spans are committed to the outbox and delivered like count events, so
    the master learns what was watched even while it was down; what no span covers was not watched.
    ``seq`` counts per (camera_id, epoch) from 1. An open span grows (same seq, later end_ts, sent
    again); ``closed`` says it will not change any more."""

    camera_id: str
    epoch: int
    seq: int
    start_ts: float  # worker clock
    end_ts: float
    role: Literal["primary", "standby"]
    closed: bool


@dataclass
class SystemMetrics:
    cpu_percent: float
    load_1m: float
    mem_percent: float
    mem_used_mb: float
    mem_total_mb: float
    disk_percent: float
    disk_free_gb: float
    net_rx_kbps: float
    net_tx_kbps: float


@dataclass
class GpuMetrics:
    index: int
    name: str
    util_percent: float
    mem_used_mb: float
    mem_total_mb: float
    temp_c: float


@dataclass
class MasterInfo:
    """A master this worker serves, as it tells every master (so each sees who else adopted it)."""

    key: str  # its CURVE public key (Z85)
    name: str  # the name it gave when pairing ("" for keys from the worker's settings)
    adopted_at: float | None  # worker wall time of the pairing; None for keys from the settings


@dataclass
class StorageStatus:
    """The worker's outbox storage: ``ok``; ``low`` (free space will run out soon at the outbox's
    current growth); ``failing`` (commits fail, e.g. the disk is full: crossings are held in memory,
    not yet committed nor sent, and retried)."""

    state: Literal["ok", "low", "failing"]
    free_mb: float  # free space where the outbox lives
    buffered: int  # crossings held in memory because the outbox could not take them
    message: str  # what is wrong and what to do ("" when ok)


@dataclass
class WorkerStatus:
    """What a worker is doing now: the body of a heartbeat and of a status reply."""

    worker_id: str
    name: str
    version: str
    seq: int  # heartbeat counter; a restart starts again from 1 with a new boot_id
    boot_id: str
    clock: float  # the worker's time.time(), for the master's clock-offset estimate
    uptime_s: float
    state: Literal["running", "draining", "stopping"]
    capacity: int
    gpu: str  # GPU model name, or "" when none
    cameras: list[CameraTelemetry]
    system: SystemMetrics
    gpus: list[GpuMetrics]
    outbox_pending: int
    outbox_oldest_ts: float | None
    rejected_messages: int  # protocol rejections since start (all sockets)
    heartbeat_s: float  # this worker's heartbeat period: the master judges its liveness by it
    masters: list[MasterInfo]  # every master it serves
    storage: StorageStatus
    segments: int = 0  # job segments counting now: each takes one camera slot of the capacity
    # The shared model's inference calls and images since start: images per call is the
    # batching across cameras (1 on a CPU). 0 from workers that predate it.
    model_calls: int = 0
    model_images: int = 0


@dataclass
class PreviewTrack:
    track_id: int
    class_name: str
    score: float
    box: list[float]  # x1, y1, x2, y2 in the coordinates of the preview JPEG


# --------------------------------------------------------------------------- commands

@dataclass
class Hello(Message):
    """First command of a (re)connected master. The worker answers `HelloReply` and republishes
    every unacked count event."""

    TYPE: ClassVar[str] = "hello"
    KIND: ClassVar[str] = "command"
    master_id: str
    master_name: str
    master_version: str


@dataclass
class GetStatus(Message):
    TYPE: ClassVar[str] = "status"
    KIND: ClassVar[str] = "command"


@dataclass
class AssignCamera(Message):
    """Run ``camera`` under ``epoch``. Replies `Ok`, `Fenced` (stale epoch) or `Error`
    (draining, at capacity, bad config)."""

    TYPE: ClassVar[str] = "assign"
    KIND: ClassVar[str] = "command"
    camera: CameraConfig
    epoch: int
    start_frame: int | None = None  # seek here first (seekable sources); see Epoch fencing
    count_from_frame: int | None = None  # suppress events of earlier frames (handover warm-up)
    count_from_ts: float | None = None  # live streams: suppress events before this time (worker's clock)
    # "standby": a shadow lease beside another worker's primary (see Live standby): its events are
    # committed and sent as usual, but the master stores them only from its promotion's cut.
    role: Literal["primary", "standby"] = "primary"
    standby: Literal["hot", "warm"] = "hot"  # a standby: the whole pipeline, or the stream and recent frames
    buffer_s: float = 10.0  # a warm standby: seconds of recent frames to keep


# What a warm standby takes of a worker's capacity, in cameras (a hot one: 1). It decodes the
# stream (all of it: H.264 frames depend on each other) and keeps a JPEG of every detection-rate
# frame, but runs no detector. Measured with campool_worker/harness/standby_bench.py (RTSP highway
# camera, YOLOX-nano, 10 detections/s, the 2-core box): hot 17.8 % of a core and 39 MB per
# camera, warm 8.7 % and 35 MB (0.49 of hot's CPU; the decode is most of it).
WARM_STANDBY_COST = 0.5

@dataclass
class PromoteCamera(Message):
    """The standby of ``camera_id`` at ``epoch`` becomes the primary. A warm standby counts its
    buffered frames from ``count_from_ts`` (its own clock; with a tracker warm-up before it) faster
    than real time, then goes on live. Replies `Ok`, `Fenced` or `Error`; a repeat is a no-op."""

    TYPE: ClassVar[str] = "promote"
    KIND: ClassVar[str] = "command"
    camera_id: str
    epoch: int
    count_from_ts: float


@dataclass
class UpdateCamera(Message):
    """Change lines, zones, model... of a camera the worker runs, under the same epoch."""

    TYPE: ClassVar[str] = "update"
    KIND: ClassVar[str] = "command"
    camera: CameraConfig
    epoch: int


@dataclass
class UnassignCamera(Message):
    TYPE: ClassVar[str] = "unassign"
    KIND: ClassVar[str] = "command"
    camera_id: str
    epoch: int


@dataclass
class FenceCamera(Message):
    """The worker's ``epoch`` for the camera is stale (the master is at ``current_epoch``):
    stop it, keep resending its backlog."""

    TYPE: ClassVar[str] = "fence"
    KIND: ClassVar[str] = "command"
    camera_id: str
    epoch: int
    current_epoch: int


@dataclass
class SetPreview(Message):
    TYPE: ClassVar[str] = "set_preview"
    KIND: ClassVar[str] = "command"
    camera_id: str
    enabled: bool
    width: int = 320  # JPEG width in pixels; the height keeps the aspect ratio
    fps: float = 2.0


@dataclass
class AckCounts(Message):
    """Every event of (camera_id, epoch) with seq <= up_to_seq is stored by the master."""

    TYPE: ClassVar[str] = "ack"
    KIND: ClassVar[str] = "command"
    camera_id: str
    epoch: int
    up_to_seq: int
    spans_up_to: int = 0  # every *closed* coverage span of (camera_id, epoch) with seq <= this is stored


@dataclass
class ResendCounts(Message):
    """Republish unacked count events now (of one camera, or all when camera_id is None)."""

    TYPE: ClassVar[str] = "resend"
    KIND: ClassVar[str] = "command"
    camera_id: str | None = None


@dataclass
class Drain(Message):
    """enabled=True: stop every camera (their last events are committed and sent) and refuse
    new assignments until a Drain(enabled=False)."""

    TYPE: ClassVar[str] = "drain"
    KIND: ClassVar[str] = "command"
    enabled: bool = True


@dataclass
class QueryModel(Message):
    """Does the worker hold the model with this sha256, or how much of it? Replies `ModelStatus`,
    or ``Error("busy")`` while it checks its stored copy against the hash (ask again shortly); a
    copy that failed the check is reported as not held (received 0), so the master sends it again."""

    TYPE: ClassVar[str] = "model_query"
    KIND: ClassVar[str] = "command"
    sha256: str


@dataclass
class PushModelChunk(Message):
    """One chunk of a model file. ``offset`` must equal what the worker holds (resume from
    `ModelStatus.received`); the last chunk makes the worker check the sha256 and store the
    file by hash, off its command loop: that chunk is answered ``Error("busy")`` and the master
    asks `QueryModel` until complete (or received 0: the content did not match, send it again).
    A camera then uses ``model = "sha256:<hex>"``."""

    TYPE: ClassVar[str] = "model_chunk"
    KIND: ClassVar[str] = "command"
    BINARY: ClassVar[tuple[str, ...]] = ("data",)
    sha256: str
    size: int
    offset: int
    data: bytes


# --------------------------------------------------------------------------- jobs (recorded files)

@dataclass
class RunSegment(Message):
    """Count frames [start, end) of the file ``camera.source`` (a path this worker can read), after
    ``warmup`` frames of tracker history before ``start`` that report nothing (see jobs in the
    package doc). ``camera`` carries the lines, zones, model and classes; its camera_id names the
    job. Replies `Ok` (started, or already running / done under this key: a repeat is a no-op),
    ``Error("capacity")`` when the cameras and segments running leave no slot, or another `Error`
    (the file is not readable here: ``code="source"``). The result is asked for with `QuerySegment`."""

    TYPE: ClassVar[str] = "run_segment"
    KIND: ClassVar[str] = "command"
    job_id: str
    segment: int
    attempt: int  # the master's try number: a result of another attempt is never mistaken for this one
    camera: CameraConfig
    start: int
    end: int
    warmup: int


@dataclass
class QuerySegment(Message):
    """How far a segment is, and its crossings once it is done (`SegmentStatus`). Asking again is
    always safe: the worker keeps a finished result until `DropSegment`, so a lost reply costs
    nothing but the question."""

    TYPE: ClassVar[str] = "query_segment"
    KIND: ClassVar[str] = "command"
    job_id: str
    segment: int
    attempt: int


@dataclass
class DropSegment(Message):
    """The master has stored the result (or gave the segment up): stop it if it runs, forget it."""

    TYPE: ClassVar[str] = "drop_segment"
    KIND: ClassVar[str] = "command"
    job_id: str
    segment: int
    attempt: int


# --------------------------------------------------------------------------- replies

@dataclass
class Ok(Message):
    TYPE: ClassVar[str] = "ok"
    KIND: ClassVar[str] = "reply"
    detail: str = ""


@dataclass
class Error(Message):
    """A refused command. ``code``: malformed, oversized, version, unknown_type, wrong_kind,
    invalid, draining, capacity, unknown_camera, model, internal, unauthorized (the master's key
    was revoked while it was connected), storage (the worker's disk refused the write the
    command needs, e.g. it is full; try again once there is room), busy (not refused: the worker is
    checking a stored model against its hash off its command loop; ask again with `QueryModel` shortly)."""

    TYPE: ClassVar[str] = "error"
    KIND: ClassVar[str] = "reply"
    code: str
    message: str


@dataclass
class Fenced(Message):
    """The command's epoch is older than the one the worker holds for the camera."""

    TYPE: ClassVar[str] = "fenced"
    KIND: ClassVar[str] = "reply"
    camera_id: str
    epoch: int  # the epoch the command carried
    current_epoch: int  # the epoch the worker holds


@dataclass
class HelloReply(Message):
    """The worker's answer to `Hello`: the protocol it speaks, where its telemetry is, and its whole
    status (what a heartbeat carries: identity, boot id, clock, heartbeat period, cameras with their
    epochs and last committed seq)."""

    TYPE: ClassVar[str] = "hello_reply"
    KIND: ClassVar[str] = "reply"
    protocol: int
    pub_port: int
    status: WorkerStatus


@dataclass
class StatusReply(Message):
    TYPE: ClassVar[str] = "status_reply"
    KIND: ClassVar[str] = "reply"
    status: WorkerStatus


@dataclass
class AckReply(Message):
    TYPE: ClassVar[str] = "ack_reply"
    KIND: ClassVar[str] = "reply"
    camera_id: str
    epoch: int
    up_to_seq: int
    deleted: int
    pending: int  # events of this camera (all epochs) still unacked


@dataclass
class ModelStatus(Message):
    TYPE: ClassVar[str] = "model_status"
    KIND: ClassVar[str] = "reply"
    sha256: str
    received: int  # bytes held so far; == size when complete
    complete: bool
    model_ref: str  # "sha256:<hex>" to put in CameraConfig.model once complete


@dataclass
class JobCrossing:
    """One crossing of a job segment: the frame the counter fired on, its media time, what crossed."""

    frame_index: int
    media_ts: float
    line: str
    direction: Literal["in", "out"]
    class_name: str


@dataclass
class SegmentStatus(Message):
    """The answer to `QuerySegment`. state: running (``frames`` of ``total`` done), done (every
    crossing of [start, end) in ``crossings``; ``ended_at`` when the file ended early, ``skipped``
    undecodable frames inside the range), failed (``error`` says why), unknown (this worker has
    no such segment: it restarted, or the key is wrong; run it again)."""

    TYPE: ClassVar[str] = "segment_status"
    KIND: ClassVar[str] = "reply"
    job_id: str
    segment: int
    attempt: int
    state: Literal["running", "done", "failed", "unknown"]
    frames: int = 0
    total: int = 0
    crossings: list[JobCrossing] = field(default_factory=list)
    skipped: int = 0
    ended_at: int | None = None
    error: str = ""


# --------------------------------------------------------------------------- pairing

@dataclass
class PairRequest(Message):
    """Sent on the pairing port; ``proof`` is `security.pair_proof` of the pairing code."""

    TYPE: ClassVar[str] = "pair"
    KIND: ClassVar[str] = "pair"
    master_name: str
    proof: str


@dataclass
class PairReply(Message):
    TYPE: ClassVar[str] = "pair_reply"
    KIND: ClassVar[str] = "pair_reply"
    accepted: bool
    worker_id: str
    proof: str  # the worker's proof that it knows the code too ("" when refused)
    message: str
    retry_after_s: float = 0.0  # > 0: not judged now (too many attempts); ask again after this long


# --------------------------------------------------------------------------- telemetry

@dataclass
class Heartbeat(Message):
    TYPE: ClassVar[str] = "heartbeat"
    KIND: ClassVar[str] = "telemetry"
    status: WorkerStatus


@dataclass
class CountBatch(Message):
    TYPE: ClassVar[str] = "counts"
    KIND: ClassVar[str] = "telemetry"
    worker_id: str
    events: list[CountEvent]
    spans: list[CoverageSpan] = field(default_factory=list)


@dataclass
class PreviewFrame(Message):
    TYPE: ClassVar[str] = "preview"
    KIND: ClassVar[str] = "telemetry"
    BINARY: ClassVar[tuple[str, ...]] = ("jpeg",)
    worker_id: str
    camera_id: str
    epoch: int
    frame_index: int
    ts: float
    width: int
    height: int
    tracks: list[PreviewTrack]
    counts: dict[str, LineCounts]  # per counting line
    zones: dict[str, dict[str, int]]  # zone -> class -> occupancy now
    jpeg: bytes
    # The camera's own frame size: lines and zones are in these pixels, the JPEG may be smaller.
    source_width: int = 0
    source_height: int = 0


@dataclass
class AlertEvent(Message):
    TYPE: ClassVar[str] = "alert"
    KIND: ClassVar[str] = "telemetry"
    worker_id: str
    level: Literal["info", "warning", "error"]
    code: str  # e.g. camera_failed, camera_recovered, disk_low, protocol_rejected
    message: str
    camera_id: str | None
    ts: float


MESSAGES: dict[str, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Hello, GetStatus, AssignCamera, PromoteCamera, UpdateCamera, UnassignCamera, FenceCamera, SetPreview,
        AckCounts, ResendCounts, Drain, QueryModel, PushModelChunk, RunSegment, QuerySegment, DropSegment,
        Ok, Error, Fenced, HelloReply, StatusReply, AckReply, ModelStatus, SegmentStatus,
        PairRequest, PairReply,
        Heartbeat, CountBatch, PreviewFrame, AlertEvent,
    )
}

_BINARY_LIMITS = {(PushModelChunk, "data"): MODEL_CHUNK_BYTES, (PreviewFrame, "jpeg"): MAX_PREVIEW_BYTES}


@dataclass
class Envelope:
    """A decoded message with its request id (commands/replies) or topic (telemetry)."""

    message: Message
    request_id: str = ""
    topic: bytes = b""


def topic_of(msg: Message) -> bytes:
    if isinstance(msg, Heartbeat):
        return TOPIC_HEARTBEAT
    if isinstance(msg, CountBatch):
        return TOPIC_COUNT
    if isinstance(msg, PreviewFrame):
        return TOPIC_PREVIEW + msg.camera_id.encode()
    if isinstance(msg, AlertEvent):
        return TOPIC_ALERT
    raise ProtocolError(f"{type(msg).__name__} is not a telemetry message", code="wrong_kind")
