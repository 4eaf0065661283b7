"""The Windows service files agree with each other and with the worker: WinSW's XML (the settings)
and the PowerShell script that installs it. Nothing here runs Windows; CI is Debian."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
XML = ROOT / "installers" / "campool-worker-winsw.xml"
SCRIPT = ROOT / "installers" / "install-worker-windows.ps1"


def _service() -> ET.Element:
    return ET.parse(XML).getroot()


def test_the_service_runs_the_worker_from_the_scripts_venv_on_its_data_folder() -> None:
    svc = _service()
    script = SCRIPT.read_text()
    assert svc.tag == "service" and svc.findtext("id") == "CamPoolWorker"
    assert '$svcExe = "$svcDir\\CamPoolWorker.exe"' in script and '"$svcDir\\CamPoolWorker.xml"' in script
    # The script's $venv and $data are the XML's paths (%ProgramData% there, $env:ProgramData here).
    venv = re.search(r'\$venv = "\$base\\(.+)"', script)
    data = re.search(r'\$data = "\$base\\(.+)"', script)
    base = re.search(r'\$base = "\$env:ProgramData\\(.+)"', script)
    assert venv and data and base
    prefix = f"%ProgramData%\\{base.group(1)}\\"
    assert svc.findtext("executable") == f"{prefix}{venv.group(1)}\\Scripts\\campool-worker.exe"
    assert svc.findtext("arguments") == f'serve --data-dir "{prefix}{data.group(1)}"'


def test_a_crash_restarts_it_and_a_stop_gives_the_drain_time() -> None:
    svc = _service()
    [failure] = svc.findall("onfailure")
    assert failure.get("action") == "restart"
    seconds = int((svc.findtext("stoptimeout") or "").split()[0])
    assert seconds >= 30   # as TimeoutStopSec= of the systemd unit: the outbox is flushed on a stop
    assert svc.find("log") is not None and svc.find("log").get("mode") == "roll-by-size"  # type: ignore[union-attr]


def test_nssm_is_gone_from_the_installers() -> None:
    for path in (ROOT / "installers").iterdir():
        if path.suffix in (".ps1", ".xml", ".sh"):
            text = path.read_text().lower()
            assert "nssm install" not in text and "nssm set" not in text, path
    assert "winsw" in SCRIPT.read_text().lower()
