"""The README's first command on a Python that pip refuses (PEP 668, Debian 12 / Ubuntu 24.04),
and on one it accepts (CI's, a venv's): installers/run.py, on a toy checkout that pip installs
offline (tests/helpers/toy_project.py), with the real `python -m venv` and the real pip."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.toy_project import make_toy_checkout

SYSTEM_PYTHON = Path("/usr/bin/python3")


def _probe(python: Path, code: str) -> bool:
    return python.exists() and subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0


def _externally_managed(python: Path) -> bool:
    return _probe(python, "import sys, sysconfig, pathlib; sys.exit(sys.prefix != sys.base_prefix or not "
                          "pathlib.Path(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED').is_file())")


def _run(python: Path, toy: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # No index: the toy installs from its own folder; a test that reached out to PyPI would be slow and flaky.
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([str(python), str(toy / "installers" / "run.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


@pytest.mark.skipif(not _externally_managed(SYSTEM_PYTHON) or not _probe(SYSTEM_PYTHON, "import ensurepip, venv"),
                    reason="needs Debian's /usr/bin/python3, externally managed (PEP 668), with python3-venv")
def test_first_command_on_an_externally_managed_python_runs_from_its_own_venv(tmp_path: Path) -> None:
    toy = make_toy_checkout(tmp_path / "checkout")
    elsewhere = tmp_path / "home"  # not the checkout: what runs must come from the install, not the folder
    elsewhere.mkdir()

    first = _run(SYSTEM_PYTHON, toy, "campool-gui", "--demo", cwd=elsewhere)
    assert first.returncode == 0, first.stderr
    ran = json.loads(first.stdout)
    assert ran["prefix"] == str(toy / ".venv")
    assert ran["argv"] == ["--demo"]
    assert Path(ran["file"]).is_relative_to(toy)  # editable: the checkout's code
    assert "externally managed (PEP 668)" in first.stderr
    assert "installing" in first.stderr

    again = _run(SYSTEM_PYTHON, toy, "campool-gui", "--demo", cwd=elsewhere)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["prefix"] == str(toy / ".venv")
    assert again.stderr == ""  # installed once: the second start goes straight to the command

    tests = _run(SYSTEM_PYTHON, toy, "--install-only", "test", cwd=elsewhere)
    assert tests.returncode == 0, tests.stderr
    assert "[cpu,gui,test]" in tests.stderr
    assert _run(SYSTEM_PYTHON, toy, "--install-only", "cpu", cwd=elsewhere).stderr == ""  # test includes cpu

    # A newer checkout (another pyproject.toml) installs again.
    (toy / "pyproject.toml").write_text((toy / "pyproject.toml").read_text() + "# a new dependency\n")
    upgraded = _run(SYSTEM_PYTHON, toy, "campool-gui", cwd=elsewhere)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "installing" in upgraded.stderr
    assert _run(SYSTEM_PYTHON, toy, "--python", cwd=elsewhere).stdout.strip() == str(toy / ".venv" / "bin" / "python")


@pytest.mark.skipif(_externally_managed(Path(sys.executable)), reason="this interpreter is externally managed")
def test_a_python_pip_installs_into_is_used_as_it_is(tmp_path: Path) -> None:
    """CI's python (pyenv, as root) and an active venv: no second environment, the same install as before."""
    toy = make_toy_checkout(tmp_path / "checkout")
    out = _run(Path(sys.executable), toy, "--python", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == sys.executable
    assert not (toy / ".venv").exists()


def test_an_unknown_command_is_refused_with_the_list() -> None:
    out = subprocess.run([sys.executable, "installers/run.py", "campool-server"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert out.returncode == 2
    assert "campool-gui" in out.stderr and "pytest" in out.stderr
