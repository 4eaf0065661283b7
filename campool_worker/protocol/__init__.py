"""THE CamPool wire contract (version 4): every message between a master and a worker.

What each version added is listed above ``PROTOCOL_VERSION`` in messages.py.

Nothing else defines messages. The worker (`service.py`) and the master (its wire client and
pool core) both encode and decode here, so a change to the protocol is a change to this package
and to ``PROTOCOL_VERSION``. The parts, none of which imports another's importer:

* `messages`: the typed messages, their kinds and topics, size limits, ``PROTOCOL_VERSION``;
* `codec`: `encode` / `decode` (strict) of those messages;
* `sockets`: the socket options and the bounded receive every socket uses;
* `liveness`: the heartbeat period a worker declares and when a master declares it dead.

Import everything from here (``from campool_worker import protocol as p``).

Sockets and framing
-------------------
* Commands: the master's DEALER talks to the worker's ROUTER (the command port). A request is
  ``[header, *binary]``; the reply carries the same request id: ``[header, *binary]``.
  Requests are asynchronous (many in flight, each with its own id and timeout); never a REQ
  socket, which wedges on one lost reply.
* Pairing: the same framing on the worker's pairing port, one `PairRequest` -> one `PairReply`
  (see Security below). A reply with ``retry_after_s`` > 0 did not judge the proof: ask again
  with the same proof after that many seconds.
* Telemetry: the worker's PUB, the master's SUB: ``[topic, header, *binary]``. Topics:
  ``hb`` (heartbeat every ``heartbeat_s``, see Liveness), ``count`` (count event batches), ``preview/<camera_id>``
  (preview frames; subscribe per camera), ``alert`` (alerts and notable log events).
* ``header`` is a UTF-8 JSON object ``{"v": PROTOCOL_VERSION, "type": "...", "id": "...", "body": {...}}``;
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
``zmq.MAXMSGSIZE``), which drops only that peer. These limits bound a *frame*, not a message:
libzmq keeps every part of a multipart message until its last part has arrived (its
high-water marks count whole messages), so `recv_frames`' ``MAX_FRAMES`` check comes after
the memory is spent. They are enough where only trusted keys get through the handshake; the
one port any key reaches has its own bound (Security).

Security
--------
What holds (security.py, pairing.py and pairing_relay.py hold the details):

* Every socket is CURVE; the command ROUTER and the telemetry PUB admit only allow-listed
  master keys (ZAP); nothing runs with CURVE_ALLOW_ANY. A master pins each worker's key.
* The pairing port admits any CURVE key (a master that is not adopted yet has no other way
  in). Its public port is a byte-counting relay in front of the pairing ROUTER, which listens
  only on a private endpoint: per connection at most 64 KiB from the client, no frame
  announcing more than 8 KiB, 30 s of life; at most 4 connections at once and a new one every
  2 s (burst 8) per source address (an IPv6 /64), 32 in all. So what any number of peers can
  make the worker hold through it is a few MiB (measured: 32 raw CURVE peers holding all they
  may add about 3 MiB), where one raw peer used to add 512 MiB in 7 s. Many hosts together can
  fill the 32 slots: that denies pairing while it lasts (each slot frees within 30 s), never
  memory.
* Pairing codes: 40 bits, 600 s, used once; when any master pairs every code ends, so a code
  that leaked cannot adopt a second master later. Guessing: a master key is locked out after
  3 wrong proofs (10 s, doubling up to 600 s with every wrong proof after that), the worker
  judges at most 3 proofs a second (burst 6) from all keys together and asks the others to
  retry (``retry_after_s``) instead of refusing them, and nothing is counted while no code is
  valid. A flood from one key or one host cannot void a code nor stop a legitimate master's
  adoption; a flood from many hosts slows it. At most ~1,800 judged guesses per code's life:
  ~1.6e-9 per code.
* Every master the worker serves is in its status (``WorkerStatus.masters``), so each master
  shows them on the worker's details, and one that appears raises an alert on the others.

Liveness
--------
Every `WorkerStatus` (the body of a `Heartbeat`, of a `StatusReply` and of a `HelloReply`)
declares the worker's heartbeat period ``heartbeat_s``. The master judges each worker by the
period it declared: dead after `liveness.dead_after_s` (``LIVENESS`` = 3 periods, at least
``MIN_DEAD_AFTER_S``) without a heartbeat; a `HelloReply` proves the command channel only and
does not count as a heartbeat.

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
* Handover from epoch e (old worker) to e+1 (new worker) of a **file** (seekable) source: the
  cut is a frame index H, the frame of the heartbeat before the old worker's last one (what it
  reported may not all have been committed), never before a frame already stored. The new
  assignment carries ``start_frame = H - warmup`` (so the tracker has history) and
  ``count_from_frame = H``; the new worker suppresses crossings of frames < H. Events of epoch e
  are stored only if ``frame_index < H``.
* Handover of a **live** source (RTSP, HTTP, USB): frame indices of two workers on one live
  stream mean nothing to each other, so the cut is a time. The master fixes it at its wall time
  T of the handover and keeps it in the old worker's clock, ``cut_ts = T + offset(old)``
  (``offset`` = worker clock - master clock, estimated from the ``clock`` of heartbeats and hello
  replies). The new assignment carries ``count_from_ts = T + offset(new)``, the same instant in
  the new worker's clock: it reports no crossing whose frame time is before it. Events of epoch
  e are stored only if ``ts < cut_ts``; events of epoch e+1 are all stored. So an instant
  belongs to exactly one epoch: no crossing is stored twice, and only the crossings of the
  interval nobody watched (between the old worker's death and the new one's first frame) are
  missing. A track that straddles the cut is counted by the epoch whose side of the cut its
  crossing frame falls on, never by both.
* Every event's ``ts`` is the wall time of its frame in its worker's clock.
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

Jobs over recorded files (issue #13)
------------------------------------
* A job's file is cut into segments by the master; a segment is frames [start, end) of one
  file with ``warmup`` frames before ``start`` that run the tracker but report nothing. A
  crossing belongs to the segment that holds the frame on which the counter fires, so the
  segments' crossings join into exactly one pass (pipeline/segments.py says why it is exact).
* `RunSegment` starts one on a worker that can read the path; it takes one camera slot of the
  worker's capacity while it runs (``WorkerStatus.segments``), so a master gives segments only
  the room its cameras leave. The key is (job_id, segment, attempt); a repeat is a no-op.
* The result is pulled, not pushed: `QuerySegment` answers `SegmentStatus` (progress while it
  runs, every crossing once done) and the worker keeps a finished result until `DropSegment`.
  A lost reply costs one more question; a worker that died answers ``unknown`` or not at all,
  and the master runs the segment again elsewhere. The master stores a segment's result once,
  keyed by (job, segment), so an answer that arrives twice is counted once.

Live standby and the standby cut (a live camera cannot rewind)
--------------------------------------------------------------
* A standby is a second worker given the same camera with ``AssignCamera(role="standby")`` under
  an epoch of its own E_s, allocated and persisted by the master like any other, while the
  primary keeps its epoch E_p. ``standby="hot"`` runs the whole pipeline; ``"warm"`` keeps the
  stream connected and the last ``buffer_s`` seconds of frames, without the detector. A standby's
  events are committed and sent like any others; the master does not store them while it is a
  standby (it acks, as shadowed, those the primary has already covered, and holds the rest).
* Each heartbeat is consistent per camera: the worker notes each camera's ``frame_ts`` (the time
  of its last processed frame), then commits every crossing already queued, then reads
  ``last_seq``. So "every crossing of frames up to frame_ts is committed with seq <= last_seq".
  The master's watermark for the primary is the ``frame_ts`` of its latest heartbeat whose
  events up to ``last_seq`` are all stored: the primary is known to have counted everything
  until then.
* Promotion: when the primary is declared dead (or fenced, or its stream is down while the
  standby's is not), the master makes the standby's epoch current, cuts E_p at the watermark C
  (in the primary's clock: E_p's later events are fenced) and sends ``PromoteCamera(E_s,
  count_from_ts=C - 2M)`` in the standby's clock, M being the master's matching window (half a
  second): a warm standby then also reports its own copies of the primary's last crossings before
  C, which the matching needs to tell them from a different object. It takes the standby's events
  after C - M, except any that match, one to one, a stored primary event of the same line,
  direction and class within M (pairing starts at C - 2M, see campool_gui/pool/standby.py):
  two workers stamp the same frame a few tens of milliseconds apart, so a
  track that straddles the cut is counted once, by exactly one of them. A camera whose stream is
  down on every holder is not promoted: it was simply not watched.
* Capacity: a hot standby costs its worker one camera, a warm one ``WARM_STANDBY_COST`` of a
  camera (it decodes the stream but runs no detector); both ends count it so (the worker refuses
  by that weighted load, the master places by it).
* Coverage: every worker records the spans of time it watched each (camera, epoch)
  (`CoverageSpan`), committed and delivered with the counts (``CountBatch.spans``, acked with
  ``AckCounts.spans_up_to``), so the master knows what was watched even while it was down; the
  time no span covers was not watched, and the history shows it as a gap, not as zero counts.
"""
from __future__ import annotations

