"""installers/campool-worker.service as systemd reads it: `systemd-analyze verify` passes with
no complaint (a fake root holds the system's units and the venv path install-worker.sh makes),
and it asks for what the worker does (Type=notify, a watchdog, a drain on SIGTERM)."""
from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.data import PROJECT_ROOT

UNIT = PROJECT_ROOT / "installers" / "campool-worker.service"
INSTALL = PROJECT_ROOT / "installers" / "install-worker.sh"


def _unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def _system_units() -> Path | None:
    for d in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if (d / "sysinit.target").exists():
            return d
    return None


def test_systemd_analyze_verify_passes_on_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    units = _system_units()
    if analyze is None or units is None:
        pytest.skip("systemd-analyze and the system's units are not installed (apt-get install systemd)")
    root = tmp_path / "root"
    shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system/campool-worker.service")
    exec_start = _unit()["Service"]["ExecStart"].split()[0]
    exe = root / exec_start.lstrip("/")
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    out = subprocess.run([analyze, "verify", f"--root={root}", "campool-worker.service"], capture_output=True,
                         text=True, timeout=60, check=False)
    # verify exits 0 on settings it ignores ("Failed to parse ..."): any line it prints is a failure.
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), out.stdout + out.stderr


def test_verify_catches_a_broken_unit(tmp_path):
    """The check above is not vacuous: a misspelt type is reported."""
    analyze = shutil.which("systemd-analyze")
    units = _system_units()
    if analyze is None or units is None:
        pytest.skip("systemd-analyze and the system's units are not installed (apt-get install systemd)")
    root = tmp_path / "root"
    shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/campool-worker.service").write_text(
        UNIT.read_text().replace("Type=notify", "Type=notfy"))
    out = subprocess.run([analyze, "verify", f"--root={root}", "campool-worker.service"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert "Failed to parse service type" in out.stdout + out.stderr


def test_the_unit_asks_for_readiness_a_watchdog_and_a_graceful_drain():
    svc = _unit()["Service"]
    assert svc["Type"] == "notify" and svc["NotifyAccess"] == "main"
    watchdog = int(svc["WatchdogSec"])
    assert 10 <= watchdog <= 120
    assert svc["Restart"] in ("on-failure", "on-watchdog", "always")
    assert int(svc["TimeoutAbortSec"]) <= 30   # a stopped process ignores SIGABRT: SIGKILL soon after
    assert svc["KillSignal"] == "SIGTERM"
    assert svc["ExecStart"].startswith("/opt/campool/venv/bin/campool-worker serve")


def test_the_documentation_pointers_are_installed_by_the_installer():
    docs = [line.split("=", 1)[1] for line in UNIT.read_text().splitlines() if line.startswith("Documentation=")]
    script = INSTALL.read_text()
    files = [d.removeprefix("file:") for d in docs if d.startswith("file:")]
    assert files, docs
    for f in files:
        assert f in script, f"{f} is named by the unit but install-worker.sh does not install it"
    assert not any("example" in d or "invalid" in d for d in docs), docs
    assert "/opt/campool/venv/bin/campool-worker" in script
