"""Puts the master's model files on workers, so a camera's model is a file the operator picked
on the control center's machine, not a path that must exist on every edge box.

A camera whose ``model`` is a file on the master's disk is sent to a worker as
``model = "sha256:<hex>"`` after the worker holds that content: `ModelDistributor.ensure`
asks the worker what it has (`QueryModel`) and sends the rest in `PushModelChunk` pieces,
resuming where an earlier, interrupted transfer stopped. The worker checks the hash and keeps
the file by hash, so a model is copied once per worker however many cameras use it.

A ``model`` that is not a file here (a path that exists only on the workers, or already a
``sha256:`` reference) is passed through untouched.

The worker checks a stored model against its hash off its command loop: while it does (after
the last chunk of a push, or when it is asked about a copy it has not checked since it last
changed) it answers ``Error("busy")``, and the distributor asks again (`QueryModel`) with a
short backoff until the worker says complete or not there. A copy the worker found damaged is
reported as not there (it moved it aside), so it is simply sent again: a camera whose stored
model went bad gets it back instead of failing for good.

Transfers run on a small thread pool, never on the pool thread: hashing a large file and the
round trips take seconds. Two requests for the same model on the same worker share one
transfer.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from campool_worker import protocol as p
from campool_worker.errors import CampoolError

log = logging.getLogger(__name__)

REF_PREFIX = "sha256:"


class ModelPushError(CampoolError):
    """A model could not be put on a worker; the text says why and what to do."""


class WorkerBusy(ModelPushError):
    """The worker is checking its copy of the model against its hash; ask again shortly."""


CHECK_POLL_S = (0.05, 1.0)       # first and longest wait between two questions to a busy worker
CHECK_MIN_WAIT_S = 60.0          # how long a worker may take to check a model, at least...
CHECK_BYTES_PER_S = 20e6         # ...and for a large one, at this (slow, shared-disk) hashing rate


class CommandLink(Protocol):
    worker_id: str

    def send(self, msg: p.Message, *, retries: int = 0,
             timeout: float | None = None) -> concurrent.futures.Future[p.Message]: ...


@dataclass(frozen=True)
class LocalModel:
    path: Path
    sha256: str
    size: int

    @property
    def ref(self) -> str:
        return REF_PREFIX + self.sha256


Progress = Callable[[int, int], None]  # (bytes the worker holds, total bytes)


def is_local_model(model: str | None) -> bool:
    """True when ``model`` names a file on this machine that workers should get by content."""
    if not model or model.startswith(REF_PREFIX):
        return False
    try:
        return Path(model).expanduser().is_file()
    except OSError:
        return False


class ModelDistributor:
    def __init__(self, *, chunk_bytes: int = p.MODEL_CHUNK_BYTES, parallel: int = 4,
                 query_timeout_s: float = 5.0, chunk_timeout_s: float = 30.0) -> None:
        if not 0 < chunk_bytes <= p.MODEL_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be between 1 and {p.MODEL_CHUNK_BYTES}")
        self.chunk_bytes = chunk_bytes
        self.query_timeout_s = query_timeout_s
        self.chunk_timeout_s = chunk_timeout_s  # a 1 MiB chunk over a slow site link
        self._pool = concurrent.futures.ThreadPoolExecutor(parallel, thread_name_prefix="campool-model-push")
        self._lock = threading.Lock()
        self._hashes: dict[tuple[str, int, int], LocalModel] = {}
        self._inflight: dict[tuple[str, str], concurrent.futures.Future[str]] = {}
        self._closed = threading.Event()
        self.bytes_sent = 0

    def ensure(self, link: CommandLink, model: str, progress: Progress | None = None) -> concurrent.futures.Future[str]:
        """A future of the ``sha256:<hex>`` reference, once the worker behind ``link`` holds ``model``."""
        key = (link.worker_id, str(Path(model).expanduser().resolve()))
        with self._lock:
            fut = self._inflight.get(key)
            if fut is None:
                fut = self._pool.submit(self._transfer, link, model, progress)
                self._inflight[key] = fut
                fut.add_done_callback(partial(self._forget, key))
        return fut

    def close(self) -> None:
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _forget(self, key: tuple[str, str], _done: concurrent.futures.Future[str]) -> None:
        with self._lock:
            self._inflight.pop(key, None)

    def local(self, model: str) -> LocalModel:
        """The file's hash, computed once per (path, size, mtime)."""
        path = Path(model).expanduser().resolve()
        try:
            st = path.stat()
        except OSError as exc:
            raise ModelPushError(f"model file {model} cannot be read ({exc.strerror}); check the camera's "
                                 "model path") from None
        key = (str(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            known = self._hashes.get(key)
        if known is not None:
            return known
        h = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except OSError as exc:
            raise ModelPushError(f"model file {model} cannot be read ({exc.strerror}); check the camera's "
                                 "model path") from None
        found = LocalModel(path, h.hexdigest(), st.st_size)
        if found.size > p.MAX_MODEL_BYTES:
            raise ModelPushError(f"model file {model} is {found.size} bytes; workers take at most "
                                 f"{p.MAX_MODEL_BYTES} bytes")
        with self._lock:
            self._hashes[key] = found
        return found

    def _ask(self, link: CommandLink, msg: p.Message) -> p.ModelStatus:
        timeout = self.chunk_timeout_s if isinstance(msg, p.PushModelChunk) else self.query_timeout_s
        try:
            reply = link.send(msg, retries=1, timeout=timeout).result(timeout * 4)
        except concurrent.futures.TimeoutError:
            raise ModelPushError(f"worker {link.worker_id} did not answer while receiving a model") from None
        except CampoolError as exc:
            raise ModelPushError(f"worker {link.worker_id} did not answer while receiving a model ({exc})") from None
        if isinstance(reply, p.ModelStatus):
            return reply
        if isinstance(reply, p.Error):
            if reply.code == "busy":
                raise WorkerBusy(reply.message)
            raise ModelPushError(f"worker {link.worker_id} refused the model: {reply.message}")
        raise ModelPushError(f"worker {link.worker_id} answered a model transfer with {reply.TYPE}")

    def _query(self, link: CommandLink, local: LocalModel) -> p.ModelStatus:
        """What the worker holds of the model, asked again while it is busy checking its copy."""
        deadline = time.monotonic() + max(CHECK_MIN_WAIT_S, local.size / CHECK_BYTES_PER_S)
        delay = CHECK_POLL_S[0]
        while True:
            try:
                return self._ask(link, p.QueryModel(local.sha256))
            except WorkerBusy:
                if time.monotonic() > deadline:
                    raise ModelPushError(f"worker {link.worker_id} is still checking model {local.ref[:19]} after "
                                         f"{max(CHECK_MIN_WAIT_S, local.size / CHECK_BYTES_PER_S):.0f} s; is its "
                                         "disk overloaded?") from None
                if self._closed.wait(delay):
                    raise ModelPushError("the master is stopping") from None
                delay = min(delay * 2, CHECK_POLL_S[1])

    def _transfer(self, link: CommandLink, model: str, progress: Progress | None) -> str:
        local = self.local(model)
        status = self._query(link, local)
        if status.complete:
            return local.ref
        log.info("worker %s: sending model %s (%s, %d bytes) from byte %d", link.worker_id, local.path.name,
                 local.ref[:19], local.size, status.received)
        offset = status.received
        restarts = 0
        with open(local.path, "rb") as fh:
            while True:
                if progress is not None:
                    progress(offset, local.size)
                fh.seek(offset)
                data = fh.read(self.chunk_bytes)
                if not data and offset < local.size:
                    raise ModelPushError(f"model file {model} shrank while it was sent; send it again")
                try:
                    status = self._ask(link, p.PushModelChunk(local.sha256, local.size, offset, data))
                except WorkerBusy:
                    # the last chunk is in: the worker checks the content against the hash off its
                    # loop; complete, or dropped (received 0) when the file changed under us
                    self.bytes_sent += len(data)
                    status = self._query(link, local)
                    if status.complete:
                        break
                    restarts += 1
                    if restarts > 3:
                        raise ModelPushError(f"worker {link.worker_id} dropped model {local.path.name} {restarts} "
                                             "times: its content did not match its sha256 (is the file being "
                                             "rewritten?)") from None
                    offset = status.received
                    continue
                except ModelPushError:
                    # an interrupted transfer: ask once more where the worker stands, then go on from there
                    restarts += 1
                    if restarts > 3:
                        raise
                    status = self._query(link, local)
                    if status.complete:
                        break
                    offset = status.received
                    continue
                self.bytes_sent += len(data)
                if status.complete:
                    break
                if status.received <= offset:
                    raise ModelPushError(f"worker {link.worker_id} stopped taking the model at byte {offset}")
                offset = status.received
        if progress is not None:
            progress(local.size, local.size)
        log.info("worker %s: holds model %s as %s", link.worker_id, local.path.name, local.ref[:19])
        return local.ref
