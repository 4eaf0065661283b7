"""The models a master pushed to this worker, stored by content: ``<models>/<sha256>.onnx``.

A camera names such a model ``sha256:<hex>``. A push arrives in chunks (`append`), each at the
offset the worker already holds, so an interrupted push resumes instead of starting over; the
chunks collect in ``<sha256>.part``, and the last one makes the store check the hash and move
the file into place (a reader never sees half a model under its final name). This is the only
place that knows how a hash maps to a file.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from campool_worker.errors import ModelError

log = logging.getLogger(__name__)

REFERENCE_PREFIX = "sha256:"


class ModelPushError(ModelError):
    """A pushed chunk the store cannot take; the text says how the master goes on."""


@dataclass(frozen=True)
class StoredModel:
    """How much of the model with this hash the worker holds."""

    sha256: str
    received: int  # bytes held so far; the whole size once complete
    complete: bool

    @property
    def reference(self) -> str:
        """What a camera puts in its ``model`` field to use this model."""
        return REFERENCE_PREFIX + self.sha256


def referenced_sha(model: str | None) -> str | None:
    """The hash of a ``sha256:<hex>`` model reference (a pushed model); None for a path or no model."""
    if model is None or not model.startswith(REFERENCE_PREFIX):
        return None
    return model[len(REFERENCE_PREFIX):]


class ModelStore:
    """The models folder. The sha256 values reach it checked (the wire codec accepts only 64
    lowercase hex digits), so they are safe as file names."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path_of(self, sha256: str) -> Path:
        """Where the complete model with this hash is (or will be) stored."""
        return self.folder / f"{sha256}.onnx"

    def _part_of(self, sha256: str) -> Path:
        return self.folder / f"{sha256}.part"

    def has(self, model: str | None) -> bool:
        """Whether a camera's model is usable here as far as the store can tell: a path or no
        model always is (the pipeline checks the file), a ``sha256:`` reference when it was pushed."""
        sha = referenced_sha(model)
        return sha is None or self.path_of(sha).exists()

    def status(self, sha256: str) -> StoredModel:
        final = self.path_of(sha256)
        if final.exists():
            return StoredModel(sha256, final.stat().st_size, True)
        part = self._part_of(sha256)
        return StoredModel(sha256, part.stat().st_size if part.exists() else 0, False)

    def append(self, sha256: str, size: int, offset: int, data: bytes) -> StoredModel:
        """Take one chunk of a push. The last chunk (offset + len(data) reaching size) stores the
        model if its content has this hash; raises ModelPushError for a chunk at the wrong offset
        or a model whose content does not match (then the partial file is dropped)."""
        status = self.status(sha256)
        if status.complete:
            return status
        if offset != status.received:
            raise ModelPushError(f"chunk at offset {offset}, but the worker holds {status.received} bytes; "
                                 "resume from there")
        self.folder.mkdir(parents=True, exist_ok=True)
        part = self._part_of(sha256)
        with open(part, "ab") as fh:
            fh.write(data)
        received = offset + len(data)
        if received < size:
            return StoredModel(sha256, received, False)
        digest = _sha256_file(part)
        if digest != sha256:
            part.unlink()
            raise ModelPushError(f"the model's sha256 is {digest}, not {sha256}; it was dropped, send it again")
        os.replace(part, self.path_of(sha256))
        log.info("stored model sha256:%s (%d bytes)", sha256, size)
        return self.status(sha256)

    def resolve(self, model: str | None) -> str | None:
        """A camera's model as a file to load: ``sha256:<hex>`` becomes its stored file, a path or
        None stays as it is. Raises ModelError when the referenced model was never pushed here."""
        sha = referenced_sha(model)
        if sha is None:
            return model
        path = self.path_of(sha)
        if not path.exists():
            raise ModelError(f"model {model} is not on this worker; push it from the master")
        return str(path)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
