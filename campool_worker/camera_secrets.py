"""The worker's copy of its cameras' credentials: one small file readable only by the worker's user.

An assignment carries the camera's full URL (the master joins it inside the CURVE-encrypted
command). The worker must keep it to resume its cameras after a restart, but not in its
database: ``worker.db`` is an SQLite file whose old pages and WAL frames outlive an update, it
is copied for diagnosis, and its rows are read by tools. So the stored assignment keeps the
URL masked (``rtsp://admin:•••@host/…``, see url_secrets.py) and the secrets go to
``camera-secrets.json`` beside it: created 0600 (and re-tightened if found looser), replaced
whole on each change (written to a 0600 temporary file, fsynced, renamed), and the entry of a
camera is removed when the camera is unassigned. The running camera holds the full URL in
memory only.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path

from campool_worker.camera import CameraConfig
from campool_worker.url_secrets import join_url, split_url

log = logging.getLogger(__name__)

FILE_NAME = "camera-secrets.json"


class CameraSecrets:
    """camera id -> the secrets of its URL, in a 0600 file. Used by the service loop thread only."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._secrets: dict[str, dict[str, str]] = self._read()

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            if os.name == "posix" and self.path.stat().st_mode & 0o077:
                os.chmod(self.path, 0o600)
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("cannot read %s (%s); cameras with a password wait for the master to assign them again",
                      self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): {str(a): str(b) for a, b in v.items()} for k, v in data.items() if isinstance(v, dict)}

    def _write(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self._secrets, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def keep(self, camera: CameraConfig) -> CameraConfig:
        """The camera as it may be stored: its URL masked, its secrets kept in the file."""
        masked, secrets = split_url(camera.source)
        if secrets:
            if self._secrets.get(camera.camera_id) != secrets:
                self._secrets[camera.camera_id] = secrets
                self._write()
        elif masked == camera.source:
            self.forget(camera.camera_id)
        return replace(camera, source=masked) if masked != camera.source else camera

    def restore(self, camera: CameraConfig) -> CameraConfig:
        """A stored camera with its full URL again; raises url_secrets.MissingSecret when the file
        lost its secret."""
        full = join_url(camera.source, self._secrets.get(camera.camera_id, {}))
        return replace(camera, source=full) if full != camera.source else camera

    def forget(self, camera_id: str) -> None:
        if self._secrets.pop(camera_id, None) is not None:
            self._write()