from campool_worker.camera import LineCounts
from campool_worker.protocol.codec import decode, decode_telemetry, encode, encode_telemetry
from campool_worker.protocol.liveness import (
    HEARTBEAT_S_DEFAULT,
    HEARTBEAT_S_MAX,
    HEARTBEAT_S_MIN,
    LIVENESS,
    MIN_DEAD_AFTER_S,
    dead_after_s,
)
from campool_worker.protocol.messages import (
    MAX_COUNT_BATCH,
    MAX_FRAME_BYTES,
    MAX_FRAMES,
    MAX_HEADER_BYTES,
    MAX_MODEL_BYTES,
    MAX_PREVIEW_BYTES,
    MAX_REQUEST_ID,
    MAX_SEGMENT_CROSSINGS,
    MESSAGES,
    MODEL_CHUNK_BYTES,
    PROTOCOL_VERSION,
    SERVICE_TYPE,
    TOPIC_ALERT,
    TOPIC_COUNT,
    TOPIC_HEARTBEAT,
    TOPIC_PREVIEW,
    WARM_STANDBY_COST,
    AckCounts,
    AckReply,
    AlertEvent,
    AssignCamera,
    CameraState,
    CameraTelemetry,
    CountBatch,
    CoverageSpan,
    Drain,
    DropSegment,
    Envelope,
    Error,
    FenceCamera,
    Fenced,
    GetStatus,
    GpuMetrics,
    Heartbeat,
    Hello,
    HelloReply,
    JobCrossing,
    Kind,
    MasterInfo,
    Message,
    ModelStatus,
    Ok,
    PairReply,
    PairRequest,
    PreviewFrame,
    PreviewTrack,
    PromoteCamera,
    ProtocolError,
    PushModelChunk,
    QueryModel,
    QuerySegment,
    ResendCounts,
    RunSegment,
    SegmentStatus,
    SetPreview,
    StatusReply,
    StorageStatus,
    SystemMetrics,
    UnassignCamera,
    UpdateCamera,
    WorkerStatus,
    topic_of,
)
from campool_worker.protocol.sockets import apply_socket_limits, recv_frames, recv_frames_nowait

