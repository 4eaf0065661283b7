"""Camera credentials on the master: kept in the OS keyring, never in the history or a log.

A camera's URL may carry secrets (``rtsp://admin:PASSWORD@host/…``, ``…?pwd=PASSWORD``). The
master splits them off where a camera enters (`Master.add_camera` / `update_camera`, through
`CredentialStore.prepare`): the pool core, its records, the history database, the snapshot and
every widget hold the URL *masked* (``rtsp://admin:•••@host/…``, see
campool_worker/url_secrets.py). The mask is also the marker that a secret exists and where it
goes back. The secrets themselves live here, and only two places see them joined again:

* `ActionDispatcher.send` (dispatch.py), right before an `AssignCamera` / `UpdateCamera` leaves
  for a worker, inside the CURVE-encrypted command: the core decides with masked URLs and never
  holds a password;
* `Master.camera_source`, for "Test connection" and the line editor's snapshot, which open
  the stream from this PC.

Where the secrets are kept (`open_backend`):

* the OS keyring through ``keyring`` (Secret Service on Linux desktops, Credential Manager on
  Windows, the Keychain on macOS), service ``campool``, one entry per camera named
  ``<master id>/<camera id>`` (two masters on one desktop never mix), holding a JSON object of
  the URL's secrets;
* where no such keyring exists (a headless box: ``keyring`` finds only its ``fail`` or a
  plain-text backend), a fallback file ``credentials.json`` in the master's data folder, 0600
  in a 0700 folder, said once as a WARNING with where it is and how to get a real keyring. A
  backend the operator chose explicitly (``PYTHON_KEYRING_BACKEND``, keyringrc.cfg) is used as
  chosen. When a real keyring appears later, the fallback file's entries move into it at the
  next start and the file is removed.

Reads happen once, at start (`load`), and keyring writes on the caller's thread of an intent
(the UI's intent threads, the headless loader), never on the pool thread: a locked keyring may
prompt the user and block.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from campool_worker.url_secrets import MissingSecret, join_url, masked_keys, split_url

from .errors import MasterError

log = logging.getLogger(__name__)

SERVICE = "campool"
FALLBACK_FILE = "credentials.json"
Secrets = dict[str, str]


class CredentialsError(MasterError):
    """A camera's credentials could not be read or kept; the text says what to do."""


class SecretBackend(Protocol):
    """Where secrets are kept: get/set/delete a string by name."""

    description: str
    is_fallback: bool

    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str) -> None: ...
    def delete(self, name: str) -> None: ...


class KeyringBackend:
    """A ``keyring`` backend (the OS keyring, or one the operator configured)."""

    is_fallback = False

    def __init__(self, backend: Any) -> None:
        self._kr = backend
        self.description = f"the keyring ({_backend_name(backend)})"

    def get(self, name: str) -> str | None:
        value = self._kr.get_password(SERVICE, name)
        return None if value is None else str(value)

    def set(self, name: str, value: str) -> None:
        self._kr.set_password(SERVICE, name, value)

    def delete(self, name: str) -> None:
        try:
            self._kr.delete_password(SERVICE, name)
        except Exception as exc:  # noqa: BLE001 - keyring.errors.PasswordDeleteError: already gone
            log.debug("keyring: nothing to delete for %s (%s)", name, type(exc).__name__)


class FileBackend:
    """The fallback: a JSON file, 0600, in the master's (0700) data folder."""

    is_fallback = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"the file {path} (readable only by you; no OS keyring was found)"
        self._lock = threading.Lock()

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CredentialsError(f"cannot read the camera credentials file {self.path} ({exc}); fix or remove "
                                   "it and enter the cameras' passwords again") from None
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write(self, data: dict[str, str]) -> None:
        if not data:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def get(self, name: str) -> str | None:
        with self._lock:
            if self.path.exists() and os.name == "posix" and self.path.stat().st_mode & 0o077:
                os.chmod(self.path, 0o600)
            return self._read().get(name)

    def set(self, name: str, value: str) -> None:
        with self._lock:
            data = self._read()
            data[name] = value
            self._write(data)

    def delete(self, name: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(name, None) is not None:
                self._write(data)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._read())


def _backend_name(backend: Any) -> str:
    cls = type(backend)
    name = getattr(cls, "name", "") or f"{cls.__module__}.{cls.__name__}"
    return str(name)


def _effective_priority(backend: Any) -> float:
    chained = getattr(backend, "backends", None)
    if isinstance(chained, list) and chained:
        return max(float(getattr(b, "priority", 0)) for b in chained)
    return float(getattr(backend, "priority", 0))


def open_backend(data_dir: Path, keyring_backend: Any = None) -> SecretBackend:
    """The OS keyring when there is one (or ``keyring_backend``, a ``keyring`` backend object,
    as tests and embedders pass it), else the fallback file (said once, as a WARNING)."""
    fallback = FileBackend(data_dir / FALLBACK_FILE)
    if keyring_backend is not None:
        chosen, explicit = keyring_backend, True
    else:
        try:
            import keyring
            import keyring.core
        except ImportError:
            _warn_fallback(fallback, "the `keyring` package is not installed (pip install keyring)")
            return fallback
        try:
            configured = keyring.core.load_env() or keyring.core.load_config()
            chosen, explicit = configured or keyring.get_keyring(), configured is not None
        except Exception as exc:  # noqa: BLE001 - a broken keyring setup must not stop the master
            _warn_fallback(fallback, f"the keyring could not be opened ({exc})")
            return fallback
    if not explicit and _effective_priority(chosen) < 1:
        _warn_fallback(fallback, f"keyring found no OS keyring here (only {_backend_name(chosen)})")
        return fallback
    if _effective_priority(chosen) <= 0:  # keyring's fail and null backends keep nothing
        _warn_fallback(fallback, f"the keyring backend {_backend_name(chosen)} cannot keep anything")
        return fallback
    backend = KeyringBackend(chosen)
    log.info("camera credentials are kept in %s", backend.description)
    return backend


