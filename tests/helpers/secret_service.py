"""A real Secret Service for tests: a private D-Bus session with GNOME Keyring, unlocked.

    with SecretService(tmp_path) as ss:     # skips (SecretServiceMissing) without the programs
        backend = ss.keyring()              # keyring's SecretService backend on that bus

The D-Bus session and the keyring (its files under ``tmp_path``) are this test's alone and end
with it; ``DBUS_SESSION_BUS_ADDRESS`` points at it while it runs. Needs Debian's dbus-daemon and
gnome-keyring (installers/setup-test-env.sh installs them).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any


class SecretServiceMissing(RuntimeError):
    """What is missing to run one here."""


class SecretService:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._bus: subprocess.Popen[bytes] | None = None
        self._old_address: str | None = None

    def start(self) -> SecretService:
        missing = [p for p in ("dbus-daemon", "gnome-keyring-daemon") if shutil.which(p) is None]
        if missing:
            raise SecretServiceMissing(f"{', '.join(missing)} not installed (apt-get install dbus-daemon "
                                       "gnome-keyring)")
        home, run = self.folder / "home", self.folder / "run"
        for d in (home, run):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(run), "XDG_DATA_HOME": str(home / "data")}
        self._bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        assert self._bus.stdout is not None
        address = self._bus.stdout.readline().decode().strip()
        if not address:
            self.stop()
            raise SecretServiceMissing("dbus-daemon did not start a session bus")
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        out = subprocess.run(["gnome-keyring-daemon", "--unlock", "--components=secrets"], input=b"test-pass",
                             capture_output=True, env=env, timeout=30, check=False)
        if out.returncode != 0:
            self.stop()
            raise SecretServiceMissing(f"gnome-keyring-daemon did not start: {out.stderr.decode()[-300:]}")
        self._old_address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
        return self

    def keyring(self) -> Any:
        """keyring's Secret Service backend, talking to this session's GNOME Keyring."""
        from keyring.backends.SecretService import Keyring
        backend = Keyring()
        if backend.priority < 1:
            raise SecretServiceMissing("keyring does not see the Secret Service on the test bus")
        return backend

    def stop(self) -> None:
        if self._old_address is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = self._old_address
        if self._bus is not None:  # gnome-keyring-daemon leaves with its session bus
            self._bus.terminate()
            self._bus.wait(10)
            if self._bus.stdout is not None:
                self._bus.stdout.close()
            self._bus = None

    def __enter__(self) -> SecretService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