__all__ = [
    "HEARTBEAT_S_DEFAULT",
    "HEARTBEAT_S_MAX",
    "HEARTBEAT_S_MIN",
    "LIVENESS",
    "MAX_COUNT_BATCH",
    "MAX_FRAMES",
    "MAX_FRAME_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_MODEL_BYTES",
    "MAX_PREVIEW_BYTES",
    "MAX_REQUEST_ID",
    "MAX_SEGMENT_CROSSINGS",
    "MESSAGES",
    "MIN_DEAD_AFTER_S",
    "MODEL_CHUNK_BYTES",
    "PROTOCOL_VERSION",
    "SERVICE_TYPE",
    "TOPIC_ALERT",
    "TOPIC_COUNT",
    "TOPIC_HEARTBEAT",
    "TOPIC_PREVIEW",
    "WARM_STANDBY_COST",
    "AckCounts",
    "AckReply",
    "AlertEvent",
    "AssignCamera",
    "CameraState",
    "CameraTelemetry",
    "CountBatch",
    "CoverageSpan",
    "Drain",
    "DropSegment",
    "Envelope",
    "Error",
    "FenceCamera",
    "Fenced",
    "GetStatus",
    "GpuMetrics",
    "Heartbeat",
    "Hello",
    "HelloReply",
    "JobCrossing",
    "Kind",
    "LineCounts",
    "MasterInfo",
    "Message",
    "ModelStatus",
    "Ok",
    "PairReply",
    "PairRequest",
    "PreviewFrame",
    "PreviewTrack",
    "PromoteCamera",
    "ProtocolError",
    "PushModelChunk",
    "QueryModel",
    "QuerySegment",
    "ResendCounts",
    "RunSegment",
    "SegmentStatus",
    "SetPreview",
    "StatusReply",
    "StorageStatus",
    "SystemMetrics",
    "UnassignCamera",
    "UpdateCamera",
    "WorkerStatus",
    "apply_socket_limits",
    "dead_after_s",
    "decode",
    "decode_telemetry",
    "encode",
    "encode_telemetry",
    "recv_frames",
    "recv_frames_nowait",
    "topic_of",
]