def _warn_fallback(fallback: FileBackend, why: str) -> None:
    log.warning("camera passwords are kept in %s, because %s. To keep them in an OS keyring instead, run the "
                "control center in a desktop session with one (GNOME Keyring or KWallet through the Secret "
                "Service on Linux; Credential Manager and the Keychain are built into Windows and macOS) and "
                "restart it: they move there by themselves.", fallback.path, why)


class CredentialStore:
    """The secrets of the cameras' URLs, by camera id, for one master (see the module docstring).

    Thread-safe: `prepare`, `persist` and `forget` run on intent threads, `join` and `remember`
    on the pool thread (memory only)."""

    def __init__(self, data_dir: Path, owner: str, *, keyring_backend: Any = None) -> None:
        self.owner = owner
        self.backend = open_backend(Path(data_dir), keyring_backend)
        self._lock = threading.Lock()
        self._cache: dict[str, Secrets] = {}
        if not self.backend.is_fallback:
            self._adopt_fallback(FileBackend(Path(data_dir) / FALLBACK_FILE))

    def _name(self, camera_id: str) -> str:
        return f"{self.owner}/{camera_id}"

    def _adopt_fallback(self, old: FileBackend) -> None:
        """Secrets kept in the fallback file while there was no keyring move into the keyring."""
        if not old.path.exists():
            return
        try:
            for name in old.names():
                value = old.get(name)
                if value is not None:
                    self.backend.set(name, value)
                old.delete(name)
        except Exception as exc:  # noqa: BLE001 - keep the file: nothing is lost
            log.error("could not move the camera passwords from %s into %s (%s); they stay in the file",
                      old.path, self.backend.description, exc)
            return
        log.info("camera passwords moved from %s into %s", old.path, self.backend.description)

    # ------------------------------------------------------------- start

    def load(self, camera_ids: Iterable[str]) -> list[str]:
        """Read the secrets of these cameras into memory; returns the ids whose secret was not found."""
        missing = []
        for cid in camera_ids:
            try:
                raw = self.backend.get(self._name(cid))
            except Exception as exc:  # noqa: BLE001 - a locked or broken keyring: that camera waits
                log.error("camera %s: its password could not be read from %s (%s)", cid, self.backend.description,
                          exc)
                raw = None
            secrets = _parse(raw)
            if secrets is None:
                missing.append(cid)
                continue
            with self._lock:
                self._cache[cid] = secrets
        return missing

    # ------------------------------------------------------------- entering cameras

    def prepare(self, camera_id: str, source: str) -> tuple[str, Secrets]:
        """Split a URL the operator gave: (the masked URL to store, the camera's secrets). A part
        given as ``MASK`` (``•••``) keeps the secret already known for it (an edit that left the password
        alone); raises ValueError when none is known."""
        masked, given = split_url(source)
        with self._lock:
            known = dict(self._cache.get(camera_id, {}))
        secrets = dict(given)
        for key in (k for k in masked_keys(masked) if k not in given):
            if key not in known:
                raise ValueError(f"camera {camera_id!r}: {MissingSecret(key)}")
            secrets[key] = known[key]
        return masked, secrets

    def remember(self, camera_id: str, secrets: Secrets) -> None:
        """Hold the camera's secrets in memory (what `join` uses); no I/O, for the pool thread."""
        with self._lock:
            if secrets:
                self._cache[camera_id] = dict(secrets)
            else:
                self._cache.pop(camera_id, None)

    def persist(self, camera_id: str) -> None:
        """Write what `remember` holds for the camera to the keyring (or remove its entry)."""
        with self._lock:
            secrets = self._cache.get(camera_id)
        try:
            if secrets:
                self.backend.set(self._name(camera_id), json.dumps(secrets, sort_keys=True))
            else:
                self.backend.delete(self._name(camera_id))
        except Exception as exc:  # noqa: BLE001 - keyring errors have no common base we can name
            raise CredentialsError(f"camera {camera_id!r}: its password could not be saved in "
                                   f"{self.backend.description} ({exc}); it works until the control center "
                                   "restarts, then it must be entered again") from None

    def forget(self, camera_id: str) -> None:
        """The camera is gone: drop its secrets, here and in the keyring."""
        self.remember(camera_id, {})
        try:
            self.backend.delete(self._name(camera_id))
        except Exception as exc:  # noqa: BLE001
            log.warning("camera %s: its password could not be removed from %s (%s)", camera_id,
                        self.backend.description, exc)

    # ------------------------------------------------------------- using them

    def join(self, camera_id: str, source: str) -> str:
        """The camera's full URL, for a worker or a probe from this PC; raises ValueError (with what
        to do) when a masked secret is not known."""
        with self._lock:
            secrets = self._cache.get(camera_id, {})
        try:
            return join_url(source, secrets)
        except MissingSecret as exc:
            raise ValueError(f"camera {camera_id!r}: {exc} (it is not in {self.backend.description}); edit "
                             "the camera and type it") from None

    def has_secret(self, camera_id: str) -> bool:
        with self._lock:
            return bool(self._cache.get(camera_id))


def _parse(raw: str | None) -> Secrets | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): str(v) for k, v in data.items()}
