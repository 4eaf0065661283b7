"""Keys, the allow-list of masters, pairing codes and proofs, and the ZAP handler.

Trust comes from keys, not from the LAN. What holds:

* Every socket uses CURVE. The worker makes its key pair on first start
  (``keys/worker.key`` public, ``keys/worker.key_secret`` readable by its owner only).
* A ZAP handler (`Gatekeeper`) lets a client through the command ROUTER and the telemetry PUB
  (ZAP domain ``campool``) only when its CURVE public key is on the allow-list
  (``masters.json``, plus keys from the config file / ``--accept-master``). Any other client
  fails the handshake: it gets no reply at all and learns nothing beyond the mDNS record
  (which already shows the worker's public key). Nothing runs with CURVE_ALLOW_ANY.
* Pairing: ``campool-worker pair`` (or the daemon at start, while no master has adopted it)
  writes a short-lived code (8 characters, 40 bits, Crockford base32, shown as ``ABCD-EFGH``,
  valid 600 s) to ``pairing.json`` (mode 0600) and prints it. The master sends
  ``proof = pair_proof(code, master_key, worker_key, "master")`` on the pairing port (ZAP domain
  ``campool-pair``), which any CURVE client may reach but which serves one thing only: a
  `PairRequest`. CURVE has already proven that the master holds the secret of ``master_key``
  (the ZAP handler gives us that key as the peer's User-Id), so a right proof binds the code to
  that key: the worker adds it to the allow-list and answers with its own proof (role
  "worker"), which lets the master check that the key it got from mDNS belongs to the worker
  that shows the code. The proof key is scrypt-stretched (n=2^14) and salted with both public
  keys, so a fake worker that captures a proof cannot brute-force the 40-bit code in the code's
  lifetime.
* One adoption per code, and one code per adoption: when any master pairs, *every* code ends
  (`PairingCodes.verify`), the one printed at start included, so a code someone else saw cannot
  adopt a second master later. A second master that does pair (with a fresh code) is logged as
  a warning, told to every master in the worker's status (``WorkerStatus.masters``), and
  raises an "adopted by another master" alert on the masters that were there before.
* Wrong proofs never end a code. Who may be judged, and how often, is pairing.py's
  (`Pairing`): a lockout per master key that grows, a worker-wide ceiling on judged proofs that
  makes masters wait (``PairReply.retry_after_s``) rather than refusing them, nothing counted
  while no code is valid, and warnings summarised. Online guessing stays hopeless: at most
  ~1,800 judged guesses in a code's life against 2^40 codes (~1.6e-9 per code).
* What any peer can make the worker hold through the pairing port is bounded by the relay in
  front of it (pairing_relay.py): 64 KiB from a client per connection, 32 connections, about
  3 MiB in all (measured with raw CURVE peers), where one raw peer used to add 512 MiB.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import zmq
from zmq.utils import z85

from campool_worker.errors import CampoolError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

ZAP_DOMAIN = "campool"
PAIR_DOMAIN = "campool-pair"
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
CODE_LENGTH = 8
DEFAULT_CODE_TTL_S = 600


class SecurityError(CampoolError):
    """A key or pairing problem the operator has to fix."""


@dataclass(frozen=True)
class KeyPair:
    public: str  # Z85, 40 characters
    secret: str


def valid_key(key: str) -> bool:
    """A CURVE public key in Z85 form (40 characters that decode to 32 bytes)."""
    if not isinstance(key, str) or len(key) != 40:
        return False
    try:
        return len(z85.decode(key.encode("ascii"))) == 32
    except (ValueError, UnicodeEncodeError, KeyError, struct.error):  # struct.error: a group over 2**32
        return False


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only, atomically (never a window with wider rights)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by the umask; this is not
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_or_create_keypair(key_dir: str | os.PathLike[str], name: str = "worker") -> KeyPair:
    """The CURVE key pair ``<key_dir>/<name>.key`` + ``<name>.key_secret``, made on first use.
    The master side uses the same function for its own key (name="master")."""
    key_dir = Path(key_dir)
    key_dir.mkdir(parents=True, exist_ok=True)
    pub_path, sec_path = key_dir / f"{name}.key", key_dir / f"{name}.key_secret"
    if sec_path.exists():
        mode = stat.S_IMODE(sec_path.stat().st_mode)
        if mode & 0o077:
            log.warning("secret key %s was readable by others (mode %o); restricting it to its owner", sec_path, mode)
            os.chmod(sec_path, 0o600)
        try:
            data = json.loads(sec_path.read_text())
            pair = KeyPair(public=data["public"], secret=data["secret"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SecurityError(
                f"key file {sec_path} is unreadable or corrupt ({exc}); move it away to make a new key "
                "(masters will then have to adopt this machine again)") from None
        if not (valid_key(pair.public) and valid_key(pair.secret)):
            raise SecurityError(f"key file {sec_path} does not hold Z85 CURVE keys; move it away to make a new key")
        if zmq.curve_public(pair.secret.encode()).decode() != pair.public:
            raise SecurityError(f"key file {sec_path}: the public key does not match the secret key")
        return pair
    public, secret = zmq.curve_keypair()
    pair = KeyPair(public.decode(), secret.decode())
    _write_private(sec_path, json.dumps({"public": pair.public, "secret": pair.secret}))
    pub_path.write_text(pair.public + "\n")
    log.info("made a new CURVE key pair in %s (public key %s)", key_dir, pair.public)
    return pair


@dataclass(frozen=True)
class TrustedMaster:
    """One master key the worker serves, as `campool-worker masters` lists it."""

    key: str
    name: str  # the name the master gave when it paired; "" for a key only in the config
    added: float | None  # time.time() of the pairing; None for a key only in the config
    from_config: bool  # accept_masters / --accept-master: only the config can take it away


FileStamp = tuple[int, int, int, int]  # inode, size, mtime_ns, ctime_ns


def _file_stamp(path: Path) -> FileStamp | None:
    """What changes whenever the file is rewritten (None: no file). Every writer replaces the file
    (a new inode), and a hand edit changes the size or the times."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _read_adopted(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
        return {m["key"]: m for m in data["masters"] if valid_key(m.get("key", ""))}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SecurityError(f"allow-list {path} is corrupt ({exc}); fix or remove it and adopt again") from None


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Serialise writers of ``path`` across processes (the daemon adopting a master while
    `campool-worker masters --remove` runs), so neither loses the other's change. Readers need
    no lock: writers replace the file atomically."""
    if fcntl is None:  # Windows: the in-process lock still holds; two writers at once are rare there
        yield
        return
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


class AllowList:
    """Master public keys this worker serves: persisted ones (adopted by pairing) plus fixed ones
    from the config. Thread-safe: the ZAP thread reads it while the service adds to it.

    ``masters.json`` may change under a running daemon (`campool-worker masters --remove` in
    another process, or an operator's editor), so every lookup compares the file's stamp with
    the one last read (one ``stat``) and reloads it when it changed. A file that is corrupt on
    reload is logged and ignored: the last good list stays in force, since a ZAP thread that
    raised would refuse every master."""

    def __init__(self, path: str | os.PathLike[str], fixed: list[str] | tuple[str, ...] = ()) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fixed: set[str] = set()
        for key in fixed:
            if not valid_key(key):
                raise SecurityError(f"master key {key!r} is not a 40-character Z85 CURVE public key")
            self._fixed.add(key)
        try:
            self._stamp = _file_stamp(self.path)
        except OSError as exc:
            raise SecurityError(f"cannot read allow-list {self.path} ({exc}); check the data folder's "
                                "permissions") from None
        self._adopted: dict[str, dict[str, Any]] = _read_adopted(self.path) if self._stamp else {}
        self._complaint: str | None = None  # the reload problem last logged
        self._bad_stamp: FileStamp | None = None  # a corrupt version of the file, already logged
        # Grows each time a trusted key leaves the list, so the daemon can tell that sessions
        # opened under the old list must be dropped.
        self._revocations = 0

    def __contains__(self, key: str) -> bool:
        with self._lock:
            self._refresh_locked()
            return key in self._fixed or key in self._adopted

    def keys(self) -> set[str]:
        with self._lock:
            self._refresh_locked()
            return self._fixed | set(self._adopted)

    @property
    def fixed(self) -> frozenset[str]:
        return frozenset(self._fixed)

    @property
    def revocations(self) -> int:
        """How many times a trusted key left the list (checks the file first)."""
        with self._lock:
            self._refresh_locked()
            return self._revocations

    def masters(self) -> list[TrustedMaster]:
        """Every trusted master, adopted ones oldest first, then the config's."""
        with self._lock:
            self._refresh_locked()
            adopted = sorted(self._adopted.values(), key=lambda m: (_added(m) or 0.0, m["key"]))
            out = [TrustedMaster(m["key"], str(m.get("name") or ""), _added(m), m["key"] in self._fixed)
                   for m in adopted]
            out += [TrustedMaster(k, "", None, True) for k in sorted(self._fixed - set(self._adopted))]
            return out

    def add(self, key: str, name: str) -> None:
        if not valid_key(key):
            raise SecurityError(f"master key {key!r} is not a Z85 CURVE public key")
        with self._lock, _exclusive(self.path):
            self._refresh_locked()  # another process may have changed the file: keep its change
            self._adopted[key] = {"key": key, "name": name, "added": time.time()}
            self._save_locked()

    def remove(self, key: str) -> bool:
        """Forget an adopted master; False when it was not adopted. A key that is also in the
        config stays trusted: only the config can take that away."""
        with self._lock, _exclusive(self.path):
            self._refresh_locked()
            if self._adopted.pop(key, None) is None:
                return False
            self._save_locked()
            if key not in self._fixed:
                self._revocations += 1
            return True

    def _save_locked(self) -> None:
        _write_private(self.path, json.dumps({"masters": list(self._adopted.values())}, indent=1))
        self._stamp = _file_stamp(self.path)

    def _refresh_locked(self) -> None:
        try:
            stamp = _file_stamp(self.path)
            if stamp == self._stamp or (stamp is not None and stamp == self._bad_stamp):
                return
            adopted = _read_adopted(self.path) if stamp is not None else {}
        except (OSError, SecurityError) as exc:  # corrupt, half-written by an editor, or unreadable
            if isinstance(exc, SecurityError):
                self._bad_stamp = stamp  # do not parse the same broken file on every lookup
            complaint = str(exc)
            if complaint != self._complaint:  # once per problem, not once per handshake
                self._complaint = complaint
                log.error("%s; until it is fixed, the %d master(s) it listed before stay trusted",
                          exc if isinstance(exc, SecurityError) else f"cannot read allow-list {self.path} ({exc})",
                          len(self._adopted))
            return
        gone = set(self._adopted) - set(adopted) - self._fixed
        if gone:
            self._revocations += 1
            log.info("allow-list %s changed on disk: no longer trusting master key(s) %s", self.path,
                     ", ".join(sorted(gone)))
        for key in set(adopted) - set(self._adopted):
            log.info("allow-list %s changed on disk: now trusting master key %s", self.path, key)
        self._adopted, self._stamp, self._complaint, self._bad_stamp = adopted, stamp, None, None


def _added(entry: dict[str, Any]) -> float | None:
    value = entry.get("added")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def normalize_code(code: str) -> str:
    """Upper-case, drop separators, and read the look-alikes Crockford allows (O->0, I/L->1)."""
    text = "".join(ch for ch in code.upper() if ch not in "- _")
    return text.translate(str.maketrans("OIL", "011"))


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def pair_proof(code: str, master_key: str, worker_key: str, role: str) -> str:
    """Hex proof of knowing ``code``, bound to both public keys and to who is speaking."""
    stretched = hashlib.scrypt(
        normalize_code(code).encode(), salt=f"campool-pair/1|{master_key}|{worker_key}".encode(),
        n=2**14, r=8, p=1, dklen=32)
    return hmac.new(stretched, role.encode(), hashlib.sha256).hexdigest()


class _Code(TypedDict):
    """One entry of ``pairing.json``."""

    code: str
    expires: float  # wall time (time.time())


class PairingCodes:
    """Short-lived codes in ``pairing.json``, shared between `campool-worker pair` (which adds
    one) and the daemon (which checks proofs against them and ends them). Every change is a
    read-modify-write under the file's lock, so a code made while the daemon ends the others is
    never lost, and an ended code never comes back.

    A code ends when it expires or when any master pairs (`verify` succeeds): then *every* code
    ends, the one printed at the daemon's start included, so a code seen by someone else cannot
    adopt a second master behind the operator's back. Wrong proofs end nothing: who guessed
    wrong, and how often, is the pairing throttle's business (pairing.py), per master key, so
    that guesses from one host cannot void the code a legitimate master is typing."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._corrupt: FileStamp | None = None  # the broken version of the file last complained about

    def _load(self, now: float) -> list[_Code]:
        try:
            codes = json.loads(self.path.read_text())["codes"]
            return [c for c in codes if float(c["expires"]) > now and isinstance(c["code"], str)]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError):
            stamp = _file_stamp(self.path)
            if stamp != self._corrupt:  # once per broken file, not once per pairing request
                self._corrupt = stamp
                log.warning("pairing file %s is corrupt: no code in it is valid; `campool-worker pair` starts "
                            "a new one", self.path)
            return []

    def _save(self, codes: list[_Code]) -> None:
        _write_private(self.path, json.dumps({"codes": codes}))

    def new_code(self, ttl_s: float = DEFAULT_CODE_TTL_S, now: float | None = None) -> tuple[str, float]:
        now = time.time() if now is None else now
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.path):
            codes = self._load(now)
            codes.append({"code": code, "expires": now + ttl_s})
            self._save(codes)
        return code, now + ttl_s

    def active(self, now: float | None = None) -> int:
        """How many codes are valid now (0: nothing to guess, so a request needs no judging)."""
        return len(self._load(time.time() if now is None else now))

    def verify(self, proof: str, master_key: str, worker_key: str, now: float | None = None) -> str | None:
        """The code a master's proof was made with, or None. A match ends every code."""
        now = time.time() if now is None else now
        if not self.path.exists():
            return None
        with _exclusive(self.path):
            codes = self._load(now)
            for entry in codes:
                expected = pair_proof(entry["code"], master_key, worker_key, "master")
                if hmac.compare_digest(expected, proof):
                    self._save([])
                    if len(codes) > 1:
                        log.info("pairing: a master paired with one code; the %d other code(s) ended with it",
                                 len(codes) - 1)
                    return entry["code"]
        return None


class Gatekeeper:
    """The ZAP handler of a worker's context: allow-listed keys on ``campool``, any CURVE client
    on ``campool-pair`` (which serves only pairing)."""

    def __init__(self, context: zmq.Context[Any], allow: AllowList) -> None:
        from zmq.auth.thread import ThreadAuthenticator

        self.allow = allow
        self.denied = 0
        self._denied_by_key: dict[str, int] = {}
        self._auth = ThreadAuthenticator(context, log=logging.getLogger(__name__ + ".zap"))
        self._auth.start()
        self._auth.configure_curve_callback(ZAP_DOMAIN, self)
        self._auth.configure_curve_callback(PAIR_DOMAIN, _AnyCurveClient())

    def callback(self, domain: str, key: bytes) -> bool:
        key_text = key.decode("ascii", "replace")
        if key_text in self.allow:
            return True
        self.denied += 1
        n = self._denied_by_key.get(key_text, 0) + 1
        if len(self._denied_by_key) < 1000:
            self._denied_by_key[key_text] = n
        if n == 1 or n % 100 == 0:  # a refused client retries every few seconds: do not flood the log
            log.warning("refused a connection from CURVE key %s (%d time(s)): not an adopted master; adopt it "
                        "with a pairing code or list it in accept_masters", key_text, n)
        return False

    def stop(self) -> None:
        self._auth.stop()


class _AnyCurveClient:
    def callback(self, domain: str, key: bytes) -> bool:
        return True


def curve_server(sock: zmq.Socket[bytes], keys: KeyPair, domain: str) -> None:
    sock.curve_secretkey = keys.secret.encode()
    sock.curve_publickey = keys.public.encode()
    sock.curve_server = True
    sock.zap_domain = domain.encode()


def curve_client(sock: zmq.Socket[bytes], keys: KeyPair, server_key: str) -> None:
    sock.curve_secretkey = keys.secret.encode()
    sock.curve_publickey = keys.public.encode()
    sock.curve_serverkey = server_key.encode()


def pair_command(args: Any) -> int:
    """`campool-worker pair`: print a new pairing code the running daemon will accept."""
    from campool_worker.config import load_settings

    settings = load_settings(args)
    codes = PairingCodes(settings.data_dir / "pairing.json")
    ttl = getattr(args, "ttl", DEFAULT_CODE_TTL_S) or DEFAULT_CODE_TTL_S
    if ttl <= 0:
        raise SecurityError("--ttl must be a positive number of seconds")
    keys = load_or_create_keypair(settings.data_dir / "keys")
    code, expires = codes.new_code(ttl)
    import sys

    sys.stdout.write(
        f"Pairing code: {format_code(code)}  (valid for {int(ttl)} s, until "
        f"{time.strftime('%H:%M:%S', time.localtime(expires))})\n"
        f"Worker key:   {keys.public}\n"
        "Enter the code in the control center (Workers > Adopt) to let it manage this worker.\n")
    return 0
