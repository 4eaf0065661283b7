"""THE CamPool wire contract (version 1): every message between a master and a worker.

Nothing else defines messages. The worker (`service.py`) and the master (`client.py`, the
pool core) both encode and decode here, so a change to the protocol is a change to this
file and to ``PROTOCOL_VERSION``.

Sockets and framing
-------------------
* Commands: the master's DEALER talks to the worker's ROUTER (the command port). A request is
  ``[header, *binary]``; the reply carries the same request id: ``[header, *binary]``.
  Requests are asynchronous (many in flight, each with its own id and timeout); never a REQ
  socket, which wedges on one lost reply.
* Pairing: the same framing on the worker's pairing port (see ``security.py``).
* Telemetry: the worker's PUB, the master's SUB: ``[topic, header, *binary]``. Topics:
  ``hb`` (heartbeat every second), ``count`` (count event batches), ``preview/<camera_id>``
  (preview frames; subscribe per camera), ``alert`` (alerts and notable log events).
* ``header`` is a UTF-8 JSON object ``{"v": 1, "type": "...", "id": "...", "body": {...}}``;
  bulky binary fields (preview JPEGs, model chunks) travel as extra frames, in the order of
  the message class's ``BINARY`` tuple, and are absent from ``body``.

Strict decoding
---------------
`decode` rejects, with a `ProtocolError` (``code`` says which): a header that is not JSON or
is over ``MAX_HEADER_BYTES``; a binary part over its limit; the wrong number of frames; a
version other than ``PROTOCOL_VERSION``; an unknown type or one of the wrong kind for the
socket (a reply sent as a command); missing fields (those without a default), extra fields,
values of the wrong type (bool is not an int, NaN/Infinity are not numbers), integers outside
64 bits, duplicate JSON keys, and camera configs that `CameraConfig.from_dict` refuses. The
socket loops count and log a rejection and carry on; a peer whose single frame exceeds
``MAX_FRAME_BYTES`` is disconnected by libzmq itself (``apply_socket_limits`` sets
``zmq.MAXMSGSIZE``), which drops only that peer.

Count events: sequence, ack, resend
-----------------------------------
Each `CountEvent` carries (camera_id, epoch, seq). The worker commits it to its SQLite outbox
before publishing it; ``seq`` starts at 1 for every (camera_id, epoch) and has no gaps. The
master stores events idempotently on (camera_id, epoch, seq) and sends `AckCounts` with
``up_to_seq`` only when it has stored every seq <= up_to_seq of that (camera, epoch): the
worker deletes what is acked. A master sends `Hello` once its SUB receives the first heartbeat
(so the resend it triggers is not lost to PUB/SUB's slow-joiner gap) and again whenever the
heartbeat's ``boot_id`` changes (the worker restarted). Unacked events are republished on every `Hello`, on
`ResendCounts`, and on their own after a few seconds without an ack, so a master may see an
event more than once (at-least-once delivery, exactly-once storage).

Epoch fencing (no interval counted twice nor left uncounted)
------------------------------------------------------------
* The master owns epochs: each (re)assignment of a camera gets epoch = previous + 1, persisted
  by the master before it sends `AssignCamera`.
* Heartbeats carry per camera its epoch and the last ``frame_index`` processed, and the
  worker's clock (``WorkerStatus.clock``, time.time()) so the master can estimate the offset
  between its clock and the worker's.
* Handover from epoch e (old worker) to e+1 (new worker): the master picks the cut H = the
  last frame_index the old worker reported (seekable/file sources) or the master's wall time
  of the reassignment mapped through the clock offset (live streams). The new assignment
  carries ``start_frame = H - warmup`` (so the tracker has history) and
  ``count_from_frame = H``; the new worker suppresses events of frames < H. For a live stream
  the master may start the new worker before the cut (make-before-break) with
  ``count_from_ts`` = the cut in the new worker's clock; it then suppresses events before it. Events of epoch e
  are stored only if frame_index < H (files) / ts < cut (live); later ones are acked but
  dropped and counted as "fenced". Events of epoch e+1 are all stored.
* A worker that was cut off and comes back with a stale epoch (its heartbeat or `HelloReply`
  shows epoch e for a camera now at e+1) is sent `FenceCamera`: it stops that camera but keeps
  and resends its outbox backlog, which the master stores under the rule above and acks.
* A worker that restarts (crash, SIGKILL, reboot) resumes its assignments under the same epoch;
  a file source continues after the frame of its last committed event (with a short warm-up
  that does not count), so the restart neither doubles nor skips frames of that epoch.
* The worker refuses any command whose epoch is lower than the one it holds for that camera
  with a `Fenced` reply (for example a delayed `AssignCamera` arriving after a newer one);
  an `AssignCamera` with the epoch it already runs and the same config is a no-op, so a
  master may re-assert its assignments after a restart.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from campool_worker.camera import CameraConfig, CountEvent
from campool_worker.errors import CampoolError

PROTOCOL_VERSION = 1
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
    unknown_type, wrong_kind, invalid (a well-formed message with an unusable value)."""

    def __init__(self, message: str, *, code: str = "malformed", request_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id


class Message:
    """Base of every wire message: ``TYPE`` is its name on the wire, ``KIND`` the socket it
    belongs to, ``BINARY`` the bytes fields sent as extra frames."""

    TYPE: ClassVar[str] = ""
    KIND: ClassVar[str] = ""
    BINARY: ClassVar[tuple[str, ...]] = ()


# --------------------------------------------------------------------------- shared parts

@dataclass
class AssignmentInfo:
    """One camera a worker holds, as told in `HelloReply`."""

    camera_id: str
    epoch: int
    last_seq: int  # the highest seq committed for (camera_id, epoch); 0 = none yet
    state: str


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


@dataclass
class PreviewTrack:
    track_id: int
    class_name: str
    score: float
    box: list[float]  # x1, y1, x2, y2 in the coordinates of the preview JPEG


@dataclass
class LineCounts:
    in_total: int
    out_total: int
    in_by_class: dict[str, int]
    out_by_class: dict[str, int]


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
    """Does the worker hold the model with this sha256, or how much of it? Replies `ModelStatus`."""

    TYPE: ClassVar[str] = "model_query"
    KIND: ClassVar[str] = "command"
    sha256: str


@dataclass
class PushModelChunk(Message):
    """One chunk of a model file. ``offset`` must equal what the worker holds (resume from
    `ModelStatus.received`); the last chunk makes the worker check the sha256 and store the
    file by hash. A camera then uses ``model = "sha256:<hex>"``."""

    TYPE: ClassVar[str] = "model_chunk"
    KIND: ClassVar[str] = "command"
    BINARY: ClassVar[tuple[str, ...]] = ("data",)
    sha256: str
    size: int
    offset: int
    data: bytes


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
    was revoked while it was connected)."""

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
    TYPE: ClassVar[str] = "hello_reply"
    KIND: ClassVar[str] = "reply"
    worker_id: str
    name: str
    version: str
    protocol: int
    boot_id: str
    pub_port: int
    capacity: int
    gpu: str
    clock: float
    assignments: list[AssignmentInfo]


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
        Hello, GetStatus, AssignCamera, UpdateCamera, UnassignCamera, FenceCamera, SetPreview,
        AckCounts, ResendCounts, Drain, QueryModel, PushModelChunk,
        Ok, Error, Fenced, HelloReply, StatusReply, AckReply, ModelStatus,
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


# The codec lives in _wire.py (this module would pass 500 lines); import it from here only.
from campool_worker._wire import (  # noqa: E402
    apply_socket_limits, decode, decode_telemetry, encode, encode_telemetry, recv_frames, recv_frames_nowait,
)

