"""The models a master pushed to this worker, stored by content: ``<models>/<sha256>.onnx``.

A camera names such a model ``sha256:<hex>``. A push arrives in chunks (`append`), each at the
offset the worker already holds, so an interrupted push resumes instead of starting over; the
chunks collect in ``<sha256>.part``. This is the only place that knows how a hash maps to a file.

What holds:

* **A reference is never a path.** ``sha256:`` must be followed by exactly 64 lowercase hex
  digits (`parse_reference`); ``sha256:../../x`` is a clear ModelError, never a file outside
  ``models/``.
* **A stored model is what its name says.** Its content is checked against its hash when a
  camera loads it (`resolve`) and when a master asks about it (`status`); a file that no longer
  matches (a bad disk, a stray write) is moved aside as ``<sha256>.onnx.damaged``, so the
  store says "not here" and the master sends it again. A check is remembered by the file's
  size and mtime, so a 1 GiB model is hashed once, not at every question.
* **Hashing never runs on the service loop.** The checks a command asks for (a master's
  question, the last chunk of a push) run on the store's own thread; meanwhile `status`
  answers with ``checking=True`` and the command handler replies "busy, ask again" at once.
  A camera's own thread (`resolve`) checks synchronously: it has nothing else to do then.
* **A stored model survives a power cut.** The part file is fsynced before it is renamed into
  place, and the folder after, so a model called complete is on the disk.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from campool_worker.errors import ModelError

log = logging.getLogger(__name__)

REFERENCE_PREFIX = "sha256:"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class ModelPushError(ModelError):
    """A pushed chunk the store cannot take; the text says how the master goes on."""


@dataclass(frozen=True)
class StoredModel:
    """How much of the model with this hash the worker holds."""

    sha256: str
    received: int  # bytes held so far; the whole size once complete
    complete: bool
    checking: bool = False  # its content is being checked against its hash: ask again shortly

    @property
    def reference(self) -> str:
        """What a camera puts in its ``model`` field to use this model."""
        return REFERENCE_PREFIX + self.sha256


def parse_reference(model: str | None) -> str | None:
    """The hash of a ``sha256:<hex>`` model reference (a pushed model); None for a path or no
    model. Raises ModelError for a ``sha256:`` reference that is not 64 lowercase hex digits."""
    if model is None or not model.startswith(REFERENCE_PREFIX):
        return None
    sha = model[len(REFERENCE_PREFIX):]
    if not _SHA256_RE.match(sha):
        raise ModelError(f"model reference {model[:80]!r} is not valid: a pushed model is sha256: followed by "
                         "64 lowercase hex digits")
    return sha


def _check_sha(sha256: str) -> str:
    if not _SHA256_RE.match(sha256):
        raise ModelError(f"{sha256[:80]!r} is not a sha256 (64 lowercase hex digits)")
    return sha256


_Signature = tuple[int, int]  # (size, mtime_ns) of a file whose content was checked


class ModelStore:
    """The models folder; thread-safe (the service loop, the camera threads and the store's
    checking thread use it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._verified: dict[str, _Signature] = {}  # sha -> signature of the final file that matched
        self._checks: dict[str, concurrent.futures.Future[bool]] = {}  # running checks / finalisations
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="campool-model-check")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ where

    def path_of(self, sha256: str) -> Path:
        """Where the complete model with this hash is (or will be) stored."""
        return self.folder / f"{_check_sha(sha256)}.onnx"

    def _part_of(self, sha256: str) -> Path:
        return self.folder / f"{_check_sha(sha256)}.part"

    # ------------------------------------------------------------------ questions (any thread, never hash)

    def has(self, model: str | None) -> bool:
        """Whether a camera's model is usable here as far as the store can tell without hashing:
        a path or no model always is (the pipeline checks the file), a ``sha256:`` reference when
        its file is here. Raises ModelError for a malformed reference."""
        sha = parse_reference(model)
        return sha is None or self.path_of(sha).exists()

    def status(self, sha256: str) -> StoredModel:
        """What the store holds of this model, at once. A complete file not yet checked (or changed
        since its check) starts a check on the store's thread and is reported ``checking``; ask
        again. One that failed its check is gone by then: ``received`` 0, send it again."""
        with self._lock:
            running = self._checks.get(sha256)
            if running is not None and not running.done():
                return self._checking(sha256)
            final = self.path_of(sha256)
            sig = _signature(final)
            if sig is not None:
                if self._verified.get(sha256) == sig:
                    return StoredModel(sha256, sig[0], True)
                self._start(sha256, self._check_final)
                return self._checking(sha256)
            part = self._part_of(sha256)
            psig = _signature(part)
            return StoredModel(sha256, psig[0] if psig else 0, False)

    def wait(self, sha256: str, timeout: float | None = None) -> None:
        """Wait for a running check of this model (tests, tools)."""
        with self._lock:
            running = self._checks.get(sha256)
        if running is not None:
            running.result(timeout)

    def _checking(self, sha256: str) -> StoredModel:
        final = _signature(self.path_of(sha256))
        part = _signature(self._part_of(sha256))
        held = final[0] if final else (part[0] if part else 0)
        return StoredModel(sha256, held, False, checking=True)

    def _start(self, sha256: str, fn: Callable[[str], bool]) -> None:
        """Run fn(sha256) on the checking thread (the caller holds the lock)."""
        self._checks[sha256] = self._pool.submit(fn, sha256)

    # ------------------------------------------------------------------ a push (the service loop)

    def append(self, sha256: str, size: int, offset: int, data: bytes) -> StoredModel:
        """Take one chunk of a push. The last chunk (offset + len(data) reaching size) hands the
        part file to the checking thread (fsync, hash, rename) and reports ``checking``; raises
        ModelPushError for a chunk at the wrong offset."""
        status = self.status(sha256)
        if status.complete or status.checking:
            return status
        if offset != status.received:
            raise ModelPushError(f"chunk at offset {offset}, but the worker holds {status.received} bytes; "
                                 "resume from there")
        self.folder.mkdir(parents=True, exist_ok=True)
        part = self._part_of(sha256)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        received = offset + len(data)
        if received < size:
            return StoredModel(sha256, received, False)
        with self._lock:
            self._start(sha256, self._finish_push)
        return self._checking(sha256)

    def _finish_push(self, sha256: str) -> bool:
        """The checking thread: the whole part file is here; keep it under its hash if it matches."""
        part, final = self._part_of(sha256), self.path_of(sha256)
        try:
            _fsync_file(part)
            digest = _sha256_file(part)
            if digest != sha256:
                part.unlink(missing_ok=True)
                log.warning("a pushed model's content has sha256 %s, not %s: dropped; the master sends it again",
                            digest, sha256)
                return False
            os.replace(part, final)
            _fsync_dir(self.folder)
        except OSError as exc:
            log.error("could not store the pushed model sha256:%s (%s); the master sends it again", sha256, exc)
            part.unlink(missing_ok=True)
            return False
        sig = _signature(final)
        with self._lock:
            if sig is not None:
                self._verified[sha256] = sig
        log.info("stored model sha256:%s (%d bytes)", sha256, sig[0] if sig else 0)
        return True

    # ------------------------------------------------------------------ checks

    def _check_final(self, sha256: str) -> bool:
        """Hash the stored file; one that does not match is moved aside (False)."""
        final = self.path_of(sha256)
        sig = _signature(final)
        if sig is None:
            return False
        try:
            digest = _sha256_file(final)
        except OSError as exc:
            digest = f"unreadable ({exc.strerror or exc})"
        if digest == sha256:
            with self._lock:
                self._verified[sha256] = sig
            return True
        damaged = final.with_name(final.name + ".damaged")
        try:
            os.replace(final, damaged)
        except OSError:
            final.unlink(missing_ok=True)
        with self._lock:
            self._verified.pop(sha256, None)
        log.error("stored model sha256:%s is damaged (its content hashes to %s); moved aside as %s; the master "
                  "sends it again when a camera needs it", sha256, digest, damaged.name)
        return False

    def verify(self, sha256: str) -> bool:
        """Check the stored file now, on the caller's thread (a camera's), sharing a check already
        running. True when it is here and matches its hash (cached by size and mtime)."""
        with self._lock:
            running = self._checks.get(sha256)
        if running is not None and not running.done():
            running.result()
        sig = _signature(self.path_of(sha256))
        if sig is None:
            return False
        with self._lock:
            if self._verified.get(sha256) == sig:
                return True
        return self._check_final(sha256)

    def resolve(self, model: str | None) -> str | None:
        """A camera's model as a file to load: ``sha256:<hex>`` becomes its stored file, checked
        against its hash; a path or None stays as it is. Raises ModelError when the referenced
        model is not here (never pushed, or damaged and moved aside) or the reference is malformed.
        Call it on the camera's thread: the first use of a file hashes it."""
        sha = parse_reference(model)
        if sha is None:
            return model
        path = self.path_of(sha)
        if not path.exists():
            raise ModelError(f"model {model} is not on this worker; push it from the master")
        if not self.verify(sha):
            raise ModelError(f"model {model} on this worker was damaged (its content no longer matches its hash) "
                             "and was moved aside; the master sends it again")
        return str(path)


def _signature(path: Path) -> _Signature | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows has no directory fsync)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
