"""Encoding and strict decoding of the messages (the rules are in the package docstring)."""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import types
import typing
from typing import Any, Literal

from campool_worker.camera import CameraConfig
from campool_worker.protocol.compat import receiver_of, version_mismatch
from campool_worker.protocol.liveness import HEARTBEAT_S_MAX, HEARTBEAT_S_MIN
from campool_worker.protocol.messages import (
    _BINARY_LIMITS,
    _INT_LIMIT,
    _SHA256_RE,
    MAX_COUNT_BATCH,
    MAX_FRAME_BYTES,
    MAX_FRAMES,
    MAX_HEADER_BYTES,
    MAX_MODEL_BYTES,
    MAX_REQUEST_ID,
    MAX_SEGMENT_CROSSINGS,
    MESSAGES,
    PROTOCOL_VERSION,
    CountBatch,
    Envelope,
    Message,
    ModelStatus,
    PreviewFrame,
    ProtocolError,
    PushModelChunk,
    QueryModel,
    RunSegment,
    SegmentStatus,
    SetPreview,
    WorkerStatus,
    topic_of,
)

# --------------------------------------------------------------------------- encode

def encode(msg: Message, request_id: str = "") -> list[bytes]:
    """Frames ``[header, *binary]`` of a command, reply or pairing message."""
    if len(request_id) > MAX_REQUEST_ID:
        raise ProtocolError(f"request id is longer than {MAX_REQUEST_ID} characters", code="invalid")
    body = {f.name: _to_wire(getattr(msg, f.name)) for f in dataclasses.fields(msg) if f.name not in msg.BINARY}
    header = {"v": PROTOCOL_VERSION, "type": msg.TYPE, "id": request_id, "body": body}
    try:
        raw = json.dumps(header, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode()
    except ValueError as exc:  # NaN/inf: a bug in the sender, not something to put on the wire
        raise ProtocolError(f"cannot encode {msg.TYPE}: {exc}", code="invalid") from None
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(f"{msg.TYPE} header is {len(raw)} bytes, over {MAX_HEADER_BYTES}", code="oversized")
    binaries = [bytes(getattr(msg, name)) for name in msg.BINARY]
    for name, data in zip(msg.BINARY, binaries):
        limit = _BINARY_LIMITS.get((type(msg), name), MAX_FRAME_BYTES)
        if len(data) > limit:
            raise ProtocolError(f"{msg.TYPE}.{name} is {len(data)} bytes, over {limit}", code="oversized")
    return [raw, *binaries]


def encode_telemetry(msg: Message) -> list[bytes]:
    """Frames ``[topic, header, *binary]`` for the PUB socket."""
    return [topic_of(msg), *encode(msg)]


def _to_wire(value: Any) -> Any:
    if isinstance(value, CameraConfig):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_to_wire(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_wire(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- decode

def decode(frames: list[bytes], *, kinds: tuple[str, ...]) -> Envelope:
    """Decode ``[header, *binary]``; only messages of one of ``kinds`` are accepted."""
    if not frames:
        raise ProtocolError("empty message")
    if len(frames) > MAX_FRAMES:
        raise ProtocolError(f"{len(frames)} frames, at most {MAX_FRAMES} allowed", code="oversized")
    raw = bytes(frames[0])
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(f"header is {len(raw)} bytes, over {MAX_HEADER_BYTES}", code="oversized")
    try:
        header = json.loads(raw, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except ProtocolError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(f"header is not JSON: {str(exc)[:120]}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    request_id = header.get("id")
    request_id = request_id if isinstance(request_id, str) and len(request_id) <= MAX_REQUEST_ID else ""
    if set(header) != {"v", "type", "id", "body"}:
        raise ProtocolError(f"header keys must be v, type, id, body; got {sorted(header)}", request_id=request_id)
    version = header["v"]
    if type(version) is not int:
        raise ProtocolError(f"protocol version {str(version)[:20]!r} is not a number", code="version",
                            request_id=request_id)
    if version != PROTOCOL_VERSION:  # the message names the end to upgrade (compat.py)
        raise ProtocolError(version_mismatch(version, PROTOCOL_VERSION, receiver_of(kinds)), code="version",
                            request_id=request_id, peer_version=version)
    if not isinstance(header["id"], str) or len(header["id"]) > MAX_REQUEST_ID:
        raise ProtocolError(f"request id must be a string of at most {MAX_REQUEST_ID} characters")
    mtype = header["type"]
    cls = MESSAGES.get(mtype) if isinstance(mtype, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message type {str(mtype)[:40]!r}", code="unknown_type", request_id=request_id)
    if cls.KIND not in kinds:
        raise ProtocolError(f"{mtype} is a {cls.KIND} message, not expected here", code="wrong_kind",
                            request_id=request_id)
    body = header["body"]
    if not isinstance(body, dict):
        raise ProtocolError(f"{mtype}: body is not an object", request_id=request_id)
    binaries = frames[1:]
    if len(binaries) != len(cls.BINARY):
        raise ProtocolError(f"{mtype} needs {len(cls.BINARY)} binary frame(s), got {len(binaries)}",
                            request_id=request_id)
    try:
        kwargs = _fields_from_wire(cls, body, mtype)
        for name, data in zip(cls.BINARY, binaries):
            data = bytes(data)
            limit = _BINARY_LIMITS.get((cls, name), MAX_FRAME_BYTES)
            if len(data) > limit:
                raise ProtocolError(f"{mtype}.{name} is {len(data)} bytes, over {limit}", code="oversized")
            kwargs[name] = data
        msg = cls(**kwargs)
        _check_semantics(msg)
    except ProtocolError as exc:
        exc.request_id = request_id
        raise
    return Envelope(msg, request_id=header["id"])


def decode_telemetry(frames: list[bytes]) -> Envelope:
    """Decode ``[topic, header, *binary]`` received on a SUB socket."""
    if len(frames) < 2:
        raise ProtocolError("telemetry needs a topic and a header frame")
    env = decode(frames[1:], kinds=("telemetry",))
    topic = bytes(frames[0])
    if topic != topic_of(env.message):
        raise ProtocolError(f"topic {topic[:40]!r} does not match a {env.message.TYPE} message")
    env.topic = topic
    return env


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"{name} is not a number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ProtocolError(f"duplicate key {k[:40]!r}")
        out[k] = v
    return out


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
        _HINTS[cls] = hints
    return hints


def _fields_from_wire(cls: type, body: dict[str, Any], path: str) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in getattr(cls, "BINARY", ())}
    extra = set(body) - set(fields)
    if extra:
        raise ProtocolError(f"{path}: unknown field(s) {', '.join(sorted(str(e)[:40] for e in extra))}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in body:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ProtocolError(f"{path}: missing field {name!r}")
            continue
        kwargs[name] = _from_wire(body[name], hints[name], f"{path}.{name}")
    return kwargs


def _from_wire(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            return _from_wire(value, arg, path)  # our unions are all "X | None"
    if origin is Literal:
        if not any(type(value) is type(a) and value == a for a in typing.get_args(tp)):
            raise ProtocolError(f"{path}: {str(value)[:40]!r} is not one of {typing.get_args(tp)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ProtocolError(f"{path}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp)
        return [_from_wire(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ProtocolError(f"{path}: expected an object, got {type(value).__name__}")
        _, vt = typing.get_args(tp)
        return {k: _from_wire(v, vt, f"{path}.{k[:40]}") for k, v in value.items()}
    if tp is bool:
        if type(value) is not bool:
            raise ProtocolError(f"{path}: expected true/false, got {type(value).__name__}")
        return value
    if tp is int:
        if type(value) is not int:
            raise ProtocolError(f"{path}: expected an integer, got {type(value).__name__}")
        if not -_INT_LIMIT <= value < _INT_LIMIT:
            raise ProtocolError(f"{path}: integer out of range")
        return value
    if tp is float:
        if type(value) not in (int, float):
            raise ProtocolError(f"{path}: expected a number, got {type(value).__name__}")
        value = float(value)
        if not math.isfinite(value):  # a huge integer literal turns into inf
            raise ProtocolError(f"{path}: number out of range")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ProtocolError(f"{path}: expected a string, got {type(value).__name__}")
        return value
    if tp is CameraConfig:
        if not isinstance(value, dict):
            raise ProtocolError(f"{path}: expected a camera object, got {type(value).__name__}")
        try:
            return CameraConfig.from_dict(value)
        except Exception as exc:  # noqa: BLE001 - any refusal of a camera config is a bad message
            raise ProtocolError(f"{path}: {str(exc)[:300]}", code="invalid") from None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ProtocolError(f"{path}: expected an object, got {type(value).__name__}")
        kwargs = _fields_from_wire(tp, value, path)
        try:
            return tp(**kwargs)
        except (ValueError, TypeError) as exc:
            raise ProtocolError(f"{path}: {str(exc)[:200]}", code="invalid") from None
    raise TypeError(f"protocol.py has no wire rule for {tp!r} at {path}")  # a bug in this module


def _check_semantics(msg: Message) -> None:
    """Checks beyond types, so the receiver can trust what it got."""
    def need(cond: bool, text: str) -> None:
        if not cond:
            raise ProtocolError(f"{msg.TYPE}: {text}", code="invalid")

    for name in ("epoch", "up_to_seq", "current_epoch", "size", "offset", "width", "start_frame",
                 "count_from_frame", "frame_index", "segment", "attempt", "start", "warmup", "frames", "total",
                 "skipped", "ended_at"):
        v = getattr(msg, name, None)
        if isinstance(v, int):
            need(v >= 0, f"{name} must not be negative")
    if isinstance(msg, (PushModelChunk, QueryModel, ModelStatus)):
        need(bool(_SHA256_RE.match(msg.sha256)), "sha256 must be 64 lowercase hex digits")
    if isinstance(msg, PushModelChunk):
        need(msg.size <= MAX_MODEL_BYTES, f"model size over {MAX_MODEL_BYTES} bytes")
        need(msg.offset + len(msg.data) <= msg.size, "chunk goes past the model size")
        need(len(msg.data) > 0 or msg.size == 0, "empty chunk")
    if isinstance(msg, RunSegment):
        need(msg.start < msg.end, "a segment's start must be before its end")
        need(bool(msg.job_id) and len(msg.job_id) <= 64, "job_id must be 1-64 characters")
    if isinstance(msg, SegmentStatus):
        need(len(msg.crossings) <= MAX_SEGMENT_CROSSINGS, f"at most {MAX_SEGMENT_CROSSINGS} crossings per segment")
        need(all(c.frame_index >= 0 for c in msg.crossings), "a crossing's frame must not be negative")
    if isinstance(msg, SetPreview):
        need(16 <= msg.width <= 1920, "preview width must be 16..1920 pixels")
        need(0 < msg.fps <= 30, "preview fps must be in (0, 30]")
    if isinstance(msg, PreviewFrame):
        need(all(len(t.box) == 4 for t in msg.tracks), "a track box is x1, y1, x2, y2")
    status = getattr(msg, "status", None)
    if isinstance(status, WorkerStatus):
        need(HEARTBEAT_S_MIN <= status.heartbeat_s <= HEARTBEAT_S_MAX,
             f"heartbeat_s must be {HEARTBEAT_S_MIN}..{HEARTBEAT_S_MAX} seconds")
    if isinstance(msg, CountBatch):
        need(len(msg.events) <= MAX_COUNT_BATCH, f"at most {MAX_COUNT_BATCH} events per batch")
        for ev in msg.events:
            need(ev.seq >= 1 and ev.epoch >= 0 and ev.frame_index >= 0, "event seq/epoch/frame out of range")
